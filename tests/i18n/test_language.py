"""Which language a page is in, and the catalogs behind it."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po
from flask import Flask
from flask.testing import FlaskClient

from membership import catalogs
from membership.config import ConfigError, load_settings
from membership.i18n import LOCALE_COOKIE, PATRON_LOCALE_KEY, STAFF_LOCALE_KEY, check_locales, stripe_locale, supported
from tests.support.patrons import add_supporter, sign_in


def _lang(client: FlaskClient, path: str = "/give", **headers: str) -> str:
    page = client.get(path, headers=headers).get_data(as_text=True)
    return page.split('<html lang="', 1)[1].split('"', 1)[0]


def test_the_default_is_english_and_the_browser_language_counts(client: FlaskClient) -> None:
    assert _lang(client) == "en"
    assert _lang(client, **{"Accept-Language": "uk-UA,uk;q=0.9,en;q=0.5"}) == "uk"
    assert _lang(client, **{"Accept-Language": "de-DE,fr;q=0.8"}) == "en"  # nothing offered: the default


def test_lang_in_the_address_wins_and_is_remembered(client: FlaskClient) -> None:
    response = client.get("/give?lang=uk", headers={"Accept-Language": "en"})
    assert '<html lang="uk">' in response.get_data(as_text=True)
    cookie = client.get_cookie(LOCALE_COOKIE)
    assert cookie is not None and cookie.value == "uk"
    assert _lang(client, "/supporters", **{"Accept-Language": "en"}) == "uk"  # remembered without ?lang
    assert _lang(client, "/supporters?lang=xx", **{"Accept-Language": "en"}) == "uk"  # unknown: ignored


def test_a_signed_in_patrons_saved_language_comes_before_the_browser(app: Flask, client: FlaskClient) -> None:
    supporter = add_supporter(locale="uk")
    sign_in(client, supporter)
    with client.session_transaction() as session:
        assert session[PATRON_LOCALE_KEY] == "uk"
    assert _lang(client, "/account", **{"Accept-Language": "en"}) == "uk"
    assert _lang(client, "/account?lang=en", **{"Accept-Language": "uk"}) == "en"  # an explicit choice still wins


def test_staff_pages_follow_the_staff_language_not_the_patrons(client: FlaskClient) -> None:
    with client.session_transaction() as session:
        session[PATRON_LOCALE_KEY] = "uk"
        session[STAFF_LOCALE_KEY] = "en"
    assert _lang(client, "/staff/sign-in") == "en"
    assert _lang(client, "/give") == "uk"


def test_the_publicly_cached_appeal_ignores_cookie_and_session(client: FlaskClient) -> None:
    client.get("/give?lang=uk")
    response = client.get("/appeal", headers={"Accept-Language": "en"})
    assert '<html lang="en">' in response.get_data(as_text=True)
    assert "Accept-Language" in response.headers["Vary"]
    assert "Set-Cookie" not in response.headers
    response = client.get("/appeal?lang=uk")
    assert '<html lang="uk">' in response.get_data(as_text=True) and "Set-Cookie" not in response.headers


def test_every_public_page_has_a_language_switch_to_itself(client: FlaskClient) -> None:
    page = client.get("/give?currency=EUR").get_data(as_text=True)
    assert 'href="/give?currency=EUR&amp;lang=uk"' in page and 'hreflang="uk"' in page
    assert "Українська" in page and 'aria-current="true" lang="en">English' in page


def test_language_names_and_codes_are_forgiving(app: Flask) -> None:
    with app.test_request_context():
        assert supported("UK") == "uk" and supported("en-GB") == "en" and supported("uk_UA") == "uk"
        assert supported("pl") is None and supported("") is None


def test_stripe_gets_a_locale_it_takes(app: Flask) -> None:
    with app.test_request_context():
        assert stripe_locale("en") == "en"
        assert stripe_locale("uk") == "auto"  # Stripe's pages don't offer Ukrainian: the browser's language
    app.config["STRIPE_LOCALES"] = {"en": "en-GB"}
    with app.test_request_context():
        assert stripe_locale("en") == "en-GB" and stripe_locale("uk") == "auto"


@pytest.mark.parametrize(("env", "message"), [
    ({"SUPPORTED_LOCALES": "en,xx-nonsense"}, "not a language code"),
    ({"SUPPORTED_LOCALES": "uk", "DEFAULT_LOCALE": "en"}, "DEFAULT_LOCALE"),
    ({"STRIPE_LOCALES": "uk=<script>"}, "STRIPE_LOCALES"),
])
def test_bad_language_settings_stop_start_up_with_a_message(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_locales(load_settings(env))


def test_the_default_settings_offer_english_and_ukrainian() -> None:
    settings = load_settings({})
    check_locales(settings)
    assert settings["SUPPORTED_LOCALES"] == ["en", "uk"] and settings["DEFAULT_LOCALE"] == "en"


def test_every_offered_language_has_a_complete_catalog(app: Flask) -> None:
    for locale in app.config["SUPPORTED_LOCALES"]:
        if locale != catalogs.SOURCE_LOCALE:
            assert catalogs.po_path(locale).exists(), f"no catalog for {locale}"
            assert catalogs.gaps(locale) == [], f"{locale} needs a translator"


def test_the_catalog_check_finds_untranslated_fuzzy_and_broken_entries(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalogs, "TRANSLATIONS", tmp_path)
    catalog = Catalog(locale="uk")
    catalog.add("Give", "Підтримати")
    catalog.add("Vote", "")
    catalog.add("Cancel", "Скасувати", flags=["fuzzy"])
    catalog.add("Hello %(name)s", "Вітаємо")
    catalog.add(("%(num)d patron", "%(num)d patrons"), ("%(num)d патрон", "%(num)d патрони", ""))
    path = tmp_path / "uk" / "LC_MESSAGES" / "messages.po"
    path.parent.mkdir(parents=True)
    with path.open("wb") as handle:
        write_po(handle, catalog)
    problems = {(gap.msgid, gap.problem) for gap in catalogs.gaps("uk")}
    assert problems == {("Vote", "untranslated"), ("Cancel", "fuzzy"), ("Hello %(name)s", "placeholders"),
                        ("%(num)d patron", "untranslated")}
