"""Lifecycle emails end to end: the double charges test cards and delivers webhooks to the live app, which
sends over SMTP to a real server on loopback after each commit."""

from __future__ import annotations

import html
import json
import re
import threading
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership.db import db, utcnow
from membership.email import flush_committed_emails
from membership.giving.models import Membership, MembershipStatus, Payment
from membership.giving.stripe_gateway import gateway
from membership.jobs import run_jobs
from membership.supporters.models import Supporter
from membership.supporters.tokens import SignInToken, TokenPurpose, check_token
from stripe_double import DoubleServer
from tests.support.giving import DAY, MONTH, advance, clock_customer, events_of, pay, sdk, settle, start_gift
from tests.support.helpers import count, csrf_token, post_event, refreshed, sign
from tests.support.patrons import sign_in
from tests.support.servers import LiveServer, SmtpSink
from tests.support.settings import WEBHOOK_SECRET

EMAIL = "olena@example.org"
NEWSROOM = "Kyiv Independent Test"
FIX_CARD_LINK = re.compile(r"(http://127\.0\.0\.1:\d+)(/account/fix-card/[A-Za-z0-9_-]+)")


def body(message: EmailMessage, kind: str = "plain") -> str:
    part = message.get_body((kind,))
    assert part is not None, f"no {kind} part"
    return str(part.get_content())


def day(value: datetime | None) -> str:
    assert value is not None
    return f"{value:%B} {value.day}, {value.year}"


def redeliver_as_new(client: FlaskClient, event: dict[str, Any]) -> None:
    """The same news under a new event id: processed again, so only our stored state can stop a second email."""
    copy = {**event, "id": f"{event['id']}_again"}
    response = post_event(client, copy, WEBHOOK_SECRET)
    assert response.status_code == 200 and response.get_json()["result"] == "processed"


def start_membership(client: FlaskClient, double: DoubleServer,
                     card: str = "4242424242424242") -> tuple[str, Membership]:
    clock_id, _ = clock_customer(double)
    checkout = start_gift(client, frequency="monthly", amount="5")
    pay(double, checkout, card=card)
    settle(double)
    return clock_id, db.session.scalars(sa.select(Membership)).one()


def test_a_gift_without_a_name_is_from_a_reader(client: FlaskClient, double: DoubleServer, live_app: LiveServer,
                                                smtp_server: SmtpSink) -> None:
    checkout = start_gift(client, amount="10", name="  ")
    assert checkout.supporter.name == ""
    pay(double, checkout)
    settle(double)
    [message] = smtp_server.messages
    text = body(message)
    assert text.startswith("Hello,") and "Olena" not in text and "friend" not in text
    thanks = client.get(f"/give/thanks?session_id={checkout.stripe_session_id}").get_data(as_text=True)
    assert "Thank you: €10.00" in thanks and "shows you as “A reader”" in thanks
    wall = client.get("/supporters").get_data(as_text=True)
    assert "<strong>A reader</strong> gave once" in wall


def test_a_gift_is_thanked_once(client: FlaskClient, double: DoubleServer, live_app: LiveServer,
                                smtp_server: SmtpSink) -> None:
    checkout = start_gift(client, amount="10")
    pay(double, checkout)
    settle(double)
    [message] = smtp_server.messages
    assert message["To"] == EMAIL
    assert message["Subject"] == f"Thank you for your gift to {NEWSROOM}"
    text = body(message)
    assert "Hello Olena," in text and "your gift of €10.00" in text and "/month" not in text
    assert f"{live_app.url}/account/sign-in" in text
    assert "€10.00" in body(message, "html")
    redeliver_as_new(client, events_of(double, "checkout.session.completed")[0])
    assert len(smtp_server.messages) == 1


