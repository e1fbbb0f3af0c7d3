"""The dashboard's rollups: figures read from precomputed ended months equal a straight aggregate over the rows,
after late refunds, disputes and backdated payments too, and two refreshes never count a month twice."""

from __future__ import annotations

import random
import threading
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from membership.db import db, utcnow
from membership.giving.models import Checkout, CheckoutStatus, Payment, PaymentKind, PaymentStatus
from membership.giving.month_changes import ChangedMonth
from membership.staff.dashboard import rollups, services
from membership.staff.dashboard.models import ConversionRollup, RevenueRollup, RollupMonth
from membership.staff.dashboard.periods import DateRange, default_range
from membership.staff.dashboard.trends import membership_revenue
from membership.supporters.models import Supporter
from tests.support.reports import add_checkout, add_payment, add_supporter, at

NOW = at("2026-06-17 10:00")  # June is current; January to May have ended
CURRENCIES = ["EUR", "USD", "UAH"]
ARTICLES = ["https://news.example.org/a", "https://news.example.org/b", "https://news.example.org/c", ""]
CAMPAIGNS = ["spring", "autumn", ""]
RANGES = [
    DateRange(date(2026, 1, 1), date(2026, 6, 17)),   # whole months, then the current one
    DateRange(date(2026, 1, 15), date(2026, 4, 10)),  # partial first and last months
    DateRange(date(2026, 2, 1), date(2026, 5, 31)),   # ended months only
    DateRange(date(2026, 3, 31), date(2026, 4, 1)),   # two days across a month boundary
    DateRange(date(2025, 12, 1), date(2026, 7, 31)),  # past both ends of the data
    default_range(NOW.date()),
]


def _moment(rng: random.Random) -> datetime:
    """A time from December 2025 to June 2026, often right at a month's first or last instant (UTC)."""
    month = rng.choice([date(2025, 12, 1), *(date(2026, m, 1) for m in range(1, 7))])
    start = at(month.isoformat())
    roll = rng.random()
    if roll < 0.2:
        return start
    if roll < 0.4:
        return start - timedelta(microseconds=1)  # the previous month's last instant
    return start + timedelta(seconds=rng.randrange(28 * 24 * 3600))


