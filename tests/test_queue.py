"""The Redis queue (membership.queue): ids pushed only once their rows commit, and a worker that serves each
queue from a thread of its own."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from flask import Flask

from membership.db import db
from membership.queue import EMAILS, EXPORTS, ItemId, push, push_after_commit, push_committed, queue_key, run_worker
from tests.support.helpers import queued_ids

ROOT = Path(__file__).resolve().parents[1]


def test_ids_are_pushed_only_once_their_transaction_commits(app: Flask, queue: redis.Redis) -> None:
    db.session.execute(sa.select(1))  # the work whose rows the ids name, in the transaction
    push_after_commit(db.session(), EXPORTS, 1)
    db.session.rollback()
    push_committed(db.session())
    assert queued_ids(queue, EXPORTS) == []
    db.session.execute(sa.select(1))
    push_after_commit(db.session(), EXPORTS, 2)
    push_after_commit(db.session(), EMAILS, 3)
    push_committed(db.session())  # not committed yet: nothing to push
    assert queued_ids(queue, EXPORTS) == []
    db.session.commit()
    push_committed(db.session())
    assert (queued_ids(queue, EXPORTS), queued_ids(queue, EMAILS)) == ([2], [3])


def test_a_long_job_on_one_queue_never_holds_up_another(app: Flask, queue: redis.Redis) -> None:
    """An export that takes minutes to write doesn't keep a sign-in link waiting: each queue has its thread."""
    push(EXPORTS, [1])
    push(EMAILS, [7])
    email_sent, stop = threading.Event(), threading.Event()
    done: list[str] = []

    def write_export(job_id: ItemId) -> bool:
        assert email_sent.wait(10), "the email waited for the export"
        done.append(f"export {job_id}")
        stop.set()
        return True

    def send_email(email_id: ItemId) -> bool:
        done.append(f"email {email_id}")
        email_sent.set()
        return True

    tallies = run_worker({EXPORTS: write_export, EMAILS: send_email}, stop=stop, wait_seconds=0.2)
    assert done == ["email 7", "export 1"]
    assert (tallies[EXPORTS].done, tallies[EMAILS].done) == (1, 1)


def test_a_failing_handler_stops_the_worker_with_its_error(app: Flask, queue: redis.Redis) -> None:
    push(EXPORTS, [1])

    def broken(job_id: ItemId) -> bool:
        raise RuntimeError("the database is down")

    with pytest.raises(RuntimeError, match="the database is down"):
        run_worker({EXPORTS: broken, EMAILS: lambda email_id: True}, wait_seconds=0.2)


def test_draining_skips_what_is_not_an_id(app: Flask, queue: redis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="membership.queue")
    queue.rpush(f"{app.config['EXPORT_QUEUE_KEY']}", "not-an-id", 5)
    handled: list[ItemId] = []

    def handle(job_id: ItemId) -> bool:
        handled.append(job_id)
        return True

    tallies = run_worker({EXPORTS: handle}, drain=True)
    assert handled == [5] and tallies[EXPORTS].done == 1
    assert "Ignoring b'not-an-id' on the exports queue: not an id." in caplog.text


def test_the_worker_needs_redis(app: Flask) -> None:
    with pytest.raises(RuntimeError, match="REDIS_URL is not set"):
        run_worker({EMAILS: lambda email_id: True}, drain=True)


# A worker as `flask --app membership worker` runs it: in a process of its own, in its main thread (where
# SIGTERM handlers live), on the test's Redis lists, with a handler that takes a second per export.
WORKER = """
import sys, time
from membership import create_app
from membership.queue import EXPORTS, run_worker

app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "REDIS_URL": sys.argv[1], "EXPORT_QUEUE_KEY": sys.argv[2]})
with app.app_context():
    def write_export(job_id: int) -> bool:
        print("started", job_id, flush=True)
        time.sleep(1)
        print("finished", job_id, flush=True)
        return True

    tallies = run_worker({EXPORTS: write_export}, wait_seconds=0.2)
    print("stopped after", tallies[EXPORTS].done, flush=True)
"""


def test_sigterm_lets_the_work_in_hand_finish_then_stops(app: Flask, queue: redis.Redis) -> None:
    """`systemctl stop` sends SIGTERM: the export being written is finished, the next one is left queued."""
    push(EXPORTS, [1, 2])
    worker = subprocess.Popen([sys.executable, "-c", WORKER, app.config["REDIS_URL"], queue_key(EXPORTS)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert worker.stdout is not None and worker.stdout.readline() == "started 1\n"
        worker.send_signal(signal.SIGTERM)  # while export 1 is being written
        out, err = worker.communicate(timeout=20)
    finally:
        worker.kill()
        worker.wait()
    assert worker.returncode == 0, err
    assert out == "finished 1\nstopped after 1\n"
    assert queued_ids(queue, EXPORTS) == [2]


# The same worker, but each queue thread's start() returns only once that thread has begun its first export:
# the widest form of "SIGTERM right at start", when a loaded machine runs the new thread before the main one.
STARTING_WORKER = WORKER.replace("with app.app_context():", """import threading
begun = threading.Event()
start = threading.Thread.start

def start_and_wait(thread: threading.Thread) -> None:
    start(thread)
    begun.wait()

threading.Thread.start = start_and_wait  # type: ignore[method-assign]
with app.app_context():""", 1).replace('print("started", job_id, flush=True)',
                                       'print("started", job_id, flush=True); begun.set()', 1)


def test_sigterm_as_the_worker_starts_still_lets_the_work_in_hand_finish(app: Flask, queue: redis.Redis) -> None:
    """The SIGTERM handler is in place before any thread takes work, so a stop that arrives while the worker is
    still starting (its first export already begun) lets that export finish instead of killing the process."""
    push(EXPORTS, [1, 2])
    worker = subprocess.Popen([sys.executable, "-c", STARTING_WORKER, app.config["REDIS_URL"], queue_key(EXPORTS)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert worker.stdout is not None and worker.stdout.readline() == "started 1\n"
        worker.send_signal(signal.SIGTERM)  # run_worker is still inside thread.start()
        out, err = worker.communicate(timeout=20)
    finally:
        worker.kill()
        worker.wait()
    assert worker.returncode == 0, (worker.returncode, err)
    assert out == "finished 1\nstopped after 1\n"
    assert queued_ids(queue, EXPORTS) == [2]
