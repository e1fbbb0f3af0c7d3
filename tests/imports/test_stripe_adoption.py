"""`flask import stripe`: a newsroom that already took payments on Stripe adopts them, once, and changes nothing
with --dry-run."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask

from membership.db import db
from membership.giving.events.subscriptions import subscription_ownership
from membership.giving.models import Membership, MembershipStatus, Payment, PaymentKind
from membership.supporters.models import Supporter
from stripe_double import DoubleServer
from tests.support.giving import sdk
from tests.support.helpers import count
from tests.support.patrons import add_supporter


def _paid_session(double: DoubleServer, email: str, *, mode: str, amount: int, currency: str = "eur") -> None:
    """A Checkout Session some earlier integration made on the same account, paid."""
    price: dict[str, Any] = {"currency": currency, "unit_amount": amount, "product_data": {"name": "Support"}}
    if mode == "subscription":
        price["recurring"] = {"interval": "month"}
    params: dict[str, Any] = {"mode": mode, "line_items": [{"price_data": price, "quantity": 1}],
                              "success_url": "https://old.example/thanks", "customer_email": email}
    if mode == "payment":
        params["customer_creation"] = "always"
    session = sdk(double).v1.checkout.sessions.create(params)  # type: ignore[arg-type]
    assert double.pay_checkout(session.id, email=email).ok


def _run(app: Flask, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=["import", "stripe", *args])
    assert result.exit_code == 0, result.output
    return str(result.output)


def _account(double: DoubleServer) -> None:
    _paid_session(double, "mykola@example.org", mode="subscription", amount=800)
    _paid_session(double, "iryna@example.org", mode="payment", amount=2500)
    sdk(double).v1.customers.create({"name": "No address"})


def test_a_dry_run_reports_and_changes_nothing(app: Flask, double: DoubleServer) -> None:
    _account(double)
    output = _run(app, "--dry-run")
    assert "Dry run: nothing was changed" in output
    assert "Customers read: 3." in output and "Supporters created: 2;" in output
    assert "skipped (no email): 1." in output
    assert "Memberships adopted: 1;" in output and "Payments recorded: 2 (1 membership, 1 one-time)" in output
    assert count(Supporter) == count(Membership) == count(Payment) == 0


def test_customers_subscriptions_and_payments_are_adopted_once(app: Flask, double: DoubleServer) -> None:
    _account(double)
    already = add_supporter(email="iryna@example.org", name="Iryna")  # gave here before, by another customer
    _run(app)
    mykola = db.session.scalars(sa.select(Supporter).where(Supporter.email == "mykola@example.org")).one()
    membership = db.session.scalars(sa.select(Membership)).one()
    assert membership.supporter_id == mykola.id and membership.status is MembershipStatus.ACTIVE
    assert (membership.amount_minor, membership.currency, membership.interval) == (800, "EUR", "month")
    payments = {p.kind: p for p in db.session.scalars(sa.select(Payment))}
    assert payments[PaymentKind.MEMBERSHIP].amount_minor == 800 and payments[PaymentKind.MEMBERSHIP].fee_minor > 0
    assert payments[PaymentKind.GIFT].supporter_id == already.id and payments[PaymentKind.GIFT].amount_minor == 2500
    iryna = db.session.get(Supporter, already.id)
    assert iryna is not None and iryna.stripe_customer_id  # linked by email, not duplicated
    # Ours from now on: its webhooks are applied like any membership's.
    ownership = subscription_ownership(db.session(), membership.stripe_subscription_id, {})
    assert ownership is not None and ownership.in_good_standing
    output = _run(app)  # again: nothing new
    assert "Supporters created: 0; linked to an existing supporter by email: 0; already ours: 2" in output
    assert "Memberships adopted: 0; already ours: 1" in output and "already recorded: 2" in output
    assert count(Supporter) == 2 and count(Membership) == 1 and count(Payment) == 2


def test_a_cancelled_subscription_is_left_alone(app: Flask, double: DoubleServer) -> None:
    _paid_session(double, "gone@example.org", mode="subscription", amount=500)
    subscription = sdk(double).v1.subscriptions.list().data[0]
    sdk(double).v1.subscriptions.cancel(subscription.id)
    output = _run(app)
    assert "Memberships adopted: 0;" in output and count(Membership) == 0
    assert count(Supporter) == 1  # the customer is still a supporter, with the payment they made
    assert count(Payment) == 0  # its invoice belongs to no membership of ours: not a one-time gift either


def test_stripe_unreachable_is_a_clear_error_and_imports_nothing(app: Flask) -> None:
    app.extensions["stripe_gateway"].configured = False
    result = app.test_cli_runner().invoke(args=["import", "stripe"])
    assert result.exit_code == 1 and "Nothing was imported" in result.output
    assert count(Supporter) == 0