def _payment(rng: random.Random, supporter: Supporter) -> Payment:
    currency = rng.choice(CURRENCIES)
    amount = rng.choice([500, 1000, 2500, 20000])
    status = rng.choice([PaymentStatus.PAID] * 5 + [PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED,
                                                   PaymentStatus.DISPUTED])
    refunded = {PaymentStatus.PARTIALLY_REFUNDED: amount // 3, PaymentStatus.REFUNDED: amount}.get(status, 0)
    payment = add_payment(supporter, amount, "2026-01-01", currency=currency, status=status, refunded_minor=refunded,
                          kind=rng.choice(list(PaymentKind)), fee_minor=amount // 40 + 25)
    payment.paid_at = _moment(rng)
    if currency == "UAH" and rng.random() < 0.5:  # settled in EUR at about 1/45
        payment.settlement_currency, payment.fee_minor = "EUR", 30
        payment.net_minor = amount // 45 - 30
    return payment


def _checkout(rng: random.Random, supporter: Supporter) -> None:
    status = rng.choice([CheckoutStatus.COMPLETED] * 4 + [CheckoutStatus.EXPIRED])
    checkout = add_checkout(supporter, rng.choice([500, 1000, 2500]), currency=rng.choice(CURRENCIES), status=status,
                            source_url=rng.choice(ARTICLES), utm_campaign=rng.choice(CAMPAIGNS),
                            fee_cover_minor=rng.choice([0, 0, 45]))
    checkout.completed_at = _moment(rng)


def _random_data(seed: int) -> list[Payment]:
    rng = random.Random(seed)
    supporters = [add_supporter(f"reader{n}@example.org") for n in range(8)]
    payments = [_payment(rng, rng.choice(supporters)) for _ in range(120)]
    for _ in range(80):
        _checkout(rng, rng.choice(supporters))
    db.session.commit()
    return payments


def _assert_rollups_equal_the_rows() -> None:
    session = db.session()
    for period in RANGES:
        for kind in PaymentKind:
            assert (services.gift_revenue(session, period, kind, now=NOW)
                    == services.gift_revenue(session, period, kind)), (period, kind)
        for rank in ("", "EUR", "UAH"):
            assert (services.top_sources(session, period, CURRENCIES, rank, now=NOW)
                    == services.top_sources(session, period, CURRENCIES, rank)), (period, rank)
    assert membership_revenue(session, RANGES[0], NOW) == membership_revenue(session, RANGES[0])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_figures_from_rollups_equal_a_straight_aggregate_before_and_after_late_changes(app: Flask, seed: int) -> None:
    payments = _random_data(seed)
    _assert_rollups_equal_the_rows()
    db.session.commit()  # the rollups the first views made, and every row expired: changes load old values
    # January to May were rolled up (the current month never is).
    assert set(db.session.scalars(sa.select(RollupMonth.month))) >= {date(2026, m, 1) for m in range(1, 6)}
    assert date(2026, 6, 1) not in set(db.session.scalars(sa.select(RollupMonth.month)))

    rng = random.Random(seed + 100)
    old = [p for p in payments if p.paid_at < at("2026-06-01") and p.status == PaymentStatus.PAID]
    refunded, disputed = old[0], old[1]
    refunded.refunded_minor, refunded.status = refunded.amount_minor, PaymentStatus.REFUNDED  # a late refund
    disputed.status = PaymentStatus.DISPUTED  # a late dispute
    old[2].paid_at = at("2026-04-30 23:59:59.999999")  # moved to another ended month
    failed = db.session.scalars(sa.select(Checkout).where(Checkout.status == CheckoutStatus.COMPLETED,
                                                          Checkout.completed_at < at("2026-06-01"))).first()
    assert failed is not None
    failed.status = CheckoutStatus.FAILED  # its payment failed after the checkout completed
    reader = add_supporter("late@example.org")
    late = add_payment(reader, 7700, "2026-02-28 23:59:59", currency="USD")  # a backdated payment
    add_checkout(reader, 900, completed="2026-03-01", source_url=ARTICLES[0], utm_campaign="spring")
    for _ in range(5):
        _checkout(rng, reader)
    db.session.commit()
    _assert_rollups_equal_the_rows()
    assert late.id  # it is counted in February, which was rolled up before it came


def test_the_dashboard_reads_an_ended_month_from_its_rollup(app: Flask) -> None:
    reader = add_supporter("olena@example.org")
    add_payment(reader, 1000, "2026-02-10", fee_minor=40)
    add_checkout(reader, 1000, completed="2026-02-10", source_url=ARTICLES[0])
    db.session.commit()
    february = DateRange(date(2026, 2, 1), date(2026, 2, 28))
    (revenue,) = services.gift_revenue(db.session(), february, now=NOW)
    assert revenue.total().gross_minor == 1000
    # Changed behind the counter's back (no write path does this): the figure read is the rollup's.
    db.session.execute(sa.update(RevenueRollup).values(gross_minor=1234))
    db.session.execute(sa.update(ConversionRollup).values(conversions=7))
    (revenue,) = services.gift_revenue(db.session(), february, now=NOW)
    assert revenue.total().gross_minor == 1234
    assert services.top_sources(db.session(), february, ["EUR"], now=NOW).articles[0].conversions == 7


def test_writes_to_an_ended_month_count_as_changes_and_the_current_month_notes_nothing(app: Flask) -> None:
    reader = add_supporter("olena@example.org")
    february = add_payment(reader, 1000, "2026-02-10")
    add_payment(reader, 1000, utcnow().strftime("%Y-%m-%d"))  # this month: no change noted
    db.session.commit()

    def changes() -> dict[date, int]:
        return {row.month: row.changes for row in db.session.scalars(sa.select(ChangedMonth))}

    assert changes() == {date(2026, 2, 1): 1}
    february.refunded_minor, february.status = 400, PaymentStatus.PARTIALLY_REFUNDED
    db.session.commit()
    assert changes() == {date(2026, 2, 1): 2}
    february.receipt_url = "https://invoice.example.org/1"  # not a figure the dashboard sums
    db.session.commit()
    assert changes() == {date(2026, 2, 1): 2}
    february.paid_at = at("2026-03-05")  # moved: both months change
    db.session.commit()
    assert changes() == {date(2026, 2, 1): 3, date(2026, 3, 1): 1}


def test_refreshing_a_month_twice_replaces_its_rows(app: Flask) -> None:
    reader = add_supporter("olena@example.org")
    add_payment(reader, 1000, "2026-02-10")
    add_checkout(reader, 1000, completed="2026-02-10", source_url=ARTICLES[0], utm_campaign="spring")
    db.session.commit()
    assert rollups.refresh_closed_months(db.session(), NOW) == 4  # February to May
    assert rollups.refresh_closed_months(db.session(), NOW) == 0  # none changed since
    for _ in range(2):
        rollups.refresh_months(db.session(), [date(2026, 2, 1)], NOW)
        db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RevenueRollup)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ConversionRollup)) == 3  # all, article, campaign


def test_two_refreshers_of_a_month_at_once_count_it_once(app: Flask) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite lets one writer in at a time: no two refreshes can interleave")
    reader = add_supporter("olena@example.org")
    add_payment(reader, 1000, "2026-02-10")
    add_checkout(reader, 1000, completed="2026-02-10", source_url=ARTICLES[0])
    db.session.commit()
    month = [date(2026, 2, 1)]
    first, second = Session(db.engine), Session(db.engine)
    rollups.refresh_months(first, month, NOW)  # holds the month's row until it commits
    done = threading.Event()

    def refresh_second() -> None:
        rollups.refresh_months(second, month, NOW)
        second.commit()
        done.set()

    thread = threading.Thread(target=refresh_second)
    thread.start()
    assert not done.wait(1.0)  # waiting for the first refresher's month row
    first.commit()
    thread.join(30)
    assert done.is_set()
    first.close()
    second.close()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RevenueRollup)) == 1
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ConversionRollup)) == 2
    (revenue,) = services.gift_revenue(db.session(), DateRange(month[0], date(2026, 2, 28)), now=NOW)
    assert revenue.total().gross_minor == 1000


def test_jobs_run_rolls_up_the_ended_months_once(app: Flask) -> None:
    add_payment(add_supporter("olena@example.org"), 1000, "2026-02-10")
    db.session.commit()
    first = app.test_cli_runner().invoke(args=["jobs", "run"])
    assert first.exit_code == 0, first.output
    assert "Dashboard months rolled up (ended, or changed since): 0" not in first.output
    assert date(2026, 2, 1) in set(db.session.scalars(sa.select(RollupMonth.month)))
    second = app.test_cli_runner().invoke(args=["jobs", "run"])
    assert "Dashboard months rolled up (ended, or changed since): 0." in second.output
