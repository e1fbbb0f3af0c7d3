"""What the test run shares between apps to stay fast (tests/support/engines.py, tests/support/routing.py) changes
nothing a test sees."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from membership import create_app
from membership.db import db
from tests.support.engines import SharedEngines
from tests.support.routing import _original_compile_builder
from tests.support.servers import LiveServer, free_port
from tests.support.settings import app_settings


def test_every_shared_url_builder_is_the_code_werkzeug_writes_for_the_rule(app: Flask) -> None:
    for rule in app.url_map.iter_rules():
        for append_unknown in (False, True):
            shared = rule._compile_builder(append_unknown)
            assert shared is rule._compile_builder(append_unknown)  # generated once
            assert shared.__code__ == _original_compile_builder(rule, append_unknown).__code__, rule.rule


def test_two_apps_of_one_test_keep_their_own_engines_and_connections(app: Flask, database_uri: str) -> None:
    first = db.engine
    other = create_app(app_settings(database_uri, api_base=""))
    with other.app_context():
        second = db.engine
    assert second is not first and second.pool is not first.pool


def test_a_shared_engine_comes_back_without_connections_or_the_last_app_s_listeners(tmp_path: Path) -> None:
    engines = SharedEngines()
    options = {"url": f"sqlite:///{tmp_path / 'shared.db'}", "pool_pre_ping": True}
    first = engines.make_engine(None, dict(options), Flask(__name__))
    heard: list[str] = []
    sa.event.listen(first, "before_cursor_execute", lambda *args: heard.append("first"))
    with first.connect() as connection:
        connection.execute(sa.select(1))
    assert heard == ["first"] and _pooled(first) == 1
    engines.release()

    again = engines.make_engine(None, dict(options), Flask(__name__))
    assert again is not first and again._compiled_cache is first._compiled_cache
    assert _pooled(again) == 0  # closed by `release`
    with again.connect() as connection:
        connection.execute(sa.select(1))
    assert heard == ["first"]
    elsewhere = engines.make_engine(None, {**options, "pool_pre_ping": False}, Flask(__name__))
    assert elsewhere._compiled_cache is not first._compiled_cache
    in_memory = engines.make_engine(None, {"url": "sqlite://"}, Flask(__name__))
    assert in_memory not in (first, again) and in_memory._compiled_cache is not first._compiled_cache
    engines.release()
    for engine in (again, elsewhere, in_memory):
        engine.dispose()


def test_releasing_a_shared_engine_runs_the_app_s_engine_disposed_listeners(tmp_path: Path) -> None:
    """The webhook front closes its own engine when the app's engine is disposed (`giving.acknowledge`): an app
    made inside a test, which no fixture disposes, must not leave the front's connections to the garbage collector."""
    engines = SharedEngines()
    view = engines.make_engine(None, {"url": f"sqlite:///{tmp_path / 'shared.db'}"}, Flask(__name__))
    disposed: list[sa.Engine] = []
    sa.event.listen(view, "engine_disposed", disposed.append)
    engines.release()
    assert disposed == [view]
    again = engines.make_engine(None, {"url": f"sqlite:///{tmp_path / 'shared.db'}"}, Flask(__name__))
    engines.release()
    assert disposed == [view]  # the listener went with its app's view
    again.dispose()


def test_a_request_that_reaches_a_stopped_live_server_gets_a_503_without_the_app() -> None:
    """A connection accepted before `LiveServer.stop` whose request arrives after it (a late webhook) must not run
    the app, whose engine the test's teardown is about to dispose."""
    app = Flask(__name__)
    calls: list[str] = []

    @app.get("/")
    def index() -> str:
        calls.append("app")
        return "ok"

    before = set(threading.enumerate())
    live = LiveServer(app, free_port())
    connection = socket.create_connection(("127.0.0.1", live.server.server_port))
    try:
        connection.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # not finished: its thread waits for more
        deadline = time.monotonic() + 60
        while not _request_thread_started(before) and time.monotonic() < deadline:  # accepted: its thread reads
            time.sleep(0.01)
        assert _request_thread_started(before), "the server did not accept the connection in 60 s"
        live.stop()
        connection.sendall(b"Connection: close\r\n\r\n")
        answer = b""
        while chunk := connection.recv(4096):
            answer += chunk
    finally:
        connection.close()
    assert answer.startswith(b"HTTP/1.1 503") and calls == []


def _request_thread_started(before: set[threading.Thread]) -> bool:
    """Whether the threaded server started a thread for a connection since `before` (socketserver names it after
    its target, `process_request_thread`)."""
    return any("process_request_thread" in thread.name for thread in set(threading.enumerate()) - before)


def _pooled(engine: sa.Engine) -> int:
    """How many connections wait in the engine's pool (SQLite files get a QueuePool)."""
    assert isinstance(engine.pool, sa.pool.QueuePool)
    return engine.pool.checkedin()
