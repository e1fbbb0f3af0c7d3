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

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from membership.ballots.services import monthly_amount
from membership.giving.models import Membership, PaymentKind
from membership.staff.dashboard.services import DateRange, GiftRevenue, _next_month, gift_revenue


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
    end = datetime.combine(_next_month(month), time.min, UTC)
    return min(end, now)


def mrr_trend(session: Session, period: DateRange, now: datetime) -> list[MrrTrend]:
    """MRR per currency at the end of each month of `period` (the current month: now). One query."""
    months = period.months()
    moments = [_month_end(month, now) for month in months]
    columns = []
    for moment in moments:
        running = and_(Membership.started_at.is_not(None), Membership.started_at < moment,
                       or_(Membership.ended_at.is_(None), Membership.ended_at >= moment))
        columns += [func.sum(case((running, monthly_amount()), else_=0)), func.sum(case((running, 1), else_=0))]
    rows = session.execute(select(Membership.currency, *columns).group_by(Membership.currency)
                           .order_by(Membership.currency)).all()
    trends = []
    for currency, *values in rows:
        points = [MrrPoint(month, int(values[2 * i] or 0), int(values[2 * i + 1] or 0))
                  for i, month in enumerate(months)]
        if any(point.memberships for point in points):
            trends.append(MrrTrend(str(currency), points))
    return trends


def membership_revenue(session: Session, period: DateRange) -> list[GiftRevenue]:
    """Membership payments (first payments and renewals) per month and currency, as `gift_revenue` counts
    gifts: gross, Stripe's fees, refunds and disputes, and the net."""
    return gift_revenue(session, period, kind=PaymentKind.MEMBERSHIP)


def totals_by_currency(revenues: list[GiftRevenue]) -> dict[str, int]:
    """Net per settlement currency over the whole period (the section's summary line)."""
    totals: dict[str, int] = defaultdict(int)
    for revenue in revenues:
        totals[revenue.settlement_currency] += revenue.total().net_minor
    return dict(totals)
