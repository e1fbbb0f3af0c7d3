"""With a queue, webhooks are acknowledged in front of Flask (membership.giving.acknowledge): the same checks,
the same stored row and queued id, the same answers; whatever it is not sure of, Flask answers as before."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import Client, TestResponse

from membership.db import db, utcnow
from membership.giving import acknowledge
from membership.giving.acknowledge import WebhookFront
from membership.giving.events.pipeline import store_with_core, store_with_driver, stored_values, trim_event
from membership.giving.models import EventStatus, StripeEvent
from membership.logs import log_handler
from tests.support.helpers import count, queued_event_ids, sign
from tests.support.settings import WEBHOOK_SECRET


def event(event_type: str = "customer.created") -> dict[str, Any]:
    return {"id": f"evt_ack_{time.time_ns()}", "object": "event", "type": event_type, "created": int(time.time()),
            "livemode": False, "api_version": "2026-10-28.endive",
            "data": {"object": {"id": "cus_123", "object": "customer", "email": "reader@example.org",
                                "name": "A Reader"}}}


def deliver(client: FlaskClient | Client, body: bytes, signature: str | None = None, path: str = "/stripe/webhook",
            request_id: str = "req-ack-1") -> TestResponse:
    headers = {"X-Request-ID": request_id}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return client.post(path, data=body, content_type="application/json", headers=headers)


def signed(payload: dict[str, Any]) -> tuple[bytes, str]:
    body = json.dumps(payload).encode()
    return body, sign(body, WEBHOOK_SECRET)


@pytest.fixture
def flask_calls(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the requests the front handed on to Flask."""
    front = app.wsgi_app
    assert isinstance(front, WebhookFront)
    inner, calls = front.wsgi_app, []

    def counted(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        calls.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    monkeypatch.setattr(front, "wsgi_app", counted)
    return calls


def flask_itself(app: Flask) -> Client:
    """A client of the app without the front: the answers Flask gives."""
    front = app.wsgi_app
    assert isinstance(front, WebhookFront)
    return Client(front.wsgi_app)


def stored_ids() -> list[str]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(StripeEvent.id)))


@pytest.mark.parametrize("environment", ["development", "production"])
def test_the_front_answers_as_flask_does(app: Flask, client: FlaskClient, queue: redis.Redis,
                                         flask_calls: list[str], environment: str) -> None:
    app.config.update(MEMBERSHIP_ENV=environment, PUBLIC_URL="https://members.example.org")  # HSTS in production
    first, second = event(), event()
    fronted = deliver(client, *signed(first))
    assert flask_calls == []  # the front answered
    by_flask = deliver(flask_itself(app), *signed(second))
    assert (fronted.status_code, by_flask.status_code) == (200, 200)
    assert fronted.get_json() == {"received": True, "event": first["id"], "result": "queued"}
    assert fronted.get_data().replace(first["id"].encode(), b"ID") == by_flask.get_data().replace(
        second["id"].encode(), b"ID")
    assert sorted(fronted.headers.items()) == sorted(by_flask.headers.items())
    assert ("Strict-Transport-Security" in fronted.headers) is (environment == "production")
    assert fronted.headers["X-Request-ID"] == "req-ack-1"

    again = deliver(client, *signed(first))
    assert flask_calls == ["/stripe/webhook"]  # only the request sent to Flask itself
    again_by_flask = deliver(flask_itself(app), *signed(first))
    assert again.get_json() == {"received": True, "event": first["id"], "result": "duplicate"}
    assert (again.get_data(), sorted(again.headers.items())) == (again_by_flask.get_data(),
                                                                 sorted(again_by_flask.headers.items()))
    # Stored once each, trimmed (no name, no address), and each id queued once.
    assert sorted(stored_ids()) == sorted([first["id"], second["id"]])
    assert queued_event_ids(queue) == [first["id"], second["id"]]
    row = db.session.get_one(StripeEvent, first["id"])
    assert row.status is EventStatus.RECEIVED and "reader@example.org" not in json.dumps(row.payload)
    assert "A Reader" not in json.dumps(row.payload)


def test_a_request_id_that_is_not_plain_is_replaced(client: FlaskClient, queue: redis.Redis) -> None:
    response = deliver(client, *signed(event()), request_id="not plain; <script>")
    assert response.status_code == 200 and len(response.headers["X-Request-ID"]) == 32


