"""The give form: pre-filling, validation, and the exact Checkout Session request sent to Stripe."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from membership.db import db
from membership.demo import seed_catalogue
from membership.giving.models import Checkout, CheckoutStatus, CurrencyLimit, Frequency
from membership.installation import installation_id
from membership.supporters.models import ConsentEvent, Supporter
from stripe_double import DoubleServer
from tests.support.helpers import count, csrf_token, text

VALID = {
    "frequency": "once",
    "currency": "EUR",
    "preset": "",
    "amount": "10",
    "email": "Olena@Example.org",
    "name": "Olena",
    "message": "Keep going!",
}


@pytest.fixture(autouse=True)
def catalogue(app: Flask) -> None:
    seed_catalogue(db.session())
    db.session.commit()


def give(client: FlaskClient, **changes: Any) -> Any:
    data = {**VALID, "csrf_token": csrf_token(client), **changes}
    return client.post("/give", data={k: v for k, v in data.items() if v is not None})


def session_requests(double: DoubleServer) -> list[Any]:
    return [r for r in double.requests if r["method"] == "POST" and r["path"] == "/v1/checkout/sessions"]


def test_support_page_shows_appeal_tiers_and_other_ways(app: Flask, client: FlaskClient) -> None:
    app.config["NEWSROOM_OTHER_WAYS"] = "Tell a friend about us.\n\nSend us a tip at tips@example.org."
    page = text(client.get("/"))
    assert "one cup of" in page and "coffee a month" in page
    assert "Cup of coffee" in page and "€3.00/month" in page and "€30.00/year" in page
    assert "Patron" in page and "€10.00/month" in page
    assert "Other ways to support" in page
    assert "Tell a friend about us." in page and "Send us a tip at tips@example.org." in page
    assert "/give?frequency=monthly&amount=3&currency=EUR" in page


def test_support_page_switches_currency_and_keeps_attribution(client: FlaskClient) -> None:
    page = text(client.get("/?currency=UAH&source=https://news.example/story&utm_campaign=winter"))
    assert "UAH" in page and "/month" in page
    assert "source=https%3A%2F%2Fnews.example%2Fstory" in page and "utm_campaign=winter" in page


def test_give_form_prefills_from_query(client: FlaskClient) -> None:
    page = text(client.get("/give?amount=5&frequency=monthly&currency=USD&source=https://news.example/a&utm_source=nl"))
    assert re.search(r'<option selected value="USD">|<option value="USD" selected', page)
    assert re.search(r'id="frequency-1"[^>]*value="monthly"|value="monthly"[^>]*checked', page)
    assert 'checked id="preset-1"' in page or re.search(r'value="5"[^>]*checked|checked[^>]*value="5"', page)
    assert "$5.00/month" in page
    assert 'value="https://news.example/a"' in page and 'value="nl"' in page


def test_custom_amount_prefill_when_not_a_preset(client: FlaskClient) -> None:
    page = text(client.get("/give?amount=7.5&currency=EUR"))
    assert 'name="amount"' in page and 'value="7.50"' in page


@pytest.mark.parametrize(
    ("query", "notice"),
    [
        ("currency=XYZ", "We can't accept XYZ"),
        ("frequency=weekly", "frequency we don't offer"),
        ("amount=lots", "amount in the link isn't one we can use"),
    ],
)
def test_give_form_explains_unusable_query_values(client: FlaskClient, query: str, notice: str) -> None:
    response = client.get(f"/give?{query}")
    assert response.status_code == 200
    assert notice in text(response)


def test_once_gift_creates_pending_checkout_and_exact_stripe_request(
    client: FlaskClient, double: DoubleServer
) -> None:
    response = give(client, source="https://news.example/story?id=1", utm_source="newsletter",
                    utm_medium="email", utm_campaign="winter")
    assert response.status_code == 303
    assert response.headers["Location"].startswith(double.url)
    checkout = db.session.scalars(db.select(Checkout)).one()
    supporter = checkout.supporter
    assert supporter.email == "olena@example.org" and supporter.name == "Olena"
    assert checkout.status is CheckoutStatus.OPEN
    assert (checkout.amount_minor, checkout.currency, checkout.frequency) == (1000, "EUR", Frequency.ONCE)
    assert checkout.source_url == "https://news.example/story?id=1"
    assert (checkout.utm_source, checkout.utm_medium, checkout.utm_campaign) == ("newsletter", "email", "winter")
    assert checkout.message == "Keep going!"
    [request] = session_requests(double)
    assert request["idempotency_key"] == f"{installation_id(db.session())}-checkout-{checkout.id}-session"
    params = request["params"]
    assert params["mode"] == "payment"
    # Adaptive Pricing off: the reader pays the amount and currency they chose, not one Stripe localised.
    assert params["adaptive_pricing"] == {"enabled": "false"}
    session = double.state.get(checkout.stripe_session_id or "")
    assert session is not None and session["adaptive_pricing"] == {"enabled": False}
    assert params["submit_type"] == "donate"
    assert params["customer_email"] == "olena@example.org"
    assert params["customer_creation"] == "always"
    assert "customer" not in params
    assert params["client_reference_id"] == str(checkout.id)
    assert params["metadata"] == {"checkout_id": str(checkout.id), "supporter_id": str(supporter.id)}
    assert params["payment_intent_data"]["metadata"]["checkout_id"] == str(checkout.id)
    line = params["line_items"][0]
    assert line["quantity"] == "1"
    assert line["price_data"]["currency"] == "eur"
    assert line["price_data"]["unit_amount"] == "1000"
    assert "recurring" not in line["price_data"]
    assert params["success_url"].endswith("/give/thanks?session_id={CHECKOUT_SESSION_ID}")
    assert "/give/cancelled?ref=" in params["cancel_url"]
    assert checkout.stripe_session_id == double_session_id(response.headers["Location"])


def double_session_id(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


@pytest.mark.parametrize(("frequency", "interval"), [("monthly", "month"), ("yearly", "year")])
def test_membership_uses_subscription_mode(client: FlaskClient, double: DoubleServer, frequency: str,
                                           interval: str) -> None:
    assert give(client, frequency=frequency, amount="5").status_code == 303
    [request] = session_requests(double)
    params = request["params"]
    assert params["mode"] == "subscription"
    assert "submit_type" not in params and "customer_creation" not in params
    assert params["line_items"][0]["price_data"]["recurring"] == {"interval": interval}
    assert params["adaptive_pricing"] == {"enabled": "false"}
    assert params["subscription_data"]["metadata"]["checkout_id"]


def test_covering_fees_grosses_up_the_charge(client: FlaskClient, double: DoubleServer) -> None:
    assert give(client, amount="10", cover_fees="y").status_code == 303
    checkout = db.session.scalars(db.select(Checkout)).one()
    # 1.5% + €0.25: €10.41 gross leaves €10.00 after Stripe's €0.41 fee (10.41 * 0.015 = 0.156 → 0.16 + 0.25).
    assert checkout.fee_cover_minor == 41 and checkout.total_minor == 1041
    price = session_requests(double)[0]["params"]["line_items"][0]["price_data"]
    assert price["unit_amount"] == "1041"
    assert "€10.00 + €0.41 to cover card fees" in price["product_data"]["name"]


def test_returning_supporter_is_found_by_normalised_email(client: FlaskClient) -> None:
    give(client, email="olena@example.org")
    give(client, email="  OLENA@EXAMPLE.ORG ")
    assert count(Supporter) == 1 and count(Checkout) == 2


def test_email_consent_is_off_unless_ticked(client: FlaskClient) -> None:
    page = text(client.get("/give"))
    assert re.search(r'<input id="email_consent" name="email_consent" type="checkbox" value="y">', page)
    give(client)
    supporter = db.session.scalars(db.select(Supporter)).one()
    assert supporter.email_consent is False and count(ConsentEvent) == 0
    give(client, email="other@example.org", email_consent="y")
    other = db.session.scalars(db.select(Supporter).where(Supporter.email == "other@example.org")).one()
    # Kept with the checkout until it is paid (tests/giving/test_consent.py): the supporter's own choice is untouched.
    assert other.email_consent is False and other.email_consent_at is None and count(ConsentEvent) == 0
    checkout = db.session.scalars(db.select(Checkout).where(Checkout.supporter_id == other.id)).one()
    assert checkout.email_consent is True


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"amount": ""}, "Choose an amount or enter your own."),
        ({"amount": "0"}, "The amount must be more than zero."),
        ({"amount": "-5"}, "The amount must be more than zero."),
        ({"amount": "ten"}, "Enter the amount as a number"),
        ({"amount": "5.001"}, "Use at most two decimal places. For 5001, type it without a thousands separator."),
        ({"amount": "1,000"}, "Did you mean 1000 or 1,00? Type one of those, without a thousands separator."),
        ({"amount": "2,000"}, "Did you mean 2000 or 2,00? Type one of those, without a thousands separator."),
        ({"amount": "1.000"}, "Did you mean 1000 or 1.00? Type one of those, without a thousands separator."),
        ({"amount": "0,001"}, "Use at most two decimal places."),
        ({"amount": "1e3"}, "Enter the amount as a number, like 10 or 7.50."),
        ({"amount": "\u0665"}, "Type the amount with the digits 0 to 9."),
        ({"amount": "1,00.50"}, "Check the separators: type the amount like 1000 or 1000.50"),
        ({"amount": "$5"}, "Enter the amount as a number, like 10 or 7.50."),
        ({"amount": "9" * 20}, "That amount is too large."),
        ({"amount": "0.50"}, "The smallest amount we can accept is €1.00."),
        ({"amount": "10000.01"}, "The largest amount we can accept online is €10,000.00."),
        ({"amount": "30", "currency": "UAH"}, "The smallest amount we can accept is UAH"),
        ({"currency": "XYZ"}, "Choose one of the currencies listed."),
        ({"frequency": "weekly"}, "Choose once, monthly or yearly."),
        ({"email": "not-an-email"}, "Enter a valid email address."),
        ({"name": "x" * 121}, "Your name can be at most 120 characters."),
        ({"message": "x" * 501}, "Your message can be at most 500 characters."),
    ],
)
def test_bad_input_rerenders_with_message_and_creates_nothing(
    client: FlaskClient, double: DoubleServer, changes: dict[str, str], message: str
) -> None:
    response = give(client, **changes)
    assert response.status_code == 400
    page = text(response)
    assert message in page
    assert 'class="field-error"' in page and "Please check the form" in page
    assert count(Supporter) == 0 and count(Checkout) == 0
    assert session_requests(double) == []


@pytest.mark.parametrize(("typed", "minor"), [
    ("5", 500), ("5.5", 550), ("5,50", 550), ("1 000", 100_000), ("1,000.50", 100_050), ("1.000,50", 100_050),
    ("€5", 500), ("5 EUR", 500), ("\uff15", 500), ("\uff11\uff10\uff0c\uff15", 1050), ("1\u00a0000", 100_000),
])
def test_typed_amounts_are_read_unambiguously(client: FlaskClient, double: DoubleServer, typed: str,
                                              minor: int) -> None:
    assert give(client, amount=typed).status_code == 303
    assert db.session.scalars(db.select(Checkout)).one().amount_minor == minor
    [request] = session_requests(double)
    assert request["params"]["line_items"][0]["price_data"]["unit_amount"] == str(minor)


def test_covered_fees_may_not_lift_the_total_past_stripes_maximum(client: FlaskClient, double: DoubleServer) -> None:
    db.session.add(CurrencyLimit(currency="EUR", minimum_minor=100, maximum_minor=99_999_999))
    db.session.commit()
    response = give(client, amount="999999", cover_fees="y")
    assert response.status_code == 400
    assert ("With the card fees covered the total would be €1,015,227.66, more than Stripe can charge in one payment "
            "(€999,999.99). Choose a smaller amount.") in text(response)
    assert count(Checkout) == 0 and session_requests(double) == []
    assert give(client, amount="999999").status_code == 303  # without the fees it is one charge Stripe takes


def test_a_minimum_below_stripes_is_not_trusted(client: FlaskClient, double: DoubleServer) -> None:
    """A bound saved before Stripe's table was checked still can't send Stripe a charge it refuses."""
    db.session.add(CurrencyLimit(currency="EUR", minimum_minor=10, maximum_minor=1_000_000))
    db.session.commit()
    response = give(client, amount="0.30")
    assert response.status_code == 400
    assert "Stripe can't charge less than €0.50 in one payment." in text(response)
    assert session_requests(double) == []
    assert give(client, amount="0.30", cover_fees="y").status_code == 303  # €0.56 with the fees: Stripe takes it


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_missing_or_invalid_csrf_gets_clear_400(client: FlaskClient, double: DoubleServer,
                                                token: str | None) -> None:
    data = {**VALID}
    if token:
        data["csrf_token"] = token
    response = client.post("/give", data=data)
    assert response.status_code == 400
    page = text(response)
    assert "This form has expired" in page and "Nothing was changed" in page
    assert count(Supporter) == 0 and session_requests(double) == []


def test_preset_choice_is_used_when_no_custom_amount(client: FlaskClient, double: DoubleServer) -> None:
    assert give(client, amount="", preset="25").status_code == 303
    assert db.session.scalars(db.select(Checkout)).one().amount_minor == 2500


def test_refresh_button_updates_presets_without_creating_anything(client: FlaskClient) -> None:
    response = give(client, refresh="1", currency="UAH", frequency="monthly")
    assert response.status_code == 200
    assert "UAH" in text(response) and "/month" in text(response)
    assert count(Checkout) == 0


def test_stripe_unreachable_shows_503_and_keeps_pending_checkout(app: Flask, client: FlaskClient) -> None:
    from membership.giving.stripe_gateway import StripeGateway

    app.extensions["stripe_gateway"] = StripeGateway("sk_test_x", api_base="http://127.0.0.1:9", timeout_seconds=1)
    response = give(client)
    assert response.status_code == 503
    page = text(response)
    assert "Payments are unavailable right now" in page and "Nothing was charged" in page
    checkout = db.session.scalars(db.select(Checkout)).one()
    assert checkout.status is CheckoutStatus.PENDING and checkout.stripe_session_id is None


def test_page_has_no_third_party_assets_and_labels_every_control(client: FlaskClient) -> None:
    response = client.get("/give")
    page = text(response)
    assert "http://" not in page.replace('value="http', "") and "https://" not in page
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    for control in re.findall(r'<(?:input|select|textarea)[^>]*id="([^"]+)"', page):
        if control in {"csrf_token", "source", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"}:
            continue
        assert f'for="{control}"' in page, f"no label for #{control}"


def test_give_opens_on_monthly_with_the_middle_preset_chosen(client: FlaskClient) -> None:
    def checked(page: str, name: str) -> list[str]:
        return re.findall(r'<input checked[^>]*name="' + name + r'"[^>]*value="([^"]*)"', page)

    page = text(client.get("/give"))
    assert checked(page, "frequency") == ["monthly"] and checked(page, "preset") == ["10"]
    once = text(client.get("/give?frequency=once"))
    assert checked(once, "frequency") == ["once"] and checked(once, "preset") == ["50"]
    typed = text(client.get("/give?amount=7"))
    assert checked(typed, "preset") == [] and 'value="7"' in typed


def test_pages_link_the_favicon_and_amounts_are_real_radios(client: FlaskClient) -> None:
    page = text(client.get("/give"))
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    with client.get("/static/favicon.svg") as icon:
        assert icon.status_code == 200 and icon.get_data(as_text=True).startswith("<svg")
    tiles = re.findall(r'<span class="choice"><input[^>]*type="radio"[^>]*>\s*<label for="preset-\d">', page)
    assert len(tiles) == 4
