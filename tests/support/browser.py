"""What a reader does in the browser: fill the give form, pay on the double's hosted page, read the result.

Locators use what the reader sees (labels, roles, button names), so a renamed label fails the tests as it
would confuse a screen-reader user.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect

from membership.db import db
from membership.giving.models import Checkout
from membership.staff.accounts.models import StaffUser
from stripe_double import DoubleServer
from tests.support.servers import LiveServer
from tests.support.staff import sign_in_as

EMAIL = "olena@example.org"
NAME = "Olena"
CARD_OK = "4242 4242 4242 4242"
CARD_DECLINED = "4000 0000 0000 0002"
CARD_FAILS_LATER = "4000 0000 0000 0341"
CARD_3DS = "4000 0027 6000 3184"
# Long enough for a loaded CI machine; a step that takes longer than this is a bug worth a failure.
ACTION_TIMEOUT_MS = 10_000
# The thanks page refreshes every 3 s until Stripe or the webhook confirms the payment.
CONFIRMATION_TIMEOUT_MS = 15_000


def sign_in_staff(context: BrowserContext, app: Flask, user: StaffUser, url: str) -> None:
    """Give a browser context the session cookie a staff member's sign-in would set (signed in through the
    test client, so each test needn't type a password and a one-time code)."""
    cookie = sign_in_as(app.test_client(), user).get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": url}])


def choose_gift(page: Page, *, frequency: str = "Once", amount: str | None = "10", preset: str | None = None,
                email: str = EMAIL, name: str = NAME) -> None:
    """On /give: pick the frequency, then a preset (by its label, e.g. "€5.00/month") or an amount."""
    page.get_by_label(frequency, exact=True).check()
    if preset is not None:
        page.get_by_label(preset, exact=True).check()
    elif amount is not None:
        page.get_by_label("Other amount").fill(amount)
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Your name").fill(name)


def continue_to_payment(page: Page, double: DoubleServer) -> None:
    """Submit the give form and arrive on the double's hosted checkout page."""
    page.get_by_role("button", name="Continue to secure payment").click()
    page.wait_for_url(re.compile(re.escape(f"{double.url}/c/pay/cs_test_")))


def pay_with_card(page: Page, card: str) -> None:
    """Type a card into the hosted form and press its one button (Pay, Donate or Subscribe)."""
    page.get_by_label("Card number").fill(card)
    page.get_by_label("Expiry (MM / YY)").fill("12 / 34")
    page.get_by_label("CVC").fill("123")
    page.get_by_label("Name on card").fill("Olena Kovalenko")
    page.locator("main form").get_by_role("button").click()


def expect_thanks(page: Page, live_app: LiveServer, heading: str) -> None:
    """Back on our thanks page, which shows `heading` once the payment is confirmed."""
    expect(page).to_have_url(re.compile(re.escape(f"{live_app.url}/give/thanks?session_id=cs_test_")))
    expect(page.get_by_role("heading", level=1)).to_have_text(heading, timeout=CONFIRMATION_TIMEOUT_MS)


def latest_checkout() -> Checkout:
    """The newest checkout row, as committed by the live app."""
    db.session.rollback()
    checkout = db.session.scalars(sa.select(Checkout).order_by(Checkout.id.desc())).first()
    assert checkout is not None, "the give form recorded no checkout"
    return checkout


# Every visible form control and whether a person using a screen reader hears a label for it.
CONTROLS_AND_LABELS = """() => Array.from(document.querySelectorAll("input, select, textarea"))
  .filter((el) => el.type !== "hidden" && el.checkVisibility())
  .map((el) => ({
    control: el.outerHTML,
    labelled: Array.from(el.labels).some((label) => label.textContent.trim() !== "")
      || Boolean(el.getAttribute("aria-label") || el.getAttribute("aria-labelledby")),
  }))"""
