"""Yearly statements at /account/statements/<year>: the PDF's rows, refunds, totals per currency and the newsroom's
details (parsed with pypdf), in the reader's language; who may see one; years that have none."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pypdf
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from membership.db import db
from membership.giving.models import Checkout, CheckoutStatus, Frequency, PaymentKind, PaymentStatus
from membership.supporters.models import Supporter
from tests.support.helpers import text
from tests.support.patrons import add_payment, add_supporter, sign_in

REGISTRATION = "Registered charity no. 1234567"


def pdf_text(response: TestResponse) -> str:
    """The PDF's text, its spaces (Babel's non-breaking ones too) made plain and runs of them single."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(response.get_data()))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages).replace("\u202f", " "))


@pytest.fixture
def olena_gave(app: Flask) -> int:
    """Olena's payments: 2025 in euros and dollars (a partial refund, a full refund, a dispute), one in 2024 and
    one in 2026, and an abandoned checkout in 2025."""
    app.config.update(NEWSROOM_NAME="Kyiv Independent Test", NEWSROOM_ADDRESS="5 Khreshchatyk St, 01001 Kyiv",
                      NEWSROOM_REGISTRATION=REGISTRATION)
    olena = add_supporter()
    add_payment(olena, 700, datetime(2025, 2, 3, 10, tzinfo=UTC))
    add_payment(olena, 2500, datetime(2025, 6, 1, 10, tzinfo=UTC), kind=PaymentKind.GIFT,
                status=PaymentStatus.PARTIALLY_REFUNDED, refunded_minor=1000)
    add_payment(olena, 1200, datetime(2025, 7, 1, 10, tzinfo=UTC), kind=PaymentKind.GIFT,
                status=PaymentStatus.REFUNDED, refunded_minor=1200)
    add_payment(olena, 900, datetime(2025, 8, 1, 10, tzinfo=UTC), kind=PaymentKind.GIFT, status=PaymentStatus.DISPUTED)
    add_payment(olena, 5000, datetime(2025, 12, 31, 23, 59, tzinfo=UTC), kind=PaymentKind.GIFT, currency="USD")
    add_payment(olena, 300, datetime(2024, 12, 31, 23, 59, tzinfo=UTC))
    add_payment(olena, 400, datetime(2026, 1, 1, 0, 0, tzinfo=UTC))
    db.session.add(Checkout(supporter_id=olena.id, frequency=Frequency.ONCE, amount_minor=7700, currency="EUR",
                            status=CheckoutStatus.EXPIRED, created_at=datetime(2025, 5, 5, tzinfo=UTC)))
    db.session.commit()
    return olena.id


def test_the_statement_lists_the_years_payments_with_refunds_deducted_and_totals_per_currency(
        client: FlaskClient, olena_gave: int) -> None:
    sign_in(client, db.session.get_one(Supporter, olena_gave))
    response = client.get("/account/statements/2025")
    assert response.headers["Cache-Control"] == "no-store"
    assert 'filename="statement-2025.pdf"' in response.headers["Content-Disposition"]
    body = pdf_text(response)
    assert "Kyiv Independent Test" in body and "5 Khreshchatyk St, 01001 Kyiv" in body and REGISTRATION in body
    assert "Statement of your contributions in 2025" in body
    assert "For: Olena <olena@example.org>" in body
    assert "Period: 1 January 2025 to 31 December 2025 (UTC)" in body
    # Each payment: date, what, amount, refunded, counted.
    assert "3 February 2025 Membership €7.00 — €7.00" in body
    assert "1 June 2025 One-time gift €25.00 €10.00 €15.00" in body
    assert "1 July 2025 One-time gift €12.00 €12.00 €0.00" in body
    assert "1 August 2025 One-time gift €9.00 — Disputed: not counted" in body
    assert "31 December 2025 One-time gift $50.00 — $50.00" in body  # 23:59 UTC on the 31st is still 2025
    assert "31 December 2024" not in body
    assert "1 January 2026" not in body and "€3.00" not in body and "€4.00" not in body
    assert "€77.00" not in body  # the abandoned checkout never became a payment
    # Totals per currency: paid (the dispute left out), refunded, given.
    assert "EUR €44.00 €22.00 €22.00" in body
    assert "USD $50.00 $0.00 $50.00" in body
    assert body.index("Totals per currency") < body.index("EUR €44.00")



