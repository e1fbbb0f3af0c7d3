# ruff: noqa: RUF001  (Ukrainian text: Cyrillic letters that look like Latin ones are meant)
"""A reader's pages in their language: chosen by ?lang, the cookie it sets, or the browser's Accept-Language; the
appeal (publicly cached) by ?lang and Accept-Language only; Stripe told the page's language; amounts typed as
each language types them; what staff wrote, in each language."""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership.db import db
from membership.giving.models import Checkout, Frequency, Tier, TierAmount
from membership.i18n import in_locale, localized
from membership.money import parse_major_amount
from membership.supporters.models import Supporter
from stripe_double import DoubleServer
from tests.support.giving import pay, settle, start_gift
from tests.support.helpers import csrf_token, text
from tests.support.servers import LiveServer

UK = {"Accept-Language": "uk-UA,uk;q=0.9,en;q=0.5"}
EN = {"Accept-Language": "en-GB,en;q=0.9"}


def words(response: object) -> str:
    """The page's text as a reader reads it: tags gone, entities decoded, spaces collapsed."""
    page = text(response)  # type: ignore[arg-type]
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def html_lang(response: object) -> str:
    found = re.search(r'<html lang="([^"]+)"', text(response))  # type: ignore[arg-type]
    assert found
    return found.group(1)


PAGES = {
    "/": "Підтримайте незалежну журналістику",
    "/give": "Підтримайте нашу журналістику",
    "/supporters": "Наші прихильники",
    "/appeal": "Приєднуйтеся до спільноти читачів",
    "/no-such-page": "Сторінку не знайдено",
}


@pytest.mark.parametrize("path", list(PAGES))
def test_reader_pages_in_ukrainian_by_lang_and_by_the_browser(client: FlaskClient, path: str) -> None:
    by_lang = client.get(f"{path}?lang=uk", headers=EN)
    client.delete_cookie("lang")
    by_browser = client.get(path, headers=UK)
    for response in (by_lang, by_browser):
        assert html_lang(response) == "uk"
        assert PAGES[path] in words(response)
    english = client.get(path, headers=EN)
    assert html_lang(english) == "en" and PAGES[path] not in words(english)


def test_the_give_form_in_ukrainian_labels_and_formats(client: FlaskClient) -> None:
    page = words(client.get("/give?lang=uk&frequency=monthly"))
    for said in ("Як часто ви хочете робити внесок?", "Щомісячно", "Електронна пошта", "Ваше ім’я",
                 "Покрити комісію за картку", "Перейти до захищеної оплати", "(списується щомісяця)",
                 "Оберіть суму на місяць або введіть власну.", "Перейти до вмісту",
                 "Платежі безпечно обробляє Stripe"):
        assert said in page, said
    quote = client.get("/give/quote?amount=5,50&frequency=monthly&currency=EUR&lang=uk").get_json()
    assert quote["amount_minor"] == 550 and quote["summary"] == "Разом: 5,50\u00a0€/міс."  # one point
    refused = client.get("/give/quote?amount=1.000&frequency=monthly&currency=EUR&lang=uk").get_json()
    assert refused["error"].startswith("Ви мали на увазі 1000 чи 1.00?")


@pytest.mark.parametrize("path", ["/", "/give", "/supporters", "/ballots", "/account/sign-in", "/no-such-page"])
def test_every_public_page_has_the_language_switch(client: FlaskClient, path: str) -> None:
    page = text(client.get(path, headers=EN))
    switch = re.search(r'<nav class="language-switch"[^>]*>(.*?)</nav>', page, re.S)
    assert switch, path
    assert re.search(r'<a href="[^"]*lang=uk"[^>]*hreflang="uk"[^>]*>Українська</a>', switch.group(1))
    assert '<span aria-current="true" lang="en">English</span>' in switch.group(1)


def test_lang_sets_the_cookie_and_is_remembered(client: FlaskClient) -> None:
    response = client.get("/give?lang=en", headers=UK)
    assert "lang=en" in response.headers["Set-Cookie"]
    assert html_lang(client.get("/supporters", headers=UK)) == "en"  # no ?lang: the cookie wins the browser
    client.get("/?lang=uk", headers=EN)
    assert html_lang(client.get("/give", headers=EN)) == "uk"


