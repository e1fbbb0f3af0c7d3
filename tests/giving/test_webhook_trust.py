"""What the webhook takes from Stripe rather than from the payload: ownership first, objects re-read at our
API version, and disputes that count whatever the order of delivery."""

from __future__ import annotations

import itertools
import logging
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from membership.db import db
from membership.giving.events import pipeline
from membership.giving.models import (
    CheckoutStatus,
    EventStatus,
    Membership,
    MembershipStatus,
    Payment,
    PaymentKind,
    PaymentStatus,
    StripeEvent,
)
from membership.giving.stripe_gateway import API_VERSION
from stripe_double import DoubleServer
from stripe_double.versions import OLDER_API_VERSION, render_event_at
from tests.support.giving import MONTH, advance, clock_customer, events_of, pay, sdk, settle, start_gift
from tests.support.helpers import count, post_event
from tests.support.servers import LiveServer
from tests.support.settings import STRIPE_KEY, WEBHOOK_SECRET


def our_requests(double: DoubleServer) -> list[tuple[str, str]]:
    """The requests the app (not the test's other integration) made to Stripe."""
    return [(r["method"], r["path"]) for r in double.requests if r.get("api_key") == STRIPE_KEY]


def deliver(client: FlaskClient, event: dict[str, Any]) -> dict[str, Any]:
    response = post_event(client, event, WEBHOOK_SECRET)
    assert response.status_code == 200, response.get_data(as_text=True)
    return dict(response.get_json())


def foreign_subscription(double: DoubleServer, metadata: dict[str, str], customer: str | None = None) -> str:
    """A subscription another integration on the same account opened through its own Checkout Session."""
    session = sdk(double).v1.checkout.sessions.create({
        **({"customer": customer} if customer else {}),
        "mode": "subscription",
        "line_items": [{"price_data": {"currency": "eur", "unit_amount": 900, "product_data": {"name": "Box"},
                                       "recurring": {"interval": "month"}}, "quantity": 1}],
        "success_url": "https://shop.example/ok",
        "metadata": metadata,
        "subscription_data": {"metadata": metadata},
    })
    assert double.pay_checkout(session.id, email="olena@example.org").ok
    return session.id


# Point 6: an event at an older API version ---------------------------------------------------------------


def test_a_renewal_sent_at_an_older_api_version_is_recorded(
    client: FlaskClient, double: DoubleServer, live_app: LiveServer, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pipeline, "_api_versions_noted", set())
    clock_id, _ = clock_customer(double)
    checkout = start_gift(client, frequency="monthly", amount="5")
    pay(double, checkout)
    settle(double)
    # The endpoint is pinned to a version from before invoices had `parent` (as an old Dashboard setting is).
    endpoint = double.state.get("we_double_config")
    assert endpoint is not None
    endpoint["api_version"] = OLDER_API_VERSION
    with caplog.at_level(logging.WARNING, logger="membership.giving.events.pipeline"):
        advance(double, clock_id, MONTH)
        settle(double)
    renewal = events_of(double, "invoice.paid")[-1]
    stored = db.session.get(StripeEvent, renewal["id"])
    assert stored is not None and stored.status is EventStatus.PROCESSED
    assert stored.payload["api_version"] == OLDER_API_VERSION
    assert "parent" not in stored.payload["data"]["object"]  # delivered in the old shape
    payments = db.session.scalars(sa.select(Payment).order_by(Payment.id)).all()
    assert [p.stripe_invoice_id for p in payments][-1] == renewal["data"]["object"]["id"]
    assert len(payments) == 2 and {p.kind for p in payments} == {PaymentKind.MEMBERSHIP}
    # The invoice was re-read by id at our version rather than trusted as sent.
    assert ("GET", f"/v1/invoices/{renewal['data']['object']['id']}") in our_requests(double)
    warnings = [r for r in caplog.records if OLDER_API_VERSION in r.getMessage()]
    assert len(warnings) == 1 and API_VERSION in warnings[0].getMessage()  # once, for several events


def test_the_double_renders_an_invoice_event_at_an_older_version(client: FlaskClient, double: DoubleServer) -> None:
    clock_customer(double)
    checkout = start_gift(client, frequency="monthly", amount="5")
    pay(double, checkout)
    paid = events_of(double, "invoice.paid")[0]
    older = render_event_at(paid, OLDER_API_VERSION)
    invoice = older["data"]["object"]
    assert older["api_version"] == OLDER_API_VERSION and "parent" not in invoice
    assert invoice["subscription"] == paid["data"]["object"]["parent"]["subscription_details"]["subscription"]
    assert invoice["subscription_details"]["metadata"]["checkout_id"] == str(checkout.id)
    assert render_event_at(paid, None) == paid


def test_a_first_invoice_at_an_older_version_arriving_first_makes_the_membership(
    client: FlaskClient, double: DoubleServer
) -> None:
    checkout = start_gift(client, frequency="monthly", amount="5")
    pay(double, checkout)
    deliver(client, render_event_at(events_of(double, "invoice.paid")[0], OLDER_API_VERSION))
    membership = db.session.scalars(sa.select(Membership)).one()
    assert membership.checkout_id == checkout.id and membership.status is MembershipStatus.ACTIVE
    assert db.session.scalars(sa.select(Payment)).one().membership_id == membership.id


# Point 9: ownership first -----------------------------------------------------------------------------------


