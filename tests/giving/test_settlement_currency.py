"""Stripe's fee and net are in the account's settlement currency: a UAH gift on a EUR account, end to end."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership.db import db
from membership.giving.models import Payment, PaymentKind, PaymentStatus
from membership.staff.accounts.models import Role
from membership.staff.dashboard import periods, services
from stripe_double import DoubleServer
from tests.support.giving import pay, settle, start_gift
from tests.support.helpers import text
from tests.support.reports import add_supporter, at, export, read_csv, tables, words
from tests.support.servers import LiveServer


def test_a_uah_gift_settled_in_eur(client: FlaskClient, staff_client: Callable[[Role], FlaskClient],
                                   double: DoubleServer, live_app: LiveServer) -> None:
    assert double.config.settlement_currency == "eur"  # the double's account, converting UAH at 0.0226
    checkout = start_gift(client, currency="UAH", amount="200")
    pay(double, checkout)
    settle(double)

    # UAH 200.00 → €4.52 in the balance; Stripe's fee 1.5% + 2% conversion + €0.25 = €0.41; net €4.11.
    payment = db.session.scalars(sa.select(Payment)).one()
    assert (payment.amount_minor, payment.currency) == (20000, "UAH")
    assert (payment.fee_minor, payment.net_minor, payment.settlement_currency, payment.exchange_rate) == (
        41, 411, "EUR", "0.0226")

    analyst = staff_client(Role.ANALYST)
    day = payment.paid_at.date().isoformat()
    header, row = read_csv(export(analyst, **{"from": day, "to": day}))
    cells = dict(zip(header, row, strict=True))
    assert [cells[name] for name in ("Gross", "Currency", "Fee", "Net", "Settlement currency", "Exchange rate")] == [
        "200.00", "UAH", "0.41", "4.11", "EUR", "0.0226"]

    page = text(analyst.get("/staff/dashboard"))
    assert "UAH, settled in EUR" in page
    month = payment.paid_at.strftime("%B %Y")
    gifts = tables(page)["One-time gifts in UAH per month, fees and net in EUR"]
    assert [r for r in gifts if r[0] == month] == [[month, "1", "UAH 200.00", "€0.41", "UAH 0.00", "€4.11"]]
    assert "One-time gifts in EUR per month" not in tables(page)  # nothing was charged in euros

    # The supporter's payments: gross in hryvnias, fee and net in euros.
    supporter_page = words(text(analyst.get(f"/staff/supporters/{payment.supporter_id}")))
    assert "gift UAH 200.00 €0.41 €4.11 UAH 0.00" in supporter_page


def add_settled_gift(amount: int, currency: str, fee: int, net: int, settled_in: str, rate: str | None,
                     **values: object) -> None:
    supporter = add_supporter(f"{currency}{amount}-{settled_in}-{fee}@example.org")
    db.session.add(Payment(supporter_id=supporter.id, kind=PaymentKind.GIFT, amount_minor=amount, fee_minor=fee,
                           net_minor=net, currency=currency, settlement_currency=settled_in, exchange_rate=rate,
                           paid_at=at("2026-02-10"), **values))
    db.session.flush()


def test_refunds_of_converted_gifts_come_off_the_net_at_the_gifts_rate(app: Flask) -> None:
    # UAH 200.00 settled as €4.52 (fee €0.41), UAH 50.00 of it refunded: €1.13 off the net.
    add_settled_gift(20000, "UAH", 41, 411, "EUR", "0.0226", status=PaymentStatus.PARTIALLY_REFUNDED,
                     refunded_minor=5000)
    # UAH 100.00 settled as €2.26 (fee €0.33), disputed: all of it taken back.
    add_settled_gift(10000, "UAH", 33, 193, "EUR", "0.0226", status=PaymentStatus.DISPUTED)
    # UAH settled as hryvnias (an account with a UAH balance) and euros: apart from the converted ones.
    add_settled_gift(20000, "UAH", 1580, 18420, "UAH", None, status=PaymentStatus.PAID)
    add_settled_gift(1000, "EUR", 40, 960, "EUR", None, status=PaymentStatus.PAID)
    db.session.commit()
    revenue = services.gift_revenue(db.session(), periods.DateRange(date(2026, 2, 1), date(2026, 2, 28)))
    assert [(r.currency, r.settlement_currency, r.key) for r in revenue] == [
        ("EUR", "EUR", "EUR"), ("UAH", "EUR", "UAH-EUR"), ("UAH", "UAH", "UAH")]
    [eur], [converted], [uah] = (r.months for r in revenue)
    assert (eur.gross_minor, eur.fee_minor, eur.refunded_minor, eur.net_minor) == (1000, 40, 0, 960)
    # Net: €4.11 - €1.13 + €1.93 - €2.26 = €2.65; gross and refunds stay in hryvnias.
    assert (converted.gifts, converted.gross_minor, converted.fee_minor, converted.refunded_minor,
            converted.net_minor) == (2, 30000, 74, 15000, 265)
    assert (uah.gross_minor, uah.fee_minor, uah.net_minor) == (20000, 1580, 18420)
