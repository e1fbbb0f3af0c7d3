"""The account page: the membership, every payment with totals per year, and email-updates consent."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership.db import db, utcnow
from membership.giving.models import MembershipStatus, PaymentKind, PaymentStatus
from membership.supporters.models import ConsentEvent, Supporter
from tests.support.helpers import csrf_token, mentions, text
from tests.support.patrons import add_membership, add_payment, add_supporter, sign_in
from tests.support.reports import tables


def test_account_shows_membership_card_payments_and_totals(client: FlaskClient) -> None:
    olena = add_supporter(stripe_customer_id="cus_olena")
    period_end = datetime(2031, 3, 12, 9, 30, tzinfo=UTC)
    membership = add_membership(olena, amount_minor=700, current_period_end=period_end, card_brand="visa",
                                card_last4="4242", started_at=datetime(2025, 11, 2, tzinfo=UTC))
    add_payment(olena, 700, datetime(2025, 11, 2, 10, tzinfo=UTC), membership=membership)
    add_payment(olena, 700, datetime(2025, 12, 2, 10, tzinfo=UTC), membership=membership)
    add_payment(olena, 2500, datetime(2025, 12, 24, 10, tzinfo=UTC), kind=PaymentKind.GIFT,
                status=PaymentStatus.PARTIALLY_REFUNDED, refunded_minor=1000)
    add_payment(olena, 700, datetime(2026, 1, 2, 10, tzinfo=UTC), membership=membership)
    add_payment(olena, 1000, datetime(2026, 1, 15, 10, tzinfo=UTC), kind=PaymentKind.GIFT,
                status=PaymentStatus.REFUNDED, refunded_minor=1000)
    add_payment(olena, 5000, datetime(2026, 2, 1, 10, tzinfo=UTC), kind=PaymentKind.GIFT, currency="USD")
    add_payment(olena, 900, datetime(2026, 2, 2, 10, tzinfo=UTC), kind=PaymentKind.GIFT,
                status=PaymentStatus.DISPUTED)
    sign_in(client, olena)

    page = client.get("/account")
    assert page.status_code == 200
    body = text(page)
    assert "€7.00/month" in body and "Active" in body
    assert "Next payment</dt><dd>12 March 2031" in body
    assert "Visa ending 4242" in body
    assert "Member since</dt><dd>2 November 2025" in body
    assert "You're a patron" in body
    payments = tables(body)["Every payment, newest first"]
    assert payments[0] == ["Date", "What", "Amount", "Status", "Receipt"]
    for row in (["2 November 2025", "Membership", "€7.00", "Paid", ""],
                ["24 December 2025", "One-time gift", "€25.00", "Partly refunded (€10.00 refunded)", ""],
                ["15 January 2026", "One-time gift", "€10.00", "Refunded", ""],
                ["1 February 2026", "One-time gift", "$50.00", "Paid", ""],
                ["2 February 2026", "One-time gift", "€9.00", "Disputed", ""]):
        assert row in payments, (row, payments)
    # Per year and currency: 2025 = 7 + 7 + (25 - 10); 2026 = 7 (the refunded gift and the dispute count nothing).
    assert "<tr><td>2026</td><td>$50.00</td></tr>" in body
    assert "<tr><td>2026</td><td>€7.00</td></tr>" in body
    assert "<tr><td>2025</td><td>€29.00</td></tr>" in body
    assert body.index("<td>2026</td><td>$50.00</td>") < body.index("<td>2025</td><td>€29.00</td>")
    assert 'action="/account/portal"' in body and "Update card / invoices" in body
    mine = f"/account/memberships/{membership.id}"
    assert f'href="{mine}/amount"' in body and f'href="{mine}/cancel"' in body


def test_cancelling_membership_says_when_it_ends(client: FlaskClient) -> None:
    olena = add_supporter()
    membership = add_membership(olena, cancel_at_period_end=True, current_period_end=datetime(2031, 4, 1, tzinfo=UTC))
    sign_in(client, olena)
    body = text(client.get("/account"))
    assert "Cancels on 1 April 2031" in body and "Next payment" not in body
    mine = f"/account/memberships/{membership.id}"
    assert "Resume my membership" in body and f'action="{mine}/resume"' in body and f'href="{mine}/cancel"' not in body
    assert f'href="{mine}/amount"' in body


def test_past_due_membership_warns_with_a_fix_card_button(client: FlaskClient) -> None:
    olena = add_supporter(stripe_customer_id="cus_olena")
    add_membership(olena, MembershipStatus.PAST_DUE, past_due_since=utcnow() - timedelta(days=1))
    sign_in(client, olena)
    body = text(client.get("/account"))
    assert "Your last payment didn't go through." in body and "Payment overdue" in body
    assert '<input type="hidden" name="update_card" value="1">' in body and "Update your card" in body
    assert 'href="/account/amount"' not in body  # nothing to change until the card works


def test_without_a_membership(client: FlaskClient) -> None:
    olena = add_supporter()
    add_payment(olena, 1000, datetime(2026, 1, 15, tzinfo=UTC), kind=PaymentKind.GIFT)
    sign_in(client, olena)
    body = text(client.get("/account"))
    assert "You don't have a membership." in body and "Become a patron" in body
    assert "You're a patron" not in body and "One-time gift" in body


def test_an_ended_membership_says_when(client: FlaskClient) -> None:
    olena = add_supporter()
    add_membership(olena, MembershipStatus.CANCELED, ended_at=datetime(2026, 2, 3, tzinfo=UTC))
    sign_in(client, olena)
    body = text(client.get("/account"))
    assert "Your membership of €5.00/month ended on 3 February 2026." in body
    assert "Resume" not in body and 'href="/account/cancel"' not in body


def test_another_patrons_data_is_never_shown(app: Flask) -> None:
    olena = add_supporter("olena@example.org", stripe_customer_id="cus_olena")
    taras = add_supporter("taras@example.org", name="Taras", stripe_customer_id="cus_taras")
    add_membership(olena, amount_minor=700, card_last4="4242", card_brand="visa")
    add_payment(olena, 4321, datetime(2026, 1, 15, tzinfo=UTC), kind=PaymentKind.GIFT)
    add_membership(taras, amount_minor=1300, card_last4="5556", card_brand="mastercard")
    add_payment(taras, 9876, datetime(2026, 1, 16, tzinfo=UTC), kind=PaymentKind.GIFT)
    client = app.test_client()
    sign_in(client, olena)
    body = text(client.get("/account"))
    assert "olena@example.org" in body and "€43.21" in body and "€7.00/month" in body
    assert "taras" not in body.lower() and "€98.76" not in body and not mentions(body, "5556") and "€13.00" not in body
    # No page takes an id: the pages only ever read the session's supporter.
    for path in ("/account?supporter_id=2", f"/account/{taras.id}", "/account/amount?membership=2"):
        response = client.get(path)
        assert "€98.76" not in text(response) and "€13.00" not in text(response)
    with client.session_transaction() as session:
        session["supporter_id"] = str(taras.id)  # a forged, unsigned-looking value isn't an id
    assert client.get("/account").status_code == 302


def test_changing_email_updates_consent(client: FlaskClient) -> None:
    olena = add_supporter()
    sign_in(client, olena)
    page = text(client.get("/account"))
    checkbox = re.search(r'<input[^>]*name="email_consent"[^>]*>', page)
    assert checkbox is not None and "checked" not in checkbox.group(0)
    token = csrf_token(client, "/account")
    response = client.post("/account/consent", data={"email_consent": "y", "csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"] == "/account"
    page = text(client.get("/account"))
    assert "We'll email you news and updates." in page
    checkbox = re.search(r'<input[^>]*name="email_consent"[^>]*>', page)
    assert checkbox is not None and "checked" in checkbox.group(0)
    db.session.rollback()
    supporter = db.session.get(Supporter, olena.id)
    assert supporter is not None and supporter.email_consent is True and supporter.email_consent_at is not None
    client.post("/account/consent", data={"csrf_token": csrf_token(client, "/account")})
    db.session.rollback()
    events = db.session.scalars(sa.select(ConsentEvent).order_by(ConsentEvent.id)).all()
    assert [(e.consented, e.source) for e in events] == [(True, "account"), (False, "account")]
    assert "We won't email you news and updates." in text(client.get("/account"))
