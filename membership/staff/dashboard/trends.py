"""The dashboard's trends: monthly recurring revenue at the end of each month, and membership revenue per month.

MRR at a moment is what the memberships running then bring in a month (a yearly membership counts a twelfth), at
their amounts today (a patron who changed their amount counts the new amount back to their start). A membership
runs from its start until it ended; one still in its grace period after a failed renewal counts as running,
as it does for the patron count. Both are per currency: amounts in different currencies are never added up.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from itertools import accumulate

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from membership.ballots.services import monthly_amount
from membership.giving.models import Membership, PaymentKind
from membership.staff.dashboard.periods import DateRange, next_month
from membership.staff.dashboard.services import GiftRevenue, gift_revenue


@dataclass(frozen=True)
class MrrPoint:
    month: date  # the month whose end it is measured at (or now, for the current month)
    mrr_minor: int
    memberships: int


@dataclass(frozen=True)
class MrrTrend:
    currency: str
    points: list[MrrPoint]


def _month_end(month: date, now: datetime) -> datetime:
    end = datetime.combine(next_month(month), time.min, UTC)
    return min(end, now)


def mrr_trend(session: Session, period: DateRange, now: datetime) -> list[MrrTrend]:
    """MRR per currency at the end of each month of `period` (the current month: now).

    Two aggregates, not one column per month: what the memberships that started before each month's end add, less
    what those that had also ended by then take away, summed month after month. A membership ended before its
    start counts as ending when it started (it never ran)."""
    moments = [_month_end(month, now) for month in period.months()]
    started = Membership.started_at
    ended = case((Membership.ended_at > started, Membership.ended_at), else_=started)
    changes: dict[str, list[list[int]]] = defaultdict(lambda: [[0] * len(moments), [0] * len(moments)])
    for column, sign, condition in ((started, 1, started.is_not(None)),
                                    (ended, -1, and_(started.is_not(None), Membership.ended_at.is_not(None)))):
        # The first moment after the time: the membership counts (or no longer counts) from that month's end on.
        first = case(*((column < moment, index) for index, moment in enumerate(moments))).label("first")
        rows = session.execute(select(Membership.currency, first, func.sum(monthly_amount()), func.count())
                               .where(condition, column < moments[-1]).group_by(Membership.currency, first))
        for currency, index, amount, count in rows:
            changes[currency][0][index] += sign * int(amount or 0)
            changes[currency][1][index] += sign * int(count)
    trends = []
    for currency in sorted(changes):
        amounts, counts = (list(accumulate(values)) for values in changes[currency])
        points = [MrrPoint(month, amount, count)
                  for month, amount, count in zip(period.months(), amounts, counts, strict=True)]
        if any(point.memberships for point in points):
            trends.append(MrrTrend(str(currency), points))
    return trends


def membership_revenue(session: Session, period: DateRange, now: datetime | None = None) -> list[GiftRevenue]:
    """Membership payments (first payments and renewals) per month and currency, as `gift_revenue` counts
    gifts: gross, Stripe's fees, refunds and disputes, and the net (ended months from their rollups, with `now`)."""
    return gift_revenue(session, period, kind=PaymentKind.MEMBERSHIP, now=now)


def totals_by_currency(revenues: list[GiftRevenue]) -> dict[str, int]:
    """Net per settlement currency over the whole period (the section's summary line)."""
    totals: dict[str, int] = defaultdict(int)
    for revenue in revenues:
        totals[revenue.settlement_currency] += revenue.total().net_minor
    return dict(totals)
