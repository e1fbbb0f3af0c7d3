"""Supporters: the keyset-paged list with search and filters, the audited record, and the admin actions
(refunds, cancellations, export, erasure) made for real through the Stripe double."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership.ballots.models import SuggestionStatus, TopicSuggestion, Vote, VoteChoice
from membership.ballots.services import cast_vote
from membership.db import db, utcnow
from membership.email import OutboundEmail
from membership.giving.models import (
    Checkout,
    CheckoutStatus,
    Frequency,
    Membership,
    MembershipStatus,
    Payment,
    PaymentKind,
    PaymentStatus,
    RefundRequest,
    StripeEvent,
    Tier,
)
from membership.giving.stripe_gateway import StripeGateway
from membership.installation import installation_id
from membership.patrons.models import MembershipChange
from membership.staff.accounts.models import Role
from membership.supporters.models import ConsentEvent, Supporter
from stripe_double import DoubleServer
from tests.support.ballots import add_ballot
from tests.support.giving import pay, sdk, settle, start_gift
from tests.support.helpers import count, csrf_token, text
from tests.support.patrons import become_patron, sign_in, subscription_posts
from tests.support.servers import LiveServer, free_port
from tests.support.staff import audits

ROW_LINK = re.compile(r'href="/staff/supporters/(\d+)"')
DAY = timedelta(days=1)


def shown_ids(response: Any) -> list[int]:
    return [int(n) for n in ROW_LINK.findall(response.get_data(as_text=True))]


def stripe_calls(double: DoubleServer, method: str, path_start: str) -> list[dict[str, Any]]:
    return [r for r in double.requests if r["method"].upper() == method and r["path"].startswith(path_start)]


@pytest.fixture
def admin(staff_client: Callable[[Role], FlaskClient]) -> FlaskClient:
    return staff_client(Role.ADMIN)


# Rows written directly (no Stripe behind them), for the list and for access checks ------------------------


def add_supporter(email: str, name: str = "", **values: Any) -> Supporter:
    supporter = Supporter(email=email, name=name, **values)
    db.session.add(supporter)
    db.session.flush()
    return supporter


def add_payment(supporter: Supporter, paid_at: datetime, currency: str = "EUR", amount: int = 1000) -> Payment:
    payment = Payment(supporter_id=supporter.id, kind=PaymentKind.GIFT, amount_minor=amount, fee_minor=40,
                      net_minor=amount - 40, currency=currency, status=PaymentStatus.PAID, paid_at=paid_at,
                      stripe_payment_intent_id=f"pi_row_{supporter.id}_{paid_at.timestamp()}",
                      stripe_charge_id=f"ch_row_{supporter.id}_{paid_at.timestamp()}")
    db.session.add(payment)
    db.session.flush()
    return payment


def add_membership(supporter: Supporter, status: MembershipStatus, tier: Tier | None = None,
                   **values: Any) -> Membership:
    now = utcnow()
    membership = Membership(supporter_id=supporter.id, stripe_subscription_id=f"sub_row_{supporter.id}_{status}",
                            status=status, amount_minor=500, currency="EUR", interval="month",
                            started_at=now - 40 * DAY, current_period_end=now + 20 * DAY,
                            tier_id=tier.id if tier else None, **values)
    db.session.add(membership)
    db.session.flush()
    return membership


def add_checkout(supporter: Supporter, status: CheckoutStatus = CheckoutStatus.COMPLETED, **values: Any) -> Checkout:
    checkout = Checkout(supporter_id=supporter.id, frequency=Frequency.ONCE, amount_minor=1000, currency="EUR",
                        status=status, **values)
    db.session.add(checkout)
    db.session.flush()
    return checkout


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)


@pytest.fixture
def people(app: Flask) -> dict[str, int]:
    """Six supporters, one for each thing the filters tell apart."""
    coffee = Tier(slug="coffee", name="Cup of coffee")
    patron_tier = Tier(slug="patron", name="Patron")
    db.session.add_all([coffee, patron_tier])
    alice = add_supporter("alice@example.org", "Alice Bondar")
    add_membership(alice, MembershipStatus.ACTIVE, coffee)
    add_payment(alice, at("2026-01-10"))
    add_checkout(alice, source_url="https://news.example/2026/01/elections-in-kyiv", utm_campaign="winter")
    bob = add_supporter("bob@example.org", "Bob Marchenko")
    # Failing for 30 days: past the grace period, so no longer a patron.
    add_membership(bob, MembershipStatus.PAST_DUE, patron_tier, past_due_since=utcnow() - 30 * DAY)
    add_payment(bob, at("2026-02-05"), currency="USD")
    carol = add_supporter("carol@example.org", "Carol Novak")
    add_membership(carol, MembershipStatus.CANCELED, ended_at=utcnow() - 5 * DAY)
    add_payment(carol, at("2025-12-01"))
    add_payment(carol, at("2026-01-15"))
    add_checkout(carol, source_url="https://news.example/2025/12/frontline", utm_campaign="summer")
    dave = add_supporter("dave@example.org", "Dave Shevchenko")
    add_payment(dave, at("2026-01-20"), currency="GBP")
    add_checkout(dave, utm_campaign="winter")
    erin = add_supporter("e_rin@example.org", "Erin 100% Reader")
    frank = add_supporter("frank@example.org", "Frank")
    add_checkout(frank, status=CheckoutStatus.OPEN, utm_campaign="winter")
    db.session.commit()
    return {"alice": alice.id, "bob": bob.id, "carol": carol.id, "dave": dave.id, "erin": erin.id,
            "frank": frank.id}


# The list ------------------------------------------------------------------------------------------------


def test_keyset_pages_through_120_supporters_without_offset(app: Flask, admin: FlaskClient) -> None:
    now = utcnow()
    db.session.execute(sa.insert(Supporter), [
        {"email": f"reader{n:03}@example.org", "name": f"Reader {n}", "created_at": now, "updated_at": now}
        for n in range(120)
    ])
    db.session.commit()
    statements: list[tuple[str, Any]] = []

    def remember(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if "FROM supporters" in statement and "ORDER BY supporters.id DESC" in statement:
            statements.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", remember)
    try:
        seen: list[int] = []
        url: str | None = "/staff/supporters"
        sizes = []
        while url:
            page = admin.get(url)
            assert page.status_code == 200
            ids = shown_ids(page)
            seen += ids
            sizes.append(len(ids))
            match = re.search(r'href="(/staff/supporters\?after=\d+)">Next supporters', page.get_data(as_text=True))
            url = match.group(1).replace("&amp;", "&") if match else None
        assert "That's all the supporters that match." in text(page)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", remember)
    assert sizes == [50, 50, 20]
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == 120
    # The list's queries seek by id; none skips rows (SQLite's dialect writes "OFFSET 0" after every LIMIT).
    assert len(statements) == 3 and all("supporters.id < " in statement for statement, _ in statements[1:])
    assert all(parameters[-1] == 0 for statement, parameters in statements if "OFFSET" in statement)
    # A filter is kept on every page link, and the keyset works with it.
    filtered = admin.get("/staff/supporters?q=reader0")
    assert len(shown_ids(filtered)) == 50
    assert 'href="/staff/supporters?q=reader0&amp;after=' in filtered.get_data(as_text=True)


def test_reading_the_list_is_audited_with_the_search_and_who_was_shown(admin: FlaskClient,
                                                                       people: dict[str, int]) -> None:
    page = admin.get("/staff/supporters?q=ALICE&currency=EUR")
    assert page.status_code == 200
    [entry] = audits("supporters.listed")
    assert entry.details["filters"] == {"search": "ALICE", "currency": "EUR"}
    assert entry.details["shown"] == shown_ids(page) == [people["alice"]]
    assert entry.details["after"] is None and entry.staff_user_id is not None
    assert "alice" not in json.dumps(entry.details["shown"])  # ids, not addresses
    admin.get("/staff/supporters?after=abc")  # refused: nothing was shown, nothing is logged
    assert len(audits("supporters.listed")) == 1


def test_a_cursor_past_the_end_says_so(admin: FlaskClient, people: dict[str, int]) -> None:
    response = admin.get(f"/staff/supporters?after={min(people.values())}")
    assert response.status_code == 200 and shown_ids(response) == []
    assert "No more supporters: you have reached the end of the list." in text(response)
    assert 'href="/staff/supporters">Back to the first page' in response.get_data(as_text=True)


@pytest.mark.parametrize("cursor", ["abc", "0", "-5", "12.5", "9" * 19, "1%200"])
def test_a_malformed_cursor_is_refused(admin: FlaskClient, cursor: str) -> None:
    response = admin.get(f"/staff/supporters?after={cursor}")
    assert response.status_code == 400
    assert "That page link isn't valid. Start again from the first page." in text(response)


@pytest.mark.parametrize(("query", "expected"), [
    ("q=ALICE", ["alice"]),
    ("q=shevCHENKO", ["dave"]),
    ("q=@example.org", ["frank", "erin", "dave", "carol", "bob", "alice"]),
    ("q=_", ["erin"]),  # LIKE's wildcards are taken literally
    ("q=100%25", ["erin"]),
    ("q=nobody", []),
    ("status=patron", ["alice"]),
    ("status=past_due", ["bob"]),
    ("status=cancelled", ["carol"]),
    ("status=never", ["frank", "erin", "dave"]),
    ("currency=EUR", ["carol", "alice"]),
    ("currency=USD", ["bob"]),
    ("currency=GBP", ["dave"]),
    ("first_from=2026-01-01&first_to=2026-01-31", ["dave", "alice"]),  # Carol first gave in December
    ("first_from=2026-02-01", ["bob"]),
    ("first_to=2025-12-31", ["carol"]),
    ("first_from=2026-01-10&first_to=2026-01-10", ["alice"]),
    ("source=elections", ["alice"]),
    ("source=news.example", ["carol", "alice"]),
    ("campaign=winter", ["dave", "alice"]),  # Frank's checkout never completed
    ("campaign=summer&status=cancelled&currency=EUR", ["carol"]),
])
def test_search_and_each_filter(admin: FlaskClient, people: dict[str, int], query: str,
                                expected: list[str]) -> None:
    response = admin.get(f"/staff/supporters?{query}")
    assert response.status_code == 200
    assert shown_ids(response) == [people[name] for name in expected]


def test_the_tier_filter_and_the_status_column(admin: FlaskClient, people: dict[str, int]) -> None:
    db.session.rollback()
    patron_tier = db.session.scalars(sa.select(Tier).where(Tier.slug == "patron")).one()
    response = admin.get(f"/staff/supporters?tier={patron_tier.id}")
    assert shown_ids(response) == [people["bob"]]
    page = text(admin.get("/staff/supporters"))
    for status in ("Patron", "Renewal failing", "Cancelled", "Never a patron"):
        assert f"<td>{status}</td>" in page


@pytest.mark.parametrize(("query", "message"), [
    ("status=lapsed", "Not a valid choice."),
    ("tier=999999", "Not a valid choice."),
    ("tier=coffee", "Not a valid choice."),
    ("currency=XYZ", "Not a valid choice."),
    ("first_from=2026-02-01&first_to=2026-01-01", "The end date is before the start date."),
    ("first_from=yesterday", "Enter the date as YYYY-MM-DD, for example 2026-01-31."),
    ("q=" + "x" * 121, "Field cannot be longer than 120 characters."),
])
def test_bad_filters_are_refused_with_a_message(admin: FlaskClient, people: dict[str, int], query: str,
                                                message: str) -> None:
    response = admin.get(f"/staff/supporters?{query}")
    assert response.status_code == 400 and message in text(response)
    assert shown_ids(response) == []


# The record ----------------------------------------------------------------------------------------------


def test_the_record_shows_everything_and_each_view_is_audited(
    staff_client: Callable[[Role], FlaskClient], people: dict[str, int]
) -> None:
    db.session.add(ConsentEvent(supporter_id=people["alice"], consented=True, source="give_form",
                                note="Ticked the box"))
    db.session.execute(sa.update(Checkout).where(Checkout.supporter_id == people["alice"])
                       .values(message="Keep going!"))
    db.session.commit()
    analyst = staff_client(Role.ANALYST)
    response = analyst.get(f"/staff/supporters/{people['alice']}")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    page = text(response)
    for expected in ("alice@example.org", "Alice Bondar", "Patron", "€5.00/month", "Cup of coffee",
                     "sub_row_", "€10.00", "€0.40", "€9.60", "Paid", "pi_row_", "ch_row_", "Keep going!",
                     "https://news.example/2026/01/elections-in-kyiv", "winter", "Agreed", "give_form",
                     "Ticked the box", "Ballots: none yet"):
        assert expected in page, expected
    assert "Refund…" not in page and "Cancel…" not in page and "Erase this supporter" not in page
    [viewed] = audits("supporter.viewed")
    assert (viewed.target_type, viewed.target_id, viewed.details) == ("supporter", str(people["alice"]), {})
    assert viewed.actor.startswith("Analyst <")
    admin_page = text(staff_client(Role.ADMIN).get(f"/staff/supporters/{people['alice']}"))
    assert "Refund…" in admin_page and "Cancel…" in admin_page and "Erase this supporter" in admin_page
    assert staff_client(Role.ADMIN).get("/staff/supporters/999999").status_code == 404


# Refunds -------------------------------------------------------------------------------------------------


@pytest.fixture
def gift(admin: FlaskClient, double: DoubleServer, live_app: LiveServer) -> Payment:
    """A €20 one-time gift paid on the double's Checkout page, recorded from its webhooks."""
    checkout = start_gift(admin, amount="20")
    pay(double, checkout)
    settle(double)
    return db.session.scalars(sa.select(Payment)).one()


