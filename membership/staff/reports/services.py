"""Exports of supporters, payments and memberships as CSV or XLSX: one definition for the web and the CLI.

Here: the filters (checked the same for the form and the command line), each export's columns and SELECT,
and how the database renders every cell as the file shows it (`cell_sql`): amounts as exact decimals, times
in UTC, yes/no, and text that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, a tab
or a carriage return) with a leading `'`. The files are written from that in `files.py`; larger web exports
are queued (`queued.py`) for the worker (`worker.py`); ballot results export from the tally
(`ballot_results.py`).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy import ColumnElement, Select, String, case, cast, exists, func, literal, select, type_coerce
from sqlalchemy.orm import QueryableAttribute

from membership.giving.models import Checkout, Membership, MembershipStatus, Payment, PaymentStatus, Tier
from membership.i18n import gettext as _
from membership.i18n import in_locale, lazy_gettext
from membership.money import exponent
from membership.patrons.services import patron_condition
from membership.staff.dashboard.periods import DateRange
from membership.staff.labels import MEMBERSHIP_STATUSES, PAYMENT_STATUSES
from membership.staff.reports.models import ExportFormat, ExportKind
from membership.staff.sql import utc_text
from membership.supporters.models import Supporter

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


SUPPORTER_STATUSES = {"patron": lazy_gettext("Patron now"), "not_patron": lazy_gettext("Not a patron now"),
                      "erased": lazy_gettext("Erased")}
# The languages an export's column headers can be written in besides English come from SUPPORTED_LOCALES;
# English is the default, what accounting tools' import settings expect.
DEFAULT_EXPORT_LANGUAGE = "en"


def statuses_for(kind: ExportKind) -> dict[str, str]:
    """The status filter's values for an export (value → label, in the active language)."""
    labels: dict[Any, Any] = (PAYMENT_STATUSES if kind is ExportKind.PAYMENTS
                              else MEMBERSHIP_STATUSES if kind is ExportKind.MEMBERSHIPS else SUPPORTER_STATUSES)
    return {str(value): str(label) for value, label in labels.items()}


