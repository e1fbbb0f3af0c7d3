"""Rows for dashboard and export tests, written straight to the database; posting the export form and reading
what it sends; and a reader for HTML tables."""

from __future__ import annotations

import csv
import html
import io
import itertools
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient
from openpyxl import load_workbook
from werkzeug.test import TestResponse

from membership.db import db
from membership.giving.models import (
    Checkout,
    CheckoutStatus,
    Frequency,
    Membership,
    MembershipStatus,
    Payment,
    PaymentKind,
    PaymentStatus,
)
from membership.staff.accounts.models import AuditEntry
from membership.supporters.models import Supporter
from tests.support.helpers import csrf_token

_ids = itertools.count(1)
JANUARY = {"from": "2026-01-01", "to": "2026-01-31"}
TARAS = "Тарас Шевченко"  # noqa: RUF001 (Cyrillic on purpose: the byte-order mark must keep it readable)


def at(text: str) -> datetime:
    """'2026-01-15' or '2026-01-15 10:30' as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def add_supporter(email: str, name: str = "", created: str = "2025-01-01", **values: Any) -> Supporter:
    supporter = Supporter(email=email, name=name, created_at=at(created), **values)
    db.session.add(supporter)
    db.session.flush()
    return supporter


def add_membership(supporter: Supporter, amount_minor: int, *, currency: str = "EUR", interval: str = "month",
                   status: MembershipStatus = MembershipStatus.ACTIVE, started: str = "2025-06-01",
                   period_end: str = "2099-01-01", **values: Any) -> Membership:
    membership = Membership(supporter_id=supporter.id, stripe_subscription_id=f"sub_test_{next(_ids)}",
                            status=status, amount_minor=amount_minor, currency=currency, interval=interval,
                            started_at=at(started), current_period_end=at(period_end), **values)
    db.session.add(membership)
    db.session.flush()
    return membership


def add_payment(supporter: Supporter, amount_minor: int, paid: str, *, kind: PaymentKind = PaymentKind.GIFT,
                currency: str = "EUR", fee_minor: int | None = None, status: PaymentStatus = PaymentStatus.PAID,
                refunded_minor: int = 0, **values: Any) -> Payment:
    fee = amount_minor * 15 // 1000 + 25 if fee_minor is None else fee_minor
    n = next(_ids)
    payment = Payment(supporter_id=supporter.id, kind=kind, amount_minor=amount_minor, fee_minor=fee,
                      net_minor=amount_minor - fee, currency=currency, status=status, refunded_minor=refunded_minor,
                      paid_at=at(paid), stripe_payment_intent_id=f"pi_test_{n}", stripe_charge_id=f"ch_test_{n}",
                      stripe_balance_transaction_id=f"txn_test_{n}", **values)
    db.session.add(payment)
    db.session.flush()
    return payment


def add_checkout(supporter: Supporter, amount_minor: int, *, currency: str = "EUR", completed: str | None = None,
                 status: CheckoutStatus = CheckoutStatus.COMPLETED, frequency: Frequency = Frequency.ONCE,
                 **values: Any) -> Checkout:
    checkout = Checkout(supporter_id=supporter.id, frequency=frequency, amount_minor=amount_minor, currency=currency,
                        status=status, completed_at=at(completed) if completed else None,
                        stripe_session_id=f"cs_test_{next(_ids)}", **values)
    db.session.add(checkout)
    db.session.flush()
    return checkout


# The export form --------------------------------------------------------------------------------------


def export(client: FlaskClient, **fields: str) -> TestResponse:
    data = {"kind": "payments", "format": "csv", "currency": "", "status": "", **JANUARY, **fields}
    if "csrf_token" not in data:
        data["csrf_token"] = csrf_token(client, "/staff/reports")
    return client.post("/staff/reports/export", data=data)


def read_csv(response: TestResponse) -> list[list[str]]:
    body = response.get_data()
    assert body.startswith("\ufeff".encode())  # so Excel reads the Cyrillic right
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def read_xlsx(response: TestResponse) -> list[list[Any]]:
    workbook = load_workbook(io.BytesIO(response.get_data()))
    return [list(row) for row in workbook.active.iter_rows(values_only=True)]  # type: ignore[union-attr]


def audit_entries() -> list[AuditEntry]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action.startswith("export."))
                                  .order_by(AuditEntry.id)))


# Tables -----------------------------------------------------------------------------------------------


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._caption: str | None = None
        self._rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self._in_caption = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._caption, self._rows = "", []
        elif tag == "caption":
            self._in_caption = True
        elif tag == "tr":
            self._rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption":
            self._in_caption = False
        elif tag in ("td", "th") and self._cell is not None:
            self._rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table" and self._caption is not None:
            self.tables[self._caption] = self._rows
            self._caption = None

    def handle_data(self, data: str) -> None:
        if self._in_caption and self._caption is not None:
            self._caption += " ".join(data.split())
        elif self._cell is not None:
            self._cell.append(data)


def words(page: str) -> str:
    """The page's text without tags, whitespace collapsed: what a reader reads, for whole sentences."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split()).replace(" .", ".").replace(" ,", ",")


def tables(page: str) -> dict[str, list[list[str]]]:
    """Every <table> on the page by its caption: rows of cell texts, the header row first."""
    parser = _Tables()
    parser.feed(page)
    return parser.tables