def refund_page(payment: Payment) -> str:
    return f"/staff/supporters/{payment.supporter_id}/payments/{payment.id}/refund"


def test_partial_then_full_refund_through_stripe(admin: FlaskClient, double: DoubleServer, gift: Payment) -> None:
    page = refund_page(gift)
    form = text(admin.get(page))
    assert 'name="amount" required type="text" value="20"' in form and "€20.00" in form
    data = {"amount": "5", "reason": "requested_by_customer", "seen": "0", "csrf_token": csrf_token(admin, page)}
    review = admin.post(page, data=data)
    assert review.status_code == 200 and "Confirm the refund" in text(review) and "Refund €5.00" in text(review)
    assert stripe_calls(double, "POST", "/v1/refunds") == []  # nothing is sent before the confirmation
    done = admin.post(page, data={**data, "confirmed": "yes"})
    assert done.status_code == 302 and done.headers["Location"] == f"/staff/supporters/{gift.supporter_id}"
    request = db.session.scalars(sa.select(RefundRequest)).one()
    [call] = stripe_calls(double, "POST", "/v1/refunds")
    assert call["params"] == {"charge": gift.stripe_charge_id, "amount": "500", "reason": "requested_by_customer",
                              "metadata": {"refund_request_id": str(request.id), "payment_id": str(gift.id)}}
    assert call["idempotency_key"] == f"{installation_id(db.session())}-refund-{request.id}"
    assert request.status.value == "accepted" and request.stripe_refund_id
    settle(double)  # charge.refunded updates the payment
    payment = db.session.get(Payment, gift.id)
    assert payment is not None
    assert (payment.refunded_minor, payment.status) == (500, PaymentStatus.PARTIALLY_REFUNDED)
    [entry] = audits("payment.refunded")
    assert (entry.target_type, entry.target_id) == ("payment", str(gift.id))
    assert entry.details == {"supporter_id": gift.supporter_id, "refund_request_id": request.id, "amount_minor": 500,
                             "currency": "EUR", "reason": "requested_by_customer",
                             "stripe_refund_id": request.stripe_refund_id}
    assert 'value="15"' in text(admin.get(page))  # what is left
    rest = {"amount": "15", "reason": "", "seen": "1", "confirmed": "yes", "csrf_token": csrf_token(admin, page)}
    assert admin.post(page, data=rest).status_code == 302
    settle(double)
    payment = db.session.get(Payment, gift.id)
    assert payment is not None
    assert (payment.refunded_minor, payment.status) == (2000, PaymentStatus.REFUNDED)
    assert [c["params"]["amount"] for c in stripe_calls(double, "POST", "/v1/refunds")] == ["500", "1500"]
    assert "Nothing is left to refund on this payment" in text(admin.get(page))