class FilterError(ValueError):
    """A filter value the export can't use. `field` names the filter; the message is for the person."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ExportFilters:
    """What to export: a kind, whole UTC days `first`..`last` (both included), optionally a currency and status."""

    kind: ExportKind
    first: date
    last: date
    currency: str = ""
    status: str = ""

    @property
    def period(self) -> DateRange:
        return DateRange(self.first, self.last)

    def filename(self, fmt: ExportFormat) -> str:
        """`payments-2026-01-01-to-2026-01-31.csv`"""
        return f"{self.kind.value}-{self.first.isoformat()}-to-{self.last.isoformat()}.{fmt.value}"

    def describe(self) -> dict[str, str]:
        """The filters as the audit log keeps them."""
        return {"from": self.first.isoformat(), "to": self.last.isoformat(),
                "currency": self.currency or "all", "status": self.status or "all"}


def make_filters(kind: str, first: date | None, last: date | None, currency: str | None, status: str | None,
                 currencies: Sequence[str]) -> ExportFilters:
    """Check the filters (the same checks for the web form and the command line); FilterError if one is wrong."""
    try:
        export_kind = ExportKind(kind)
    except ValueError:
        raise FilterError("kind", _("Unknown export %(kind)r; choose supporters, payments or memberships.",
                                    kind=kind)) from None
    if first is None:
        raise FilterError("from", _("Enter the first day to export (YYYY-MM-DD)."))
    if last is None:
        raise FilterError("to", _("Enter the last day to export (YYYY-MM-DD)."))
    if first > last:
        raise FilterError("to", _("The end date is before the start date."))
    code = (currency or "").strip().upper()
    if code and code not in currencies:
        raise FilterError("currency", _("Unknown currency %(currency)r; choose one of %(choices)s.",
                                        currency=currency, choices=", ".join(currencies)))
    state = (status or "").strip().lower()
    allowed = statuses_for(export_kind)
    if state and state not in allowed:
        raise FilterError("status", _("%(status)r is not a status of %(kind)s; choose one of %(choices)s.",
                                      status=status, kind=export_kind.value, choices=", ".join(allowed)))
    return ExportFilters(export_kind, first, last, code, state)


# Columns --------------------------------------------------------------------------------------------


class Cell(enum.Enum):
    TEXT = "text"
    INTEGER = "integer"
    MONEY = "money"  # minor units in the query; a decimal amount in the file, in the row's currency
    DATETIME = "datetime"  # UTC
    DECIMAL = "decimal"  # exact decimal text in the query (an exchange rate); a number in XLSX; empty if NULL
    YES_NO = "yes_no"


@dataclass(frozen=True)
class Column:
    header: str  # English, marked: written in the export's language by `ExportQuery.header_in`
    expr: ColumnElement[Any] | QueryableAttribute[Any]
    cell: Cell = Cell.TEXT
    currency: Any = None  # a MONEY cell's own currency column, when it isn't the row's (fee and net)


@dataclass(frozen=True)
class ExportQuery:
    """An export's columns and its SELECT (typed values, as stored)."""

    columns: list[Column]
    query: Select[Any]
    currency: Any = None  # the column holding each row's currency, for MONEY cells
    currencies: Sequence[str] = ()

    @property
    def header(self) -> list[str]:
        return self.header_in(DEFAULT_EXPORT_LANGUAGE)

    def header_in(self, language: str | None) -> list[str]:
        """The column headers in `language` (English when it isn't offered)."""
        with in_locale(language or DEFAULT_EXPORT_LANGUAGE):
            return [str(c.header) for c in self.columns]

    @property
    def text_query(self) -> Select[Any]:
        """The same SELECT with every cell rendered as the file shows it (see `cell_sql`)."""
        return self.query.with_only_columns(*(cell_sql(c, self.currency, self.currencies) for c in self.columns))


def _text(column: Any) -> ColumnElement[Any]:
    """An enum column read as its plain text value (no per-row enum conversion)."""
    return type_coerce(column, String)


def _payments(filters: ExportFilters, currencies: Sequence[str]) -> ExportQuery:
    columns = [
        Column(lazy_gettext("Paid at (UTC)"), Payment.paid_at, Cell.DATETIME),
        Column(lazy_gettext("Payment ID"), Payment.id, Cell.INTEGER),
        Column(lazy_gettext("Supporter ID"), Payment.supporter_id, Cell.INTEGER),
        Column(lazy_gettext("Supporter email"), Supporter.email),
        Column(lazy_gettext("Supporter name"), Supporter.name),
        Column(lazy_gettext("Kind"), _text(Payment.kind)),
        Column(lazy_gettext("Gross"), Payment.amount_minor, Cell.MONEY),
        Column(lazy_gettext("Currency"), Payment.currency),
        # Stripe's fee and net are in the account's settlement currency, converted at Stripe's rate.
        Column(lazy_gettext("Fee"), Payment.fee_minor, Cell.MONEY, Payment.settlement_currency),
        Column(lazy_gettext("Net"), Payment.net_minor, Cell.MONEY, Payment.settlement_currency),
        Column(lazy_gettext("Settlement currency"), Payment.settlement_currency),
        Column(lazy_gettext("Exchange rate"), Payment.exchange_rate, Cell.DECIMAL),
        Column(lazy_gettext("Status"), _text(Payment.status)),
        Column(lazy_gettext("Refunded"), Payment.refunded_minor, Cell.MONEY),
        Column(lazy_gettext("Stripe payment intent"), Payment.stripe_payment_intent_id),
        Column(lazy_gettext("Stripe charge"), Payment.stripe_charge_id),
        Column(lazy_gettext("Stripe invoice"), Payment.stripe_invoice_id),
        Column(lazy_gettext("Stripe balance transaction"), Payment.stripe_balance_transaction_id),
        Column(lazy_gettext("Stripe subscription"), Membership.stripe_subscription_id),
        Column(lazy_gettext("Source"), Checkout.source_url),
        Column(lazy_gettext("UTM source"), Checkout.utm_source),
        Column(lazy_gettext("UTM medium"), Checkout.utm_medium),
        Column(lazy_gettext("UTM campaign"), Checkout.utm_campaign),
    ]
    # A renewal carries no checkout of its own: its source is the checkout that started the membership.
    query = (
        select(*(c.expr for c in columns))
        .select_from(Payment)
        .join(Supporter, Supporter.id == Payment.supporter_id)
        .outerjoin(Membership, Membership.id == Payment.membership_id)
        .outerjoin(Checkout, Checkout.id == func.coalesce(Payment.checkout_id, Membership.checkout_id))
        .where(filters.period.contains(Payment.paid_at))
        .order_by(Payment.paid_at, Payment.id)
    )
    if filters.currency:
        query = query.where(Payment.currency == filters.currency)
    if filters.status:
        query = query.where(Payment.status == PaymentStatus(filters.status))
    return ExportQuery(columns, query, Payment.currency, currencies)