def test_a_new_membership_is_thanked_once(client: FlaskClient, double: DoubleServer, live_app: LiveServer,
                                          smtp_server: SmtpSink) -> None:
    _, membership = start_membership(client, double)
    # checkout.session.completed and the first invoice.paid both complete the checkout: one thank-you.
    [message] = smtp_server.to(EMAIL)
    assert message["Subject"] == f"Thank you for becoming a member of {NEWSROOM}"
    text = body(message)
    assert "Your membership: €5.00/month" in text
    assert f"Next payment: {day(membership.current_period_end)}" in text
    assert f"{live_app.url}/account/sign-in" in text
    for event_type in ("checkout.session.completed", "invoice.paid", "customer.subscription.created"):
        redeliver_as_new(client, events_of(double, event_type)[0])
    assert len(smtp_server.messages) == 1


def test_each_renewal_gets_a_receipt(client: FlaskClient, double: DoubleServer, live_app: LiveServer,
                                     smtp_server: SmtpSink) -> None:
    clock_id, membership = start_membership(client, double)
    advance(double, clock_id, MONTH)
    settle(double)
    _thanks, receipt = smtp_server.to(EMAIL)
    renewal = db.session.scalars(sa.select(Payment).order_by(Payment.id.desc())).first()
    assert renewal is not None
    db.session.refresh(membership)
    assert receipt["Subject"] == f"Receipt: €5.00 to {NEWSROOM} on {day(renewal.paid_at)}"
    text = body(receipt)
    assert "Amount paid: €5.00" in text and "Membership: €5.00/month" in text
    assert f"Date: {day(renewal.paid_at)}" in text
    assert f"Next payment: {day(membership.current_period_end)}" in text
    assert f"Reference: {renewal.stripe_invoice_id}" in text
    renewal_event = next(e for e in events_of(double, "invoice.paid")
                         if e["data"]["object"]["billing_reason"] == "subscription_cycle")
    redeliver_as_new(client, renewal_event)
    assert len(smtp_server.messages) == 2


def test_no_receipts_when_renewal_receipts_are_off(app: Flask, client: FlaskClient, double: DoubleServer,
                                                   live_app: LiveServer, smtp_server: SmtpSink) -> None:
    app.config["RENEWAL_RECEIPTS"] = False
    clock_id, _ = start_membership(client, double)
    advance(double, clock_id, MONTH)
    settle(double)
    assert count(Payment) == 2
    assert [m["Subject"] for m in smtp_server.messages] == [f"Thank you for becoming a member of {NEWSROOM}"]


def test_cancelling_then_ending_sends_one_email_each(client: FlaskClient, double: DoubleServer,
                                                      live_app: LiveServer, smtp_server: SmtpSink) -> None:
    clock_id, membership = start_membership(client, double)
    sdk(double).v1.subscriptions.update(membership.stripe_subscription_id, {"cancel_at_period_end": True})
    settle(double)
    db.session.refresh(membership)
    ends_on = day(membership.current_period_end)
    cancelled = smtp_server.messages[-1]
    assert cancelled["To"] == EMAIL
    assert cancelled["Subject"] == f"Your membership of {NEWSROOM} ends on {ends_on}"
    assert "Your €5.00/month membership" in body(cancelled) and f"active until {ends_on}" in body(cancelled)
    redeliver_as_new(client, events_of(double, "customer.subscription.updated")[-1])
    assert len(smtp_server.messages) == 2

    advance(double, clock_id, MONTH)
    settle(double)
    db.session.refresh(membership)
    assert membership.status is MembershipStatus.CANCELED
    ended = smtp_server.messages[-1]
    assert ended["Subject"] == f"Your membership of {NEWSROOM} has ended"
    text = body(ended)
    assert "Your €5.00/month membership" in text and f"ended on {day(membership.ended_at)}" in text
    assert f"{live_app.url}/give?frequency=monthly&currency=EUR&amount=5" in text
    redeliver_as_new(client, events_of(double, "customer.subscription.deleted")[0])
    assert [m["Subject"] for m in smtp_server.messages] == [
        f"Thank you for becoming a member of {NEWSROOM}",
        f"Your membership of {NEWSROOM} ends on {ends_on}",
        f"Your membership of {NEWSROOM} has ended",
    ]


