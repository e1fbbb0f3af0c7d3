"""The webhook's front door: signature, body and livemode checks, and storing before processing."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from membership.db import db
from membership.giving.events import checkout_sessions
from membership.giving.models import Checkout, EventStatus, Payment, StripeEvent
from stripe_double import DoubleServer
from tests.support.giving import foreign_paid_session, paid_gift
from tests.support.helpers import count, post_event, sign
from tests.support.settings import WEBHOOK_SECRET


def event(event_type: str = "customer.created", **data: Any) -> dict[str, Any]:
    return {
        "id": f"evt_test_{time.time_ns()}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "livemode": False,
        "api_version": "2026-10-28.endive",
        "data": {"object": {"id": "cus_123", "object": "customer", **data}},
    }


def raw_post(client: FlaskClient, body: bytes, header: str | None) -> Any:
    headers = {"Stripe-Signature": header} if header is not None else {}
    return client.post("/stripe/webhook", data=body, content_type="application/json", headers=headers)


@pytest.mark.parametrize(
    "case", ["missing", "wrong_secret", "tampered", "too_old", "invalid_json", "not_an_event"]
)
def test_bad_deliveries_are_refused_and_store_nothing(client: FlaskClient, case: str) -> None:
    body = json.dumps(event()).encode()
    header: str | None = sign(body, WEBHOOK_SECRET)
    if case == "missing":
        header = None
    elif case == "wrong_secret":
        header = sign(body, "whsec_someone_else")
    elif case == "tampered":
        body = body.replace(b"customer.created", b"invoice.paid")
    elif case == "too_old":
        header = sign(body, WEBHOOK_SECRET, timestamp=int(time.time()) - 301)
    elif case == "invalid_json":
        body = b"{not json"
        header = sign(body, WEBHOOK_SECRET)
    elif case == "not_an_event":
        body = b"[1, 2, 3]"
        header = sign(body, WEBHOOK_SECRET)
    response = raw_post(client, body, header)
    assert 400 <= response.status_code < 500
    assert "error" in response.get_json()
    assert count(StripeEvent) == 0


def test_unhandled_event_type_is_stored_and_acknowledged(client: FlaskClient) -> None:
    payload = event("customer.created")
    response = post_event(client, payload, WEBHOOK_SECRET)
    assert response.status_code == 200 and response.get_json()["result"] == "processed"
    stored = db.session.get(StripeEvent, payload["id"])
    assert stored is not None and stored.status is EventStatus.PROCESSED and stored.type == "customer.created"
    assert stored.payload == payload and stored.processed_at is not None
    assert count(Payment) == 0 and count(Checkout) == 0


def test_duplicate_delivery_is_a_no_op(client: FlaskClient) -> None:
    payload = event("customer.created")
    assert post_event(client, payload, WEBHOOK_SECRET).get_json()["result"] == "processed"
    second = post_event(client, payload, WEBHOOK_SECRET)
    assert second.status_code == 200 and second.get_json()["result"] == "duplicate"
    assert count(StripeEvent) == 1
    assert db.session.get_one(StripeEvent, payload["id"]).attempts == 1


def test_livemode_mismatch_is_stored_but_ignored(client: FlaskClient) -> None:
    payload = event("checkout.session.completed")
    payload["livemode"] = True
    response = post_event(client, payload, WEBHOOK_SECRET)
    assert response.status_code == 200 and response.get_json()["result"] == "ignored"
    stored = db.session.get(StripeEvent, payload["id"])
    assert stored is not None and stored.status is EventStatus.IGNORED


def test_checkout_that_is_not_ours_changes_nothing(client: FlaskClient, double: DoubleServer) -> None:
    stripe_session = foreign_paid_session(double)
    payload = event("checkout.session.completed")
    payload["data"]["object"] = stripe_session
    response = post_event(client, payload, WEBHOOK_SECRET)
    assert response.status_code == 200
    assert db.session.get_one(StripeEvent, payload["id"]).status is EventStatus.PROCESSED
    assert count(Payment) == 0 and count(Checkout) == 0


def test_a_thin_event_is_stored_and_ignored(client: FlaskClient) -> None:
    # A thin event as Stripe sends it: no `data`, an RFC 3339 `created`, a reference to fetch instead.
    payload = event("v1.billing.meter.error_report_triggered")
    del payload["data"]
    payload.update(object="v2.core.event", created="2026-10-30T12:00:00.000Z",
                   related_object={"id": "mtr_123", "type": "billing.meter", "url": "/v1/billing/meters/mtr_123"})
    response = post_event(client, payload, WEBHOOK_SECRET)
    assert response.status_code == 200 and response.get_json()["result"] == "ignored"
    stored = db.session.get(StripeEvent, payload["id"])
    assert stored is not None and stored.status is EventStatus.IGNORED and stored.last_error == ""
    assert stored.created == datetime(2026, 10, 30, 12, 0, tzinfo=UTC)
    handled = event("invoice.paid")
    handled["data"] = {}
    assert post_event(client, handled, WEBHOOK_SECRET).get_json()["result"] == "ignored"


def test_a_signed_5_mb_event_is_stored_small_and_processed(client: FlaskClient, double: DoubleServer) -> None:
    checkout, completed = paid_gift(client, double)
    # Stripe signs what it sends, however long: a session with thousands of custom fields, say.
    completed["data"]["object"]["custom_fields"] = [{"key": f"field{i}", "text": {"value": "x" * 500}}
                                                    for i in range(10_000)]
    body = json.dumps(completed).encode()
    assert len(body) > 5_000_000
    response = raw_post(client, body, sign(body, WEBHOOK_SECRET))
    assert response.status_code == 200 and response.get_json()["result"] == "processed"
    stored = db.session.get(StripeEvent, completed["id"])
    assert stored is not None and stored.status is EventStatus.PROCESSED
    assert len(json.dumps(stored.payload)) < 1000
    kept = stored.payload["data"]["object"]
    assert (kept["id"], kept["object"], kept["status"]) == (checkout.stripe_session_id, "checkout.session", "complete")
    assert kept["metadata"] == {"checkout_id": str(checkout.id), "supporter_id": str(checkout.supporter_id)}
    assert "custom_fields" not in kept and "customer_details" not in kept
    assert {key: stored.payload[key] for key in ("id", "type", "created", "api_version", "livemode")} == {
        key: completed[key] for key in ("id", "type", "created", "api_version", "livemode")}
    assert db.session.scalars(sa.select(Payment)).one().amount_minor == 1000


class LedgerOffline(Exception):
    """An internal failure whose name and message must not reach Stripe."""


def test_a_500_to_stripe_names_no_exception(client: FlaskClient, double: DoubleServer,
                                            monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    _checkout, completed = paid_gift(client, double)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise LedgerOffline("payments table is read-only on db-7")

    monkeypatch.setattr(checkout_sessions, "record_payment", broken)
    with caplog.at_level(logging.ERROR, logger="membership.giving.events.pipeline"):
        response = post_event(client, completed, WEBHOOK_SECRET)
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "LedgerOffline" not in body and "db-7" not in body and "Error" not in body
    assert response.get_json() == {"error": "processing failed", "event": completed["id"]}
    stored = db.session.get(StripeEvent, completed["id"])
    assert stored is not None and stored.last_error == "LedgerOffline: payments table is read-only on db-7"
    assert any(record.exc_info and record.exc_info[0] is LedgerOffline for record in caplog.records)
