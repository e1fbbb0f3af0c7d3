"""Patron journeys for the tests: supporters, memberships (through the double or as rows), signing in."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

from membership.db import db, utcnow
from membership.giving.models import Membership, MembershipStatus, Payment, PaymentKind, PaymentStatus
from membership.supporters.models import Supporter
from membership.supporters.tokens import TokenPurpose, issue_token
from stripe_double import DoubleServer
from tests.support.giving import pay, settle, start_gift
from tests.support.helpers import csrf_token

LINK_RE = re.compile(r"(http://\S+/account/sign-in/[A-Za-z0-9_\-]+(?:\?next=[^\s\]]+)?)")


def add_supporter(email: str = "olena@example.org", name: str = "Olena", **values: Any) -> Supporter:
    supporter = Supporter(email=email, name=name, **values)
    db.session.add(supporter)
    db.session.commit()
    return supporter


def add_membership(supporter: Supporter, status: MembershipStatus = MembershipStatus.ACTIVE,
                   **values: Any) -> Membership:
    """A membership row as the webhooks would leave it (no Stripe behind it)."""
    now = utcnow()
    fields: dict[str, Any] = {
        "supporter_id": supporter.id,
        "stripe_subscription_id": f"sub_test_{supporter.id}_{status.value}_{now.timestamp()}",
        "status": status,
        "amount_minor": 500,
        "currency": "EUR",
        "interval": "month",
        "started_at": now - timedelta(days=40),
        "current_period_end": now + timedelta(days=20),
        **values,
    }
    membership = Membership(**fields)
    db.session.add(membership)
    db.session.commit()
    return membership


def add_payment(supporter: Supporter, amount_minor: int, paid_at: datetime, *, currency: str = "EUR",
                kind: PaymentKind = PaymentKind.MEMBERSHIP, status: PaymentStatus = PaymentStatus.PAID,
                refunded_minor: int = 0, membership: Membership | None = None) -> Payment:
    n = db.session.scalar(sa.select(sa.func.count()).select_from(Payment)) or 0
    payment = Payment(supporter_id=supporter.id, membership_id=membership.id if membership else None, kind=kind,
                      stripe_payment_intent_id=f"pi_test_{supporter.id}_{n}", amount_minor=amount_minor,
                      fee_minor=0, net_minor=amount_minor, currency=currency, status=status,
                      refunded_minor=refunded_minor, paid_at=paid_at)
    db.session.add(payment)
    db.session.commit()
    return payment


def become_patron(client: FlaskClient, double: DoubleServer, email: str = "olena@example.org",
                  amount: str = "5", currency: str = "EUR") -> Membership:
    """A monthly membership made the real way: give form → Checkout on the double → webhooks."""
    checkout = start_gift(client, frequency="monthly", amount=amount, currency=currency, email=email)
    pay(double, checkout)
    settle(double)
    membership = db.session.scalars(
        sa.select(Membership).where(Membership.supporter_id == checkout.supporter_id)).one()
    assert membership.status is MembershipStatus.ACTIVE
    return membership


def sign_in(client: FlaskClient, supporter: Supporter) -> None:
    """Sign in as the supporter through a real emailed-link token (without the email)."""
    token = issue_token(db.session(), supporter, TokenPurpose.SIGN_IN, timedelta(minutes=15))
    db.session.commit()
    path = f"/account/sign-in/{token}"
    response = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert response.status_code == 303, response.get_data(as_text=True)


def subscription_posts(double: DoubleServer) -> list[dict[str, Any]]:
    """Every POST the app made to update a subscription."""
    return [r for r in double.requests if r["method"].upper() == "POST" and r["path"].startswith("/v1/subscriptions")]