@pytest.mark.parametrize(("amount", "message"), [
    ("25", "That is more than is left to refund on this payment (€20.00)."),
    ("20.01", "That is more than is left to refund on this payment (€20.00)."),
    ("0", "The amount must be more than zero."),
    ("ten", "Enter the amount as a number, like 10 or 7.50."),
    ("", "Enter the amount to refund."),
])
def test_a_refund_above_what_is_left_never_reaches_stripe(admin: FlaskClient, double: DoubleServer, gift: Payment,
                                                          amount: str, message: str) -> None:
    page = refund_page(gift)
    response = admin.post(page, data={"amount": amount, "seen": "0", "confirmed": "yes",
                                      "csrf_token": csrf_token(admin, page)})
    assert response.status_code == 400 and message in text(response)
    assert stripe_calls(double, "POST", "/v1/refunds") == [] and count(RefundRequest) == 0
    assert audits("payment.refunded") == []


def test_a_repeated_confirmation_refunds_once(admin: FlaskClient, double: DoubleServer, gift: Payment) -> None:
    page = refund_page(gift)
    data = {"amount": "5", "seen": "0", "confirmed": "yes", "csrf_token": csrf_token(admin, page)}
    assert admin.post(page, data=data).status_code == 302
    again = admin.post(page, data=data)
    assert again.status_code == 400 and "This payment was refunded again since you reviewed this refund" in text(again)
    assert len(stripe_calls(double, "POST", "/v1/refunds")) == 1 and count(RefundRequest) == 1