def test_an_invoice_paid_out_of_band_records_nothing(client: FlaskClient, double: DoubleServer,
                                                      live_app: LiveServer) -> None:
    clock_id, _ = clock_customer(double)
    checkout = start_gift(client, frequency="monthly", amount="5")
    pay(double, checkout, card="4000000000000341")  # renewals fail
    settle(double)
    advance(double, clock_id, MONTH)
    settle(double)
    failed = events_of(double, "invoice.payment_failed")[-1]["data"]["object"]
    # Staff mark the renewal paid out of band (the reader paid by bank transfer): no PaymentIntent.
    sdk(double).v1.invoices.pay(failed["id"], {"paid_out_of_band": True})
    settle(double)
    paid = [e for e in events_of(double, "invoice.paid") if e["data"]["object"]["id"] == failed["id"]]
    assert len(paid) == 1
    stored = db.session.get(StripeEvent, paid[0]["id"])
    assert stored is not None and stored.status is EventStatus.PROCESSED and stored.attempts == 1
    assert count(Payment) == 1  # only the first month's
    assert db.session.scalars(sa.select(Membership)).one().status is MembershipStatus.ACTIVE


def test_a_foreign_subscription_costs_no_stripe_call(client: FlaskClient, double: DoubleServer) -> None:
    foreign_subscription(double, {"order": "42"})
    before = len(our_requests(double))
    for event in double.state.events():
        deliver(client, event)
    assert our_requests(double)[before:] == []
    assert count(Membership) == 0 and count(Payment) == 0


def test_our_metadata_alone_never_makes_a_membership(client: FlaskClient, double: DoubleServer) -> None:
    _clock, customer_id = clock_customer(double)  # our supporter's own Stripe customer, shared with the shop
    ours = start_gift(client, frequency="monthly", amount="5")  # opened, never paid
    assert ours.supporter.stripe_customer_id == customer_id
    session_id = foreign_subscription(double, {"checkout_id": str(ours.id), "supporter_id": str(ours.supporter_id)},
                                      customer=customer_id)
    foreign = [e for e in double.state.events() if e["type"] in (
        "customer.subscription.created", "customer.subscription.updated", "invoice.paid", "invoice.payment_failed",
        "checkout.session.completed")]
    assert {e["type"] for e in foreign} >= {"customer.subscription.created", "invoice.paid",
                                            "checkout.session.completed"}
    before = len(our_requests(double))
    for event in foreign:
        deliver(client, event)
    assert count(Membership) == 0 and count(Payment) == 0
    # Stripe was asked only about our own checkout's session, which opened no such subscription.
    assert set(our_requests(double)[before:]) <= {("GET", f"/v1/checkout/sessions/{ours.stripe_session_id}")}
    assert session_id != ours.stripe_session_id
    db.session.refresh(ours)
    assert ours.status is CheckoutStatus.OPEN and ours.completed_at is None


# Point 8: disputes count whatever the order -----------------------------------------------------------------

GIFT_EVENTS = ("checkout.session.completed", "charge.dispute.created", "charge.dispute.closed")
MEMBERSHIP_EVENTS = ("invoice.paid", "checkout.session.completed", "charge.dispute.created",
                     "charge.dispute.closed")
OUTCOMES = {"won": (PaymentStatus.PAID, "won"), "lost": (PaymentStatus.DISPUTED, "lost")}


def close_dispute(double: DoubleServer, outcome: str) -> None:
    dispute = double.state.all("dispute")[0]
    if outcome == "lost":
        sdk(double).v1.disputes.close(dispute["id"])
    else:
        sdk(double).v1.disputes.update(dispute["id"], {"evidence": {"uncategorized_text": "winning_evidence"}})


def deliver_in_order(client: FlaskClient, double: DoubleServer, order: tuple[str, ...]) -> None:
    for event_type in order:
        (event,) = events_of(double, event_type)
        deliver(client, event)


@pytest.mark.parametrize("outcome", sorted(OUTCOMES))
@pytest.mark.parametrize("order", list(itertools.permutations(GIFT_EVENTS)), ids="+".join)
def test_a_gift_dispute_counts_in_any_order(client: FlaskClient, double: DoubleServer, order: tuple[str, ...],
                                           outcome: str) -> None:
    checkout = start_gift(client, amount="10")
    pay(double, checkout, card="4000000000000259")
    close_dispute(double, outcome)
    deliver_in_order(client, double, order)
    payment = db.session.scalars(sa.select(Payment)).one()
    assert (payment.status, payment.dispute_status) == OUTCOMES[outcome]
    assert payment.refunded_minor == 0 and payment.checkout_id == checkout.id


@pytest.mark.parametrize("outcome", sorted(OUTCOMES))
@pytest.mark.parametrize("order", list(itertools.permutations(MEMBERSHIP_EVENTS)), ids="+".join)
def test_a_membership_dispute_counts_in_any_order(client: FlaskClient, double: DoubleServer,
                                                 order: tuple[str, ...], outcome: str) -> None:
    checkout = start_gift(client, frequency="monthly", amount="5")
    pay(double, checkout, card="4000000000000259")
    close_dispute(double, outcome)
    deliver_in_order(client, double, order)
    payment = db.session.scalars(sa.select(Payment)).one()
    assert (payment.status, payment.dispute_status) == OUTCOMES[outcome]
    membership = db.session.scalars(sa.select(Membership)).one()
    assert payment.membership_id == membership.id and membership.checkout_id == checkout.id


def test_a_dispute_is_re_read_not_taken_from_the_event(client: FlaskClient, double: DoubleServer) -> None:
    checkout = start_gift(client, amount="10")
    pay(double, checkout, card="4000000000000259")
    deliver(client, events_of(double, "checkout.session.completed")[0])
    close_dispute(double, "won")
    # The stale `created` snapshot says "needs_response"; Stripe now says won.
    deliver(client, events_of(double, "charge.dispute.created")[0])
    payment = db.session.scalars(sa.select(Payment)).one()
    assert (payment.status, payment.dispute_status) == (PaymentStatus.PAID, "won")
