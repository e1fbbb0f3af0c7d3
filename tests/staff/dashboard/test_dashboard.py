"""The dashboard on a small known dataset: every figure, in its table, next to its chart."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership.db import db, utcnow
from membership.giving.forms import SOURCE_MAX
from membership.giving.models import Checkout, CheckoutStatus, MembershipStatus, PaymentKind, PaymentStatus
from membership.staff.accounts.models import Role
from membership.staff.dashboard import periods, services
from stripe_double import DoubleServer
from tests.support.giving import pay, settle, start_gift
from tests.support.helpers import text
from tests.support.reports import add_checkout, add_membership, add_payment, add_supporter, at, tables, words

RANGE = "from=2026-01-01&to=2026-03-31"


@pytest.fixture
def dataset(app: Flask) -> None:
    a, b, c, d, e, f, g = (add_supporter(f"{n}@example.org", n.title()) for n in "abcdefg")
    now = utcnow()
    # Patrons now: A (monthly), B (yearly), D (past due inside the 7-day grace).
    add_membership(a, 500, started="2025-12-10")
    add_membership(b, 12000, interval="year", started="2026-01-15 09:00")
    add_membership(c, 300, currency="USD", status=MembershipStatus.CANCELED, started="2025-11-05",
                   canceled_at=at("2026-02-03"), ended_at=at("2026-02-20"), cancel_reason="too_expensive",
                   cancel_comment="Money is tight this year")
    add_membership(d, 1000, status=MembershipStatus.PAST_DUE, started="2026-02-01",
                   past_due_since=now - timedelta(days=2))
    # Not patrons: past due too long; never paid; cancelled at a period end that has passed.
    add_membership(e, 700, status=MembershipStatus.PAST_DUE, started="2026-03-10",
                   past_due_since=now - timedelta(days=30))
    add_membership(f, 400, status=MembershipStatus.INCOMPLETE_EXPIRED, started="2026-03-01")
    add_membership(g, 500, currency="GBP", started="2025-06-01", cancel_at_period_end=True,
                   period_end="2026-04-01", canceled_at=at("2026-03-05"))
    # One-time gifts in the range, and some that must not count.
    add_payment(a, 2500, "2026-01-05", fee_minor=63)
    add_payment(b, 1000, "2026-01-20", fee_minor=40, status=PaymentStatus.REFUNDED, refunded_minor=1000)
    add_payment(c, 5000, "2026-02-10", fee_minor=100, status=PaymentStatus.PARTIALLY_REFUNDED, refunded_minor=2000)
    add_payment(d, 3000, "2026-02-11", fee_minor=70, status=PaymentStatus.DISPUTED)
    add_payment(e, 2000, "2026-03-31 23:59:59", currency="USD", fee_minor=88)
    add_payment(a, 5000, "2025-12-31 23:59:59")
    add_payment(a, 5000, "2026-04-01 00:00")
    add_payment(a, 500, "2026-01-10", kind=PaymentKind.MEMBERSHIP)
    # Checkouts: four conversions in the range.
    frontline, energy = "https://news.example/frontline", "https://news.example/energy"
    add_checkout(a, 2500, completed="2026-01-05", source_url=frontline, utm_campaign="winter")
    add_checkout(b, 1000, fee_cover_minor=41, completed="2026-01-20", source_url=frontline)
    add_checkout(e, 2000, currency="USD", completed="2026-03-31 12:00", source_url=energy, utm_campaign="winter")
    add_checkout(c, 5000, completed="2026-02-10", utm_campaign="newsletter")
    add_checkout(f, 9900, status=CheckoutStatus.OPEN, source_url=energy)
    add_checkout(a, 9900, completed="2025-12-20", source_url=frontline)
    db.session.commit()


def page_tables(client: FlaskClient, query: str = RANGE) -> dict[str, list[list[str]]]:
    response = client.get(f"/staff/dashboard?{query}")
    assert response.status_code == 200
    return tables(text(response))


def test_patrons_now_and_mrr_per_currency(staff_client: Callable[[Role], FlaskClient], dataset: None) -> None:
    client = staff_client(Role.ANALYST)
    page = text(client.get(f"/staff/dashboard?{RANGE}"))
    assert "3 active patrons today" in words(page)
    rows = tables(page)["Active patrons and monthly recurring revenue (MRR) per currency"]
    # EUR: A €5/month + D €10/month (past due 2 days) + B €120/year ÷ 12 = €25.00. USD ended, GBP lapsed.
    assert rows[1:] == [["EUR", "3", "€15.00", "€120.00", "€25.00"]]


def test_new_and_churned_patrons_and_churn_rate(staff_client: Callable[[Role], FlaskClient], dataset: None) -> None:
    client = staff_client(Role.ANALYST)
    page = text(client.get(f"/staff/dashboard?{RANGE}"))
    assert "3 new, 1 churned in this period; average monthly churn rate 8.3%" in words(page)
    found = tables(page)
    assert found["New and churned patrons per month"][1:] == [
        ["January 2026", "3", "1", "0"],
        ["February 2026", "4", "1", "1"],
        ["March 2026", "4", "1", "0"],
    ]
    assert found["Monthly churn rate: churned ÷ running at the start of the month"][1:] == [
        ["January 2026", "0", "3", "0.0%"],
        ["February 2026", "1", "4", "25.0%"],
        ["March 2026", "0", "4", "0.0%"],
    ]


def test_cancellation_reasons_and_comments(staff_client: Callable[[Role], FlaskClient], dataset: None) -> None:
    found = page_tables(staff_client(Role.ANALYST))
    assert found["Cancellations by reason"][1:] == [["No reason given", "1", "50.0%"],
                                                    ["Too expensive", "1", "50.0%"]]
    assert found["Latest comments from cancelling patrons"][1:] == [
        ["2026-02-03", "Too expensive", "Money is tight this year"]]


def test_one_time_revenue_fees_and_net_per_month(staff_client: Callable[[Role], FlaskClient], dataset: None) -> None:
    found = page_tables(staff_client(Role.ANALYST))
    # January: €25 + €10 (refunded); February: €50 (€20 refunded) + €30 (disputed); Stripe keeps its fees.
    assert found["One-time gifts in EUR per month"][1:] == [
        ["January 2026", "2", "€35.00", "€1.03", "€10.00", "€23.97"],
        ["February 2026", "2", "€80.00", "€1.70", "€50.00", "€28.30"],
        ["March 2026", "0", "€0.00", "€0.00", "€0.00", "€0.00"],
        ["Total", "4", "€115.00", "€2.73", "€60.00", "€52.27"],
    ]
    assert found["One-time gifts in USD per month"][-2:] == [
        ["March 2026", "1", "$20.00", "$0.88", "$0.00", "$19.12"],
        ["Total", "1", "$20.00", "$0.88", "$0.00", "$19.12"],
    ]


def test_top_sources_by_conversions_and_by_revenue(staff_client: Callable[[Role], FlaskClient],
                                                   dataset: None) -> None:
    client = staff_client(Role.ANALYST)
    page = text(client.get(f"/staff/dashboard?{RANGE}"))
    assert "4 completed checkouts in this period; 1 without an article and 1 without a campaign" in words(page)
    found = tables(page)
    header = ["Conversions", "Revenue EUR", "Revenue USD", "Revenue GBP", "Revenue UAH"]
    assert found["Top articles by conversions"] == [
        ["Article", *header],
        ["https://news.example/frontline", "2", "€35.41", "$0.00", "£0.00", "UAH 0.00"],
        ["https://news.example/energy", "1", "€0.00", "$20.00", "£0.00", "UAH 0.00"],
    ]
    assert [row[:2] for row in found["Top campaigns by conversions"][1:]] == [["winter", "2"], ["newsletter", "1"]]
    by_revenue = page_tables(client, f"{RANGE}&rank=EUR")["Top campaigns by revenue in EUR"]
    assert [row[:3] for row in by_revenue[1:]] == [["newsletter", "1", "€50.00"], ["winter", "2", "€25.00"]]


def longest_source_url(first: int, last: int) -> str:
    """The longest `?source=` the give form keeps (SOURCE_MAX characters), in characters from first to last.

    Varied, so that PostgreSQL can't compress the value under its index-row limit of 2,704 bytes.
    """
    start = "https://news.example/"
    rng = random.Random(first)
    return start + "".join(chr(rng.randint(first, last)) for _ in range(SOURCE_MAX - len(start)))


# Cyrillic (2 bytes a character in UTF-8), CJK (3 bytes) and emoji (4 bytes): up to 8 kB in 2,048 characters.
LONGEST_SOURCES = [longest_source_url(0x0430, 0x044F), longest_source_url(0x4E00, 0x9FFF),
                   longest_source_url(0x1F300, 0x1FAFF)]


@pytest.mark.usefixtures("live_app")
def test_a_checkout_with_the_longest_multibyte_source_completes(client: FlaskClient, double: DoubleServer,
                                                                 staff_client: Callable[[Role], FlaskClient]) -> None:
    """A reader from an article with a very long non-ASCII address: Stripe's webhook completes their checkout.

    On PostgreSQL, completing puts the row in the top-sources index; a source_url in that index's INCLUDE
    made the UPDATE fail ("index row size … exceeds btree version 4 maximum 2704"), and the gift was never
    recorded.
    """
    source = LONGEST_SOURCES[0]
    assert len(source) == SOURCE_MAX and len(source.encode()) > 4000
    assert f'value="{source}"' in text(client.get("/give", query_string={"source": source}))
    checkout = start_gift(client, source=source)
    pay(double, checkout)
    settle(double)
    completed = db.session.get(Checkout, checkout.id)
    assert completed is not None and completed.status is CheckoutStatus.COMPLETED
    assert completed.source_url == source
    today = utcnow().date()
    articles = page_tables(staff_client(Role.ANALYST), f"from={today}&to={today}")["Top articles by conversions"]
    assert [row[:3] for row in articles[1:]] == [[source, "1", "€10.00"]]


@pytest.mark.parametrize("source", LONGEST_SOURCES, ids=["cyrillic", "cjk", "emoji"])
def test_completed_checkouts_take_any_source_the_give_form_keeps(app: Flask, source: str) -> None:
    """Inserted completed (as `seed-demo --history` does), and completed later (as the webhook does)."""
    today = utcnow().date()
    supporter = add_supporter("olena@example.org", "Olena")
    add_checkout(supporter, 1000, completed=today.isoformat(), source_url=source)
    pending = add_checkout(supporter, 1000, status=CheckoutStatus.OPEN, source_url=source)
    db.session.commit()
    db.session.execute(sa.update(Checkout).where(Checkout.id == pending.id)
                       .values(status=CheckoutStatus.COMPLETED, completed_at=utcnow()))
    db.session.commit()
    sources = services.top_sources(db.session(), periods.checked_range(today, today), ["EUR"])
    assert [(row.name, row.conversions) for row in sources.articles] == [(source, 2)]


def test_the_article_ranking_reads_its_partial_index(app: Flask, database_uri: str, dataset: None) -> None:
    """The index the ranking needs is one its WHERE clause can use (with a table this small PostgreSQL would
    rather read it whole, so sequential scans are switched off to ask)."""
    if not database_uri.startswith("postgresql"):
        pytest.skip("the plan is PostgreSQL's")
    statements: list[tuple[str, Any]] = []

    def remember(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        statements.append((statement, parameters))

    sa.event.listen(db.engine, "before_cursor_execute", remember)
    try:
        services.top_sources(db.session(), periods.checked_range(date(2026, 1, 1), date(2026, 3, 31)), ["EUR"])
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", remember)
    [(ranking, parameters)] = [s for s in statements if "GROUP BY checkouts.source_url" in s[0]]
    connection = db.session.connection()
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    plan = "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {ranking}", parameters))
    assert "ix_checkouts_completed_at_source" in plan, plan
    db.session.rollback()


def test_the_dashboard_is_planned_for_its_values_on_every_view(app: Flask, database_uri: str, dataset: None) -> None:
    """From the eleventh view on a connection, psycopg's prepared statements would get PostgreSQL's generic plans,
    which can't use the partial indexes the dashboard reads: every view keeps custom plans, and the connection
    goes back to the pool with the server's default."""
    if not database_uri.startswith("postgresql"):
        pytest.skip("prepared statements and plan caching are PostgreSQL's")
    period = periods.checked_range(date(2026, 1, 1), date(2026, 3, 31))
    backends = set()
    for _ in range(15):
        services.dashboard(db.session(), period, now=utcnow(), grace=timedelta(days=7), currencies=["EUR", "USD"])
        backends.add(db.session.scalar(sa.text("SELECT pg_backend_pid()")))
        db.session.commit()
    assert len(backends) == 1  # one connection, as one worker's sequential views would use
    prepared = db.session.execute(sa.text(
        "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '%GROUP BY%'"
    )).all()
    assert len(prepared) >= 5
    assert [row.statement for row in prepared if row.generic_plans] == []
    assert db.session.scalar(sa.text("SHOW plan_cache_mode")) == "auto"
    db.session.rollback()


