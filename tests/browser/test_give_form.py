"""The give form in a real browser: it works without JavaScript, and with it shows the exact total."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Page, expect

from membership.db import db
from membership.formatting import format_money
from membership.giving.models import AmountPreset, Checkout, CheckoutStatus, Frequency
from membership.giving.services import check_gift_amount, currency_rules, fee_cover_for
from membership.money import parse_major_amount
from stripe_double import DoubleServer
from tests.support.browser import EMAIL, NAME, choose_gift, continue_to_payment, latest_checkout
from tests.support.helpers import count

pytestmark = pytest.mark.browser

UPDATE_AMOUNTS = "Update amounts for this currency and frequency"
UAH_MONTHLY_PRESETS = ["UAH 100.00/month", "UAH 200.00/month", "UAH 400.00/month", "UAH 1,000.00/month"]


def test_without_javascript_update_amounts_then_reach_checkout(page_without_javascript: Page,
                                                               double: DoubleServer) -> None:
    page = page_without_javascript
    page.goto("/give?frequency=once")
    page.get_by_label("Email", exact=True).fill(EMAIL)
    page.get_by_label("Your name").fill(NAME)
    page.get_by_label("Currency").select_option("UAH")
    page.get_by_label("Monthly", exact=True).check()

    page.get_by_role("button", name=UPDATE_AMOUNTS).click()

    presets = page.get_by_role("group", name="Amount").get_by_role("radio")
    expect(presets).to_have_count(len(UAH_MONTHLY_PRESETS))
    for label in UAH_MONTHLY_PRESETS:
        expect(page.get_by_label(label, exact=True)).to_be_visible()
    expect(page.get_by_role("group", name="Amount (charged monthly)")).to_be_visible()
    expect(page.get_by_label("Currency")).to_have_value("UAH")
    expect(page.get_by_text("Adds 2.9% + UAH 10.00 to your payment")).to_be_visible()
    expect(page.get_by_label("Monthly", exact=True)).to_be_checked()
    expect(page.get_by_label("Email", exact=True)).to_have_value(EMAIL)
    expect(page.get_by_label("Your name")).to_have_value(NAME)
    expect(page.get_by_role("alert")).to_have_count(0)  # refreshing amounts is not a failed submission
    assert count(Checkout) == 0

    page.get_by_label("UAH 200.00/month", exact=True).check()
    continue_to_payment(page, double)

    checkout = latest_checkout()
    assert (checkout.currency, checkout.amount_minor, checkout.frequency) == ("UAH", 20000, Frequency.MONTHLY)
    assert checkout.status is CheckoutStatus.OPEN
    assert page.url == f"{double.url}/c/pay/{checkout.stripe_session_id}"
    expect(page.get_by_role("heading", level=1)).to_contain_text("Monthly membership")


def test_covering_the_fees_shows_the_exact_total(page: Page, double: DoubleServer) -> None:
    page.goto("/give")
    choose_gift(page, frequency="Once", amount="10")
    total = page.get_by_text("Total:")
    expect(total).to_have_text("Total: €10.00.")

    page.get_by_label("Cover the card processing fees").check()

    expect(total).to_have_text("Total: €10.41 (€10.00 for the newsroom + €0.41 card fees).")
    continue_to_payment(page, double)
    expect(page.get_by_text("€10.41", exact=True)).to_be_visible()
    checkout = latest_checkout()
    assert (checkout.amount_minor, checkout.fee_cover_minor, checkout.cover_fees) == (1000, 41, True)
    assert checkout.total_minor == 1041


def test_choosing_monthly_swaps_the_presets_without_a_reload(page: Page) -> None:
    page.goto("/give?frequency=once")
    expect(page.get_by_label("€25.00", exact=True)).to_be_visible()

    page.get_by_label("Monthly", exact=True).check()
    page.get_by_label("€5.00/month", exact=True).check()

    expect(page.get_by_text("Total:")).to_have_text("Total: €5.00/month.")
    expect(page.get_by_label("€25.00", exact=True)).to_have_count(0)
    assert count(Checkout) == 0


def test_with_javascript_the_update_amounts_button_is_hidden(page: Page) -> None:
    page.goto("/give")
    expect(page.get_by_role("button", name=UPDATE_AMOUNTS)).to_be_hidden(timeout=1_000)


def test_with_javascript_switching_currency_updates_the_fee_hint(page: Page) -> None:
    page.goto("/give")
    expect(page.get_by_text("Adds 1.5% + €0.25 to your payment")).to_be_visible()

    page.get_by_label("Currency").select_option("UAH")

    expect(page.get_by_text("Adds 2.9% + UAH 10.00 to your payment")).to_be_visible(timeout=1_000)


# What readers type; the live total must read each exactly as the server does, or show the server's hint.
TYPED = ["5", "5.5", "5,50", "1,000", "1.000", "2,000", "1 000", "1,000.50", "1.000,50", "€5", "5 EUR", "\uff15",
         "\uff11\uff0c\uff10\uff10\uff10", "-5", "abc", "0,001", "1e3", "5.001", "1,00.50", "\u0665", "$5", "0.50",
         "10000.01", "99999999999999"]


def server_reading(app: Flask, typed: str, currency: str, cover: bool) -> str:
    """What the server makes of `typed`: the total the reader would be charged, or the message it answers."""
    with app.test_request_context():
        rules = currency_rules()[currency]
        try:
            minor = parse_major_amount(typed, currency)
            check_gift_amount(rules, minor, cover)
        except ValueError as exc:
            return str(exc)
        fee = fee_cover_for(rules, minor) if cover else 0
    if fee:
        return (f"Total: {format_money(minor + fee, currency)} ({format_money(minor, currency)} for the newsroom + "
                f"{format_money(fee, currency)} card fees).")
    return f"Total: {format_money(minor, currency)}."


@pytest.mark.parametrize("cover", [False, True])
def test_the_live_total_reads_amounts_as_the_server_does(page: Page, app: Flask, cover: bool) -> None:
    page.goto("/give?frequency=once")
    if cover:
        page.get_by_label("Cover the card processing fees").check()
    summary = page.locator("[data-total]")
    for typed in TYPED:
        page.get_by_label("Other amount").fill(typed)
        expect(summary).to_have_text(server_reading(app, typed, "EUR", cover))
    page.get_by_label("Currency").select_option("UAH")
    for typed in ["₴200", "200 UAH", "1 000,50", "1.000", "30"]:
        page.get_by_label("Other amount").fill(typed)
        expect(summary).to_have_text(server_reading(app, typed, "UAH", cover))


def test_impact_texts_switch_with_the_frequencys_presets(page: Page) -> None:
    day = "pays for a day of fact-checking"
    preset = db.session.scalars(sa.select(AmountPreset).where(
        AmountPreset.currency == "EUR", AmountPreset.frequency == Frequency.MONTHLY,
        AmountPreset.amount_minor == 1000)).one()
    preset.impact, preset.translations = day, {"uk": {"impact": "оплачує день перевірки фактів"}}
    db.session.commit()

    page.goto("/give?frequency=once&lang=en")
    expect(page.get_by_text(day)).to_have_count(0)
    page.get_by_label("Monthly", exact=True).check()
    expect(page.get_by_label("€10.00/month", exact=True)).to_have_accessible_description(day)
    expect(page.get_by_label("€5.00/month", exact=True)).to_have_accessible_description("")
    page.get_by_label("Yearly", exact=True).check()
    expect(page.get_by_text(day)).to_have_count(0)
    page.get_by_label("Monthly", exact=True).check()
    expect(page.get_by_text(day)).to_be_visible()

    page.goto("/give?frequency=once&lang=uk")
    page.get_by_label("Щомісячно", exact=True).check()
    expect(page.get_by_text("оплачує день перевірки фактів")).to_be_visible()
