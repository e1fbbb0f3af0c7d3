# ruff: noqa: RUF001  (Ukrainian text: Cyrillic letters that look like Latin ones)
"""Patron pages in Ukrainian (by `?lang=uk`, Accept-Language or the saved account language), and the account's
language setting."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership.db import db
from membership.email import OutboundEmail
from membership.supporters.models import Supporter
from membership.supporters.tokens import TokenPurpose, issue_token
from tests.support.helpers import csrf_token, text
from tests.support.patrons import add_membership, add_supporter, sign_in

UKRAINIAN = {"Accept-Language": "uk-UA,uk;q=0.9,en;q=0.5"}


def words(response: object) -> str:
    """The page with every run of whitespace (no-break spaces in amounts too) one space."""
    return " ".join(text(response).split())  # type: ignore[arg-type]


def test_the_sign_in_page_by_query_and_by_browser(client: FlaskClient) -> None:
    for response in (client.get("/account/sign-in?lang=uk"), FlaskClient(client.application).get(
            "/account/sign-in", headers=UKRAINIAN)):
        page = words(response)
        assert '<html lang="uk">' in page and "Увійдіть до облікового запису прихильника" in page
        assert "Надіслати посилання для входу" in page and "Sign in to your supporter account" not in page


def test_a_sign_in_form_error_in_ukrainian(client: FlaskClient) -> None:
    response = client.post("/account/sign-in?lang=uk", data={"email": "not-an-address",
                                                               "csrf_token": csrf_token(client, "/account/sign-in")})
    assert response.status_code == 400
    assert "Введіть дійсну адресу електронної пошти." in words(response)


def test_the_sign_in_link_email_is_in_the_supporters_language(client: FlaskClient) -> None:
    add_supporter(locale="uk")
    token = csrf_token(client, "/account/sign-in")
    response = client.post("/account/sign-in", data={"email": "olena@example.org", "csrf_token": token})
    assert response.status_code == 200 and "Check your email" in words(response)  # the page is the reader's
    db.session.rollback()
    email = db.session.scalars(sa.select(OutboundEmail)).one()
    assert email.subject.startswith("Ваше посилання для входу до ")
    assert "Воно діє один раз протягом 15 хвилин." in email.body_text


def test_the_account_in_ukrainian(client: FlaskClient) -> None:
    olena = add_supporter()
    add_membership(olena)
    sign_in(client, olena)
    page = words(client.get("/account?lang=uk"))
    assert "<h1>Ваш обліковий запис</h1>" in page and "Ви увійшли як <strong>olena@example.org</strong>." in page
    assert "5,00 €/міс." in page and "Скасувати членство" in page and "Мова" in page


def test_choosing_the_account_language(app: Flask, client: FlaskClient) -> None:
    olena = add_supporter()
    sign_in(client, olena)
    client.get("/account?lang=en")  # a `lang` cookie from an earlier visit
    response = client.post("/account/language", data={"locale": "uk", "csrf_token": csrf_token(client, "/account")})
    assert response.status_code == 303 and response.headers["Location"] == "/account"
    page = words(client.get("/account"))  # no ?lang: the saved language, not the old cookie
    assert "Збережено. Мова вашого облікового запису та наших листів до вас: Українська." in page
    assert "Ваш обліковий запис" in page
    db.session.expire_all()
    assert db.session.get(Supporter, olena.id).locale == "uk"  # type: ignore[union-attr]

    client.post("/account/language", data={"locale": "en", "csrf_token": csrf_token(client, "/account")})
    page = words(client.get("/account"))
    assert "Saved: your account and our emails to you are now in English." in page and "Your account" in page


def test_an_offered_language_only(client: FlaskClient) -> None:
    olena = add_supporter(locale="uk")
    sign_in(client, olena)
    client.post("/account/language", data={"locale": "de", "csrf_token": csrf_token(client, "/account")})
    assert "Виберіть одну із запропонованих мов." in words(client.get("/account"))
    db.session.expire_all()
    assert db.session.get(Supporter, olena.id).locale == "uk"  # type: ignore[union-attr]


def test_change_amount_and_cancel_in_ukrainian(client: FlaskClient) -> None:
    olena = add_supporter()
    add_membership(olena)
    sign_in(client, olena)
    page = words(client.get("/account/amount", headers=UKRAINIAN))
    assert "Змінити суму внеску" in page and "У EUR на місяць, від" in page
    response = client.post("/account/amount?lang=uk", data={"amount": "5", "currency": "EUR",
                                                             "csrf_token": csrf_token(client, "/account/amount")})
    assert response.status_code == 400 and "Ви вже робите внесок 5,00 €/міс." in words(response)
    page = words(client.get("/account/cancel?lang=uk"))
    assert "Скасувати наприкінці періоду" in page and "Зараз для мене це задорого" in page
    assert " р., і більше коштів не буде списано." in page  # the date in Ukrainian


def test_the_fix_card_and_invalid_link_pages_in_ukrainian(client: FlaskClient) -> None:
    olena = add_supporter()
    token = issue_token(db.session(), olena, TokenPurpose.FIX_CARD, timedelta(days=7))
    db.session.commit()
    page = words(client.get(f"/account/fix-card/{token}?lang=uk"))
    assert "Оновіть картку" in page and "Оновити картку" in page
    response = client.get("/account/sign-in/not-a-token", headers=UKRAINIAN)
    assert response.status_code == 400
    assert "Цим посиланням не можна скористатися" in words(response) and "Це посилання недійсне." in words(response)
