"""/staff/appeal: the code that puts the appeal at the foot of every article."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from membership.staff.accounts.models import Role
from tests.support.helpers import text


def test_staff_get_the_code_for_their_article_template(app: Flask,
                                                       staff_client: Callable[[Role], FlaskClient]) -> None:
    page = text(staff_client(Role.ANALYST).get("/staff/appeal"))
    site = app.config["PUBLIC_URL"]
    assert (f'<iframe src="{site}/appeal?source=ARTICLE_URL&utm_medium=appeal" '
            'title="Support Kyiv Independent Test"') in page
    assert f'<a href="{site}/?source=ARTICLE_URL&utm_medium=appeal">' in page
    assert "No other site may frame it yet" in page
    app.config["APPEAL_EMBED_ORIGINS"] = "https://news.example"
    assert "These sites may frame it" in text(staff_client(Role.EDITOR).get("/staff/appeal"))
    assert 'href="/staff/appeal"' in text(staff_client(Role.EDITOR).get("/staff/"))
