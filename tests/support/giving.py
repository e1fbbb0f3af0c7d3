"""Reader journeys driven through the real app and the Stripe double, for the webhook and flow tests."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
import stripe
from flask.testing import FlaskClient

from membership.db import db
from membership.giving.models import Checkout
from membership.supporters.models import Supporter
from stripe_double import DoubleServer
from tests.support.helpers import csrf_token

MONTH = 31 * 24 * 3600
DAY = 24 * 3600


def sdk(double: DoubleServer) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_other_integration", base_addresses={"api": double.url})


def clock_customer(double: DoubleServer, email: str = "olena@example.org") -> tuple[str, str]:
    """A Stripe customer on a fresh test clock, already linked to our supporter (as after a first gift)."""
    client = sdk(double)
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": int(time.time())})
    customer = client.v1.customers.create({"email": email, "name": "Olena", "test_clock": clock.id})
    db.session.add(Supporter(email=email, name="Olena", stripe_customer_id=customer.id))
    db.session.commit()
    return clock.id, customer.id


def advance(double: DoubleServer, clock_id: str, seconds: int) -> None:
    client = sdk(double)
    clock = client.v1.test_helpers.test_clocks.retrieve(clock_id)
    client.v1.test_helpers.test_clocks.advance(clock_id, {"frozen_time": clock.frozen_time + seconds})


def events_of(double: DoubleServer, event_type: str) -> list[dict[str, Any]]:
    return [e for e in double.state.events() if e["type"] == event_type]


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
    checkout = db.session.scalars(sa.select(Checkout).order_by(Checkout.id.desc())).first()
    assert checkout is not None and checkout.stripe_session_id
    return checkout


def pay(double: DoubleServer, checkout: Checkout, card: str = "4242424242424242") -> None:
    assert checkout.stripe_session_id
    result = double.pay_checkout(checkout.stripe_session_id, card=card, email=checkout.supporter.email or "")
    assert result.ok, result


def paid_gift(client: FlaskClient, double: DoubleServer, amount: str = "10") -> tuple[Checkout, dict[str, Any]]:
    """A one-time gift paid at the double, and its checkout.session.completed event (not delivered)."""
    checkout = start_gift(client, amount=amount)
    pay(double, checkout)
    return checkout, next(e for e in events_of(double, "checkout.session.completed")
                      if e["data"]["object"]["id"] == checkout.stripe_session_id)


def settle(double: DoubleServer, timeout: float = 60) -> None:
    """Wait until the double has delivered every webhook to the live app."""
    assert double.wait_for_deliveries(timeout), "webhooks were not delivered in time"
    db.session.rollback()
    db.session.expire_all()


def wait_until(predicate: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.rollback()
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")
