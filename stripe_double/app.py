"""The WSGI app and `DoubleServer`, which runs it (plus the webhook worker and the clock tick) in threads."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from . import api, billing, checkout, pages
from .config import DoubleConfig
from .core import Double
from .limits import Limits
from .store import Obj, Store


def create_app(config: DoubleConfig | None = None, double: Double | None = None) -> Flask:
    """The double's Flask app; the Double (state) is at `app.extensions["stripe_double"]`."""
    double = double or Double(config or DoubleConfig())
    app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates"))
    app.extensions["stripe_double"] = double
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    return app


class _KeepAliveHandler(WSGIRequestHandler):
    """HTTP/1.1, so a client's connection is kept between requests, as Stripe's API keeps it: the app's one
    connection pool then pays for a TCP connection once, not on every call (werkzeug's default is HTTP/1.0,
    one connection per request)."""

    protocol_version = "HTTP/1.1"


class _QuietHandler(_KeepAliveHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class _Ticker:
    """Runs `billing.tick` every `tick_seconds` for subscriptions on real time."""

    def __init__(self, double: Double) -> None:
        self.double = double
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stripe-double-tick", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.double.config.tick_seconds):
            billing.tick(self.double)
            self.double.persist()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


class DoubleServer:
    """The double served over HTTP from a background thread; `port=0` picks a free port."""

    def __init__(self, config: DoubleConfig | None = None) -> None:
        self.config = config or DoubleConfig()
        self.double = Double(self.config)
        self.app = create_app(double=self.double)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._ticker = _Ticker(self.double)

    def start(self) -> DoubleServer:
        """Bind, serve, start the webhook worker and the tick; returns self for chaining."""
        handler = _QuietHandler if self.config.quiet else _KeepAliveHandler
        self._server = make_server(self.config.host, self.config.port, self.app, threaded=True, request_handler=handler)
        if not self.config.public_url:
            self.double.base_url = self.url
        server = self._server
        # A short poll interval keeps stop() quick, which matters for per-test servers.
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.05), name="stripe-double-http", daemon=True
        )
        self._thread.start()
        self.double.dispatcher.start()
        self._ticker.start()
        return self

    def run_until_interrupted(self) -> None:
        """Block (the CLI) until Ctrl-C, then stop."""
        assert self._thread is not None, "start() the server first"
        try:
            while self._thread.is_alive():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving and the background threads; saves the state file if there is one."""
        self._ticker.stop()
        self.double.dispatcher.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.double.persist()

    @property
    def url(self) -> str:
        """`http://host:port` of the running server."""
        assert self._server is not None, "start() the server first"
        return f"http://{self.config.host}:{self._server.server_port}"

    @property
    def portal_url(self) -> str:
        """Where browsers reach the Billing Portal: this server under an origin of its own."""
        return self.double.portal_base_url

    @property
    def state(self) -> Store:
        """The in-memory store (objects by id, events, request log, deliveries)."""
        return self.double.store

    @property
    def limits(self) -> Limits:
        """The rate limiter (`config.rate_limit`) and injected 429s (`limits.inject("lock_timeout")`)."""
        return self.double.limits

    @property
    def requests(self) -> list[Obj]:
        """API requests received: method, path, params (nested), idempotency_key, status, replayed."""
        return self.double.store.requests

    def pay_checkout(
        self, session_id: str, card: str = "4242424242424242", three_ds: str | None = "approve", **form: Any
    ) -> checkout.PayResult:
        """Pay a session as the hosted form would (email, name, expiry, cvc can be overridden)."""
        return checkout.pay(
            self.double,
            session_id,
            card_number=card,
            expiry=form.get("expiry", "12 / 34"),
            cvc=form.get("cvc", "123"),
            name=form.get("name", "Test Reader"),
            email=form.get("email", "reader@example.com"),
            three_ds=three_ds,
        )

    def advance_clock(self, clock_id: str, frozen_time: int) -> Obj:
        """Advance a test clock as the API does."""
        with self.double.store.lock:
            clock = self.double.store.get(clock_id, "test_helpers.test_clock")
            if clock is None:
                raise KeyError(clock_id)
            return billing.advance_clock(self.double, clock, frozen_time)

    def tick(self) -> None:
        """Run the real-time heartbeat once, now."""
        billing.tick(self.double)

    def wait_for_deliveries(self, timeout: float = 5) -> bool:
        """Wait until every webhook delivery succeeded or gave up; False on timeout."""
        return self.double.dispatcher.wait_idle(timeout)

    def __enter__(self) -> DoubleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
