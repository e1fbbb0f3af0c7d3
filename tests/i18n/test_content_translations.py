# ruff: noqa: RUF001  (Ukrainian text: Cyrillic letters that look like Latin ones are meant)
"""Staff give a tier's and a ballot's texts in the other languages on their forms; readers see them in their
language, and the default language's text wherever a translation is left empty."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from flask.testing import FlaskClient

from membership.ballots.models import Ballot
from membership.db import db
from membership.giving.models import Tier
from membership.staff.accounts.models import Role
from tests.support.ballots import add_patron, flat
from tests.support.helpers import csrf_token, text
from tests.support.patrons import sign_in


def ballot_form(client: FlaskClient, **fields: str) -> dict[str, str]:
    data = {"title": "What should we investigate next?", "introduction": "Choose our next story.",
            "opens_at": "2030-03-01T09:00", "closes_at": "2030-03-15T18:00", "method": "single", "max_choices": "3",
            "require_paid_before_open": "y", "results_visibility": "after_close", "weighting": "equal",
            "csrf_token": csrf_token(client, "/staff/ballots/new"), **fields}
    for index, title in enumerate(["Reconstruction money", "Winter energy", "Pensions"]):
        data[f"options-{index}-title"] = title
        data[f"options-{index}-description"] = f"About {title.lower()}."
    return data


def test_a_tier_in_ukrainian_from_the_staff_form(staff_client: Callable[[Role], FlaskClient],
                                                 client: FlaskClient) -> None:
    admin = staff_client(Role.ADMIN)
    form = text(admin.get("/staff/tiers/new"))
    assert "Name (Українська)" in form and 'name="name_uk"' in form and 'name="benefits_uk"' in form
    response = admin.post("/staff/tiers/new", data={
        "name": "Reader", "description": "Keeps a reporter on the road.", "benefits": "A thank-you card",
        "name_uk": "Читач", "description_uk": "  ", "benefits_uk": "Листівка з подякою\nНаш лист",
        "monthly_EUR": "4", "active": "y", "csrf_token": csrf_token(admin, "/staff/tiers/new")})
    assert response.status_code == 302
    tier = db.session.scalars(sa.select(Tier)).one()
    assert tier.translations == {"uk": {"name": "Читач", "benefits": "Листівка з подякою\nНаш лист"}}
    uk = text(client.get("/?lang=uk"))
    assert "<h3>Читач</h3>" in uk and "<li>Наш лист</li>" in uk and "Keeps a reporter on the road." in uk
    assert "<h3>Reader</h3>" in text(client.get("/?lang=en"))
    edit = text(admin.get(f"/staff/tiers/{tier.id}"))
    assert 'value="Читач"' in edit  # the form shows what is saved
    data = {"name": "Reader", "description": "Keeps a reporter on the road.", "benefits": "A thank-you card",
            "name_uk": "", "description_uk": "", "benefits_uk": "", "monthly_EUR": "4", "active": "y",
            "csrf_token": csrf_token(admin, f"/staff/tiers/{tier.id}")}
    assert admin.post(f"/staff/tiers/{tier.id}", data=data).status_code == 302
    db.session.rollback()
    assert db.session.get_one(Tier, tier.id).translations == {}  # cleared: every language reads the default
    assert "<h3>Reader</h3>" in text(client.get("/?lang=uk"))


def test_a_ballot_in_ukrainian_from_the_staff_form(staff_client: Callable[[Role], FlaskClient],
                                                   client: FlaskClient) -> None:
    editor = staff_client(Role.EDITOR)
    form = text(editor.get("/staff/ballots/new"))
    assert 'name="title_uk"' in form and 'name="options-0-title_uk"' in form
    data = ballot_form(editor, title_uk="Що нам розслідувати далі?", introduction_uk="Оберіть нашу наступну тему.")
    data.update({"options-0-title_uk": "Гроші на відбудову", "options-1-description_uk": "Про енергетику."})
    assert editor.post("/staff/ballots/new", data=data).status_code == 303
    ballot = db.session.scalars(sa.select(Ballot)).one()
    assert ballot.translations == {"uk": {"title": "Що нам розслідувати далі?",
                                          "introduction": "Оберіть нашу наступну тему."}}
    assert [o.translations for o in ballot.options] == [
        {"uk": {"title": "Гроші на відбудову"}}, {"uk": {"description": "Про енергетику."}}, {}]
    edit = text(editor.get(f"/staff/ballots/{ballot.id}/edit"))
    assert "Гроші на відбудову" in edit
    ballot.published_at, ballot.opens_at = ballot.created_at, ballot.created_at
    db.session.commit()
    sign_in(client, add_patron())
    page = flat(client.get(f"/ballots/{ballot.id}?lang=uk"))
    assert "Що нам розслідувати далі?" in page and "Оберіть нашу наступну тему." in page
    assert "Гроші на відбудову" in page and "Про енергетику." in page
    assert "Winter energy" in page and "Pensions" in page  # not given in Ukrainian: the default's
    english = flat(client.get(f"/ballots/{ballot.id}?lang=en"))
    assert "What should we investigate next?" in english and "Reconstruction money" in english
