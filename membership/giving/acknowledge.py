"""The acknowledge path's short way in: with a queue (REDIS_URL), `POST /stripe/webhook` answered before Flask.

With a queue, a webhook only verifies the signature, stores the event and pushes its id
(`events.acknowledge_event`). Through Flask that cost about four times the CPU of the work itself (routing,
the request and response objects, the before/after-request hooks, the ORM session's set-up and teardown), so
Stripe's retries and the first of the month's renewals met a server busy with plumbing. `WebhookFront` sits in
front of Flask and does just the work, with the same code: `StripeGateway.verify_webhook` (the same tolerance,
any of the header's signatures), `acknowledge_event` (the same trimmed row, one INSERT … ON CONFLICT DO NOTHING
in autocommit, on PostgreSQL run on the driver's connection by `store_with_driver`; the push, the warning when
Redis is down), and the same answer: body, status and headers
(the security and cache headers, `Vary`, the request id), checked against Flask's own by the tests.

It answers only the two 200s, "queued" and "duplicate". Every other request, and every webhook it is not sure
of, goes on to Flask untouched, which answers it exactly as before: without a queue (processed inline), with
a query string, without a Content-Length or over STRIPE_WEBHOOK_MAX_BYTES (413), a bad signature or body (400,
checked again there), or anything that raised (the database down: Flask's view tries again and answers 500 as
it would have). Acknowledging twice is safe: the INSERT stores an event once, and an id pushed twice is
processed once (the worker claims it).
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

from flask import Flask, Response
from sqlalchemy import Engine, create_engine, event

from membership.db import db
from membership.giving.events.pipeline import store_with_core, store_with_driver
from membership.giving.events.worker import acknowledge_event
from membership.giving.stripe_account import WEBHOOK_PATH
from membership.giving.stripe_gateway import InvalidWebhook, StripeGateway
from membership.logs import REQUEST_ID_HEADER, log_context, request_id_for
from membership.web import security_headers

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

log = logging.getLogger(__name__)


class WebhookFront:
    """WSGI middleware: acknowledges queued webhooks itself and hands every other request to `wsgi_app`."""

    def __init__(self, app: Flask, wsgi_app: WSGIApplication) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self._engines: dict[Engine, Engine] = {}
        self._engines_lock = threading.Lock()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        length = self._acknowledgeable_length(environ)
        if length is None:
            return self.wsgi_app(environ, start_response)
        body = environ["wsgi.input"].read(length)
        answer = self._acknowledge(environ, body)
        if answer is None:
            environ["wsgi.input"] = io.BytesIO(body)  # Flask reads the body as if nobody had
            return self.wsgi_app(environ, start_response)
        start_response("200 OK", answer[0])
        return [answer[1]]

    def _acknowledgeable_length(self, environ: WSGIEnvironment) -> int | None:
        """The body's length, if this request is a webhook to acknowledge here; None to leave it to Flask."""
        if (environ.get("PATH_INFO") != WEBHOOK_PATH or environ.get("REQUEST_METHOD") != "POST"
                or environ.get("QUERY_STRING") or self.app.extensions.get("queue") is None):
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None
        return length if 0 <= length <= int(self.app.config["STRIPE_WEBHOOK_MAX_BYTES"]) else None

    def _acknowledge(self, environ: WSGIEnvironment,
                     body: bytes) -> tuple[list[tuple[str, str]], bytes] | None:
        """(headers, body) of the 200 that acknowledges the event; None if Flask is to answer."""
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        with log_context(request_id=request_id), self.app.app_context():
            gateway: StripeGateway = self.app.extensions["stripe_gateway"]
            try:
                event = gateway.verify_webhook(body, environ.get("HTTP_STRIPE_SIGNATURE"),
                                               self.app.config["STRIPE_WEBHOOK_SECRET"])
                engine = self._store_engine(db.engine)
                # PostgreSQL's engine of our own is in autocommit: the INSERT runs on the driver's connection.
                outcome = acknowledge_event(engine, event,
                                            store_with_core if engine is db.engine else store_with_driver)
            except InvalidWebhook:
                return None
            except Exception as exc:  # Flask's view tries again, and answers (and logs the detail) as it always did
                log.info("Handing the webhook to Flask's view after %s.", type(exc).__name__)
                return None
            # Flask's own JSON answer (compact, or indented in debug), as `jsonify` in the view makes it.
            answer = cast(Response, self.app.json.response(received=True, event=outcome.event_id,
                                                           result=outcome.result))
            headers = [("Content-Type", answer.content_type or ""), ("Cache-Control", "no-store"),
                       *security_headers().items(), ("Vary", "Cookie"), (REQUEST_ID_HEADER, request_id)]
        payload = answer.get_data()
        return [*headers, ("Content-Length", str(len(payload)))], payload

    def _store_engine(self, app_engine: Engine) -> Engine:
        """What the INSERT runs on. On PostgreSQL, an engine of this process's own, in autocommit and without any
        check of a connection before use (a `SELECT 1`, a round trip as long as the INSERT's). A connection
        PostgreSQL has dropped since (a restart) fails the INSERT instead; the pool discards it, and Flask's view,
        whose pool checks a connection that has rested (`db.ping_when_idle`), answers that delivery. Elsewhere
        (SQLite) the app's own engine."""
        if app_engine.dialect.name != "postgresql":
            return app_engine
        with self._engines_lock:  # made once per process (after gunicorn forks: on its first webhook)
            engine = self._engines.get(app_engine)
            if engine is None:
                engine = self._engines[app_engine] = create_engine(
                    app_engine.url, isolation_level="AUTOCOMMIT", pool_pre_ping=False)
                # Closed with the app's (`db.engine.dispose()`, as tests and forking servers do).
                event.listen(app_engine, "engine_disposed", lambda _: engine.dispose())
            return engine


def install(app: Flask) -> None:
    """Put `WebhookFront` in front of the app (inside any proxy fix, so it sees what Flask would)."""
    app.wsgi_app = WebhookFront(app, app.wsgi_app)  # type: ignore[method-assign]