def test_the_appeal_never_reads_or_sets_the_cookie(client: FlaskClient) -> None:
    client.get("/give?lang=uk")  # the reader chose Ukrainian somewhere else
    response = client.get("/appeal", headers=EN)
    assert html_lang(response) == "en" and "Set-Cookie" not in response.headers
    assert "Accept-Language" in response.headers["Vary"] and "Cookie" not in response.headers["Vary"]
    framed = client.get("/appeal?lang=uk", headers=EN)
    assert html_lang(framed) == "uk" and "Set-Cookie" not in framed.headers
    assert "Стати патроном" in words(framed)
    # Its links carry the language on, so the reader who follows one stays in Ukrainian.
    links = re.findall(r'<a [^>]*href="([^"]+)"', text(framed))
    assert links and all("lang=uk" in html.unescape(link) for link in links)


@pytest.mark.parametrize(("headers", "lang", "locale"), [(EN, "en", "en"), (UK, "uk", "auto")])
def test_checkout_is_opened_in_the_pages_language(client: FlaskClient, double: DoubleServer,
                                                  headers: dict[str, str], lang: str, locale: str) -> None:
    client.get(f"/give?lang={lang}", headers=headers)
    checkout = start_gift(client, frequency="monthly", amount="5")
    [request] = [r for r in double.requests if r["path"] == "/v1/checkout/sessions" and r["method"] == "POST"]
    assert request["params"]["locale"] == locale
    assert checkout.locale == lang
    if lang == "uk":
        assert request["params"]["line_items"][0]["price_data"]["product_data"]["name"].startswith(
            "Щомісячне членство в ")


def test_the_supporters_language_is_stored_when_their_checkout_completes(
        client: FlaskClient, double: DoubleServer, live_app: LiveServer) -> None:
    client.get("/give?lang=uk")
    checkout = start_gift(client, frequency="monthly", amount="5")
    assert checkout.supporter.locale is None  # not before paying
    pay(double, checkout)
    settle(double)
    assert db.session.get_one(Supporter, checkout.supporter_id).locale == "uk"
    thanks = words(client.get(f"/give/thanks?session_id={checkout.stripe_session_id}"))
    assert "Дякуємо, Olena: 5,00 €/міс." in thanks and "Ваше членство активне." in thanks


def test_the_portal_is_opened_in_the_pages_language(app: Flask, client: FlaskClient, double: DoubleServer,
                                                    live_app: LiveServer) -> None:
    from tests.support.patrons import sign_in

    client.get("/give?lang=uk")
    checkout = start_gift(client, frequency="monthly", amount="5")
    pay(double, checkout)
    settle(double)
    sign_in(client, db.session.get_one(Supporter, checkout.supporter_id))
    response = client.post("/account/portal", data={"csrf_token": csrf_token(client, "/account")}, headers=UK)
    assert response.status_code == 303
    [request] = [r for r in double.requests if r["path"] == "/v1/billing_portal/sessions"]
    assert request["params"]["locale"] == "auto"


# Amounts, as readers of each language type them -------------------------------------------------------------


@pytest.mark.parametrize(("locale", "typed", "minor"), [
    ("uk", "5,50", 550), ("uk", "5", 500), ("uk", "1 000", 100_000), ("uk", "1\u00a0000,50", 100_050),
    ("uk", "1\u202f000,50", 100_050), ("uk", "200 ₴", 20_000), ("uk", "7.50", 750),
    ("en", "5.50", 550), ("en", "1,000.50", 100_050), ("en", "1 000", 100_000), ("en", "5,50", 550),
])
def test_amounts_as_each_language_types_them(app: Flask, locale: str, typed: str, minor: int) -> None:
    with app.test_request_context(f"/give?lang={locale}"):
        assert parse_major_amount(typed, "UAH" if "₴" in typed else "EUR") == minor


@pytest.mark.parametrize(("locale", "typed", "said"), [
    ("uk", "1.000", "Ви мали на увазі 1000 чи 1.00? Введіть одне з них, без роздільника тисяч."),
    ("uk", "1,000", "Ви мали на увазі 1000 чи 1,00? Введіть одне з них, без роздільника тисяч."),
    ("uk", "abc", "Введіть суму числом, наприклад, 10 або 7,50."),
    ("uk", "1,00.50", "Перевірте роздільники: введіть суму як 1000 або 1000,50, без роздільників тисяч."),
    ("uk", "0", "Сума має бути більшою за нуль."),
    ("en", "1,000", "Did you mean 1000 or 1,00? Type one of those, without a thousands separator."),
    ("en", "abc", "Enter the amount as a number, like 10 or 7.50."),
])
def test_ambiguous_or_wrong_amounts_are_refused_in_the_readers_language(app: Flask, locale: str, typed: str,
                                                                          said: str) -> None:
    with app.test_request_context(f"/give?lang={locale}"), pytest.raises(ValueError) as refused:
        parse_major_amount(typed, "EUR")
    assert str(refused.value) == said


