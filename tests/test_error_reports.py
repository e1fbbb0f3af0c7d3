"""Error reports: with SENTRY_DSN, unhandled errors reach Sentry (here a local stand-in), with no address in them."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sentry_sdk
from flask import Flask

from membership import create_app
from tests.support.servers import free_port, serving
from tests.support.settings import app_settings

ROOT = Path(__file__).resolve().parents[1]


class FakeSentry(ThreadingHTTPServer):
    """Takes Sentry's envelopes (POST /api/<project>/envelope/) and keeps their items."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), EnvelopeHandler)
        self.items: list[dict[str, object]] = []
        self.received = threading.Event()

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.server_address[1]}/42"

    def events(self) -> list[dict[str, object]]:
        return [item for item in self.items if "exception" in item]


class EnvelopeHandler(BaseHTTPRequestHandler):
    server: FakeSentry

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        for line in body.splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict):
                self.server.items.append(item)
        self.server.received.set()
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_sentry() -> Iterator[FakeSentry]:
    with serving(FakeSentry()) as server:
        yield server


@pytest.fixture
def reporting_app(database_uri: str, fake_sentry: FakeSentry) -> Iterator[Flask]:
    app = create_app(app_settings(database_uri, api_base="", SENTRY_DSN=fake_sentry.dsn))

    @app.get("/test-broken")
    def broken() -> str:
        raise RuntimeError("the gift of olena@example.org could not be shown")

    yield app
    sentry_sdk.get_client().close()
    sentry_sdk.get_global_scope().set_client(None)


def test_an_error_the_catch_all_page_handles_is_reported_without_the_address(
    reporting_app: Flask, fake_sentry: FakeSentry
) -> None:
    answer = reporting_app.test_client().post("/test-broken", data={"email": "olena@example.org"})
    assert answer.status_code == 405  # an ordinary 4xx is not reported
    answer = reporting_app.test_client().get("/test-broken?email=olena@example.org")
    assert answer.status_code == 500 and "Something went wrong" in answer.get_data(as_text=True)
    sentry_sdk.flush(timeout=30)
    assert fake_sentry.received.wait(30)
    events = fake_sentry.events()
    assert len(events) == 1
    sent = json.dumps(events[0])
    assert "RuntimeError" in sent and "could not be shown" in sent
    assert "olena@example.org" not in sent and "[email]" in sent
    assert "cookies" not in json.dumps(events[0].get("request", {}))


def test_an_unhandled_error_in_a_command_is_reported(fake_sentry: FakeSentry, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SENTRY_DSN": fake_sentry.dsn,
           "DATABASE_URL": f"sqlite:///{tmp_path}/cli.db", "STRIPE_SECRET_KEY": "sk_test_cli",
           "STRIPE_API_BASE": f"http://127.0.0.1:{free_port()}", "STRIPE_TIMEOUT_SECONDS": "2"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "membership", "stripe", "reconcile"], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 1 and "StripeUnavailable" in done.stderr  # Stripe can't be reached: a traceback
    assert fake_sentry.received.wait(30)
    assert any("StripeUnavailable" in json.dumps(event) for event in fake_sentry.events())
