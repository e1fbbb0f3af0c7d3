"""Yearly statements: what a supporter gave in a calendar year (UTC), for tax or their own records, and the
January email that brings each supporter theirs.

A statement lists the year's payments (settled charges only: a checkout abandoned or expired never became
one), each with its refunds deducted; a disputed payment is listed as such and not counted. Totals are per
currency, since amounts in different currencies don't add up.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from membership.db import dialect_insert, utcnow
from membership.giving.models import Payment, PaymentKind, PaymentStatus
from membership.patrons.emails import send_yearly_statement
from membership.patrons.models import StatementEmail
from membership.patrons.services import given_minor
from membership.supporters.models import Supporter

# Statements go back to this year at most: earlier (or later than this year) is no year anyone gave in.
FIRST_STATEMENT_YEAR = 2000
# How many January emails one `jobs run` queues; the rest wait for the next run.
STATEMENT_EMAIL_BATCH = 200
# Payments that still give something: a fully refunded or disputed one leaves nothing to state.
GIVING_STATUSES = (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED)


@dataclass(frozen=True)
class StatementRow:
    paid_at: datetime
    kind: PaymentKind
    currency: str
    amount_minor: int
    refunded_minor: int
    disputed: bool
    given_minor: int  # the amount less refunds; nothing while disputed
    reference: str  # Stripe's invoice id when there is one, else our payment number


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    paid_minor: int  # every payment's amount, disputed ones left out
    refunded_minor: int
    given_minor: int  # paid less refunded


@dataclass(frozen=True)
class Statement:
    year: int
    supporter_name: str
    supporter_email: str
    rows: list[StatementRow]  # oldest first
    totals: list[CurrencyTotal]  # by currency code


def statement_year_allowed(year: int, now: datetime | None = None) -> bool:
    """Whether `year` can have a statement: from FIRST_STATEMENT_YEAR to this year (UTC)."""
    return FIRST_STATEMENT_YEAR <= year <= (now or utcnow()).year


def _year_bounds(year: int) -> tuple[datetime, datetime]:
    return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)


def statement_years(session: Session, supporter_id: int) -> list[int]:
    """The calendar years (UTC) the supporter has payments in, newest first."""
    years = {paid_at.year for paid_at in session.scalars(
        select(Payment.paid_at).where(Payment.supporter_id == supporter_id))}
    return sorted(years, reverse=True)


def _row(payment: Payment) -> StatementRow:
    return StatementRow(
        paid_at=payment.paid_at,
        kind=payment.kind,
        currency=payment.currency,
        amount_minor=payment.amount_minor,
        refunded_minor=payment.refunded_minor,
        disputed=payment.status is PaymentStatus.DISPUTED,
        given_minor=given_minor(payment),
        reference=payment.stripe_invoice_id or f"#{payment.id}",
    )


def _totals(rows: list[StatementRow]) -> list[CurrencyTotal]:
    paid: dict[str, int] = defaultdict(int)
    refunded: dict[str, int] = defaultdict(int)
    for row in rows:
        if not row.disputed:
            paid[row.currency] += row.amount_minor
            refunded[row.currency] += row.refunded_minor
        else:
            paid.setdefault(row.currency, 0)
            refunded.setdefault(row.currency, 0)
    return [CurrencyTotal(currency, paid[currency], refunded[currency], paid[currency] - refunded[currency])
            for currency in sorted(paid)]


def yearly_statement(session: Session, supporter_id: int, year: int) -> Statement | None:
    """The supporter's statement for `year`; None when they have no payment in it."""
    supporter = session.get(Supporter, supporter_id)
    if supporter is None:
        raise LookupError(f"No supporter {supporter_id}.")
    start, end = _year_bounds(year)
    payments = session.scalars(
        select(Payment)
        .where(Payment.supporter_id == supporter_id, Payment.paid_at >= start, Payment.paid_at < end)
        .order_by(Payment.paid_at, Payment.id)
    ).all()
    if not payments:
        return None
    rows = [_row(payment) for payment in payments]
    return Statement(year=year, supporter_name=supporter.name, supporter_email=supporter.email or "", rows=rows,
                     totals=_totals(rows))


def send_yearly_statements(session: Session, now: datetime, batch: int = STATEMENT_EMAIL_BATCH) -> int:
    """In January (UTC), email each supporter who gave last year the link to that year's statement, once.

    Each supporter and year is claimed by inserting its `statement_emails` row (the primary key refuses a
    second), so two runs at once still send one email. Erased supporters are never emailed. At most `batch`
    are queued a run. Returns how many were queued."""
    if now.month != 1:
        return 0
    year = now.year - 1
    start, end = _year_bounds(year)
    gave = exists().where(Payment.supporter_id == Supporter.id, Payment.paid_at >= start, Payment.paid_at < end,
                          Payment.status.in_(GIVING_STATUSES))
    already = exists().where(StatementEmail.supporter_id == Supporter.id, StatementEmail.year == year)
    due = session.scalars(
        select(Supporter)
        .where(Supporter.erased_at.is_(None), Supporter.email.is_not(None), gave, ~already)
        .order_by(Supporter.id)
        .limit(batch)
    ).all()
    queued = 0
    for supporter in due:
        claimed = session.scalar(
            dialect_insert(session)(StatementEmail)
            .values(supporter_id=supporter.id, year=year, sent_at=now)
            .on_conflict_do_nothing()
            .returning(StatementEmail.supporter_id)
        )
        if claimed is None:
            continue  # another run has it
        send_yearly_statement(session, supporter, year)
        queued += 1
    session.flush()
    return queued