@pytest.mark.parametrize("case", ["missing", "wrong_secret", "too_old", "tampered", "not_json", "not_an_event"])
def test_a_bad_delivery_is_refused_by_flask_as_before_and_changes_nothing(
    client: FlaskClient, queue: redis.Redis, flask_calls: list[str], case: str
) -> None:
    payload = event()
    body, signature = signed(payload)
    header: str | None = signature
    expected = "No signatures found matching the expected signature for payload"
    if case == "missing":
        header, expected = None, "Missing Stripe-Signature header."
    elif case == "wrong_secret":
        header = sign(body, "whsec_someone_else")
    elif case == "too_old":
        header, expected = sign(body, WEBHOOK_SECRET, timestamp=int(time.time()) - 301), "Timestamp outside"
    elif case == "tampered":
        body = body.replace(b"customer.created", b"invoice.paid")
    elif case == "not_json":
        body, expected = b"{not json", "The body is not valid JSON."
        header = sign(body, WEBHOOK_SECRET)
    elif case == "not_an_event":
        body, expected = b'{"id": 1}', "The body is not a Stripe event."
        header = sign(body, WEBHOOK_SECRET)
    response = deliver(client, body, header)
    assert response.status_code == 400 and expected in response.get_json()["error"]
    assert flask_calls == ["/stripe/webhook"]  # answered by Flask's view, as without the front
    assert stored_ids() == [] and queued_event_ids(queue) == []


def test_a_body_over_the_limit_is_refused_by_flask_unread(app: Flask, client: FlaskClient, queue: redis.Redis,
                                                           flask_calls: list[str]) -> None:
    body, signature = signed(event())
    app.config["STRIPE_WEBHOOK_MAX_BYTES"] = len(body) - 1
    assert deliver(client, body, signature).status_code == 413
    app.config["STRIPE_WEBHOOK_MAX_BYTES"] = len(body)
    assert deliver(client, body, signature).status_code == 200  # the limit itself is allowed
    assert flask_calls == ["/stripe/webhook"] and len(stored_ids()) == 1


def test_a_query_string_or_no_queue_goes_to_flask(app: Flask, client: FlaskClient, queue: redis.Redis,
                                                  flask_calls: list[str]) -> None:
    payload = event()
    response = deliver(client, *signed(payload), path="/stripe/webhook?lang=uk")
    assert response.get_json()["result"] == "queued" and flask_calls == ["/stripe/webhook"]
    assert queued_event_ids(queue) == [payload["id"]]


def test_without_a_queue_the_event_is_processed_in_the_request(client: FlaskClient, flask_calls: list[str]) -> None:
    payload = event()
    response = deliver(client, *signed(payload))
    assert response.get_json()["result"] == "processed" and flask_calls == ["/stripe/webhook"]
    assert db.session.get_one(StripeEvent, payload["id"]).status is EventStatus.PROCESSED