def test_every_chart_is_an_accessible_svg_followed_by_its_table(staff_client: Callable[[Role], FlaskClient],
                                                                 dataset: None) -> None:
    response = staff_client(Role.ANALYST).get(f"/staff/dashboard?{RANGE}")
    page = response.get_data(as_text=True)
    charts = page.count("<svg ")
    mrr = sorted(set(re.findall(r'id="chart-mrr-([a-z]{3})"', page)))
    assert mrr, "the dataset's memberships make an MRR line per currency"
    assert charts == 7 + len(mrr)  # movement, churn, reasons, gifts EUR and USD, articles, campaigns; MRR
    assert page.count('role="img"') == charts and page.count("<desc id=") == charts
    for chunk in page.split("<svg ")[1:]:
        assert 'aria-labelledby="chart-' in chunk.split(">", 1)[0]
        assert "</figure>" in chunk
        assert re.match(r'\s*<div class="table-scroll" role="region" aria-label="[^"]+" tabindex="0">\s*<table>',
                        chunk.split("</figure>", 1)[1])  # the chart's figures, in a table that scrolls on a phone
    # The chart is drawn by the server: the page's only script is the site-wide forms.js (focus on errors).
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/forms.js" defer>']


def test_default_range_is_the_last_twelve_months(staff_client: Callable[[Role], FlaskClient]) -> None:
    page = text(staff_client(Role.ANALYST).get("/staff/dashboard"))
    today = utcnow().date()
    first = periods.default_range(today).first
    assert f"From {first.isoformat()} to {today.isoformat()} (UTC)" in words(page)
    assert len(tables(page)["New and churned patrons per month"]) == 13
    assert "No one-time gifts in this period." in page and "No cancellations in this period." in page


