"""Servers the tests run beside the app: the app itself over HTTP, an SMTP sink, an S3-compatible object store
(moto's standalone server, a process of its own speaking S3's wire protocol), and free ports for them."""

from __future__ import annotations

import email
import email.message
import email.policy
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import HTTPServer
from typing import Any, TypeVar

import requests
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

Served = TypeVar("Served", bound=HTTPServer)


@contextmanager
def serving(server: Served) -> Iterator[Served]:
    """`server` answering on a thread of its own while the block runs, then shut down and closed."""
    thread = threading.Thread(target=lambda: server.serve_forever(poll_interval=0.05), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class LiveServer:
    """The app served over HTTP in a thread, so the double's webhooks (and a browser) can reach it."""

    def __init__(self, app: Flask, port: int) -> None:
        self._busy = 0
        self._stopping = False
        self._idle = threading.Condition()
        self.server: BaseWSGIServer = make_server("127.0.0.1", port, self._counted(app), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=lambda: self.server.serve_forever(poll_interval=0.05), daemon=True)
        self.thread.start()

    def _counted(self, app: Flask) -> Callable[[dict[str, Any], Any], Any]:
        def counted(environ: dict[str, Any], start_response: Any) -> Any:
            with self._idle:
                if self._stopping:  # accepted before `stop`, reached the app after it: the app is not there
                    start_response("503 Service Unavailable", [("Content-Type", "text/plain"), ("Retry-After", "1")])
                    return [b"The test's server has stopped."]
                self._busy += 1
            try:
                return app(environ, start_response)  # the app's work, and its database session, end here
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

        return counted

    def stop(self) -> None:
        """Stop listening, then wait for requests still being handled (a late webhook, say). Otherwise one could
        hand its database connection back after the test's engine was disposed, and that connection would be
        garbage-collected open: psycopg's ResourceWarning, an error in whichever test runs then. A request whose
        connection was accepted but had not reached the app yet (its thread still reading it) gets a 503 instead,
        for the same reason."""
        self.server.shutdown()
        self.server.server_close()
        with self._idle:
            self._stopping = True
            assert self._idle.wait_for(lambda: self._busy == 0, timeout=30), "a request was still running after 30 s"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpSink:
    """An aiosmtpd handler that keeps every message it is given, parsed as a mail client would."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.sessions: list[Any] = []  # one per SMTP connection that delivered mail, in order
        self.connection_of: list[int] = []  # for each message, the index of its connection in `sessions`
        self.port = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        if not any(known is session for known in self.sessions):  # aiosmtpd keeps one session per connection
            self.sessions.append(session)
        self.connection_of.append(next(i for i, known in enumerate(self.sessions) if known is session))
        self.messages.append(message)
        return "250 Message accepted for delivery"

    @property
    def connections(self) -> int:
        """How many SMTP connections delivered the messages."""
        return len(self.sessions)

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


# moto accepts any credentials; boto3 wants some, and a region, from its usual places.
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                  "AWS_DEFAULT_REGION": "us-east-1"}


def wait_for_http(url: str, timeout: float = 60, process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until `url` answers HTTP at all (any status); fail early if `process` died meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{process.args!r} exited with {process.returncode} before {url} answered")
        try:
            requests.get(url, timeout=5)
            return
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or listening but still starting
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout} s")


class S3Server:
    """moto's S3 server (`python -m moto.server`) in a process of its own on a free loopback port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        env={**os.environ, **S3_CREDENTIALS})
        wait_for_http(self.url, process=self.process)

    def client(self) -> Any:
        import boto3

        return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                     region_name="us-east-1").client("s3", endpoint_url=self.url)

    def new_bucket(self) -> str:
        name = f"exports-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=bucket)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class WebhookReceiver:
    """A stand-in for a newsroom tool's webhook endpoint: keeps every request (headers and body) and answers
    with `status` (set it to make deliveries fail)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self._lock = threading.Lock()
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=lambda: self.server.serve_forever(poll_interval=0.05), daemon=True)
        self.thread.start()

    def _app(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        headers["content-type"] = environ.get("CONTENT_TYPE", "")
        with self._lock:
            self.requests.append({"path": environ["PATH_INFO"], "headers": headers, "body": body})
            status = self.status
        start_response(f"{status} {'OK' if status < 400 else 'Error'}", [("Content-Type", "text/plain")])
        return [b"ok" if status < 400 else b"try again later"]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
