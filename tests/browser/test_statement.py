"""A patron's yearly statement in the browser: signed in, /account links this year's statement; the PDF the
browser fetches from that link lists the year's payments, deducts refunds and totals each currency as the
database has them (parsed with pypdf)."""

from __future__ import annotations

import io
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pypdf
import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from membership.db import db, utcnow
from membership.formatting import format_money
from membership.giving.models import Payment, PaymentKind, PaymentStatus
from membership.supporters.tokens import TokenPurpose, issue_token
from tests.support.patrons import add_payment, add_supporter

pytestmark = pytest.mark.browser

KINDS = {PaymentKind.MEMBERSHIP: "Membership", PaymentKind.GIFT: "One-time gift"}


def pdf_text(body: bytes) -> str:
    """The PDF's text, its spaces (Babel's non-breaking ones too) made plain and runs of them single."""
    reader = pypdf.PdfReader(io.BytesIO(body))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages).replace("\u202f", " "))


def money(amount_minor: int, currency: str) -> str:
    return format_money(amount_minor, currency, "en").replace("\u202f", " ").replace("\xa0", " ")


def test_a_patron_fetches_this_years_statement_from_the_account_page(page: Page) -> None:
    now = utcnow()
    year = now.year
    start = datetime(year, 1, 1, tzinfo=UTC)

    def days_ago(days: int) -> datetime:  # within this year, never in the future
        return max(start, now - timedelta(days=days))

    olena = add_supporter()
    add_payment(olena, 700, days_ago(60))
    add_payment(olena, 2500, days_ago(40), kind=PaymentKind.GIFT, status=PaymentStatus.PARTIALLY_REFUNDED,
                refunded_minor=1000)
    add_payment(olena, 1200, days_ago(30), kind=PaymentKind.GIFT, status=PaymentStatus.REFUNDED,
                refunded_minor=1200)
    add_payment(olena, 900, days_ago(20), kind=PaymentKind.GIFT, status=PaymentStatus.DISPUTED)
    add_payment(olena, 5000, days_ago(10), kind=PaymentKind.GIFT, currency="USD")
    add_payment(olena, 300, datetime(year - 1, 12, 31, 23, 59, tzinfo=UTC))  # last year's: not on it
    token = issue_token(db.session(), olena, TokenPurpose.SIGN_IN, timedelta(minutes=15))
    db.session.commit()

    page.goto(f"/account/sign-in/{token}?lang=en")
    page.locator("main form").last.locator("[type=submit]").last.click()
    expect(page).to_have_url(re.compile(r"/account$"))
    link = page.get_by_role("link", name=f"Statement for {year} (PDF)")
    expect(link).to_be_visible()
    href = link.get_attribute("href")
    assert href == f"/account/statements/{year}"

    response = page.request.get(href)  # the browser's own session cookie asks for it
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    assert f'filename="statement-{year}.pdf"' in response.headers["content-disposition"]
    body = pdf_text(response.body())

    db.session.rollback()
    payments = list(db.session.scalars(sa.select(Payment).where(Payment.supporter_id == olena.id)
                                       .order_by(Payment.paid_at)))
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for payment in payments:
        assert payment.paid_at is not None
        on_it = payment.paid_at.year == year
        when = f"{payment.paid_at.day} {payment.paid_at:%B %Y}"
        amount = money(payment.amount_minor, payment.currency)
        if not on_it:
            assert amount not in body
            continue
        row = f"{when} {KINDS[payment.kind]} {amount}"
        if payment.status is PaymentStatus.DISPUTED:
            assert f"{row} — Disputed: not counted" in body
            continue
        refunded = money(payment.refunded_minor, payment.currency) if payment.refunded_minor else "—"
        counted = money(payment.amount_minor - payment.refunded_minor, payment.currency)
        assert f"{row} {refunded} {counted}" in body, row
        totals[payment.currency][0] += payment.amount_minor
        totals[payment.currency][1] += payment.refunded_minor
    assert set(totals) == {"EUR", "USD"}
    for currency, (paid, taken_back) in totals.items():
        line = (f"{currency} {money(paid, currency)} {money(taken_back, currency)} "
                f"{money(paid - taken_back, currency)}")
        assert line in body, line
    assert totals["EUR"] == [4400, 2200] and totals["USD"] == [5000, 0]  # what the rows above add up to
