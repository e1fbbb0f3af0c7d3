"""The reader pages every article links to (/, /give, /appeal) stay cheap: a few SQL statements each, and what
staff change on /staff/tiers shows on the very next request."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership import create_app
from membership.db import db, utcnow
from membership.demo import seed_catalogue
from membership.giving.campaigns import Campaign, GoalKind
from membership.giving.models import AmountPreset, Tier
from membership.staff.accounts.models import Role
from stripe_double import DoubleServer
from tests.support.database import statements
from tests.support.helpers import csrf_token, text
from tests.support.reports import add_checkout, add_payment, add_supporter
from tests.support.settings import app_settings

MAX_STATEMENTS = 3
PAGES = ("/", "/give", "/give?currency=UAH&frequency=monthly&amount=100", "/appeal", "/appeal?currency=USD")


@pytest.fixture(autouse=True)
def catalogue(app: Flask) -> None:
    seed_catalogue(db.session())
    db.session.commit()


@pytest.mark.parametrize("path", PAGES)
def test_a_reader_page_sends_at_most_three_statements(client: FlaskClient, path: str) -> None:
    client.get(path)  # the first request of a process may load the catalogue
    with statements() as sent:
        response = client.get(path)
    assert response.status_code == 200
    assert len(sent) <= MAX_STATEMENTS, "\n\n".join(sent)


@pytest.fixture
def other_process(database_uri: str, double: DoubleServer) -> Iterator[FlaskClient]:
    """A second app on the same database, as another gunicorn worker would be: its own catalogue cache."""
    other = create_app(app_settings(database_uri, api_base=double.url))
    yield other.test_client()
    with other.app_context():
        db.engine.dispose()


def test_staff_changes_show_on_the_next_request_of_every_process(staff_client: Callable[[Role], FlaskClient],
                                                                 other_process: FlaskClient) -> None:
    reader = other_process
    for path in PAGES:
        reader.get(path)  # its cache now holds the catalogue as it was
    give = text(reader.get("/give?currency=EUR&frequency=once"))
    assert 'value="25"' in give and 'value="7"' not in give
    assert "(€3.00/month)" in text(reader.get("/appeal"))

    admin = staff_client(Role.ADMIN)
    saved = admin.post("/staff/tiers/amounts/EUR", data={
        "eur-minimum": "1", "eur-maximum": "10000", "eur-once": "7, 15.50, 40", "eur-monthly": "3, 5, 10, 25",
        "eur-yearly": "30, 50, 100, 250", "eur-csrf_token": csrf_token(admin, "/staff/tiers")})
    assert saved.status_code == 302
    give = text(reader.get("/give?currency=EUR&frequency=once"))
    assert 'value="7"' in give and 'value="15.50"' in give and 'value="25"' not in give

    coffee = db.session.scalars(sa.select(Tier).where(Tier.slug == "coffee")).one()
    page = f"/staff/tiers/{coffee.id}"
    data = {"name": "Espresso", "description": coffee.description, "benefits": coffee.benefits, "active": "y",
            "csrf_token": csrf_token(admin, page)}
    for code, monthly, yearly in (("EUR", "4", "40"), ("USD", "3", "30"), ("GBP", "3", "30"), ("UAH", "100", "1000")):
        data |= {f"monthly_{code}": monthly, f"yearly_{code}": yearly}
    assert admin.post(page, data=data).status_code == 302
    support = text(reader.get("/"))
    assert "Espresso" in support and "€4.00/month" in support and "<h3>Cup of coffee</h3>" not in support
    assert "(€4.00/month)" in text(reader.get("/appeal"))

    hidden = admin.post(f"/staff/tiers/{coffee.id}/status", data={"csrf_token": csrf_token(admin, "/staff/tiers")})
    assert hidden.status_code == 302
    assert "Espresso" not in text(reader.get("/"))
    assert "(€10.00/month)" in text(reader.get("/appeal"))  # the cheapest tier still shown is Patron


def test_a_rolled_back_change_leaves_the_cached_catalogue_in_force(client: FlaskClient) -> None:
    client.get("/give")
    db.session.execute(sa.delete(AmountPreset))
    db.session.rollback()
    with statements() as sent:
        give = text(client.get("/give?currency=EUR&frequency=once"))
    assert 'value="25"' in give and len(sent) <= MAX_STATEMENTS


def _running_campaign(slug: str, *, on_support_page: bool) -> Campaign:
    now = utcnow()
    campaign = Campaign(slug=slug, title="Winter reporting fund", text="Keep our reporters on the road.",
                        goal_kind=GoalKind.AMOUNT, goal_minor=100_000, goal_currency="EUR",
                        starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=10),
                        on_support_page=on_support_page)
    db.session.add(campaign)
    db.session.commit()
    return campaign


def _gift_to(slug: str, email: str, amount: int) -> None:
    supporter = add_supporter(email)
    when = (utcnow() - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")
    checkout = add_checkout(supporter, amount, completed=when, utm_campaign=slug)
    add_payment(supporter, amount, when, checkout_id=checkout.id)
    db.session.commit()


@pytest.mark.parametrize("path", ("/", "/give?campaign=winter", "/appeal?campaign=winter"))
def test_a_page_with_a_campaign_sends_at_most_three_statements_and_counts_its_progress_afresh(
        client: FlaskClient, path: str) -> None:
    _running_campaign("winter", on_support_page=True)
    _gift_to("winter", "a@example.org", 5_000)
    client.get(path)
    with statements() as sent:
        page = text(client.get(path))
    assert "Winter reporting fund" in page and "€50.00 raised of €1,000.00" in page
    assert len(sent) <= MAX_STATEMENTS, "\n\n".join(sent)

    _gift_to("winter", "b@example.org", 2_500)  # a checkout completing: no catalogue change, the bar moves at once
    with statements() as sent:
        page = text(client.get(path))
    assert "€75.00 raised of €1,000.00" in page and len(sent) <= MAX_STATEMENTS