# Cancellations -------------------------------------------------------------------------------------------


def cancel_page(membership: Membership) -> str:
    return f"/staff/supporters/{membership.supporter_id}/memberships/{membership.id}/cancel"


def test_cancel_now_through_stripe(admin: FlaskClient, double: DoubleServer, live_app: LiveServer) -> None:
    membership = become_patron(admin, double)
    page = cancel_page(membership)
    data = {"when": "now", "reason": "too_expensive", "comment": "Asked by email",
            "csrf_token": csrf_token(admin, page)}
    review = admin.post(page, data=data)
    assert review.status_code == 200 and "Confirm the cancellation" in text(review)
    assert stripe_calls(double, "DELETE", "/v1/subscriptions") == []
    done = admin.post(page, data={**data, "confirmed": "yes"})
    assert done.status_code == 302
    [call] = stripe_calls(double, "DELETE", "/v1/subscriptions")
    assert call["path"] == f"/v1/subscriptions/{membership.stripe_subscription_id}"
    assert call["params"] == {"cancellation_details": {"feedback": "too_expensive", "comment": "Asked by email"}}
    db.session.rollback()
    ended = db.session.get(Membership, membership.id)
    assert ended is not None  # synced from Stripe's answer at once, before its webhook arrives
    assert (ended.status, ended.cancel_reason, ended.cancel_comment) == (MembershipStatus.CANCELED, "too_expensive",
                                                                        "Asked by email")
    [entry] = audits("membership.cancelled")
    assert (entry.target_type, entry.target_id) == ("membership", str(membership.id))
    assert entry.details == {"supporter_id": membership.supporter_id, "when": "now", "reason": "too_expensive"}
    settle(double)
    assert "Cancel…" not in text(admin.get(f"/staff/supporters/{membership.supporter_id}"))