def test_dunning_through_the_test_clock_and_the_failing_card(
    client: FlaskClient, double: DoubleServer, live_app: LiveServer, smtp_server: SmtpSink
) -> None:
    clock_id, membership = start_membership(client, double, card="4000000000000341")
    advance(double, clock_id, MONTH)  # the renewal's charge fails
    settle(double)
    db.session.refresh(membership)
    assert membership.status is MembershipStatus.PAST_DUE and membership.dunning_emailed_at is not None
    failed = smtp_server.messages[-1]
    assert failed["To"] == EMAIL
    assert failed["Subject"] == f"Your €5.00/month payment to {NEWSROOM} didn't go through"
    link = FIX_CARD_LINK.search(body(failed))
    assert link is not None and link.group(1) == live_app.url
    assert link.group(0) in body(failed, "html")
    token = link.group(2).rsplit("/", 1)[1]
    row = check_token(db.session(), token, TokenPurpose.FIX_CARD)
    assert timedelta(days=6, hours=23) < row.expires_at - row.created_at <= timedelta(days=7)

    # Stripe's retry three days later fails too: still the same failure, so no second email.
    redeliver_as_new(client, events_of(double, "invoice.payment_failed")[0])
    advance(double, clock_id, 3 * DAY)
    settle(double)
    assert len(events_of(double, "invoice.payment_failed")) == 2
    assert len(smtp_server.messages) == 2

    # The periodic job reminds once, three days after the first email, with a fresh link.
    db.session.refresh(membership)
    emailed_at = membership.dunning_emailed_at
    assert emailed_at is not None
    assert run_jobs(db.session(), emailed_at + timedelta(days=2, hours=23)).reminders_queued == 0
    assert run_jobs(db.session(), emailed_at + timedelta(days=3)).reminders_queued == 1
    db.session.commit()
    flush_committed_emails(db.session())
    reminder = smtp_server.messages[-1]
    assert reminder["To"] == EMAIL
    assert reminder["Subject"] == f"Reminder: your membership of {NEWSROOM} needs a new card"
    fresh = FIX_CARD_LINK.search(body(reminder))
    assert fresh is not None and fresh.group(2) != link.group(2)
    assert run_jobs(db.session(), emailed_at + timedelta(days=4)).reminders_queued == 0
    db.session.commit()
    assert len(smtp_server.messages) == 3

    # The link signs the patron in and opens the Portal's card form; a working card pays the open invoice.
    page = client.get(link.group(2))
    assert page.status_code == 200
    opened = client.post(link.group(2), data={"csrf_token": csrf_token(client, link.group(2))})
    assert opened.status_code == 303 and opened.location.startswith(f"{double.portal_url}/p/session/")
    saved = requests.post(f"{opened.location}/card", timeout=10, allow_redirects=False, data={
        "card_number": "4242 4242 4242 4242", "card_expiry": "12 / 34", "card_cvc": "123", "card_name": "Olena"})
    assert saved.status_code == 303 and "overdue+invoice+is+paid" in saved.headers["Location"]
    settle(double)
    membership = refreshed(membership)
    assert membership.status is MembershipStatus.ACTIVE
    assert membership.dunning_emailed_at is None and membership.dunning_reminded_at is None
    assert count(Payment) == 2
    receipt = smtp_server.messages[-1]
    assert receipt["Subject"].startswith("Receipt: €5.00") and len(smtp_server.messages) == 4


def update_card_in_portal(double: DoubleServer, customer_id: str, card: str) -> requests.Response:
    """What the patron does on Stripe's Portal card form (here the double's)."""
    url = gateway().create_portal_session(customer_id, "http://127.0.0.1/account", update_card=True)
    return requests.post(f"{url}/card", timeout=10, allow_redirects=False, data={
        "card_number": card, "card_expiry": "12 / 34", "card_cvc": "123", "card_name": "Olena"})


