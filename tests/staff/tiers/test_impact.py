"""Impact texts: staff say what a preset amount pays for, in each language; /give shows it under the amount, as
the radio's description, in the reader's language; bad text is refused with a clear error; all audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership.db import db
from membership.demo import seed_catalogue
from membership.giving.models import AmountPreset, Frequency
from membership.staff.accounts.models import AuditEntry, Role
from tests.support.database import statements
from tests.support.helpers import csrf_token, text
from tests.support.helpers import preset_tile as tile

DAY = "€10/month pays for a day of fact-checking"
DAY_UK = "€10 на місяць оплачують день перевірки фактів"


@pytest.fixture(autouse=True)
def catalogue(app: Flask) -> None:
    seed_catalogue(db.session())
    db.session.commit()


@pytest.fixture
def admin(staff_client: Callable[[Role], FlaskClient]) -> FlaskClient:
    return staff_client(Role.ADMIN)


def save_impact(client: FlaskClient, currency: str = "EUR", **fields: str) -> Any:
    prefix = f"{currency.lower()}-impact"
    data = {f"{prefix}-{name}": value for name, value in fields.items()}
    data[f"{prefix}-csrf_token"] = csrf_token(client, "/staff/tiers")
    return client.post(f"/staff/tiers/amounts/{currency}/impact", data=data)


def preset(amount: int, frequency: Frequency = Frequency.MONTHLY) -> AmountPreset:
    db.session.rollback()
    return db.session.scalars(sa.select(AmountPreset).where(
        AmountPreset.currency == "EUR", AmountPreset.frequency == frequency,
        AmountPreset.amount_minor == amount)).one()


def test_an_impact_text_shows_under_its_amount_as_the_radios_description_in_the_readers_language(
        admin: FlaskClient, client: FlaskClient) -> None:
    page = text(admin.get("/staff/tiers"))
    assert "What the amounts in EUR pay for" in page and "What €10.00/month pays for (Українська)" in page
    saved = save_impact(admin, impact_monthly_1000=f"  {DAY}  ", impact_monthly_1000_uk=DAY_UK)
    assert saved.status_code == 302
    assert preset(1000).impact == DAY and preset(1000).translations == {"uk": {"impact": DAY_UK}}

    give = text(client.get("/give?currency=EUR&frequency=monthly"))
    ten = tile(give, "10")
    assert 'aria-describedby="preset-2-impact"' in ten
    assert f'<span class="preset-impact" id="preset-2-impact">{DAY}</span>' in ten
    assert "aria-describedby" not in tile(give, "5") and "preset-impact" not in tile(give, "5")
    assert f"{DAY}" in give.split("data-presets=", 1)[1]  # give.js shows it when the frequency comes back
    assert DAY_UK in text(client.get("/give?currency=EUR&frequency=monthly&lang=uk"))
    assert DAY not in text(client.get("/give?currency=EUR&frequency=once"))


def test_a_language_left_empty_shows_the_default_languages_text(admin: FlaskClient, client: FlaskClient) -> None:
    assert save_impact(admin, impact_monthly_500=DAY).status_code == 302
    assert DAY in tile(text(client.get("/give?currency=EUR&frequency=monthly&lang=uk")), "5")


@pytest.mark.parametrize(("value", "error"), [
    ("x" * 121, "Field cannot be longer than 120 characters."),
    ("pays for\ta day", "Write the impact text on one line, without tabs or other control characters."),
    ("pays for\na day", "Write the impact text on one line, without tabs or other control characters."),
])
def test_a_long_or_multi_line_impact_text_is_refused_and_nothing_changes(admin: FlaskClient, value: str,
                                                                         error: str) -> None:
    response = save_impact(admin, impact_monthly_1000=DAY, impact_monthly_2500_uk=value)
    assert response.status_code == 400
    assert error in text(response)
    assert preset(1000).impact == "" and preset(2500).translations == {}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "presets.changed")) == 0


def test_impact_changes_are_audited_and_kept_when_the_amount_stays(admin: FlaskClient) -> None:
    assert save_impact(admin, impact_monthly_1000=DAY).status_code == 302
    again = save_impact(admin, impact_monthly_1000=DAY)
    assert "Nothing to save: the impact texts in EUR are unchanged." in text(admin.get(again.headers["Location"]))
    db.session.rollback()
    entries = list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "presets.changed")))
    assert len(entries) == 1
    assert entries[0].details["after"] == {"monthly_1000_impact": {"impact": DAY, "translations": {}}}
    assert entries[0].details["before"] == {"monthly_1000_impact": {"impact": "", "translations": {}}}

    amounts = {"eur-minimum": "1", "eur-maximum": "10000", "eur-once": "10, 25, 50, 100", "eur-monthly": "5, 10, 20",
               "eur-yearly": "30, 50, 100, 250", "eur-csrf_token": csrf_token(admin, "/staff/tiers")}
    assert admin.post("/staff/tiers/amounts/EUR", data=amounts).status_code == 302  # €10 stays, €3 and €25 go
    assert preset(1000).impact == DAY and preset(1000).position == 1


def test_the_give_form_shows_a_changed_text_at_once_in_at_most_three_statements(admin: FlaskClient,
                                                                                client: FlaskClient) -> None:
    client.get("/give?currency=EUR&frequency=monthly")  # the catalogue is cached now
    assert save_impact(admin, impact_monthly_1000=DAY).status_code == 302
    client.get("/give?currency=EUR&frequency=monthly")
    with statements() as sent:
        give = text(client.get("/give?currency=EUR&frequency=monthly"))
    assert DAY in give and len(sent) <= 3  # as every reader page (tests/giving/test_page_statements.py)
