"""The dashboard's trends: MRR at each month's end, per currency, and membership revenue per month."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta

from flask import Flask
from flask.testing import FlaskClient

from membership.db import db
from membership.giving.models import MembershipStatus, PaymentKind, PaymentStatus
from membership.staff.accounts.models import Role
from membership.staff.dashboard.periods import DateRange
from membership.staff.dashboard.trends import membership_revenue, mrr_trend, totals_by_currency
from tests.support.helpers import text
from tests.support.reports import add_membership, add_payment, add_supporter, at

PERIOD = DateRange(date(2026, 1, 1), date(2026, 4, 30))
NOW = at("2026-04-15 12:00")


def test_mrr_at_each_months_end_counts_running_memberships_at_a_twelfth_for_yearly(app: Flask) -> None:
    olena, taras, iryna, mykola = (add_supporter(f"{n}@example.org") for n in ("olena", "taras", "iryna", "mykola"))
    add_membership(olena, 1000, started="2025-12-10")                      # all along
    add_membership(taras, 12000, interval="year", started="2026-02-05")    # from February: 10.00 a month
    add_membership(iryna, 500, started="2026-01-20", status=MembershipStatus.CANCELED,
                   ended_at=at("2026-03-10"))                                # January and February only
    add_membership(mykola, 20000, currency="UAH", started="2026-03-01")     # another currency, apart
    db.session.commit()
    trends = {trend.currency: trend for trend in mrr_trend(db.session(), PERIOD, NOW)}
    assert [p.mrr_minor for p in trends["EUR"].points] == [1500, 2500, 2000, 2000]
    assert [p.memberships for p in trends["EUR"].points] == [2, 3, 2, 2]
    assert [p.mrr_minor for p in trends["UAH"].points] == [0, 0, 20000, 20000]


def test_a_membership_started_after_now_is_not_counted_in_the_current_month(app: Flask) -> None:
    add_membership(add_supporter("late@example.org"), 700, started="2026-04-20")
    db.session.commit()
    assert mrr_trend(db.session(), PERIOD, NOW) == []  # no month of the period had it running


def test_membership_revenue_counts_membership_payments_only_with_refunds_taken_off(app: Flask) -> None:
    olena = add_supporter("olena@example.org")
    add_payment(olena, 1000, "2026-01-05", kind=PaymentKind.MEMBERSHIP, fee_minor=40)
    add_payment(olena, 1000, "2026-02-05", kind=PaymentKind.MEMBERSHIP, fee_minor=40,
                status=PaymentStatus.PARTIALLY_REFUNDED, refunded_minor=300)
    add_payment(olena, 5000, "2026-02-07", kind=PaymentKind.GIFT, fee_minor=100)  # a gift: not here
    db.session.commit()
    (revenue,) = membership_revenue(db.session(), PERIOD)
    assert [m.gross_minor for m in revenue.months] == [1000, 1000, 0, 0]
    assert [m.net_minor for m in revenue.months] == [960, 660, 0, 0]
    assert totals_by_currency([revenue]) == {"EUR": 1620}


def test_the_dashboard_shows_the_trend_and_membership_revenue_with_section_links(
        app: Flask, staff_client: Callable[[Role], FlaskClient]) -> None:
    olena = add_supporter("olena@example.org")
    add_membership(olena, 1000, started="2025-12-10")
    add_payment(olena, 1000, "2026-02-05", kind=PaymentKind.MEMBERSHIP, fee_minor=40)
    db.session.commit()
    page = text(staff_client(Role.ADMIN).get("/staff/dashboard?from=2026-01-01&to=2026-03-31"))
    assert 'href="#mrr"' in page and 'href="#membership-revenue"' in page and 'id="chart-mrr-eur"' in page
    assert "Monthly recurring revenue in EUR at the end of each month" in page
    assert "Membership payments in EUR per month" in page and "€9.60" in page


def test_mrr_equals_counting_the_running_memberships_at_each_months_end(app: Flask) -> None:
    rng = random.Random(7)
    memberships = []
    for n in range(60):
        membership = add_membership(add_supporter(f"reader{n}@example.org"), rng.choice([300, 500, 12000]),
                                    currency=rng.choice(["EUR", "UAH"]), interval=rng.choice(["month", "year"]))
        membership.started_at = rng.choice([at("2026-02-01"), at("2025-11-20"),
                                            at("2026-01-01") + timedelta(hours=rng.randrange(24 * 120))])
        membership.ended_at = rng.choice([None, None, at("2026-03-01"), at("2025-12-31"),
                                          at("2026-01-01") + timedelta(hours=rng.randrange(24 * 120))])
        memberships.append(membership)
    db.session.commit()
    expected: dict[str, list[tuple[int, int]]] = {}
    for month in PERIOD.months():
        moment = min(at(f"{month.year + month.month // 12}-{month.month % 12 + 1:02d}-01"), NOW)
        for currency in ("EUR", "UAH"):
            running = [m for m in memberships if m.currency == currency and m.started_at is not None
                       and m.started_at < moment and (m.ended_at is None or m.ended_at >= moment)]
            expected.setdefault(currency, []).append(
                (sum(m.amount_minor // 12 if m.interval == "year" else m.amount_minor for m in running), len(running)))
    trends = {trend.currency: [(p.mrr_minor, p.memberships) for p in trend.points]
              for trend in mrr_trend(db.session(), PERIOD, NOW)}
    assert trends == {code: points for code, points in expected.items() if any(n for _, n in points)}