def test_a_new_failure_after_recovery_is_a_new_episode(client: FlaskClient, double: DoubleServer,
                                                       live_app: LiveServer, smtp_server: SmtpSink) -> None:
    failed_subject = f"Your €5.00/month payment to {NEWSROOM} didn't go through"
    clock_id, membership = start_membership(client, double, card="4000000000000341")
    advance(double, clock_id, MONTH)
    settle(double)
    customer = membership.supporter.stripe_customer_id
    assert customer
    assert update_card_in_portal(double, customer, "4242424242424242").status_code == 303
    settle(double)
    membership = refreshed(membership)
    assert membership.status is MembershipStatus.ACTIVE and membership.dunning_emailed_at is None
    # A card that fails later charges again: the next renewal fails, and that is a new failure to tell about.
    assert update_card_in_portal(double, customer, "4000000000000341").status_code == 303
    advance(double, clock_id, MONTH)
    settle(double)
    membership = refreshed(membership)
    assert membership.status is MembershipStatus.PAST_DUE and membership.dunning_emailed_at is not None
    assert [m["Subject"] for m in smtp_server.messages].count(failed_subject) == 2


def test_erased_supporters_get_no_email(client: FlaskClient, double: DoubleServer, live_app: LiveServer,
                                        smtp_server: SmtpSink) -> None:
    clock_id, membership = start_membership(client, double, card="4000000000000341")
    supporter = db.session.get(Supporter, membership.supporter_id)
    assert supporter is not None
    supporter.email, supporter.name, supporter.erased_at = None, "", utcnow()
    db.session.commit()
    advance(double, clock_id, MONTH)
    settle(double)
    db.session.refresh(membership)
    assert membership.status is MembershipStatus.PAST_DUE and membership.dunning_emailed_at is None
    assert run_jobs(db.session(), utcnow() + timedelta(days=10)).reminders_queued == 0
    db.session.commit()
    assert len(smtp_server.messages) == 1  # the thank-you, from before the erasure
    assert count(SignInToken) == 0


def test_a_subscription_that_is_not_ours_sends_nothing(client: FlaskClient, double: DoubleServer,
                                                       live_app: LiveServer, smtp_server: SmtpSink) -> None:
    db.session.add(Supporter(email=EMAIL, name="Olena"))
    db.session.commit()
    session = sdk(double).v1.checkout.sessions.create({
        "mode": "subscription",
        "customer_email": EMAIL,
        "line_items": [{"price_data": {"currency": "eur", "unit_amount": 900, "recurring": {"interval": "month"},
                                       "product_data": {"name": "Coffee box"}}, "quantity": 1}],
        "success_url": "https://shop.example/ok",
    })
    assert double.pay_checkout(session.id).ok
    settle(double)
    assert events_of(double, "invoice.paid") and count(Membership) == 0
    assert smtp_server.messages == []


def test_concurrent_signup_events_thank_once(app: Flask, client: FlaskClient, double: DoubleServer,
                                             live_port: int, smtp_server: SmtpSink) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent deliveries are exercised on PostgreSQL (SQLite serialises writers)")
    clock_customer(double)
    checkout = start_gift(client, frequency="monthly", amount="5")
    pay(double, checkout)
    double.wait_for_deliveries(10)  # nobody listens yet: every delivery fails until the double gives up
    live = LiveServer(app, live_port)
    try:
        signup = [events_of(double, "checkout.session.completed")[0], events_of(double, "invoice.paid")[0]]
        bodies = [json.dumps({**event, "id": f"{event['id']}_{n}"}).encode() for event in signup for n in range(5)]
        barrier = threading.Barrier(len(bodies))
        statuses: list[int] = []

        def deliver(payload: bytes) -> None:
            barrier.wait()
            response = requests.post(f"{live.url}/stripe/webhook", data=payload, timeout=30,
                                     headers={"Stripe-Signature": sign(payload, WEBHOOK_SECRET),
                                              "Content-Type": "application/json"})
            statuses.append(response.status_code)

        threads = [threading.Thread(target=deliver, args=(payload,)) for payload in bodies]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == [200] * len(bodies)
        settle(double)
    finally:
        live.stop()
    assert count(Payment) == 1
    assert [m["Subject"] for m in smtp_server.messages] == [f"Thank you for becoming a member of {NEWSROOM}"]