def test_the_statement_speaks_the_readers_language(client: FlaskClient, olena_gave: int) -> None:
    sign_in(client, db.session.get_one(Supporter, olena_gave))
    body = pdf_text(client.get("/account/statements/2025?lang=uk"))
    assert "Звіт про ваші внески за 2025 рік" in body
    assert "Разовий внесок" in body and "Членство" in body
    assert "1 червня 2025 р." in body and "25,00 €" in body and "50,00 $" in body  # noqa: RUF001
    assert "Суми за валютами" in body
    assert REGISTRATION in body  # the newsroom's own text, as its settings give it


def test_the_account_links_each_year_with_payments(client: FlaskClient, olena_gave: int) -> None:
    sign_in(client, db.session.get_one(Supporter, olena_gave))
    page = text(client.get("/account"))
    links = re.findall(r'href="/account/statements/(\d+)"', page)
    assert links == ["2026", "2025", "2024"]
    assert "Statement for 2025 (PDF)" in page


def test_no_statement_section_without_payments(client: FlaskClient) -> None:
    sign_in(client, add_supporter())
    page = text(client.get("/account"))
    assert "Yearly statements" not in page and "/account/statements/" not in page


def test_a_year_with_nothing_given_answers_a_page_not_an_empty_pdf(client: FlaskClient, olena_gave: int) -> None:
    sign_in(client, db.session.get_one(Supporter, olena_gave))
    response = client.get("/account/statements/2019")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "We have no payment from you in 2019" in text(response)


@pytest.mark.parametrize("year", ["abc", "1800", "3000", "-2025", "2025.5", "99999999999999999999"])
def test_a_year_that_cannot_have_a_statement_is_not_found(client: FlaskClient, olena_gave: int, year: str) -> None:
    sign_in(client, db.session.get_one(Supporter, olena_gave))
    assert client.get(f"/account/statements/{year}").status_code == 404


def test_signed_out_readers_are_sent_to_sign_in(client: FlaskClient, olena_gave: int) -> None:
    response = client.get("/account/statements/2025")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/sign-in?next=/account/statements/2025"


def test_a_statement_is_always_the_signed_in_supporters_own(client: FlaskClient, olena_gave: int) -> None:
    taras = add_supporter("taras@example.org", "Taras")
    add_payment(taras, 1500, datetime(2025, 3, 3, tzinfo=UTC), kind=PaymentKind.GIFT)
    sign_in(client, taras)
    body = pdf_text(client.get("/account/statements/2025"))
    assert "For: Taras <taras@example.org>" in body and "3 March 2025 One-time gift €15.00" in body
    assert "Olena" not in body and "€25.00" not in body and "$50.00" not in body
    # The URL takes no supporter: a query naming someone else's changes nothing.
    other = pdf_text(client.get(f"/account/statements/2025?supporter={olena_gave}"))
    assert "Taras" in other and "Olena" not in other
    assert "We have no payment from you in 2024" in text(client.get("/account/statements/2024"))


def test_a_missing_font_is_a_clear_error_not_a_broken_pdf(app: Flask, client: FlaskClient, olena_gave: int,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    app.config["STATEMENT_FONT_PATH"] = "/nonexistent/DejaVuSans.ttf"
    sign_in(client, db.session.get_one(Supporter, olena_gave))
    response = client.get("/account/statements/2025")
    assert response.status_code == 503 and response.mimetype == "text/html"
    assert "Your statement is unavailable right now" in text(response)
    assert "fonts-dejavu-core" in caplog.text and "STATEMENT_FONT_PATH" in caplog.text