def _memberships(filters: ExportFilters, currencies: Sequence[str]) -> ExportQuery:
    columns = [
        Column(lazy_gettext("Membership ID"), Membership.id, Cell.INTEGER),
        Column(lazy_gettext("Supporter ID"), Membership.supporter_id, Cell.INTEGER),
        Column(lazy_gettext("Supporter email"), Supporter.email),
        Column(lazy_gettext("Supporter name"), Supporter.name),
        Column(lazy_gettext("Status"), _text(Membership.status)),
        Column(lazy_gettext("Amount"), Membership.amount_minor, Cell.MONEY),
        Column(lazy_gettext("Currency"), Membership.currency),
        Column(lazy_gettext("Interval"), Membership.interval),
        Column(lazy_gettext("Tier"), Tier.name),
        Column(lazy_gettext("Started (UTC)"), Membership.started_at, Cell.DATETIME),
        Column(lazy_gettext("Current period ends (UTC)"), Membership.current_period_end, Cell.DATETIME),
        Column(lazy_gettext("Cancels at period end"), Membership.cancel_at_period_end, Cell.YES_NO),
        Column(lazy_gettext("Cancelled (UTC)"), Membership.canceled_at, Cell.DATETIME),
        Column(lazy_gettext("Ended (UTC)"), Membership.ended_at, Cell.DATETIME),
        Column(lazy_gettext("Cancel reason"), Membership.cancel_reason),
        Column(lazy_gettext("Cancel comment"), Membership.cancel_comment),
        Column(lazy_gettext("Stripe subscription"), Membership.stripe_subscription_id),
        Column(lazy_gettext("Source"), Checkout.source_url),
        Column(lazy_gettext("UTM campaign"), Checkout.utm_campaign),
    ]
    query = (
        select(*(c.expr for c in columns))
        .select_from(Membership)
        .join(Supporter, Supporter.id == Membership.supporter_id)
        .outerjoin(Tier, Tier.id == Membership.tier_id)
        .outerjoin(Checkout, Checkout.id == Membership.checkout_id)
        .where(filters.period.contains(Membership.started_at))
        .order_by(Membership.started_at, Membership.id)
    )
    if filters.currency:
        query = query.where(Membership.currency == filters.currency)
    if filters.status:
        query = query.where(Membership.status == MembershipStatus(filters.status))
    return ExportQuery(columns, query, Membership.currency, currencies)