@pytest.mark.parametrize(("frequency", "amount", "total", "fees", "each"), [
    ("once", "10", "€10.41", "€0.41", ""),
    ("monthly", "5", "€5.33", "€0.33", "/month"),
    ("yearly", "100", "€101.78", "€1.78", "/year"),
])
def test_covered_fees_are_stated_with_the_amount_charged(client: FlaskClient, double: DoubleServer,
                                                         live_app: LiveServer, smtp_server: SmtpSink, frequency: str,
                                                         amount: str, total: str, fees: str, each: str) -> None:
    """The thanks page, the thank-you email and /account say what Stripe charges, and which part covers fees."""
    checkout = start_gift(client, frequency=frequency, amount=amount, cover_fees="y")
    pay(double, checkout)
    settle(double)
    newsroom = f"€{amount}.00"
    charged = f"{total}{each} ({newsroom} for the newsroom + {fees} card fees)"
    thanks = html.unescape(client.get(f"/give/thanks?session_id={checkout.stripe_session_id}").get_data(as_text=True))
    assert f"Thank you, Olena: {total}{each}" in thanks
    assert f"{newsroom} for the newsroom and {fees} to cover the card fees" in " ".join(thanks.split())
    if each:
        assert f"{newsroom}{each}" not in thanks  # never the amount without the fees as if it were the charge
        assert f"Each {each[1:]} you are charged {total}:" in thanks
        assert f"You'll be charged {total}{each} until you cancel" in thanks
        membership = db.session.scalars(sa.select(Membership)).one()
        assert membership.amount_minor == checkout.total_minor  # what Stripe's subscription charges
    [message] = smtp_server.to(EMAIL)
    assert charged in body(message) and charged in html.unescape(body(message, "html"))
    if each:
        sign_in(client, db.session.scalars(sa.select(Supporter)).one())
        account = html.unescape(client.get("/account").get_data(as_text=True))
        assert charged in account


def test_a_renewal_receipt_states_the_covered_fees(client: FlaskClient, double: DoubleServer, live_app: LiveServer,
                                                   smtp_server: SmtpSink) -> None:
    clock_id, _ = clock_customer(double)
    checkout = start_gift(client, frequency="monthly", amount="5", cover_fees="y")
    pay(double, checkout)
    settle(double)
    advance(double, clock_id, MONTH)
    settle(double)
    _thanks, receipt = smtp_server.to(EMAIL)
    assert receipt["Subject"].startswith(f"Receipt: €5.33 to {NEWSROOM}")
    text = body(receipt)
    assert "Amount paid: €5.33" in text
    assert "Membership: €5.33/month (€5.00 for the newsroom + €0.33 card fees)" in text


def test_a_changed_amount_has_no_fee_part(client: FlaskClient, double: DoubleServer, live_app: LiveServer) -> None:
    """Once the patron chooses a new price, it is charged as it is: /account no longer speaks of fees."""
    checkout = start_gift(client, frequency="monthly", amount="5", cover_fees="y")
    pay(double, checkout)
    settle(double)
    membership = db.session.scalars(sa.select(Membership)).one()
    assert membership.fee_cover_minor == 33
    membership.amount_minor = 700
    db.session.commit()
    assert membership.fee_cover_minor == 0
    sign_in(client, membership.supporter)
    account = html.unescape(client.get("/account").get_data(as_text=True))
    assert "€7.00/month" in account and "card fees" not in account
