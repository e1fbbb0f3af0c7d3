"""The webhook's front door: signature, body and livemode checks, and storing before processing."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from flask.testing import FlaskClient

from membership.db import db
from membership.giving.models import Checkout, EventStatus, Payment, StripeEvent
from stripe_double import DoubleServer
from tests.support.giving import foreign_paid_session
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
    assert db.session.get(StripeEvent, payload["id"]).attempts == 1  # type: ignore[union-attr]


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
    assert db.session.get(StripeEvent, payload["id"]).status is EventStatus.PROCESSED  # type: ignore[union-attr]
    assert count(Payment) == 0 and count(Checkout) == 0
