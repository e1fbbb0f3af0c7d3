"""Webhooks end to end: the double charges test cards and delivers signed events to the live app."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership.db import db
from membership.giving import events
from membership.giving.events import charges, checkout_sessions
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
from membership.giving.stripe_gateway import StripeGateway, gateway
from membership.supporters.models import Supporter
from stripe_double import DoubleServer
from tests.support.giving import (
    MONTH,
    advance,
    clock_customer,
    events_of,
    paid_gift,
    pay,
    sdk,
    settle,
    start_gift,
    wait_until,
)
from tests.support.helpers import count, post_event, refreshed, sign, text
from tests.support.servers import LiveServer
from tests.support.settings import WEBHOOK_SECRET


def test_gift_becomes_a_payment_with_fee_and_net(client: FlaskClient, double: DoubleServer,
                                                  live_app: LiveServer) -> None:
    checkout = start_gift(client, amount="10")
    pending = client.get(f"/give/thanks?session_id={checkout.stripe_session_id}")
    assert "Your payment is being confirmed" in text(pending)
    assert '<meta http-equiv="refresh" content="3">' in text(pending)
    pay(double, checkout)
    settle(double)
    payment = db.session.scalars(sa.select(Payment)).one()
    assert (payment.kind, payment.amount_minor, payment.currency) == (PaymentKind.GIFT, 1000, "EUR")
    assert (payment.fee_minor, payment.net_minor) == (40, 960)  # 1.5% + €0.25
    assert payment.status is PaymentStatus.PAID and payment.checkout_id == checkout.id
    assert payment.stripe_charge_id and payment.stripe_balance_transaction_id
    db.session.refresh(checkout)
    assert checkout.status is CheckoutStatus.COMPLETED
    assert checkout.supporter.stripe_customer_id
    thanks = text(client.get(f"/give/thanks?session_id={checkout.stripe_session_id}"))
    assert "Thank you, Olena: €10.00" in thanks and "refresh" not in thanks


def test_thanks_page_never_trusts_the_url(client: FlaskClient, double: DoubleServer) -> None:
    assert client.get("/give/thanks").status_code == 400
    unknown = client.get("/give/thanks?session_id=cs_test_made_up")
    assert unknown.status_code == 404 and "no record" in text(unknown)


def test_covered_fees_net_the_chosen_amount(client: FlaskClient, double: DoubleServer,
                                            live_app: LiveServer) -> None:
    checkout = start_gift(client, amount="10", cover_fees="y")
    pay(double, checkout)
    settle(double)
    payment = db.session.scalars(sa.select(Payment)).one()
    assert payment.amount_minor == 1041 and payment.net_minor == 1000


def test_monthly_membership_renews_on_the_test_clock(client: FlaskClient, double: DoubleServer,
                                                     live_app: LiveServer) -> None:
    clock_id, customer_id = clock_customer(double)
    checkout = start_gift(client, frequency="monthly", amount="5")
    session_request = [r for r in double.requests if r["path"] == "/v1/checkout/sessions"][-1]
    assert session_request["params"]["customer"] == customer_id
    pay(double, checkout)
    settle(double)
    membership = db.session.scalars(sa.select(Membership)).one()
    assert membership.status is MembershipStatus.ACTIVE
    assert (membership.amount_minor, membership.currency, membership.interval) == (500, "EUR", "month")
    assert membership.tier is not None or membership.tier_id is None
    first_period_end = membership.current_period_end
    assert first_period_end is not None
    thanks = text(client.get(f"/give/thanks?session_id={checkout.stripe_session_id}"))
    assert "Thank you, Olena: €5.00/month" in thanks
    advance(double, clock_id, MONTH)
    settle(double)
    payments = db.session.scalars(sa.select(Payment).order_by(Payment.id)).all()
    assert [p.kind for p in payments] == [PaymentKind.MEMBERSHIP, PaymentKind.MEMBERSHIP]
    assert all(p.membership_id == membership.id and p.stripe_invoice_id for p in payments)
    db.session.refresh(membership)
    assert membership.status is MembershipStatus.ACTIVE
    assert membership.current_period_end is not None and membership.current_period_end > first_period_end


def test_a_completed_gift_writes_its_changes_in_one_flush(client: FlaskClient, double: DoubleServer) -> None:
    """The checkout's status, the supporter's Stripe customer and language: one flush, one UPDATE of each row
    (reading the newsroom's webhook endpoints, none here, flushes nothing)."""
    checkout, completed = paid_gift(client, double)
    flushes: list[int] = []
    updates: list[str] = []

    def flushed(session: Any, context: Any) -> None:
        flushes.append(1)

    def executed(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        table = statement.split()[1] if statement.startswith("UPDATE") else ""
        if table not in ("", "stripe_events", "outbound_emails"):  # the event's own row; the sender's, after commit
            updates.append(table)

    sa.event.listen(sa.orm.Session, "after_flush", flushed)
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", executed)
    try:
        assert post_event(client, completed, WEBHOOK_SECRET).status_code == 200
    finally:
        sa.event.remove(sa.orm.Session, "after_flush", flushed)
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", executed)
    assert len(flushes) == 1
    assert sorted(updates) == ["checkouts", "supporters"]
    assert refreshed(checkout).status is CheckoutStatus.COMPLETED
    assert db.session.get(Supporter, checkout.supporter_id).stripe_customer_id  # type: ignore[union-attr]


def test_a_renewal_costs_two_stripe_requests_for_its_invoice(client: FlaskClient, double: DoubleServer,
                                                             live_app: LiveServer) -> None:
    """The renewal's invoice is re-read with its payments included (no list of invoice payments after it), then
    its PaymentIntent with the charge and fee: two requests where there were three."""
    clock_id, _ = clock_customer(double)
    pay(double, start_gift(client, frequency="monthly", amount="5"))
    settle(double)
    before = len(double.requests)
    advance(double, clock_id, MONTH)
    settle(double)
    [renewal] = [i for i in double.state.all("invoice") if i["billing_reason"] == "subscription_cycle"]
    [invoice_payment] = double.state.children("invoice_payment", "invoice", renewal["id"])
    intent_id = invoice_payment["payment"]["payment_intent"]
    calls = [(c["method"], c["path"], c["params"].get("expand")) for c in double.requests[before:]
             if c["path"].startswith(("/v1/invoice", f"/v1/payment_intents/{intent_id}"))]
    assert calls == [("GET", f"/v1/invoices/{renewal['id']}", ["payments"]),
                     ("GET", f"/v1/payment_intents/{intent_id}", ["latest_charge.balance_transaction"])]
    payment = db.session.scalars(sa.select(Payment).where(Payment.stripe_invoice_id == renewal["id"])).one()
    assert (payment.stripe_payment_intent_id, payment.amount_minor, payment.status) == (
        intent_id, 500, PaymentStatus.PAID)


def test_an_invoice_paid_by_more_payments_than_it_includes_is_still_recorded(
    app: Flask, client: FlaskClient, double: DoubleServer, live_app: LiveServer
) -> None:
    """Stripe includes only an invoice's first handful of payments; past them the gateway lists the paid ones."""
    pay(double, start_gift(client, frequency="monthly", amount="5"))
    settle(double)
    [invoice] = double.state.all("invoice")
    with app.app_context():
        stripe = gateway()
        intent = double.state.children("invoice_payment", "invoice", invoice["id"])[0]["payment"]["payment_intent"]
        before = len(double.requests)
        assert stripe.payment_intent_for_invoice({"id": invoice["id"],
                                                  "payments": {"data": [], "has_more": True}}) == intent
        assert [(c["path"], c["params"]) for c in double.requests[before:]] == [
            ("/v1/invoice_payments", {"invoice": invoice["id"], "status": "paid", "limit": "100"})]
        retrieved = stripe.retrieve_invoice(invoice["id"], with_payments=True)
        before = len(double.requests)
        assert stripe.payment_intent_for_invoice(retrieved) == intent
        assert len(double.requests) == before  # read from what the invoice included


def test_card_that_fails_later_makes_the_membership_past_due(client: FlaskClient, double: DoubleServer,
                                                             live_app: LiveServer) -> None:
    clock_id, _ = clock_customer(double)
    checkout = start_gift(client, frequency="monthly", amount="5")
    pay(double, checkout, card="4000000000000341")
    settle(double)
    assert db.session.scalars(sa.select(Membership)).one().status is MembershipStatus.ACTIVE
    advance(double, clock_id, MONTH)
    settle(double)
    membership = db.session.scalars(sa.select(Membership)).one()
    assert membership.status is MembershipStatus.PAST_DUE and membership.past_due_since is not None
    assert count(Payment) == 1  # the failed renewal is not a payment
    assert db.session.get(StripeEvent, events_of(double, "invoice.payment_failed")[0]["id"]) is not None


def test_duplicate_delivery_records_one_payment(client: FlaskClient, double: DoubleServer,
                                                live_app: LiveServer) -> None:
    checkout = start_gift(client)
    pay(double, checkout)
    settle(double)
    completed = events_of(double, "checkout.session.completed")[0]
    again = post_event(client, completed, WEBHOOK_SECRET)
    assert again.status_code == 200 and again.get_json()["result"] == "duplicate"
    assert count(Payment) == 1


def test_twenty_concurrent_deliveries_record_one_payment(app: Flask, client: FlaskClient, double: DoubleServer,
                                                         live_port: int) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent deliveries are exercised on PostgreSQL (SQLite serialises writers)")
    checkout = start_gift(client)
    pay(double, checkout)
    live = LiveServer(app, live_port)  # started late: every event is delivered by us below, all at once
    try:
        completed = events_of(double, "checkout.session.completed")[0]
        body = json.dumps(completed).encode()
        barrier = threading.Barrier(20)
        statuses: list[int] = []

        def deliver() -> None:
            barrier.wait()
            response = requests.post(f"{live.url}/stripe/webhook", data=body, timeout=30,
                                     headers={"Stripe-Signature": sign(body, WEBHOOK_SECRET),
                                              "Content-Type": "application/json"})
            statuses.append(response.status_code)

        threads = [threading.Thread(target=deliver) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == [200] * 20
        assert count(Payment) == 1
        stored = db.session.get(StripeEvent, completed["id"])
        assert stored is not None and stored.status is EventStatus.PROCESSED and stored.attempts == 1
    finally:
        live.stop()


def test_renewal_arriving_before_checkout_completed_still_ends_consistent(
    client: FlaskClient, double: DoubleServer
) -> None:
    clock_id, _ = clock_customer(double)
    checkout = start_gift(client, frequency="monthly", amount="5")
    pay(double, checkout)
    advance(double, clock_id, MONTH)
    # Deliver by hand, newest first: the renewal's invoice.paid before anything about the signup.
    for event in reversed(double.state.events()):
        assert post_event(client, event, WEBHOOK_SECRET).status_code == 200
    memberships = db.session.scalars(sa.select(Membership)).all()
    assert len(memberships) == 1 and memberships[0].status is MembershipStatus.ACTIVE
    payments = db.session.scalars(sa.select(Payment)).all()
    assert len(payments) == 2 and {p.membership_id for p in payments} == {memberships[0].id}
    db.session.refresh(checkout)
    assert checkout.status is CheckoutStatus.COMPLETED


def test_processing_error_answers_500_and_redelivery_completes(
    client: FlaskClient, double: DoubleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkout = start_gift(client)
    pay(double, checkout)
    completed = events_of(double, "checkout.session.completed")[0]
    real = charges.record_payment  # what checkout_sessions calls

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise sa.exc.OperationalError("INSERT INTO payments", {}, Exception("database is down"))

    monkeypatch.setattr(checkout_sessions, "record_payment", broken)
    failed = post_event(client, completed, WEBHOOK_SECRET)
    assert failed.status_code == 500
    stored = db.session.get(StripeEvent, completed["id"])
    assert stored is not None and stored.status is EventStatus.FAILED
    assert "database is down" in stored.last_error and stored.attempts == 1
    assert count(Payment) == 0
    db.session.refresh(checkout)
    assert checkout.status is CheckoutStatus.OPEN  # the failed transaction left nothing half-written

    monkeypatch.setattr(checkout_sessions, "record_payment", real)
    retried = post_event(client, completed, WEBHOOK_SECRET)
    assert retried.status_code == 200 and retried.get_json()["result"] == "processed"
    assert count(Payment) == 1
    stored = refreshed(stored)
    assert stored.status is EventStatus.PROCESSED and stored.attempts == 2 and stored.last_error == ""


def test_reconcile_processes_missed_and_failed_events(app: Flask, client: FlaskClient, double: DoubleServer,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # No live app: every webhook delivery fails, as when the site is down.
    checkout = start_gift(client)
    pay(double, checkout)
    completed = events_of(double, "checkout.session.completed")[0]
    monkeypatch.setattr(checkout_sessions, "record_payment",
                        lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    assert post_event(client, completed, WEBHOOK_SECRET).status_code == 500
    monkeypatch.undo()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["stripe", "reconcile"])
    assert result.exit_code == 0, result.output
    assert "processed now:" in result.output and "failed: 0" in result.output
    assert count(Payment) == 1
    assert db.session.get_one(StripeEvent, completed["id"]).status is EventStatus.PROCESSED
    again = runner.invoke(args=["stripe", "reconcile"])
    assert "processed now: 0" in again.output and count(Payment) == 1


@pytest.mark.parametrize("since", ["yesterday", "2026-13-01", "2999-01-01"])
def test_reconcile_rejects_bad_since(app: Flask, double: DoubleServer, since: str) -> None:
    result = app.test_cli_runner().invoke(args=["stripe", "reconcile", "--since", since])
    assert result.exit_code == 2 and "--since" in result.output
    assert not [r for r in double.requests if r["path"] == "/v1/events"]


def test_refunds_update_the_payment(client: FlaskClient, double: DoubleServer, live_app: LiveServer) -> None:
    checkout = start_gift(client, amount="20")
    pay(double, checkout)
    settle(double)
    payment = db.session.scalars(sa.select(Payment)).one()
    charge = payment.stripe_charge_id
    assert charge
    sdk(double).v1.refunds.create({"charge": charge, "amount": 500})
    settle(double)
    payment = refreshed(payment)
    assert payment.status is PaymentStatus.PARTIALLY_REFUNDED and payment.refunded_minor == 500
    sdk(double).v1.refunds.create({"charge": charge})
    settle(double)
    payment = refreshed(payment)
    assert payment.status is PaymentStatus.REFUNDED and payment.refunded_minor == 2000


def test_disputes_update_the_payment(client: FlaskClient, double: DoubleServer, live_app: LiveServer) -> None:
    checkout = start_gift(client)
    pay(double, checkout, card="4000000000000259")
    settle(double)
    wait_until(lambda: db.session.scalars(sa.select(Payment)).one().status is PaymentStatus.DISPUTED)
    payment = db.session.scalars(sa.select(Payment)).one()
    assert payment.dispute_status
    dispute = double.state.all("dispute")[0]
    sdk(double).v1.disputes.close(dispute["id"])
    settle(double)
    db.session.refresh(payment)
    assert payment.dispute_status == "lost" and payment.status is PaymentStatus.DISPUTED


def test_cancel_returns_to_the_form_with_choices_kept(client: FlaskClient, double: DoubleServer,
                                                      live_app: LiveServer) -> None:
    checkout = start_gift(client, frequency="monthly", amount="7.50", message="For the war reporting",
                          source="https://news.example/story")
    cancel_url = [r for r in double.requests if r["path"] == "/v1/checkout/sessions"][-1]["params"]["cancel_url"]
    page = client.get(cancel_url.replace(live_app.url, ""))
    assert page.status_code == 200
    body = text(page)
    assert "Your payment was cancelled and nothing was charged" in body
    assert 'value="7.50"' in body and 'value="olena@example.org"' in body and "For the war reporting" in body
    assert 'value="monthly" checked' in body or 'checked id="frequency-1"' in body
    assert 'value="https://news.example/story"' in body
    settle(double)
    db.session.refresh(checkout)
    assert checkout.status is CheckoutStatus.EXPIRED
    tampered = client.get("/give/cancelled?ref=not-a-valid-token")
    assert tampered.status_code == 400 and "Nothing was charged" in text(tampered)


def test_declined_card_records_nothing(client: FlaskClient, double: DoubleServer, live_app: LiveServer) -> None:
    checkout = start_gift(client)
    assert checkout.stripe_session_id
    result = double.pay_checkout(checkout.stripe_session_id, card="4000000000000002")
    assert not result.ok
    settle(double)
    assert count(Payment) == 0
    db.session.refresh(checkout)
    assert checkout.status is CheckoutStatus.OPEN


def test_stored_events_keep_no_personal_data(client: FlaskClient, double: DoubleServer) -> None:
    checkout, completed = paid_gift(client, double)
    assert "olena@example.org" in json.dumps(completed)  # Stripe sends the reader's address and name
    assert post_event(client, completed, WEBHOOK_SECRET).status_code == 200
    stored = db.session.get(StripeEvent, completed["id"])
    assert stored is not None and stored.status is EventStatus.PROCESSED
    payload = json.dumps(stored.payload)
    assert "olena@example.org" not in payload and "Olena" not in payload
    assert "customer_details" not in stored.payload["data"]["object"]
    assert stored.payload["data"]["object"]["metadata"]["checkout_id"] == str(checkout.id)  # ids are kept
    assert count(Payment) == 1


def test_a_stored_event_is_processed_again_from_its_redacted_copy(
    client: FlaskClient, double: DoubleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _checkout, completed = paid_gift(client, double)
    monkeypatch.setattr(checkout_sessions, "record_payment",
                        lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    assert post_event(client, completed, WEBHOOK_SECRET).status_code == 500
    monkeypatch.undo()
    # Processed again from what was stored (its personal fields blanked), as a retry from our side would be.
    outcome = events.process_event(db.session(), gateway(), completed["id"])
    assert outcome.result == "processed" and count(Payment) == 1


def test_stripe_is_called_with_no_transaction_open_and_once_for_a_gift(
    client: FlaskClient, double: DoubleServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No row lock or open transaction waits on Stripe; a gift costs one request, its charge expanded."""
    checkout, completed = paid_gift(client, double)
    real_call = StripeGateway._call
    open_during_calls: list[bool] = []

    def watched(self: StripeGateway, *args: Any, **kwargs: Any) -> Any:
        open_during_calls.append(db.session().in_transaction())
        return real_call(self, *args, **kwargs)

    monkeypatch.setattr(StripeGateway, "_call", watched)
    before = len(double.requests)
    assert post_event(client, completed, WEBHOOK_SECRET).status_code == 200
    calls = double.requests[before:]
    assert [(c["method"], c["path"]) for c in calls] == [("GET", f"/v1/checkout/sessions/{checkout.stripe_session_id}")]
    assert "payment_intent.latest_charge.balance_transaction" in json.dumps(calls[0]["params"])
    assert open_during_calls == [False]
    payment = db.session.scalars(sa.select(Payment)).one()
    assert (payment.amount_minor, payment.fee_minor, payment.net_minor) == (1000, 40, 960)
