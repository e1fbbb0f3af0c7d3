# ruff: noqa: RUF001  (Ukrainian text: Cyrillic letters that look like Latin ones are meant)
"""A reader whose browser speaks Ukrainian gives in Ukrainian, from our give form through the double's Checkout
to our thanks page and the thank-you email; the header's switch turns the site English, and it stays so."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, expect

from membership.db import db
from membership.supporters.models import Supporter
from stripe_double import DoubleServer
from tests.support.browser import ACTION_TIMEOUT_MS, CONFIRMATION_TIMEOUT_MS, EMAIL, NAME, latest_checkout
from tests.support.giving import settle
from tests.support.servers import LiveServer, SmtpSink

pytestmark = pytest.mark.browser

FIVE_A_MONTH = re.compile(r"^5,00\s€/міс\.$")


@pytest.fixture
def ukrainian_page(browser: Browser, live_app: LiveServer) -> Iterator[Page]:
    """A reader in Kyiv: the browser asks for Ukrainian (Accept-Language: uk-UA) and nothing else is set."""
    context = browser.new_context(base_url=live_app.url, locale="uk-UA")
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def give_five_a_month_in_ukrainian(page: Page, double: DoubleServer, live_app: LiveServer) -> None:
    page.goto("/give")
    expect(page.locator("html")).to_have_attribute("lang", "uk")
    expect(page.get_by_role("heading", level=1)).to_have_text("Підтримайте нашу журналістику")
    page.get_by_label("Щомісячно", exact=True).check()
    page.get_by_label(FIVE_A_MONTH).check()
    expect(page.locator("[data-total]")).to_have_text(re.compile(r"^Разом: 5,00\s€/міс\.$"))
    page.get_by_label("Електронна пошта", exact=True).fill(EMAIL)
    page.get_by_label("Ваше ім’я").fill(NAME)
    page.get_by_role("button", name="Перейти до захищеної оплати").click()

    # The double's Checkout: we sent `locale=auto` (Stripe has no Ukrainian), so it follows the browser.
    page.wait_for_url(re.compile(re.escape(f"{double.url}/c/pay/cs_test_")))
    expect(page.locator("html")).to_have_attribute("lang", "uk")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Щомісячне членство в "))
    expect(page.get_by_text("€5.00 на місяць", exact=True)).to_be_visible()
    page.get_by_label("Номер картки").fill("4242 4242 4242 4242")
    page.get_by_label("Термін дії (ММ / РР)").fill("12 / 34")
    page.get_by_label("CVC").fill("123")
    page.get_by_label("Ім’я на картці").fill("Olena Kovalenko")
    page.get_by_role("button", name="Оформити підписку").click()

    expect(page).to_have_url(re.compile(re.escape(f"{live_app.url}/give/thanks?session_id=cs_test_")))
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Дякуємо, Olena: 5,00\s€/міс\.$"),
                                                              timeout=CONFIRMATION_TIMEOUT_MS)
    expect(page.locator("html")).to_have_attribute("lang", "uk")
    expect(page.get_by_text("Ваше членство активне.", exact=False)).to_be_visible()
    settle(double)


def test_a_reader_with_a_ukrainian_browser_gives_five_euros_a_month_in_ukrainian(
        ukrainian_page: Page, double: DoubleServer, live_app: LiveServer) -> None:
    give_five_a_month_in_ukrainian(ukrainian_page, double, live_app)
    [request] = [r for r in double.requests if r["path"] == "/v1/checkout/sessions" and r["method"] == "POST"]
    assert request["params"]["locale"] == "auto"
    checkout = latest_checkout()
    assert checkout.locale == "uk" and (checkout.amount_minor, checkout.currency) == (500, "EUR")
    db.session.rollback()
    assert db.session.scalars(sa.select(Supporter.locale).where(Supporter.email == EMAIL)).one() == "uk"


def test_the_thank_you_email_is_in_ukrainian(ukrainian_page: Page, double: DoubleServer, live_app: LiveServer,
                                             smtp_server: SmtpSink) -> None:
    give_five_a_month_in_ukrainian(ukrainian_page, double, live_app)
    [message] = smtp_server.to(EMAIL)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert re.search(r"5,00\s€/міс\.", text), text
    assert re.search("[а-яіїєґ]{4}", str(message["Subject"])), message["Subject"]


def test_the_header_switch_turns_the_site_english_and_it_stays_so(ukrainian_page: Page) -> None:
    page = ukrainian_page
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "uk")
    switch = page.get_by_role("navigation", name="Мова")
    switch.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=2, name="Become a patron")).to_be_visible()
    # Remembered: the next pages, reached without ?lang, stay English although the browser asks for Ukrainian.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Give", exact=True).click()
    expect(page).to_have_url(re.compile(r"/give$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Support our journalism")
    page.goto("/supporters")
    expect(page.get_by_role("heading", level=1)).to_have_text("Our supporters")
    # And back to Ukrainian, from the English switch.
    page.get_by_role("navigation", name="Language").get_by_role("link", name="Українська").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Наші прихильники")
    page.goto("/give")
    expect(page.get_by_role("heading", level=1)).to_have_text("Підтримайте нашу журналістику")
