"""The dashboard's money and conversion figures, precomputed per ended month.

A view of a year reads the sums of its ended months from the rollup tables (a few hundred rows) and aggregates
only the rest from payments and checkouts: the current month, and a range's partial first or last month. The
figures are the same as a straight aggregate: every sum is a sum of per-row values, so a month's sum added to
the next month's is the two months' sum.

A month is rolled up once it has been over for `CLOSED_AFTER`, by `jobs run` or by the first dashboard view
that needs it. A write to it after that (a refund, a dispute, a late or imported payment) adds to its counter
in `ChangedMonth` in the write's own transaction; a month's rollup remembers the counter it was computed at
and is computed again when the counter has moved on. Until then the month is aggregated live, so a stale
rollup is never read.

Two refreshers of the same month (two workers' first views, or a view and `jobs run`) queue on the month's
`RollupMonth` row, which each takes first; the second then replaces the first's rows instead of adding to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    String,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from membership.db import dialect_insert
from membership.giving.models import Checkout, CheckoutStatus, Payment, PaymentKind, PaymentStatus
from membership.giving.month_changes import ChangedMonth, month_of
from membership.staff.dashboard.models import ConversionRollup, RevenueRollup, RollupMonth
from membership.staff.dashboard.periods import DateRange, next_month

# A month is read from its rollup once it has been over for this long: longer than any transaction that began
# while it was current lasts (those writes note no change: `membership.giving.month_changes`).
CLOSED_AFTER = timedelta(days=1)
ALL, ARTICLE, CAMPAIGN = "all", "article", "campaign"
SOURCE_COLUMNS: dict[str, Any] = {ALL: None, ARTICLE: Checkout.source_url, CAMPAIGN: Checkout.utm_campaign}


def month_start(month: date) -> datetime:
    return datetime.combine(month, time.min, UTC)


# Which months are read from rollups ---------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """A range as rolled-up months (consecutive) and the spans [start, end) aggregated from the rows."""

    months: list[date]
    live: list[tuple[datetime, datetime]]


def split(period: DateRange, now: datetime | None) -> Split:
    """The whole months of `period` that ended at least CLOSED_AFTER before `now`, and the rest of it (all of it
    without a `now`: a straight aggregate)."""
    whole = Split([], [(period.start, period.end)])
    if now is None:
        return whole
    first_open = month_of(now - CLOSED_AFTER)
    months = [month for month in period.months()
              if period.first <= month < first_open and next_month(month) <= period.last + timedelta(days=1)]
    if not months:
        return whole
    start, end = month_start(months[0]), month_start(next_month(months[-1]))
    return Split(months, [(a, b) for a, b in ((period.start, start), (end, period.end)) if a < b])


def ready_split(session: Session, period: DateRange, now: datetime | None) -> Split:
    """`split`, after refreshing those of its months whose rollup is missing or stale."""
    parts = split(period, now)
    if now is not None:
        refresh_months(session, stale_months(session, parts.months), now)
    return parts


def stale_months(session: Session, months: Sequence[date]) -> list[date]:
    """Those of `months` (in order) never rolled up, or changed since."""
    if not months:
        return []
    changes: dict[date, int] = {month: n for month, n in session.execute(
        select(ChangedMonth.month, ChangedMonth.changes).where(ChangedMonth.month.between(months[0], months[-1])))}
    done: dict[date, int] = {month: n for month, n in session.execute(
        select(RollupMonth.month, RollupMonth.changes).where(RollupMonth.month.between(months[0], months[-1])))}
    return [month for month in months if done.get(month) != changes.get(month, 0)]


def closed_months(session: Session, now: datetime) -> list[date]:
    """Every month from the first payment's or conversion's to the last one that can be rolled up at `now`."""
    first = min((moment for moment in (
        session.scalar(select(func.min(Payment.paid_at))),
        session.scalar(select(func.min(Checkout.completed_at)).where(Checkout.status == CheckoutStatus.COMPLETED)),
    ) if moment is not None), default=None)
    if first is None:
        return []
    months, month, first_open = [], month_of(first), month_of(now - CLOSED_AFTER)
    while month < first_open:
        months.append(month)
        month = next_month(month)
    return months


def refresh_closed_months(session: Session, now: datetime) -> int:
    """Roll up every ended month not rolled up yet, or changed since (`jobs run`); returns how many."""
    return refresh_months(session, stale_months(session, closed_months(session, now)), now)


# Computing a month ------------------------------------------------------------------------------------


def refresh_months(session: Session, months: Sequence[date], now: datetime) -> int:
    """Compute the rollups of `months` afresh, replacing their rows (idempotent). Returns how many."""
    for month in sorted(months):  # in order, so that two refreshers take the months' rows in the same order
        changes = session.scalar(select(ChangedMonth.changes).where(ChangedMonth.month == month)) or 0
        # The counter is read before the month's rows: a write in between makes the rollup stale, never wrong.
        upsert = dialect_insert(session)(RollupMonth).values(month=month, changes=changes, refreshed_at=now)
        session.execute(upsert.on_conflict_do_update(
            index_elements=[RollupMonth.month],
            set_={"changes": upsert.excluded.changes, "refreshed_at": upsert.excluded.refreshed_at}))
        span = (month_start(month), month_start(next_month(month)))
        session.execute(delete(RevenueRollup).where(RevenueRollup.month == month),
                        execution_options={"synchronize_session": False})
        session.execute(delete(ConversionRollup).where(ConversionRollup.month == month),
                        execution_options={"synchronize_session": False})
        stamp = literal(month, Date)
        session.execute(insert(RevenueRollup).from_select(
            ["month", "kind", "currency", "settlement_currency", "payments", "gross_minor", "fee_minor",
             "taken_back_minor", "net_minor", "settled_back_minor"],
            select(stamp, Payment.kind, Payment.currency, Payment.settlement_currency, *payment_sums())
            .where(in_span(Payment.paid_at, span))
            .group_by(Payment.kind, Payment.currency, Payment.settlement_currency)))
        for dimension in SOURCE_COLUMNS:
            session.execute(insert(ConversionRollup).from_select(
                ["month", "dimension", "name", "currency", "conversions", "charged_minor"],
                conversions_select(dimension, span, stamp)))
    return len(months)


def in_span(column: Any, span: tuple[datetime, datetime]) -> ColumnElement[bool]:
    return and_(column >= span[0], column < span[1])


def payment_sums() -> list[Any]:
    """Per group of payments: the count, gross, Stripe's fee, taken back (refunded, or the whole amount while a
    dispute is open or lost), Stripe's net, and what was taken back in the settlement currency.

    The last is taken back * settled / charged per payment, rounded half up in integers (the same on SQLite and
    PostgreSQL): a refund of a converted payment comes off the net at the payment's own rate."""
    taken_back = case((Payment.status == PaymentStatus.DISPUTED, Payment.amount_minor), else_=Payment.refunded_minor)
    settled = cast(Payment.fee_minor + Payment.net_minor, BigInteger)
    settled_back = (2 * taken_back * settled + Payment.amount_minor) // (2 * Payment.amount_minor)
    return [func.count(), func.sum(Payment.amount_minor), func.sum(Payment.fee_minor), func.sum(taken_back),
            func.sum(Payment.net_minor), func.sum(settled_back)]


