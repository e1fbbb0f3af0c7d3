"""A campaign's bar in the browser: an editor sets up an amount goal at /staff/campaigns, two readers give through
/give?campaign= and pay on the double's hosted checkout, and the bar on / and on the campaign's give form shows
what they raised, the goal and the days left; a refund a moment later takes its gift off the bar."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from membership.db import db, utcnow
from membership.giving.campaigns import Campaign
from membership.giving.models import Payment, PaymentStatus
from membership.staff.accounts.models import Role, StaffUser
from stripe_double import DoubleServer
from tests.support.browser import (
    ACTION_TIMEOUT_MS,
    CARD_OK,
    choose_gift,
    continue_to_payment,
    expect_thanks,
    latest_checkout,
    pay_with_card,
    sign_in_staff,
)
from tests.support.giving import settle, wait_until
from tests.support.servers import LiveServer
from tests.support.settings import STRIPE_KEY

pytestmark = pytest.mark.browser

SLUG = "frontline"


@pytest.fixture
def editor_page(app: Flask, browser: Browser, live_app: LiveServer,
                make_staff: Callable[..., StaffUser]) -> Iterator[Page]:
    """A browser signed in to the staff console as an editor (the session cookie a sign-in would set)."""
    context = browser.new_context(base_url=live_app.url)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    sign_in_staff(context, app, make_staff(Role.EDITOR), live_app.url)
    try:
        yield context.new_page()
    finally:
        context.close()


def create_campaign(page: Page) -> Campaign:
    """€1,000 for frontline reporting, from today for ten days, on the support page: as an editor types it."""
    today = utcnow().date()
    page.goto("/staff/campaigns/new?lang=en")
    page.get_by_label("Title", exact=True).fill("Frontline fund")
    page.get_by_label("Address name (slug)").fill(SLUG)
    page.get_by_label("Text", exact=True).fill("Keep our reporters on the road.")
    page.get_by_label("An amount raised").check()
    page.get_by_label("Amount to raise").fill("1000")
    page.get_by_label("Currency").select_option("EUR")
    page.get_by_label("First day (UTC)").fill(today.isoformat())
    page.get_by_label("Last day (UTC, included)").fill((today + timedelta(days=9)).isoformat())
    page.get_by_label("Show it on the support page while it runs").check()
    page.get_by_role("button", name="Create campaign").click()
    expect(page.get_by_text("Campaign created.")).to_be_visible()
    db.session.rollback()
    return db.session.scalars(sa.select(Campaign).where(Campaign.slug == SLUG)).one()


def give_through_the_campaign(page: Page, double: DoubleServer, live_app: LiveServer, *, email: str, name: str,
                              amount: str, thanks: str) -> None:
    page.goto(f"/give?campaign={SLUG}&lang=en")
    expect(page.get_by_role("heading", name="Frontline fund")).to_be_visible()
    choose_gift(page, frequency="Once", amount=amount, email=email, name=name)
    continue_to_payment(page, double)
    assert latest_checkout().utm_campaign == SLUG
    pay_with_card(page, CARD_OK)
    expect_thanks(page, live_app, thanks)
    settle(double)


def refund_at_the_double(page: Page, double: DoubleServer, charge_id: str) -> None:
    """A full refund made at Stripe (the newsroom's dashboard would call the same API): its webhook reaches us."""
    response = page.request.post(f"{double.url}/v1/refunds", form={"charge": charge_id},
                                 headers={"Authorization": f"Bearer {STRIPE_KEY}"})
    assert response.ok and response.json()["status"] == "succeeded", response.text()


def expect_bar(page: Page, path: str, *, raised: str, raised_minor: int, days_left: int) -> None:
    page.goto(path)
    campaign = page.get_by_role("region", name="Frontline fund")
    unit = "day" if days_left == 1 else "days"
    expect(campaign.locator(".campaign-figures")).to_have_text(
        f"{raised} raised of €1,000.00 · {days_left} {unit} left", use_inner_text=True)
    bar = campaign.locator("progress")
    expect(bar).to_have_attribute("max", "100000")
    expect(bar).to_have_attribute("value", str(raised_minor))
    assert bar.evaluate("el => el.position") == pytest.approx(raised_minor / 100_000)


def days_left(campaign: Campaign) -> int:
    return math.ceil((campaign.ends_at - utcnow()).total_seconds() / 86400)


def test_the_bar_shows_what_two_gifts_raised_and_drops_a_refunded_one(
        editor_page: Page, page: Page, double: DoubleServer, live_app: LiveServer) -> None:
    campaign = create_campaign(editor_page)
    assert 9 <= days_left(campaign) <= 10

    give_through_the_campaign(page, double, live_app, email="olena@example.org", name="Olena", amount="10",
                              thanks="Thank you, Olena: €10.00")
    give_through_the_campaign(page, double, live_app, email="mykola@example.org", name="Mykola", amount="25",
                              thanks="Thank you, Mykola: €25.00")
    for path in ("/?lang=en", f"/give?campaign={SLUG}&lang=en"):
        expect_bar(page, path, raised="€35.00", raised_minor=3500, days_left=days_left(campaign))

    db.session.rollback()
    olenas = db.session.scalars(sa.select(Payment).where(Payment.amount_minor == 1000)).one()
    assert olenas.stripe_charge_id
    refund_at_the_double(page, double, olenas.stripe_charge_id)
    settle(double)
    wait_until(lambda: db.session.get_one(Payment, olenas.id).status is PaymentStatus.REFUNDED)
    for path in ("/?lang=en", f"/give?campaign={SLUG}&lang=en"):
        expect_bar(page, path, raised="€25.00", raised_minor=2500, days_left=days_left(campaign))