def test_cancel_at_period_end_through_stripe(admin: FlaskClient, double: DoubleServer, live_app: LiveServer) -> None:
    membership = become_patron(admin, double)
    page = cancel_page(membership)
    data = {"when": "period_end", "reason": "unused", "confirmed": "yes", "csrf_token": csrf_token(admin, page)}
    assert admin.post(page, data=data).status_code == 302
    change = db.session.scalars(sa.select(MembershipChange)).one()
    assert (change.requested_by, change.reason) == ("staff", "unused")
    [call] = subscription_posts(double)
    assert call["params"] == {"cancel_at_period_end": "true", "cancellation_details": {"feedback": "unused"}}
    assert call["idempotency_key"] == f"{installation_id(db.session())}-membership-change-{change.id}"
    settle(double)
    ending = db.session.get(Membership, membership.id)
    assert ending is not None
    assert (ending.status, ending.cancel_at_period_end, ending.cancel_reason) == (MembershipStatus.ACTIVE, True,
                                                                                 "unused")
    assert audits("membership.cancelled")[0].details["when"] == "period_end"
    again = admin.post(page, data={**data, "csrf_token": csrf_token(admin, page)})
    assert again.status_code == 400 and "can't be set to end at the end of its period" in text(again)
    assert len(subscription_posts(double)) == 1


@pytest.mark.parametrize(("fields", "message"), [
    ({"when": "", "reason": "other"}, "Choose when the membership ends."),
    ({"when": "tomorrow", "reason": "other"}, "Not a valid choice."),
    ({"when": "now", "reason": ""}, "Choose a reason."),
    ({"when": "now", "reason": "bored"}, "Not a valid choice."),
])
def test_bad_cancellations_never_reach_stripe(admin: FlaskClient, double: DoubleServer, people: dict[str, int],
                                              fields: dict[str, str], message: str) -> None:
    membership = db.session.scalars(sa.select(Membership).where(Membership.supporter_id == people["alice"])).one()
    page = cancel_page(membership)
    response = admin.post(page, data={**fields, "confirmed": "yes", "csrf_token": csrf_token(admin, page)})
    assert response.status_code == 400 and message in text(response)
    assert stripe_calls(double, "DELETE", "/v1/subscriptions") == subscription_posts(double) == []
    assert audits("membership.cancelled") == []


# Export --------------------------------------------------------------------------------------------------


def test_export_downloads_their_data_as_json(admin: FlaskClient, double: DoubleServer, live_app: LiveServer) -> None:
    membership = become_patron(admin, double)
    db.session.add(TopicSuggestion(supporter_id=membership.supporter_id, text="Flooding on our street",
                                   status=SuggestionStatus.PENDING))
    db.session.commit()
    page = f"/staff/supporters/{membership.supporter_id}/export"
    assert "Download the JSON file" in text(admin.get(page))
    response = admin.post(page, data={"csrf_token": csrf_token(admin, page)})
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="supporter-{membership.supporter_id}-{utcnow():%Y-%m-%d}.json"')
    assert response.headers["Cache-Control"] == "no-store"
    data = json.loads(response.get_data(as_text=True))
    assert data["supporter"]["email"] == "olena@example.org" and data["supporter"]["patron_status"] == "Patron"
    assert [m["stripe_subscription_id"] for m in data["memberships"]] == [membership.stripe_subscription_id]
    assert [p["amount_minor"] for p in data["payments"]] == [500]
    assert [g["frequency"] for g in data["gifts"]] == ["monthly"]
    assert "thank_you" in [e["message"] for e in data["emails"]]
    assert [(t["text"], t["status"]) for t in data["topic_suggestions"]] == [("Flooding on our street", "pending")]
    assert data["ballots_taken_part"] == 0
    [entry] = audits("supporter.exported")
    assert (entry.target_id, entry.details) == (str(membership.supporter_id), {})