def conversions_select(dimension: str, span: tuple[datetime, datetime], stamp: Any = None) -> Any:
    """Completed checkouts of `span` per currency, and per article or campaign (`dimension`): name, currency,
    conversions, charged (preceded by `dimension` and `stamp`, the month, when one is given: a rollup's row)."""
    column = SOURCE_COLUMNS[dimension]
    name = literal("", String) if column is None else column
    condition = and_(Checkout.status == CheckoutStatus.COMPLETED, in_span(Checkout.completed_at, span))
    if column is not None:
        condition = and_(condition, column != "")
    charged = func.sum(Checkout.amount_minor + Checkout.fee_cover_minor)
    prefix = [] if stamp is None else [stamp, literal(dimension, String)]
    groups = [Checkout.currency] if column is None else [column, Checkout.currency]
    return (select(*prefix, name.label("name"), Checkout.currency.label("currency"),
                   func.count().label("conversions"), charged.label("charged_minor"))
            .where(condition).group_by(*groups))


# Reading a range --------------------------------------------------------------------------------------


def span_month_index(column: Any, period: DateRange, span: tuple[datetime, datetime]) -> Any:
    """SQL for which of `period`'s months (0, 1, …) a time in `span` falls in: only the boundaries inside the span
    are compared, so a span within one month is a constant."""
    starts = [month_start(month) for month in period.months()]
    base = sum(1 for start in starts[1:] if start <= span[0])
    inner = [start for start in starts[1:] if span[0] < start < span[1]]
    if not inner:
        return literal(base)
    return case(*((column < start, base + i) for i, start in enumerate(inner)), else_=base + len(inner))