@pytest.mark.parametrize(("query", "message"), [
    ("from=2026-03-01&to=2026-01-01", "The start date is after the end date."),
    ("from=01/02/2026", "Enter the date as YYYY-MM-DD, for example 2026-01-31."),
    ("to=2026-13-01", "Enter the date as YYYY-MM-DD, for example 2026-01-31."),
    ("from=2010-01-01&to=2026-01-01", "Choose a range of at most 60 months."),
    ("rank=BTC", "Not a valid choice"),
])
def test_bad_range_is_a_400_with_a_clear_message(staff_client: Callable[[Role], FlaskClient], query: str,
                                                 message: str) -> None:
    response = staff_client(Role.ANALYST).get(f"/staff/dashboard?{query}")
    assert response.status_code == 400
    page = text(response)
    assert message in page and "Please check the form" in page and "<svg" not in page


def test_default_range_helper() -> None:
    assert periods.default_range(date(2026, 11, 27)) == periods.DateRange(date(2025, 12, 1), date(2026, 11, 27))
    assert periods.default_range(date(2026, 1, 31)).first == date(2025, 2, 1)
    assert [m.month for m in periods.DateRange(date(2025, 11, 15), date(2026, 2, 1)).months()] == [11, 12, 1, 2]


def test_months_are_utc_calendar_months_whatever_the_database_session_time_zone(app: Flask, dataset: None) -> None:
    if db.engine.dialect.name == "postgresql":
        # East of UTC, 2026-03-31 23:59:59 UTC is already April: the grouping must not follow the session.
        db.session.execute(sa.text("SET TIME ZONE 'Pacific/Kiritimati'"))
    revenue = services.gift_revenue(db.session(), periods.DateRange(date(2026, 1, 1), date(2026, 3, 31)))
    usd = next(r for r in revenue if r.currency == "USD")
    assert [m.gifts for m in usd.months] == [0, 0, 1]
    db.session.rollback()