def test_the_give_form_takes_a_decimal_comma_and_explains_in_ukrainian(client: FlaskClient) -> None:
    checkout = start_gift(client, amount="5,50", lang="uk")
    assert checkout.amount_minor == 550
    response = client.post("/give?lang=uk", data={
        "frequency": "once", "currency": "EUR", "amount": "1.000", "email": "olena@example.org", "name": "Olena",
        "csrf_token": csrf_token(client)})
    assert response.status_code == 400
    page = words(response)
    assert "Перевірте форму" in page and "Ви мали на увазі 1000 чи 1.00?" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Checkout)) == 1


@pytest.mark.parametrize(("lang", "shown"), [("uk", "7,50"), ("en", "7.50")])
def test_a_prefilled_amount_reads_back_in_every_language(client: FlaskClient, lang: str, shown: str) -> None:
    page = text(client.get(f"/give?lang={lang}&amount=7.50&currency=EUR"))
    assert re.search(rf'<input[^>]*id="amount"[^>]*value="{re.escape(shown)}"', page)
    checkout = start_gift(client, amount=shown)
    assert checkout.amount_minor == 750


# What staff write, in each language ----------------------------------------------------------------------------


def test_tier_names_and_texts_in_the_readers_language_fall_back_to_the_default(client: FlaskClient) -> None:
    tier = Tier(slug="coffee", name="Coffee", description="A cup of coffee a month.", benefits="A monthly letter",
                amounts=[TierAmount(currency="EUR", frequency=Frequency.MONTHLY, amount_minor=300)],
                translations={"uk": {"name": "Кавовий", "benefits": "Щомісячний лист від редакції"}})
    db.session.add(tier)
    db.session.commit()
    page = words(client.get("/?lang=uk"))
    assert "Кавовий" in page and "Щомісячний лист від редакції" in page
    assert tier.description in page  # not given in Ukrainian: the default language's
    assert "Кавовий" not in words(client.get("/?lang=en"))
    with in_locale("uk"):
        assert localized(tier, "name") == "Кавовий" and localized(tier, "description") == tier.description


def test_the_newsroom_in_each_language(app: Flask, client: FlaskClient) -> None:
    app.config["NEWSROOM_NAME_UK"] = "Незалежна редакція"
    app.config["NEWSROOM_ADDRESS_UK"] = "вул. Прикладна, 1, Київ"
    app.config["NEWSROOM_OTHER_WAYS"] = "Tell a friend.\n\nSend us a tip."
    app.config["NEWSROOM_OTHER_WAYS_UK"] = "Розкажіть другові.\n\nНадішліть нам підказку."
    uk = words(client.get("/?lang=uk"))
    assert "зберігають незалежність Незалежна редакція" in uk and "вул. Прикладна, 1, Київ" in uk
    assert "Розкажіть другові. Надішліть нам підказку." in uk
    en = words(client.get("/?lang=en"))
    assert app.config["NEWSROOM_NAME"] in en and "Tell a friend." in en and "Незалежна" not in en


def test_the_built_in_other_ways_text_is_translated(client: FlaskClient) -> None:
    assert "Надішліть нам підказку чи ідею для матеріалу" in words(client.get("/?lang=uk"))


def test_newsroom_settings_are_read_for_each_supported_language() -> None:
    from membership.config import load_settings

    settings = load_settings({"SUPPORTED_LOCALES": "en,uk,pl", "NEWSROOM_NAME_UK": "Редакція",
                              "NEWSROOM_OTHER_WAYS_PL": "Powiedz znajomym.", "NEWSROOM_NAME_DE": "Redaktion"})
    assert settings["NEWSROOM_NAME_UK"] == "Редакція" and settings["NEWSROOM_OTHER_WAYS_PL"] == "Powiedz znajomym."
    assert "NEWSROOM_NAME_DE" not in settings  # not an offered language