# Erasure -------------------------------------------------------------------------------------------------


@pytest.fixture
def patron_to_erase(admin: FlaskClient, double: DoubleServer, live_app: LiveServer) -> Iterator[Membership]:
    checkout = start_gift(admin, frequency="monthly", amount="5", message="Слава Україні!", email_consent="y")
    pay(double, checkout)
    settle(double)
    db.session.execute(sa.update(ConsentEvent).values(note="Told us on the phone"))
    db.session.commit()
    yield db.session.scalars(sa.select(Membership)).one()


def test_erasure_needs_the_typed_email(admin: FlaskClient, double: DoubleServer, patron_to_erase: Membership) -> None:
    page = f"/staff/supporters/{patron_to_erase.supporter_id}/erase"
    for typed, message in (("someone@example.org", "That isn't this supporter's email address. Nothing was erased."),
                           ("", "Type the supporter's email address to confirm the erasure.")):
        response = admin.post(page, data={"email": typed, "csrf_token": csrf_token(admin, page)})
        assert response.status_code == 400 and message in text(response)
    assert stripe_calls(double, "DELETE", "/v1/") == []
    db.session.rollback()
    supporter = db.session.get(Supporter, patron_to_erase.supporter_id)
    assert supporter is not None and supporter.email == "olena@example.org" and supporter.erased_at is None
    assert audits("supporter.erased") == []