def _supporters(filters: ExportFilters, now: datetime, grace: timedelta) -> ExportQuery:
    is_patron = exists().where(Membership.supporter_id == Supporter.id, patron_condition(now, grace))
    columns = [
        Column(lazy_gettext("Supporter ID"), Supporter.id, Cell.INTEGER),
        Column(lazy_gettext("Email"), Supporter.email),
        Column(lazy_gettext("Name"), Supporter.name),
        Column(lazy_gettext("Joined (UTC)"), Supporter.created_at, Cell.DATETIME),
        Column(lazy_gettext("Email updates"), Supporter.email_consent, Cell.YES_NO),
        Column(lazy_gettext("Consent changed (UTC)"), Supporter.email_consent_at, Cell.DATETIME),
        Column(lazy_gettext("Patron now"), is_patron, Cell.YES_NO),
        Column(lazy_gettext("Stripe customer"), Supporter.stripe_customer_id),
        Column(lazy_gettext("Erased (UTC)"), Supporter.erased_at, Cell.DATETIME),
    ]
    query = (select(*(c.expr for c in columns)).where(filters.period.contains(Supporter.created_at))
             .order_by(Supporter.id))
    if filters.currency:
        query = query.where(exists().where(Payment.supporter_id == Supporter.id, Payment.currency == filters.currency))
    if filters.status == "patron":
        query = query.where(is_patron)
    elif filters.status == "not_patron":
        query = query.where(~is_patron)
    elif filters.status == "erased":
        query = query.where(Supporter.erased_at.is_not(None))
    return ExportQuery(columns, query)


def export_query(filters: ExportFilters, *, now: datetime, grace: timedelta, currencies: Sequence[str]) -> ExportQuery:
    """The columns and the SELECT for an export (`now` and `grace` decide who is a patron now; `currencies`
    are the configured ones, whose decimals the amounts follow)."""
    if filters.kind is ExportKind.PAYMENTS:
        return _payments(filters, currencies)
    if filters.kind is ExportKind.MEMBERSHIPS:
        return _memberships(filters, currencies)
    return _supporters(filters, now, grace)


# Cells: every cell is rendered as text by the database ----------------------------------------------


def neutralise(value: str) -> str:
    """Text a spreadsheet would run as a formula gets a leading apostrophe, so it stays text."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def neutralised_sql(expr: Any) -> ColumnElement[str]:
    """SQL for `neutralise`, with NULL as empty text."""
    return case((func.substr(expr, 1, 1).in_(FORMULA_PREFIXES), literal("'") + expr), else_=func.coalesce(expr, ""))


def money_sql(amount: Any, currency: Any, currencies: Sequence[str]) -> ColumnElement[str]:
    """SQL for minor units as an exact decimal amount in the row's currency: 1250 EUR → '12.50', 500 JPY → '500'.

    Integer arithmetic only, the same on SQLite and PostgreSQL. Currencies with other than two decimals
    are looked up among `currencies` (the configured ones; a currency outside them is shown with two).
    """
    units = {code: 10 ** exponent(code) for code in currencies if exponent(code) != 2}
    unit: Any = case(units, value=currency, else_=100) if units else literal(100)
    magnitude = func.abs(amount)
    decimal = (case((amount < 0, "-"), else_="") + cast(magnitude // unit, String) + "."
               + func.substr(cast(unit + magnitude % unit, String), 2, type_=String))
    return case((unit == 1, cast(amount, String)), else_=decimal)


def cell_sql(column: Column, currency: Any, currencies: Sequence[str]) -> ColumnElement[Any]:
    """The column as the file shows it: neutralised text, decimal amounts, UTC times, yes/no."""
    if column.cell is Cell.TEXT:
        return neutralised_sql(column.expr)
    if column.cell is Cell.MONEY:
        return money_sql(column.expr, currency if column.currency is None else column.currency, currencies)
    if column.cell is Cell.DATETIME:
        return func.coalesce(utc_text(column.expr), "")
    if column.cell is Cell.DECIMAL:
        return func.coalesce(column.expr, "")
    if column.cell is Cell.YES_NO:
        return case((column.expr, "yes"), else_="no")
    return column.expr  # type: ignore[return-value]


def xlsx_text(value: str) -> str:
    # openpyxl refuses control characters; removing one could uncover a formula prefix, so check again.
    return neutralise(ILLEGAL_CHARACTERS_RE.sub("", value))
