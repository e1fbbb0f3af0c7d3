"""The appeal at the foot of an article (/appeal, framed by the newsroom's site) and its code for staff."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership.config import ConfigError, check_settings, load_settings
from membership.db import db
from membership.demo import seed_catalogue
from membership.giving.models import Tier
from tests.support.helpers import text

ARTICLE = "https://news.example/2026/energy-winter"


@pytest.fixture(autouse=True)
def catalogue(app: Flask) -> None:
    seed_catalogue(db.session())
    db.session.commit()


def links(page: str) -> dict[str, str]:
    """Each link's text → its address."""
    return {re.sub(r"<[^>]+>|\s+", " ", label).strip(): href.replace("&amp;", "&")
            for href, label in re.findall(r'<a[^>]*href="([^"]+)"[^>]*>(.*?)</a>', page, re.S)}


def test_the_appeal_offers_the_cup_of_coffee_and_carries_the_article_along(client: FlaskClient) -> None:
    response = client.get(f"/appeal?source={ARTICLE}&utm_medium=appeal&utm_campaign=winter")
    page = text(response)
    assert "Join our community of readers who keep Kyiv Independent Test independent" in page
    assert "For as little as the cost of one cup of coffee a month (€3.00/month)" in page
    assert "vote for topics we should cover next" in page
    found = links(page)
    give = urlsplit(found["Give €3.00/month"])
    assert give.path == "/give" and parse_qs(give.query) == {
        "frequency": ["monthly"], "amount": ["3"], "currency": ["EUR"], "source": [ARTICLE],
        "utm_medium": ["appeal"], "utm_campaign": ["winter"]}
    assert parse_qs(urlsplit(found["Give once"]).query)["source"] == [ARTICLE]
    for label, anchor in (("Become a patron", "tiers-heading"), ("See other ways to support", "other-heading")):
        target = urlsplit(found[label])
        assert (target.path, target.fragment, parse_qs(target.query)["source"]) == ("/", anchor, [ARTICLE])
    assert '<base target="_top">' in page  # links leave the frame for the whole window
    # One page for every reader of the article, so caches may share it: nothing personal, no cookie.
    assert response.headers["Cache-Control"] == "public, max-age=300" and "Set-Cookie" not in response.headers


def test_the_give_form_keeps_what_the_appeal_sent(client: FlaskClient) -> None:
    href = links(text(client.get(f"/appeal?source={ARTICLE}&currency=UAH")))["Give UAH 100.00/month"]
    form = client.get(href).get_data(as_text=True)
    assert re.search(rf'<input[^>]*name="source"[^>]*value="{re.escape(ARTICLE)}"', form)
    assert re.search(r'<input[^>]*checked[^>]*value="monthly"|<input[^>]*value="monthly"[^>]*checked', form)


def test_the_cheapest_active_tier_sets_the_amount(client: FlaskClient) -> None:
    db.session.execute(sa.update(Tier).where(Tier.slug == "coffee").values(active=False))
    db.session.commit()
    assert "Give €10.00/month" in text(client.get("/appeal"))  # the Patron tier's


def test_without_tiers_or_monthly_presets_the_appeal_names_no_amount(client: FlaskClient) -> None:
    page = text(client.get("/appeal?currency=XYZ&source=javascript:alert(1)"))  # bad values are ignored
    assert "€3.00/month" in page and "javascript" not in page
    db.session.execute(sa.update(Tier).values(active=False))
    db.session.execute(sa.text("DELETE FROM amount_presets WHERE frequency = 'monthly'"))
    db.session.commit()
    page = text(client.get("/appeal"))
    assert "You can become a patron" in page and "/month" not in page and "Become a patron" in page


def test_only_the_configured_sites_may_frame_it(app: Flask, client: FlaskClient) -> None:
    alone = client.get("/appeal")
    assert "frame-ancestors 'self';" in alone.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in alone.headers
    app.config["APPEAL_EMBED_ORIGINS"] = "https://news.example https://*.news.example"
    framed = client.get("/appeal")
    assert "frame-ancestors 'self' https://news.example https://*.news.example;" in (
        framed.headers["Content-Security-Policy"])
    other = client.get("/give")  # every other page still refuses to be framed
    assert "frame-ancestors 'none'" in other.headers["Content-Security-Policy"]
    assert other.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("origins", ["news.example", "https://news.example/path", "ftp://news.example",
                                     "https://*", "'unsafe-inline'"])
def test_a_bad_embed_origin_stops_start_up(origins: str) -> None:
    with pytest.raises(ConfigError, match="APPEAL_EMBED_ORIGINS"):
        check_settings(load_settings({"APPEAL_EMBED_ORIGINS": origins}))