@contextmanager
def webhooks_held(app: Flask) -> Iterator[None]:
    """Stripe's webhooks wait at the door until the block ends.

    PostgreSQL makes a webhook that arrives mid-erasure wait for it (the supporter's row lock); SQLite has
    no row locks, and a webhook there may read the supporter before the erasure commits.
    """
    gate = threading.Event()
    inner = app.wsgi_app

    def held(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == "/stripe/webhook":
            gate.wait(10)
        return inner(environ, start_response)

    app.wsgi_app = held  # type: ignore[method-assign]
    try:
        yield
    finally:
        app.wsgi_app = inner  # type: ignore[method-assign]
        gate.set()


def test_erasure_blanks_personal_data_and_deletes_the_stripe_customer(
    app: Flask, admin: FlaskClient, double: DoubleServer, patron_to_erase: Membership
) -> None:
    sid = patron_to_erase.supporter_id
    supporter = db.session.get(Supporter, sid)
    assert supporter is not None and supporter.stripe_customer_id
    customer_id = supporter.stripe_customer_id
    assert count(OutboundEmail) >= 1  # the thank-you email
    page = f"/staff/supporters/{sid}/erase"
    csrf = csrf_token(admin, page)
    with webhooks_held(app):
        response = admin.post(page, data={"email": " Olena@Example.org ", "csrf_token": csrf})
        # The webhook events stored so far never carried their address (stored redacted).
        db.session.rollback()
        stored = [json.dumps(e.payload) for e in db.session.scalars(sa.select(StripeEvent))]
        assert stored and not [payload for payload in stored if "olena@example.org" in payload]
    assert response.status_code == 302
    deletes = stripe_calls(double, "DELETE", "/v1/")
    assert [c["path"] for c in deletes] == [f"/v1/subscriptions/{patron_to_erase.stripe_subscription_id}",
                                           f"/v1/customers/{customer_id}"]
    assert sdk(double).v1.customers.retrieve(customer_id).to_dict().get("deleted") is True
    db.session.rollback()
    supporter = db.session.get(Supporter, sid)
    assert supporter is not None
    assert (supporter.email, supporter.name, supporter.email_consent) == (None, "", False)
    assert supporter.erased_at is not None and supporter.stripe_customer_id == customer_id
    assert db.session.scalars(sa.select(Checkout.message)).all() == [""]
    assert db.session.scalars(sa.select(ConsentEvent.note)).all() == [""]
    assert count(OutboundEmail) == 0
    # The money stays, for the accounts.
    payment = db.session.scalars(sa.select(Payment)).one()
    assert (payment.supporter_id, payment.amount_minor) == (sid, 500)
    [entry] = audits("supporter.erased")
    assert entry.target_id == str(sid) and "olena" not in json.dumps(entry.details).lower()
    assert entry.details["memberships_cancelled"] == [patron_to_erase.id]
    assert entry.details["stripe_customer_deleted"] is True and entry.details["stripe_events_redacted"] >= 1
    settle(double)  # Stripe's webhooks for the ended subscription email nobody
    deleted = db.session.scalars(sa.select(StripeEvent).where(StripeEvent.type == "customer.deleted")).one()
    assert deleted.payload["data"]["object"]["id"] == customer_id
    stored = [json.dumps(e.payload).lower() for e in db.session.scalars(sa.select(StripeEvent))]
    assert not [payload for payload in stored if "olena" in payload]  # nor do those that came after erasure
    membership = db.session.get(Membership, patron_to_erase.id)
    assert membership is not None and membership.status is MembershipStatus.CANCELED
    assert count(OutboundEmail) == 0
    record = text(admin.get(f"/staff/supporters/{sid}"))
    assert "Personal data erased on" in record and "olena@example.org" not in record
    again = admin.get(page)
    assert "already erased" in text(again)


def test_erasure_signs_the_supporter_out_on_every_device(
    app: Flask, admin: FlaskClient, double: DoubleServer, patron_to_erase: Membership
) -> None:
    supporter = db.session.get(Supporter, patron_to_erase.supporter_id)
    assert supporter is not None and supporter.session_epoch == 0
    patron = app.test_client()
    sign_in(patron, supporter)
    assert patron.get("/account").status_code == 200
    page = f"/staff/supporters/{supporter.id}/erase"
    erased = admin.post(page, data={"email": "olena@example.org", "csrf_token": csrf_token(admin, page)})
    assert erased.status_code == 302
    db.session.rollback()
    assert db.session.get_one(Supporter, patron_to_erase.supporter_id).session_epoch == 1
    response = patron.get("/account")
    assert response.status_code == 302 and response.headers["Location"].startswith("/account/sign-in")


def test_erasure_deletes_their_unused_suggestions_and_keeps_their_vote(
    admin: FlaskClient, double: DoubleServer, patron_to_erase: Membership
) -> None:
    """Their own words go unless an editor made them a ballot option; the published tally doesn't move."""
    sid = patron_to_erase.supporter_id
    ballot = add_ballot(options=2, opens=timedelta(minutes=1))  # opened after they joined, so they may vote
    cast_vote(db.session(), ballot.id, sid, [ballot.options[0].id], utcnow() + timedelta(minutes=2), timedelta(days=3))
    own_words = {status: TopicSuggestion(supporter_id=sid, text=f"Olena's street flooded again ({status.value})",
                                         status=status) for status in SuggestionStatus}
    accepted = own_words[SuggestionStatus.ACCEPTED]
    accepted.option_id = ballot.options[1].id
    someone_else = add_supporter("mykola@example.org")
    theirs = TopicSuggestion(supporter_id=someone_else.id, text="Bus routes", status=SuggestionStatus.PENDING)
    db.session.add_all([*own_words.values(), theirs])
    db.session.commit()
    kept, other = accepted.id, theirs.id
    page = f"/staff/supporters/{sid}/erase"
    erased = admin.post(page, data={"email": "olena@example.org", "csrf_token": csrf_token(admin, page)})
    assert erased.status_code == 302
    db.session.rollback()
    assert sorted(db.session.execute(sa.select(TopicSuggestion.id, TopicSuggestion.text)).all()) == sorted([
        (kept, "Olena's street flooded again (accepted)"),
        (other, "Bus routes"),
    ])
    vote = db.session.scalars(sa.select(Vote)).one()
    assert vote.supporter_id == sid
    assert db.session.scalars(sa.select(VoteChoice.option_id)).all() == [ballot.options[0].id]
    [entry] = audits("supporter.erased")
    assert entry.details["suggestions_deleted"] == 2


def test_erasure_while_stripe_webhooks_arrive(database_uri: str, admin: FlaskClient, double: DoubleServer,
                                             patron_to_erase: Membership) -> None:
    if not database_uri.startswith("postgresql"):
        pytest.skip("needs PostgreSQL's row locks (see webhooks_held)")
    page = f"/staff/supporters/{patron_to_erase.supporter_id}/erase"
    response = admin.post(page, data={"email": "olena@example.org", "csrf_token": csrf_token(admin, page)})
    assert response.status_code == 302
    settle(double)
    assert count(OutboundEmail) == 0 and len(audits("supporter.erased")) == 1
    membership = db.session.get(Membership, patron_to_erase.id)
    assert membership is not None and membership.status is MembershipStatus.CANCELED


def test_erasure_goes_on_when_stripe_has_already_forgotten_them(admin: FlaskClient, double: DoubleServer,
                                                                people: dict[str, int]) -> None:
    alice = people["alice"]
    db.session.execute(sa.update(Supporter).where(Supporter.id == alice).values(stripe_customer_id="cus_gone"))
    db.session.commit()
    page = f"/staff/supporters/{alice}/erase"
    response = admin.post(page, data={"email": "alice@example.org", "csrf_token": csrf_token(admin, page)})
    assert response.status_code == 302  # a retried erasure finds the subscription and customer already gone
    assert [c["status"] for c in stripe_calls(double, "DELETE", "/v1/")] == [404, 404]
    [entry] = audits("supporter.erased")
    assert entry.details["stripe_customer_deleted"] is False


def test_erasure_changes_nothing_when_stripe_is_unreachable(app: Flask, admin: FlaskClient,
                                                            people: dict[str, int]) -> None:
    alice = people["alice"]
    db.session.execute(sa.update(Supporter).where(Supporter.id == alice).values(stripe_customer_id="cus_x"))
    db.session.commit()
    page = f"/staff/supporters/{alice}/erase"
    csrf = csrf_token(admin, page)
    working = app.extensions["stripe_gateway"]
    app.extensions["stripe_gateway"] = StripeGateway("sk_test_unreachable", api_base=f"http://127.0.0.1:{free_port()}",
                                                     timeout_seconds=1)
    try:
        response = admin.post(page, data={"email": "alice@example.org", "csrf_token": csrf})
    finally:
        app.extensions["stripe_gateway"] = working
    assert response.status_code == 502 and "nothing was changed here" in text(response)
    db.session.rollback()
    supporter = db.session.get(Supporter, alice)
    assert supporter is not None and supporter.email == "alice@example.org" and supporter.erased_at is None
    assert audits("supporter.erased") == []


# Every POST needs its CSRF token; every action needs an admin ----------------------------------------------


def action_paths(people: dict[str, int]) -> list[str]:
    alice = people["alice"]
    payment = db.session.scalars(sa.select(Payment.id).where(Payment.supporter_id == alice)).one()
    membership = db.session.scalars(sa.select(Membership.id).where(Membership.supporter_id == alice)).one()
    return [f"/staff/supporters/{alice}/payments/{payment}/refund",
            f"/staff/supporters/{alice}/memberships/{membership}/cancel",
            f"/staff/supporters/{alice}/export",
            f"/staff/supporters/{alice}/erase"]


def test_every_action_needs_its_csrf_token(admin: FlaskClient, double: DoubleServer,
                                           people: dict[str, int]) -> None:
    for path in action_paths(people):
        response = admin.post(path, data={"amount": "1", "seen": "0", "when": "now", "reason": "other",
                                          "email": "alice@example.org", "confirmed": "yes"})
        assert response.status_code == 400 and "This form has expired" in text(response), path
    assert [r for r in double.requests if r["method"].upper() != "GET"] == []
    assert audits("supporter.exported") == audits("supporter.erased") == []
    db.session.rollback()
    assert db.session.get_one(Supporter, people["alice"]).email == "alice@example.org"


def test_analysts_cannot_act(staff_client: Callable[[Role], FlaskClient], double: DoubleServer,
                             people: dict[str, int]) -> None:
    analyst = staff_client(Role.ANALYST)
    csrf = csrf_token(analyst, "/staff/supporters")
    for path in action_paths(people):
        response = analyst.post(path, data={"amount": "1", "seen": "0", "when": "now", "reason": "other",
                                            "email": "alice@example.org", "confirmed": "yes", "csrf_token": csrf})
        assert response.status_code == 403, path
    assert [r for r in double.requests if r["method"].upper() != "GET"] == []


def test_abandoned_checkouts_are_not_listed_as_gifts(app: Flask, admin: FlaskClient) -> None:
    from tests.support.reports import add_checkout
    from tests.support.reports import add_supporter as add_reader

    reader = add_reader("reader@example.org", "Reader")
    add_checkout(reader, 1000, completed="2026-01-05", message="Keep going")
    add_checkout(reader, 5000, status=CheckoutStatus.EXPIRED, message="Never paid")
    db.session.commit()
    page = text(admin.get(f"/staff/supporters/{reader.id}"))
    gifts, rest = page.split("Consent history", 1)[0].split("1 checkout not completed", 1)
    assert "Keep going" in gifts and "Never paid" not in gifts
    assert "Never paid" in rest
