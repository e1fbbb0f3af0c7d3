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
from typing import Any

from sqlalchemy import case, func, select
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

    One aggregate over the memberships, not one column per month: grouped by the first month's end each
    membership was running at and the first it no longer was, so a group adds its amount from the one and takes
    it away from the other, summed month after month. A membership ended before its start counts as ending when
    it started (it never ran)."""
    moments = [_month_end(month, now) for month in period.months()]
    started = Membership.started_at
    # NULL while it runs; a membership ended before its start ends when it started.
    ended = case((Membership.ended_at > started, Membership.ended_at), (Membership.ended_at.is_not(None), started))

    def first_after(column: Any) -> Any:
        """The first of `moments` later than the time (None if none is): it counts from that month's end on."""
        return case(*((column < moment, index) for index, moment in enumerate(moments)))

    joined, left = first_after(started).label("joined"), first_after(ended).label("left")
    rows = session.execute(select(Membership.currency, joined, left, func.sum(monthly_amount()), func.count())
                           .where(started.is_not(None), started < moments[-1])
                           .group_by(Membership.currency, joined, left))
    changes: dict[str, list[list[int]]] = defaultdict(lambda: [[0] * len(moments), [0] * len(moments)])
    for currency, start, end, amount, count in rows:
        for index, sign in ((start, 1), (end, -1)):
            if index is not None:  # ended after the last moment, or running: never taken away
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
