"""Reader journeys driven through the real app and the Stripe double, for the webhook and flow tests."""

from __future__ import annotations

import time
from typing import Any

import stripe
from flask.testing import FlaskClient

from membership.db import db
from membership.giving.models import Checkout
from stripe_double import DoubleServer
from tests.helpers import csrf_token


def sdk(double: DoubleServer) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_other_integration", base_addresses={"api": double.url})


def foreign_paid_session(double: DoubleServer) -> dict[str, Any]:
    """A paid Checkout Session created by some other integration on the same Stripe account."""
    session = sdk(double).v1.checkout.sessions.create({
        "mode": "payment",
        "line_items": [{"price_data": {"currency": "eur", "unit_amount": 700, "product_data": {"name": "Mug"}},
                        "quantity": 1}],
        "success_url": "https://shop.example/ok",
        "metadata": {"order": "42"},
    })
    assert double.pay_checkout(session.id).ok
    return dict(sdk(double).v1.checkout.sessions.retrieve(session.id).to_dict())


def start_gift(client: FlaskClient, **fields: str) -> Checkout:
    """Submit the give form and return the checkout it opened."""
    data = {"frequency": "once", "currency": "EUR", "amount": "10", "email": "olena@example.org",
            "name": "Olena", **fields}
    data["csrf_token"] = csrf_token(client)
    response = client.post("/give", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    db.session.rollback()
    checkout = db.session.scalars(db.select(Checkout).order_by(Checkout.id.desc())).first()
    assert checkout is not None and checkout.stripe_session_id
    return checkout


def pay(double: DoubleServer, checkout: Checkout, card: str = "4242424242424242") -> None:
    assert checkout.stripe_session_id
    result = double.pay_checkout(checkout.stripe_session_id, card=card, email=checkout.supporter.email or "")
    assert result.ok, result


def settle(double: DoubleServer, timeout: float = 10) -> None:
    """Wait until the double has delivered every webhook to the live app."""
    assert double.wait_for_deliveries(timeout), "webhooks were not delivered in time"
    db.session.rollback()
    db.session.expire_all()


def wait_until(predicate: Any, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.rollback()
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")
