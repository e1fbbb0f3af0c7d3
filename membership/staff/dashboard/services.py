"""The dashboard's figures, each from one aggregate query (GROUP BY month in SQL, never a loop over rows).

Services take plain values and a session and only read. Money stays in integer minor units per currency:
amounts in different currencies are never added together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from membership.ballots import services as ballot_services
from membership.db import plan_for_actual_values
from membership.giving.models import (
    Membership,
    MembershipStatus,
    PaymentKind,
    RefusedCheckoutReason,
    RefusedCheckouts,
)
from membership.i18n import lazy_gettext
from membership.patrons.services import patron_condition
from membership.staff.dashboard import rollups
from membership.staff.dashboard.periods import DateRange, month_index

TOP_SOURCES = 10
RECENT_COMMENTS = 10
# Memberships whose first payment never went through: they never made anyone a patron.
NEVER_STARTED = (MembershipStatus.INCOMPLETE, MembershipStatus.INCOMPLETE_EXPIRED)
# Stripe's cancellation feedback codes, in staff words.
CANCEL_REASON_LABELS = {
    "too_expensive": lazy_gettext("Too expensive"),
    "unused": lazy_gettext("Doesn't read enough"),
    "low_quality": lazy_gettext("Unhappy with the journalism"),
    "missing_features": lazy_gettext("Missing something"),
    "switched_service": lazy_gettext("Supporting someone else"),
    "customer_service": lazy_gettext("Bad support experience"),
    "too_complex": lazy_gettext("Too complicated to manage"),
    "other": lazy_gettext("Other reason"),
    "": lazy_gettext("No reason given"),
}


# Patrons now ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurrencyPatrons:
    currency: str
    patrons: int
    monthly_minor: int  # the monthly memberships' amounts
    yearly_minor: int  # the yearly memberships' amounts, per year

    @property
    def mrr_minor(self) -> int:
        """Monthly recurring revenue: monthly amounts plus yearly ones ÷ 12, rounded to the nearest minor unit."""
        return self.monthly_minor + (self.yearly_minor + 6) // 12


@dataclass(frozen=True)
class PatronsNow:
    total: int  # distinct supporters who are patrons (one may pay in two currencies)
    by_currency: list[CurrencyPatrons]


def patrons_now(session: Session, now: datetime, grace: timedelta) -> PatronsNow:
    """Active patrons and MRR per currency, by the one patron rule (`patron_condition`)."""
    # One scan of the memberships for both the per-currency figures and the total (a CTE both read).
    patrons = (select(Membership.currency, Membership.supporter_id, Membership.interval, Membership.amount_minor)
               .where(patron_condition(now, grace)).cte("patrons"))
    total = select(func.count(patrons.c.supporter_id.distinct())).scalar_subquery()
    rows = session.execute(
        select(
            patrons.c.currency,
            func.count(patrons.c.supporter_id.distinct()),
            func.sum(case((patrons.c.interval == "month", patrons.c.amount_minor), else_=0)),
            func.sum(case((patrons.c.interval == "year", patrons.c.amount_minor), else_=0)),
            total,
        )
        .group_by(patrons.c.currency)
        .order_by(patrons.c.currency)
    ).all()
    return PatronsNow(
        total=int(rows[0][4]) if rows else 0,
        by_currency=[CurrencyPatrons(code, int(n), int(monthly), int(yearly)) for code, n, monthly, yearly, _ in rows],
    )


# Patrons month by month -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatronMonth:
    month: date
    at_start: int  # memberships running when the month (or the range) began
    new: int
    churned: int

    @property
    def churn_rate(self) -> float | None:
        """Share of the memberships running at the start of the month that ended during it."""
        return self.churned / self.at_start if self.at_start else None


@dataclass(frozen=True)
class Movement:
    months: list[PatronMonth]

    @property
    def new(self) -> int:
        return sum(m.new for m in self.months)

    @property
    def churned(self) -> int:
        return sum(m.churned for m in self.months)

    @property
    def average_churn_rate(self) -> float | None:
        rates = [m.churn_rate for m in self.months if m.churn_rate is not None]
        return sum(rates) / len(rates) if rates else None


def _count_by_month(session: Session, column: Any, period: DateRange) -> list[int]:
    month = month_index(column, period).label("month")
    rows = session.execute(
        select(month, func.count())
        .where(period.contains(column), Membership.status.not_in(NEVER_STARTED))
        .group_by(month)
    )
    counts = [0] * len(period.months())
    for index, n in rows:
        counts[index] = int(n)
    return counts


def patron_movement(session: Session, period: DateRange) -> Movement:
    """New and churned patrons per month: memberships that started, and that ended, in each month.

    A membership counts from `started_at` until `ended_at` (when Stripe ended it). The count running at
    the start of each month follows from the one before: running + new - ended.
    """
    running = int(session.scalar(
        select(func.count()).select_from(Membership)
        .where(Membership.started_at < period.start, Membership.status.not_in(NEVER_STARTED),
               or_(Membership.ended_at.is_(None), Membership.ended_at >= period.start))
    ) or 0)
    started = _count_by_month(session, Membership.started_at, period)
    ended = _count_by_month(session, Membership.ended_at, period)
    months = []
    for month, new, churned in zip(period.months(), started, ended, strict=True):
        row = PatronMonth(month, running, new, churned)
        months.append(row)
        running += row.new - row.churned
    return Movement(months)


@dataclass(frozen=True)
class ReasonCount:
    code: str
    count: int

    @property
    def label(self) -> str:
        return str(CANCEL_REASON_LABELS.get(self.code, self.code))


@dataclass(frozen=True)
class CancelComment:
    canceled_at: datetime | None
    reason: str
    comment: str


@dataclass(frozen=True)
class Cancellations:
    reasons: list[ReasonCount]
    comments: list[CancelComment]

    @property
    def total(self) -> int:
        return sum(r.count for r in self.reasons)


def cancellations(session: Session, period: DateRange) -> Cancellations:
    """Why patrons cancelled (Stripe's feedback codes), for cancellations made in the range; newest comments."""
    rows = session.execute(
        select(Membership.cancel_reason, func.count())
        .where(period.contains(Membership.canceled_at))
        .group_by(Membership.cancel_reason)
        .order_by(func.count().desc(), Membership.cancel_reason)
    )
    comments = session.execute(
        select(Membership.canceled_at, Membership.cancel_reason, Membership.cancel_comment)
        .where(period.contains(Membership.canceled_at), Membership.cancel_comment != "")
        .order_by(Membership.canceled_at.desc())
        .limit(RECENT_COMMENTS)
    )
    return Cancellations(
        reasons=[ReasonCount(code, int(n)) for code, n in rows],
        comments=[CancelComment(at, str(CANCEL_REASON_LABELS.get(code, code)), text) for at, code, text in comments],
    )


# One-time gifts ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GiftMonth:
    month: date
    gifts: int = 0
    gross_minor: int = 0
    fee_minor: int = 0  # in the settlement currency
    refunded_minor: int = 0  # refunded, or held by an open or lost dispute
    net_minor: int = 0  # after Stripe's fee and the refunds, in the settlement currency


@dataclass(frozen=True)
class GiftRevenue:
    """Gifts charged in `currency` and settled in `settlement_currency` (the same, unless Stripe converted them):
    gross and refunds in the first, Stripe's fees and the net in the second."""

    currency: str
    months: list[GiftMonth]
    settlement_currency: str

    @property
    def converted(self) -> bool:
        return self.settlement_currency != self.currency

    @property
    def key(self) -> str:
        """`EUR`, or `UAH-EUR` for gifts in UAH settled in EUR."""
        return f"{self.currency}-{self.settlement_currency}" if self.converted else self.currency

    def total(self) -> GiftMonth:
        return GiftMonth(
            self.months[0].month if self.months else date.min,
            gifts=sum(m.gifts for m in self.months),
            gross_minor=sum(m.gross_minor for m in self.months),
            fee_minor=sum(m.fee_minor for m in self.months),
            refunded_minor=sum(m.refunded_minor for m in self.months),
            net_minor=sum(m.net_minor for m in self.months),
        )


def gift_revenue(session: Session, period: DateRange, kind: PaymentKind = PaymentKind.GIFT, *,
                 now: datetime | None = None) -> list[GiftRevenue]:
    """One-time gifts per month, charge currency and settlement currency: gross, Stripe's fees, refunds and
    disputes, and what is left.

    Stripe keeps its fee when a charge is refunded, so net = Stripe's net - refunded. A disputed gift
    counts as taken back in full until the dispute is won. Fees and net are in the settlement currency;
    a refund of a converted gift is taken off the net at the gift's own rate (settled ÷ charged).
    With `now`, the months that ended before it come from their rollups (`rollups`); the figures are the same.
    """
    months = period.months()
    found: dict[tuple[str, str], dict[int, tuple[int, int, int, int, int]]] = defaultdict(dict)
    for index, currency, settled_in, *sums in rollups.revenue_rows(session, period, kind, now):
        before = found[currency, settled_in].get(index, (0, 0, 0, 0, 0))
        found[currency, settled_in][index] = tuple(x + y for x, y in zip(before, sums, strict=True))  # type: ignore[assignment]
    return [
        GiftRevenue(currency, [GiftMonth(month, *found[currency, settled_in].get(index, (0, 0, 0, 0, 0)))
                               for index, month in enumerate(months)], settled_in)
        for currency, settled_in in sorted(found)
    ]


# Sources ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceRow:
    name: str
    conversions: int
    revenue_minor: dict[str, int] = field(default_factory=dict)  # currency → first payments


@dataclass(frozen=True)
class Sources:
    articles: list[SourceRow]
    campaigns: list[SourceRow]
    conversions: int  # every completed checkout in the range
    without_source: int  # of which no article was recorded
    without_campaign: int


def top_sources(session: Session, period: DateRange, currencies: Sequence[str], rank_currency: str = "", *,
                now: datetime | None = None) -> Sources:
    """The articles (`?source=`) and campaigns (`utm_campaign`) whose checkouts completed most in the range.

    A conversion is a completed checkout; its revenue is what that checkout charged (the gift, or the
    membership's first payment), summed per currency. Ranked by conversions, or by revenue in
    `rank_currency` when one is given. With `now`, ended months come from their rollups (`rollups`).
    """

    def ranked(dimension: str) -> tuple[list[SourceRow], int]:
        """The top rows, and how many conversions had this column set at all (a window over every group)."""
        rows = rollups.conversion_rows(session, period, dimension, now)
        conversions = func.sum(rows.c.conversions)
        revenue = [func.sum(case((rows.c.currency == code, rows.c.charged_minor), else_=0)) for code in currencies]
        order: list[Any] = [conversions.desc()]
        if rank_currency in currencies:
            order.insert(0, revenue[list(currencies).index(rank_currency)].desc())
        found = session.execute(
            select(rows.c.name, conversions, func.sum(conversions).over(), *revenue)
            .group_by(rows.c.name)
            .order_by(*order, rows.c.name)
            .limit(TOP_SOURCES)
        ).all()
        top = [SourceRow(row[0], int(row[1]), {code: int(value) for code, value in zip(currencies, row[3:],
                                                                                      strict=True)})
               for row in found]
        return top, int(found[0][2]) if found else 0

    every = rollups.conversion_rows(session, period, rollups.ALL, now)
    total = int(session.scalar(select(func.sum(every.c.conversions))) or 0)
    articles, with_source = ranked(rollups.ARTICLE)
    campaigns, with_campaign = ranked(rollups.CAMPAIGN)
    return Sources(articles=articles, campaigns=campaigns, conversions=total, without_source=total - with_source,
                   without_campaign=total - with_campaign)


# Ballot turnout ------------------------------------------------------------------------------------------

RECENT_BALLOTS = 5


@dataclass(frozen=True)
class BallotTurnout:
    ballot_id: int
    title: str
    closes_at: datetime
    open: bool
    voters: int
    eligible: int

    @property
    def turnout(self) -> float | None:
        return self.voters / self.eligible if self.eligible else None


def ballot_turnout(session: Session, now: datetime, grace: timedelta) -> list[BallotTurnout]:
    """Voters, eligible patrons and turnout of the most recently opened ballots (aggregates only)."""
    rows = []
    for ballot in ballot_services.recent_ballots(session, now, RECENT_BALLOTS):
        voters, eligible = ballot_services.turnout(session, ballot, now, grace)
        rows.append(BallotTurnout(ballot.id, ballot.title, ballot.closes_at, ballot.closes_at > now, voters, eligible))
    return rows


# Everything on the page --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    period: DateRange
    patrons: PatronsNow
    movement: Movement
    cancellations: Cancellations
    gifts: list[GiftRevenue]
    sources: Sources
    ballots: list[BallotTurnout] = field(default_factory=list)
    refused: RefusedTotals = field(default_factory=lambda: RefusedTotals(0, 0))


@dataclass(frozen=True)
class RefusedTotals:
    """New checkouts refused by the limits against card testing: past the IP's limit, past the address's."""

    per_ip: int
    per_address: int

    @property
    def total(self) -> int:
        return self.per_ip + self.per_address


def refused_checkouts(session: Session, period: DateRange) -> RefusedTotals:
    """How many new checkouts the limits refused on the days of `period`, by reason."""
    rows = session.execute(
        select(RefusedCheckouts.reason, func.sum(RefusedCheckouts.attempts))
        .where(RefusedCheckouts.day >= period.first, RefusedCheckouts.day <= period.last)
        .group_by(RefusedCheckouts.reason)
    ).all()
    sums = {reason: int(total or 0) for reason, total in rows}
    return RefusedTotals(per_ip=sums.get(RefusedCheckoutReason.IP, 0),
                         per_address=sums.get(RefusedCheckoutReason.ADDRESS, 0))


def dashboard(session: Session, period: DateRange, *, now: datetime, grace: timedelta, currencies: Sequence[str],
              rank_currency: str = "") -> Dashboard:
    """Every figure the dashboard shows for `period` (patrons now are as of `now`).

    Its aggregates read partial indexes, which only plans made for the actual values use (see
    `plan_for_actual_values`)."""
    plan_for_actual_values(session)
    return Dashboard(
        period=period,
        patrons=patrons_now(session, now, grace),
        movement=patron_movement(session, period),
        cancellations=cancellations(session, period),
        gifts=gift_revenue(session, period, now=now),
        sources=top_sources(session, period, currencies, rank_currency, now=now),
        ballots=ballot_turnout(session, now, grace),
        refused=refused_checkouts(session, period),
    )