def test_with_redis_down_the_event_is_stored_and_jobs_run_queues_it(
    app: Flask, client: FlaskClient, queue: redis.Redis, flask_calls: list[str]
) -> None:
    payload = event()
    app.extensions["queue"] = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)  # nobody listens
    lines = io.StringIO()
    handler = log_handler("json", lines)
    logging.getLogger().addHandler(handler)
    try:
        response = deliver(client, *signed(payload))
    finally:
        logging.getLogger().removeHandler(handler)
        app.extensions["queue"] = queue
    assert response.status_code == 200 and response.get_json()["result"] == "queued" and flask_calls == []
    logged = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert [(line["level"], line["request_id"]) for line in logged if payload["id"] in line["message"]
            and "unreachable" in line["message"]] == [("warning", "req-ack-1")]
    assert stored_ids() == [payload["id"]] and queued_event_ids(queue) == []
    db.session.execute(sa.update(StripeEvent).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    output = app.test_cli_runner().invoke(args=["jobs", "run"]).output
    assert "Stripe events due again (re-queued, or processed without a queue): 1." in output
    assert queued_event_ids(queue) == [payload["id"]]


def test_when_the_front_fails_flask_tries_again(client: FlaskClient, queue: redis.Redis, flask_calls: list[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def database_down(*args: Any, **kwargs: Any) -> None:
        raise sa.exc.OperationalError("INSERT INTO stripe_events", {}, Exception("server closed the connection"))

    monkeypatch.setattr(acknowledge, "acknowledge_event", database_down)
    payload = event()
    response = deliver(client, *signed(payload))
    assert response.get_json()["result"] == "queued" and flask_calls == ["/stripe/webhook"]
    assert stored_ids() == [payload["id"]] and queued_event_ids(queue) == [payload["id"]]
    assert count(StripeEvent) == 1


# The INSERT on the driver's connection (PostgreSQL's own engine of the front) ------------------------------


def _postgresql_only() -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the front stores through the driver's connection on PostgreSQL only (SQLite: the app's engine)")


def _row(event_id: str) -> dict[str, Any]:
    db.session.rollback()
    row = db.session.execute(sa.select(StripeEvent.__table__).where(StripeEvent.id == event_id)).mappings().one()
    return dict(row)


def test_the_driver_stores_the_row_the_core_path_stores(app: Flask) -> None:
    _postgresql_only()
    front = app.wsgi_app
    assert isinstance(front, WebhookFront)
    engine = front._store_engine(db.engine)
    assert engine is not db.engine and engine.dialect.paramstyle == "pyformat"
    times = {"received_at": utcnow(), "next_attempt_at": utcnow() + timedelta(minutes=5)}
    kept = trim_event(event("invoice.paid"))
    by_core, by_driver = {**kept, "id": kept["id"] + "_core"}, {**kept, "id": kept["id"] + "_driver"}
    with app.app_context():
        assert store_with_core(engine, {**stored_values(by_core, timedelta(minutes=5)), **times})
        assert store_with_driver(engine, {**stored_values(by_driver, timedelta(minutes=5)), **times})
        # Stored already: nothing changes, whichever path tries again.
        again = {**stored_values(by_driver, timedelta(minutes=9)), "type": "other", "received_at": utcnow()}
        assert store_with_driver(engine, again) is False
    core_row, driver_row = _row(by_core["id"]), _row(by_driver["id"])
    assert driver_row.pop("id") == by_driver["id"] and core_row.pop("id") == by_core["id"]
    core_row["payload"]["id"] = driver_row["payload"]["id"]
    assert driver_row == core_row
    assert driver_row["type"] == "invoice.paid" and driver_row["status"] is EventStatus.RECEIVED
    assert driver_row["received_at"] == times["received_at"]
    assert driver_row["payload"]["data"]["object"]["id"] == "cus_123"


def test_the_driver_puts_values_through_the_columns_checks(app: Flask) -> None:
    _postgresql_only()
    front = app.wsgi_app
    assert isinstance(front, WebhookFront)
    engine = front._store_engine(db.engine)
    kept = trim_event(event())
    with app.app_context():
        naive = {**stored_values(kept, timedelta(minutes=5)), "received_at": utcnow().replace(tzinfo=None)}
        with pytest.raises(ValueError, match="Naive datetime"):
            store_with_driver(engine, naive)
        with pytest.raises(LookupError):
            store_with_driver(engine, {**stored_values(kept, timedelta(minutes=5)), "status": "lost"})
    assert stored_ids() == []


def test_a_connection_postgresql_dropped_fails_one_delivery_to_flask_then_the_front_reconnects(
        app: Flask, client: FlaskClient, queue: redis.Redis, flask_calls: list[str],
        caplog: pytest.LogCaptureFixture) -> None:
    _postgresql_only()
    caplog.set_level(logging.INFO)
    first, second, third = event(), event(), event()
    assert deliver(client, *signed(first)).get_json()["result"] == "queued" and flask_calls == []
    front = app.wsgi_app
    assert isinstance(front, WebhookFront)
    with front._store_engine(db.engine).connect() as connection:  # the connection the front used, from the pool
        backend = connection.scalar(sa.text("SELECT pg_backend_pid()"))
    with db.engine.connect() as connection:
        assert connection.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
    # The front's INSERT fails on the dead connection; Flask's view stores and queues the event instead.
    assert deliver(client, *signed(second)).get_json()["result"] == "queued"
    assert flask_calls == ["/stripe/webhook"]
    # The pool let the dead connection go: the front answers the next delivery itself.
    assert deliver(client, *signed(third)).get_json()["result"] == "queued"
    assert flask_calls == ["/stripe/webhook"]
    assert sorted(stored_ids()) == sorted([first["id"], second["id"], third["id"]])
    assert queued_event_ids(queue) == [first["id"], second["id"], third["id"]]
    # The dead connection was let go as a disconnection, not found broken when the pool tried to reset it.
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == []
    assert "Handing the webhook to Flask's view after AdminShutdown." in caplog.messages  # psycopg's own error