RevenueRow = tuple[int, str, str, int, int, int, int, int]


def revenue_rows(session: Session, period: DateRange, kind: PaymentKind, now: datetime | None) -> list[RevenueRow]:
    """Payments of `kind` per month of `period` (its index), currency and settlement currency: count, gross,
    fee, taken back, and net after what was taken back. Ended months from their rollups (with a `now`)."""
    parts = ready_split(session, period, now)
    rows: list[RevenueRow] = []
    if parts.months:
        index = {month: i for i, month in enumerate(period.months())}
        found = session.execute(
            select(RevenueRollup.month, RevenueRollup.currency, RevenueRollup.settlement_currency,
                   RevenueRollup.payments, RevenueRollup.gross_minor, RevenueRollup.fee_minor,
                   RevenueRollup.taken_back_minor, RevenueRollup.net_minor - RevenueRollup.settled_back_minor)
            .where(RevenueRollup.kind == kind.value, RevenueRollup.month.between(parts.months[0], parts.months[-1])))
        rows += [(index[month], currency, settled, *_ints(sums)) for month, currency, settled, *sums in found]
    for span in parts.live:
        month_column = span_month_index(Payment.paid_at, period, span).label("month")
        count, gross, fee, back, net, net_back = payment_sums()
        live = session.execute(
            select(month_column, Payment.currency, Payment.settlement_currency, count, gross, fee, back,
                   net - net_back)
            .where(Payment.kind == kind, in_span(Payment.paid_at, span))
            .group_by(month_column, Payment.currency, Payment.settlement_currency))
        rows += [(int(index), currency, settled, *_ints(sums)) for index, currency, settled, *sums in live]
    return rows


def _ints(values: Sequence[Any]) -> tuple[int, int, int, int, int]:
    count, gross, fee, back, net = (int(value or 0) for value in values)
    return count, gross, fee, back, net


def conversion_rows(session: Session, period: DateRange, dimension: str, now: datetime | None) -> Any:
    """A subquery of completed checkouts in `period` (name, currency, conversions, charged), not yet summed across
    months: the rollups of its ended months (with a `now`) and the aggregate of the rest."""
    parts = ready_split(session, period, now)
    selects: list[Any] = [conversions_select(dimension, span) for span in parts.live]
    if parts.months:
        selects.append(select(ConversionRollup.name, ConversionRollup.currency, ConversionRollup.conversions,
                              ConversionRollup.charged_minor)
                       .where(ConversionRollup.month.between(parts.months[0], parts.months[-1]),
                              ConversionRollup.dimension == dimension))
    if len(selects) == 1:
        return selects[0].subquery()
    return union_all(*selects).subquery()
