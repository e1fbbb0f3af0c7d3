"""Tiers and amounts: admins edit tiers, presets and bounds; /give and / show the change at once; all audited."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership.db import db
from membership.demo import seed_catalogue
from membership.giving.models import AmountPreset, CurrencyLimit, Frequency, Tier
from membership.giving.services import currency_rules
from membership.staff.accounts.models import AuditEntry, Role
from tests.support.helpers import count, csrf_token, text


def audits(action: str) -> list[AuditEntry]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def tiers_by_slug() -> dict[str, Tier]:
    db.session.rollback()
    return {tier.slug: tier for tier in db.session.scalars(sa.select(Tier))}


@pytest.fixture
def admin(staff_client: Callable[[Role], FlaskClient]) -> FlaskClient:
    return staff_client(Role.ADMIN)


@pytest.fixture
def catalogue(app: Flask) -> None:
    seed_catalogue(db.session())
    db.session.commit()


def save_amounts(client: FlaskClient, currency: str = "EUR", **fields: str) -> Any:
    values = {"minimum": "1", "maximum": "10000", "once": "10, 25, 50, 100", "monthly": "3, 5, 10, 25",
              "yearly": "30, 50, 100, 250", **fields}
    prefix = currency.lower()
    data = {f"{prefix}-{name}": value for name, value in values.items()}
    data[f"{prefix}-csrf_token"] = csrf_token(client, "/staff/tiers")
    return client.post(f"/staff/tiers/amounts/{currency}", data=data)


def give(client: FlaskClient, amount: str) -> Any:
    return client.post("/give", data={"frequency": "once", "currency": "EUR", "amount": amount,
                                      "email": "o@example.org", "name": "Olena", "csrf_token": csrf_token(client)})


# Tiers --------------------------------------------------------------------------------------------------


def test_new_tier_shows_on_the_support_page_and_is_audited(admin: FlaskClient) -> None:
    form = text(admin.get("/staff/tiers/new"))
    assert "Monthly in EUR" in form and "Yearly in UAH" in form
    response = admin.post("/staff/tiers/new", data={
        "name": "Reader", "description": "Keeps a reporter on the road.",
        "benefits": "A thank-you card\n\nOur newsletter", "monthly_EUR": "4", "yearly_EUR": "40.50",
        "active": "y", "csrf_token": csrf_token(admin, "/staff/tiers/new")})
    assert response.status_code == 302 and response.headers["Location"] == "/staff/tiers"
    tier = tiers_by_slug()["reader"]
    assert (tier.position, tier.benefits) == (0, "A thank-you card\nOur newsletter")
    support = text(admin.get("/"))
    assert "Reader" in support and "€4.00/month" in support and "or €40.50/year" in support
    assert "A thank-you card" in support
    [entry] = audits("tiers.changed")
    assert entry.target_id == str(tier.id) and entry.details["change"] == "created"
    assert entry.details["before"] is None
    assert entry.details["after"]["amounts"] == {"EUR": {"monthly": 400, "yearly": 4050}}


def test_editing_a_tier_records_only_what_changed(admin: FlaskClient, catalogue: None) -> None:
    tier = tiers_by_slug()["patron"]
    page = f"/staff/tiers/{tier.id}"
    form = text(admin.get(page))
    assert 'value="Patron"' in form and 'value="10"' in form  # the EUR monthly amount, pre-filled
    data = {"name": "Patron plus", "description": tier.description, "benefits": tier.benefits, "active": "y",
            "csrf_token": csrf_token(admin, page)}
    for code, monthly, yearly in (("EUR", "12", "100"), ("USD", "10", "100"), ("GBP", "10", "100"),
                                  ("UAH", "400", "4000")):
        data |= {f"monthly_{code}": monthly, f"yearly_{code}": yearly}
    assert admin.post(page, data=data).status_code == 302
    [entry] = audits("tiers.changed")
    assert entry.details == {"change": "updated", "before": {"name": "Patron", "amounts": {
        "EUR": {"monthly": 1000, "yearly": 10000}, "GBP": {"monthly": 1000, "yearly": 10000},
        "UAH": {"monthly": 40000, "yearly": 400000}, "USD": {"monthly": 1000, "yearly": 10000}}},
        "after": {"name": "Patron plus", "amounts": {
        "EUR": {"monthly": 1200, "yearly": 10000}, "GBP": {"monthly": 1000, "yearly": 10000},
        "UAH": {"monthly": 40000, "yearly": 400000}, "USD": {"monthly": 1000, "yearly": 10000}}}}
    assert "Patron plus" in text(admin.get("/")) and "€12.00/month" in text(admin.get("/"))
    # Saving the same values again changes nothing and writes nothing.
    data["csrf_token"] = csrf_token(admin, page)
    data["name"] = "Patron plus"
    admin.post(page, data=data)
    assert len(audits("tiers.changed")) == 1


def test_reorder_and_deactivate(admin: FlaskClient, catalogue: None) -> None:
    tiers = tiers_by_slug()
    move = admin.post(f"/staff/tiers/{tiers['patron'].id}/move",
                      data={"direction": "up", "csrf_token": csrf_token(admin, "/staff/tiers")})
    assert move.status_code == 302
    support = text(admin.get("/"))
    assert support.index("Patron") < support.index("Cup of coffee") < support.index("Champion")
    [moved] = audits("tiers.changed")
    coffee, patron, champion = tiers["coffee"].id, tiers["patron"].id, tiers["champion"].id
    assert moved.details == {"change": "reordered", "before": {"order": [coffee, patron, champion]},
                             "after": {"order": [patron, coffee, champion]}}
    at_top = admin.post(f"/staff/tiers/{tiers['patron'].id}/move",
                        data={"direction": "up", "csrf_token": csrf_token(admin, "/staff/tiers")})
    assert at_top.status_code == 302 and "Patron is already first." in text(admin.get("/staff/tiers"))
    hide = admin.post(f"/staff/tiers/{tiers['champion'].id}/status",
                      data={"csrf_token": csrf_token(admin, "/staff/tiers")})
    assert hide.status_code == 302
    assert "Champion is hidden from the support page" in text(admin.get("/staff/tiers"))
    assert "Champion" not in text(admin.get("/"))
    hidden = audits("tiers.changed")[-1]
    assert hidden.details == {"change": "deactivated", "before": {"active": True}, "after": {"active": False}}
    admin.post(f"/staff/tiers/{tiers['champion'].id}/status",
               data={"active": "y", "csrf_token": csrf_token(admin, "/staff/tiers")})
    assert "Champions make long investigations possible" in text(admin.get("/"))
    bad = admin.post(f"/staff/tiers/{tiers['champion'].id}/move",
                     data={"direction": "sideways", "csrf_token": csrf_token(admin, "/staff/tiers")})
    assert bad.status_code == 400 and "Choose to move the tier up or down." in text(bad)


@pytest.mark.parametrize(("fields", "message"), [
    ({"name": ""}, "Enter the tier's name."),
    ({"name": "x" * 81}, "Field cannot be longer than 80 characters."),
    ({"monthly_EUR": "0"}, "The amount must be more than zero."),
    ({"monthly_EUR": "-3"}, "The amount must be more than zero."),
    ({"monthly_EUR": "abc"}, "Enter the amount as a number, like 10 or 7.50."),
    ({"yearly_EUR": "3.555"}, "Use at most two decimal places."),
    ({"monthly_EUR": "0.50"}, "This is below the smallest gift accepted in EUR (€1.00)."),
    ({"yearly_USD": "20000"}, "This is above the largest gift accepted in USD ($10,000.00)."),
])
def test_bad_tier_input_changes_nothing(admin: FlaskClient, fields: dict[str, str], message: str) -> None:
    data = {"name": "Reader", "monthly_EUR": "4", "active": "y", **fields,
            "csrf_token": csrf_token(admin, "/staff/tiers/new")}
    response = admin.post("/staff/tiers/new", data=data)
    assert response.status_code == 400 and message in text(response)
    assert count(Tier) == 0 and audits("tiers.changed") == []


# Presets and bounds -----------------------------------------------------------------------------------


def test_presets_and_bounds_show_on_give_at_once_and_are_audited(app: Flask, admin: FlaskClient,
                                                                 catalogue: None, double: Any) -> None:
    before = text(admin.get("/give?currency=EUR&frequency=once"))
    assert 'value="25"' in before and 'value="7"' not in before
    response = save_amounts(admin, minimum="2", maximum="500", once="7, 15.50, 40")
    assert response.status_code == 302 and "Saved the amounts in EUR" in text(admin.get("/staff/tiers"))
    page = text(admin.get("/give?currency=EUR&frequency=once"))
    assert 'value="7"' in page and 'value="15.50"' in page and 'value="25"' not in page
    too_small = give(admin, "1.50")
    assert too_small.status_code == 400 and "The smallest amount we can accept is €2.00." in text(too_small)
    too_big = give(admin, "600")
    assert too_big.status_code == 400 and "The largest amount we can accept online is €500.00." in text(too_big)
    with app.test_request_context():
        assert currency_rules()["EUR"].limits.minimum_minor == 200  # what the change-amount form reads too
        assert currency_rules()["USD"].limits.minimum_minor == 100  # other currencies keep their defaults
    [limits] = audits("limits.changed")
    assert (limits.target_type, limits.target_id) == ("currency", "EUR")
    assert limits.details == {"before": {"minimum_minor": 100, "maximum_minor": 1_000_000},
                              "after": {"minimum_minor": 200, "maximum_minor": 50_000}}
    [presets] = audits("presets.changed")
    assert presets.details == {"before": {"once": [1000, 2500, 5000, 10000]}, "after": {"once": [700, 1550, 4000]}}
    # The panel shows what is in force, with the settings' default beside it.
    panel = text(admin.get("/staff/tiers"))
    assert 'name="eur-minimum" required type="text" value="2"' in panel and "Default from the settings: €1.00" in panel
    saved_again = save_amounts(admin, minimum="2", maximum="500", once="7, 15.50, 40")
    assert saved_again.status_code == 302 and len(audits("limits.changed") + audits("presets.changed")) == 2


@pytest.mark.parametrize(("fields", "message"), [
    ({"minimum": ""}, "Enter the smallest amount accepted."),
    ({"minimum": "abc"}, "Enter the amount as a number, like 10 or 7.50."),
    ({"minimum": "0"}, "The amount must be more than zero."),
    ({"maximum": "-5"}, "The amount must be more than zero."),
    ({"minimum": "50", "maximum": "10", "once": "", "monthly": "", "yearly": ""},
     "The largest gift can't be below the smallest (€50.00)."),
    ({"maximum": "2000000"}, "Stripe can't charge more than €999,999.99 in one payment."),
    ({"minimum": "0.40", "once": "", "monthly": "", "yearly": ""},
     "Stripe can't charge less than €0.50 in one payment."),
    ({"minimum": "1,000"}, "Did you mean 1000 or 1,00? Type one of those, without a thousands separator."),
    ({"once": "5, x"}, "x: Enter the amount as a number, like 10 or 7.50."),
    ({"monthly": "3, 0"}, "0: The amount must be more than zero."),
    ({"yearly": "30, 30"}, "30 is listed twice; list each amount once."),
    ({"once": "1, 2, 3, 4, 5, 6, 7"}, "List at most 6 amounts."),
    ({"once": "10, 20000"}, "20000: This is above the largest gift accepted in EUR (€10,000.00)."),
    ({"minimum": "5"}, "The Cup of coffee tier suggests €3.00/month, which would be below this."),
    ({"maximum": "200"}, "The Champion tier suggests €250.00/year, which would be above this."),
])
def test_bad_amounts_change_nothing(admin: FlaskClient, catalogue: None, fields: dict[str, str], message: str) -> None:
    presets_before = count(AmountPreset)
    response = save_amounts(admin, **fields)
    assert response.status_code == 400 and message in text(response)
    assert count(CurrencyLimit) == 0 and count(AmountPreset) == presets_before
    assert audits("limits.changed") == audits("presets.changed") == []


def test_unknown_currency_changes_nothing(admin: FlaskClient) -> None:
    response = save_amounts(admin, currency="XYZ")
    assert response.status_code == 400
    assert "XYZ isn't one of the currencies offered (EUR, USD, GBP, UAH); nothing was changed." in text(response)
    assert count(CurrencyLimit) == 0 and count(AmountPreset) == 0


def test_presets_may_be_emptied(admin: FlaskClient, catalogue: None) -> None:
    assert save_amounts(admin, yearly="").status_code == 302
    db.session.rollback()
    yearly = db.session.scalars(sa.select(AmountPreset).where(AmountPreset.currency == "EUR",
                                                              AmountPreset.frequency == Frequency.YEARLY)).all()
    assert yearly == []
    assert audits("presets.changed")[0].details["after"] == {"yearly": []}


@pytest.mark.parametrize("path", ["/staff/tiers/new", "/staff/tiers/{tier}", "/staff/tiers/{tier}/move",
                                  "/staff/tiers/{tier}/status", "/staff/tiers/amounts/EUR"])
def test_every_tier_post_needs_its_csrf_token(admin: FlaskClient, catalogue: None, path: str) -> None:
    tier = tiers_by_slug()["coffee"]
    response = admin.post(path.format(tier=tier.id), data={"name": "Forged", "direction": "down",
                                                           "eur-minimum": "5", "eur-maximum": "6"})
    assert response.status_code == 400 and "This form has expired" in text(response)
    assert tiers_by_slug()["coffee"].name == "Cup of coffee" and tiers_by_slug()["coffee"].active
    assert count(CurrencyLimit) == 0 and audits("tiers.changed") == []


def test_analysts_and_editors_cannot_change_the_catalogue(staff_client: Callable[[Role], FlaskClient],
                                                          catalogue: None) -> None:
    for role in (Role.ANALYST, Role.EDITOR):
        client = staff_client(role)
        csrf = csrf_token(client, "/staff/")
        response = client.post("/staff/tiers/amounts/EUR",
                               data={"eur-minimum": "5", "eur-maximum": "6", "eur-csrf_token": csrf})
        assert response.status_code == 403
    assert count(CurrencyLimit) == 0


def checked(page: str, name: str) -> list[str]:
    """The values of the checked radios called `name`."""
    return [m for m in re.findall(r'<input checked[^>]*name="' + name + r'"[^>]*value="([^"]*)"', page)]


def test_the_most_chosen_preset_is_preselected_and_labelled_on_give(admin: FlaskClient, catalogue: None) -> None:
    assert save_amounts(admin, monthly="3, 5, 10*, 25").status_code == 302
    page = text(admin.get("/give?currency=EUR"))
    assert checked(page, "frequency") == ["monthly"] and checked(page, "preset") == ["10"]
    label = re.search(r'<label for="preset-2">(.*?)</label>', page, re.S)
    assert label is not None and "Most chosen" in label.group(1)
    assert page.count("Most chosen</span>") == 1
    assert 'value="3, 5, 10*, 25"' in text(admin.get("/staff/tiers"))
    [presets] = audits("presets.changed")
    assert presets.details["after"]["monthly_most_chosen"] == [1000]
    # Without a mark, the middle preset is chosen and nothing is labelled.
    assert save_amounts(admin, monthly="3, 5, 10, 25").status_code == 302
    page = text(admin.get("/give?currency=EUR"))
    assert checked(page, "preset") == ["10"] and "Most chosen</span>" not in page
    assert checked(text(admin.get("/give?currency=EUR&frequency=once")), "preset") == ["50"]
    # A link's own amount wins over the suggestion.
    assert checked(text(admin.get("/give?currency=EUR&amount=5")), "preset") == ["5"]


def test_only_one_preset_may_be_most_chosen(admin: FlaskClient, catalogue: None) -> None:
    response = save_amounts(admin, monthly="3*, 5*, 10")
    assert response.status_code == 400 and "Mark one amount as most chosen, not several." in text(response)
    assert audits("presets.changed") == []
