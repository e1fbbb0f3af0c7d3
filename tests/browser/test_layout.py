"""Layout in a real browser: no page scrolls sideways on a 390 px phone, whoever is signed in and however long
the emails, titles and amounts; on a desktop screen the give form, the account and the thanks page use the width."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, FloatRect, Locator, Page, ViewportSize, expect

from membership.db import db
from membership.staff.accounts.models import Role, StaffUser
from membership.supporters.models import Supporter
from membership.supporters.tokens import TokenPurpose, issue_token
from stripe_double import DoubleServer
from tests.support.browser import ACTION_TIMEOUT_MS, latest_checkout, sign_in_staff
from tests.support.layout import (
    DESKTOP,
    PHONE,
    Site,
    patron_paths,
    public_paths,
    realistic_site,
    sideways_scroll,
    staff_paths,
)
from tests.support.servers import LiveServer

pytestmark = pytest.mark.browser

# The amount tiles whose label doesn't fit inside them.
TILES_OVERFLOWING = "(tiles) => tiles.filter((t) => t.scrollWidth > t.clientWidth).map((t) => t.textContent.trim())"
NEW_READER = "mariia-oleksandrivna.hrytsenko+first-gift@reader-mail.long-example-domain.com.ua"


@pytest.fixture
def site(app: Flask, double: DoubleServer, live_app: LiveServer) -> Site:
    return realistic_site(app.test_client(), double)


@pytest.fixture
def new_context(browser: Browser, live_app: LiveServer) -> Iterator[Callable[[ViewportSize], BrowserContext]]:
    """Browser contexts with a given viewport, closed at the end of the test."""
    opened: list[BrowserContext] = []

    def make(viewport: ViewportSize) -> BrowserContext:
        context = browser.new_context(base_url=live_app.url, viewport=viewport)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        opened.append(context)
        return context

    yield make
    for context in opened:
        context.close()


def signed_in_patron(context: BrowserContext, supporter: Supporter, live_app: LiveServer,
                     found: list[str] | None = None) -> Page:
    """A page signed in as the supporter through an emailed link's confirmation page (its layout checked into
    `found` on the way)."""
    page = context.new_page()
    token = issue_token(db.session(), supporter, TokenPurpose.SIGN_IN, timedelta(minutes=15))
    db.session.commit()
    if found is not None:
        found += sideways_scroll(page, [f"/account/sign-in/{token}"])
    else:
        page.goto(f"/account/sign-in/{token}")
    page.locator("main form").last.locator("[type=submit]").last.click()
    expect(page).to_have_url(f"{live_app.url}/account")
    return page


def signed_in_staff(app: Flask, context: BrowserContext, user: StaffUser, live_app: LiveServer) -> Page:
    sign_in_staff(context, app, user, live_app.url)
    return context.new_page()


def test_no_page_scrolls_sideways_on_a_390px_phone(
    app: Flask, site: Site, new_context: Callable[[ViewportSize], BrowserContext], live_app: LiveServer,
    make_staff: Callable[..., StaffUser],
) -> None:
    found = sideways_scroll(new_context(PHONE).new_page(), public_paths(site))
    found += sideways_scroll(signed_in_patron(new_context(PHONE), site.patron, live_app, found), patron_paths())
    staff = signed_in_staff(app, new_context(PHONE), make_staff(Role.ADMIN), live_app)
    found += sideways_scroll(staff, staff_paths(site))
    assert found == [], f"{len(found)} page(s) scroll sideways at 390 px:\n" + "\n".join(found)


def box(locator: Locator) -> FloatRect:
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not on the page"
    return found


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_give_form_beside_its_summary_on_desktop_stacked_on_a_phone(
    site: Site, new_context: Callable[[ViewportSize], BrowserContext], double: DoubleServer,
    viewport: ViewportSize,
) -> None:
    page = new_context(viewport).new_page()
    page.goto("/give?campaign=reconstruction-contracts")
    form = box(page.locator("form.give-form"))
    aside = box(page.locator(".give-aside"))
    if viewport == DESKTOP:
        assert aside["x"] >= form["x"] + form["width"], (form, aside)  # side by side, the form first
        assert aside["y"] < form["y"] + form["height"]
        assert form["width"] >= 500
    else:
        assert aside["y"] >= form["y"] + form["height"] or aside["y"] + aside["height"] <= form["y"], (form, aside)
        assert form["x"] >= 0 and form["x"] + form["width"] <= viewport["width"]

    page.get_by_label("Once", exact=True).check()
    page.get_by_label("€25.00", exact=True).check()
    assert page.locator(".presets .choice").evaluate_all(TILES_OVERFLOWING) == []
    expect(page.get_by_text("Total:")).to_have_text("Total: €25.00.")
    page.get_by_label("Monthly", exact=True).check()
    assert page.locator(".presets .choice").evaluate_all(TILES_OVERFLOWING) == []
    # "Other amount" is one more tile in the presets' grid: the same row height, a column's left edge, inside.
    other, first = box(page.locator(".custom-amount")), box(page.locator(".presets .choice").first)
    columns = {round(box(tile)["x"]) for tile in page.locator(".presets .choice").all()}
    assert any(abs(other["x"] - x) <= 1 for x in columns), (other, columns)
    assert other["height"] >= first["height"] - 1 and other["x"] + other["width"] <= form["x"] + form["width"]
    assert page.locator(".custom-amount").evaluate("(t) => getComputedStyle(t).borderTopStyle") == "solid"
    page.get_by_label("Other amount").fill("12")
    expect(page.get_by_text("Total:")).to_have_text("Total: €12.00/month.")
    page.get_by_label("Email", exact=True).fill(NEW_READER)
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    page.get_by_role("button", name="Continue to secure payment").click()
    page.wait_for_url(re.compile(re.escape(f"{double.url}/c/pay/cs_test_")))
    checkout = latest_checkout()
    assert (checkout.amount_minor, checkout.currency, checkout.frequency.value) == (1200, "EUR", "monthly")
    assert checkout.supporter.email == NEW_READER


def test_account_and_thanks_page_use_a_desktop_screen(
    site: Site, new_context: Callable[[ViewportSize], BrowserContext], live_app: LiveServer,
) -> None:
    page = signed_in_patron(new_context(DESKTOP), site.patron, live_app)
    panels = page.locator("main .panel")
    left = min(box(panels.nth(i))["x"] for i in range(panels.count()))
    right = max(box(panels.nth(i))["x"] + box(panels.nth(i))["width"] for i in range(panels.count()))
    assert right - left > 0.6 * DESKTOP["width"], (left, right)
    membership, statements = box(page.locator("#membership-heading")), box(page.locator("#statements-heading"))
    payments = box(page.locator("#payments-heading"))
    assert statements["x"] > membership["x"] and abs(statements["y"] - membership["y"]) < 5  # side by side
    updates, ballots = box(page.locator("#updates-heading")), box(page.locator("#ballot-emails-heading"))
    assert updates["y"] > payments["y"] and ballots["x"] > updates["x"] and abs(ballots["y"] - updates["y"]) < 5
    expect(page.get_by_role("region", name="Every payment, newest first").get_by_role("row")).to_have_count(37)

    page.goto(site.thanks_path)
    thanks = box(page.locator("main .panel").filter(has=page.get_by_role("heading", level=1)))
    next_steps = box(page.get_by_role("region", name="What next"))
    assert next_steps["x"] >= thanks["x"] + thanks["width"] and next_steps["y"] < thanks["y"] + thanks["height"]
    assert next_steps["x"] + next_steps["width"] - thanks["x"] > 0.6 * DESKTOP["width"]
    expect(page.get_by_role("region", name="What next").get_by_role("listitem")).to_have_count(7)  # 3 cards, 4 shares
