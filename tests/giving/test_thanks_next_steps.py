"""The thanks page's next steps: making a gift monthly, a sign-in link to the account, plain share links."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership.db import db
from membership.supporters.tokens import SignInToken
from stripe_double import DoubleServer
from tests.support.giving import pay, settle, start_gift
from tests.support.servers import LiveServer

ARTICLE = "https://news.example/story?id=7&part=2"


def links(page: str) -> dict[str, str]:
    """Each link's text → its href, as the browser reads them."""
    return {re.sub(r"<[^>]+>", "", label).strip(): html.unescape(href)
            for href, label in re.findall(r'<a href="([^"]+)"[^>]*>(.*?)</a>', page)}


def thanks_page(client: FlaskClient, double: DoubleServer, **fields: str) -> str:
    checkout = start_gift(client, **fields)
    pay(double, checkout)
    settle(double)
    response = client.get(f"/give/thanks?session_id={checkout.stripe_session_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_one_time_gift_can_be_made_monthly_and_shares_the_article(
        app: Flask, client: FlaskClient, double: DoubleServer, live_app: LiveServer) -> None:
    page = thanks_page(client, double, amount="12.50", currency="EUR", source=ARTICLE)
    found = links(page)
    monthly = urlsplit(found["Make it monthly"])
    assert monthly.path == "/give"
    assert parse_qs(monthly.query) == {"frequency": ["monthly"], "amount": ["12.50"], "currency": ["EUR"]}
    assert client.get(found["Make it monthly"]).status_code == 200
    shares = {label: href for label, href in found.items() if label.startswith("Share")}
    assert set(shares) == {"Share by email", "Share on Telegram", "Share on Facebook", "Share on X"}
    telegram, facebook, x = (urlsplit(shares[k]) for k in ("Share on Telegram", "Share on Facebook", "Share on X"))
    assert (telegram.netloc, telegram.path, parse_qs(telegram.query)) == ("t.me", "/share/url", {"url": [ARTICLE]})
    assert (facebook.netloc, facebook.path, parse_qs(facebook.query)) == (
        "www.facebook.com", "/sharer/sharer.php", {"u": [ARTICLE]})
    assert (x.netloc, x.path, parse_qs(x.query)) == ("x.com", "/intent/post", {"url": [ARTICLE]})
    assert "id%3D7%26part%3D2" in shares["Share on X"]  # the article's own query is encoded, not merged
    mail = urlsplit(shares["Share by email"])
    assert mail.scheme == "mailto" and parse_qs(mail.query)["body"] == [ARTICLE]
    assert "<script" not in page.split("<main", 1)[1]


def test_a_membership_shares_the_support_page_and_offers_a_sign_in_link(
        app: Flask, client: FlaskClient, double: DoubleServer, live_app: LiveServer) -> None:
    page = thanks_page(client, double, frequency="monthly", amount="5", source="javascript:alert(1)")
    found = links(page)
    assert "Make it monthly" not in found
    support = app.config["PUBLIC_URL"] + "/"
    assert parse_qs(urlsplit(found["Share on Telegram"]).query) == {"url": [support]}
    form = re.search(r'<form method="post" action="/account/sign-in"[^>]*>(.*?)</form>', page, re.S)
    assert form is not None
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', form.group(1)))
    assert fields["email"] == "olena@example.org"
    response = client.post("/account/sign-in", data=fields)
    assert response.status_code == 200 and "sign-in link" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SignInToken)) == 1
