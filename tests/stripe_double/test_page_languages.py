# ruff: noqa: RUF001  (Ukrainian text: Cyrillic letters that look like Latin ones are meant)
"""The hosted pages speak the session's `locale`, or for `auto` the browser's Accept-Language, as Stripe's do; and
the double refuses `locale=uk`, as Stripe does (its pages have no Ukrainian)."""

from __future__ import annotations

import pytest
import stripe
from flask.testing import FlaskClient

from .conftest import payment_params, subscription_params

UK = {"Accept-Language": "uk-UA,uk;q=0.9"}


def test_auto_follows_the_browser(sdk: stripe.StripeClient, pages: FlaskClient) -> None:
    session = sdk.v1.checkout.sessions.create(params=subscription_params(locale="auto"))  # type: ignore[arg-type]
    ukrainian = pages.get(f"/c/pay/{session.id}", headers=UK).get_data(as_text=True)
    assert '<html lang="uk">' in ukrainian and "€5.00 на місяць" in ukrainian
    for label in ("Електронна пошта", "Номер картки", "Термін дії (ММ / РР)", "Ім’я на картці"):
        assert f">{label}</label>" in ukrainian
    assert ">Оформити підписку</button>" in ukrainian
    english = pages.get(f"/c/pay/{session.id}", headers={"Accept-Language": "de-DE,en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="en">' in english and "€5.00 per month" in english and ">Subscribe</button>" in english


@pytest.mark.parametrize("locale", ["en", None])
def test_a_named_locale_wins_over_the_browser(sdk: stripe.StripeClient, pages: FlaskClient,
                                              locale: str | None) -> None:
    extra = {"locale": locale} if locale else {}
    session = sdk.v1.checkout.sessions.create(params=payment_params(**extra))  # type: ignore[arg-type]
    page = pages.get(f"/c/pay/{session.id}", headers=UK).get_data(as_text=True)
    if locale == "en":
        assert ">Donate</button>" in page and ">Card number</label>" in page
    else:  # none given: Stripe's `auto`
        assert ">Пожертвувати</button>" in page and ">Номер картки</label>" in page


def test_the_portal_follows_its_locale(sdk: stripe.StripeClient, pages: FlaskClient) -> None:
    customer = sdk.v1.customers.create(params={"email": "p@example.com"})
    auto = sdk.v1.billing_portal.sessions.create(params={"customer": customer.id, "locale": "auto",
                                                         "return_url": "https://news.example/account"})
    page = pages.get(f"/p/session/{auto.id}", headers=UK).get_data(as_text=True)
    assert "<h1>Керування підпискою</h1>" in page and ">Зберегти картку</button>" in page
    assert "Повернутися на news.example" in page
    english = sdk.v1.billing_portal.sessions.create(params={"customer": customer.id, "locale": "en"})
    page = pages.get(f"/p/session/{english.id}", headers=UK).get_data(as_text=True)
    assert "<h1>Manage your subscription</h1>" in page and ">Save card</button>" in page


@pytest.mark.parametrize("create", ["checkout", "portal"])
def test_ukrainian_is_refused_as_stripe_refuses_it(sdk: stripe.StripeClient, create: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        if create == "checkout":
            sdk.v1.checkout.sessions.create(params=payment_params(locale="uk"))  # type: ignore[arg-type]
        else:
            customer = sdk.v1.customers.create(params={"email": "p@example.com"})
            sdk.v1.billing_portal.sessions.create(params={"customer": customer.id, "locale": "uk"})
    assert refused.value.param == "locale"
