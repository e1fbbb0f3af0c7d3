"""A signed-in patron's buttons to Stripe's Billing Portal really land there in Chromium.

They are form POSTs answered with a 303 to the Portal, and Chromium holds every redirect of a form
submission to the page's CSP `form-action`; the double serves the Portal from an origin of its own
(as billing.stripe.com is apart from checkout.stripe.com), so a missing origin shows here.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from playwright.sync_api import ConsoleMessage, Page, expect

from membership.db import db
from membership.giving.models import Membership, MembershipStatus
from membership.supporters.models import Supporter
from membership.supporters.tokens import TokenPurpose, issue_token
from stripe_double import DoubleServer
from tests.support.patrons import become_patron
from tests.support.servers import LiveServer

pytestmark = pytest.mark.browser


def _supporter(membership: Membership) -> Supporter:
    supporter = db.session.get(Supporter, membership.supporter_id)
    assert supporter is not None
    return supporter


def _sign_in(page: Page, membership: Membership) -> None:
    token = issue_token(db.session(), _supporter(membership), TokenPurpose.SIGN_IN, timedelta(minutes=15))
    db.session.commit()
    page.goto(f"/account/sign-in/{token}")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()


def test_update_card_button_opens_the_portal(app: Flask, page: Page, double: DoubleServer,
                                             live_app: LiveServer) -> None:
    assert double.portal_url != double.url  # the Portal's origin differs from Checkout's
    membership = become_patron(app.test_client(), double)
    _sign_in(page, membership)

    page.get_by_role("button", name="Update card / invoices").click()

    expect(page.get_by_role("heading", name="Manage your subscription")).to_be_visible()
    assert page.url.startswith(f"{double.portal_url}/p/session/bps_")
    expect(page.get_by_text("Visa ending in 4242")).to_be_visible()
    page.get_by_role("link", name="Return to").click()
    expect(page).to_have_url(f"{live_app.url}/account")


def test_past_due_button_opens_the_portal_on_the_card_form(app: Flask, page: Page, double: DoubleServer,
                                                           live_app: LiveServer) -> None:
    membership = become_patron(app.test_client(), double)
    membership.status = MembershipStatus.PAST_DUE
    db.session.commit()
    _sign_in(page, membership)

    page.get_by_role("alert").get_by_role("button", name="Update your card").click()

    expect(page.get_by_role("heading", name="Update your card")).to_be_visible()
    assert page.url.startswith(f"{double.portal_url}/p/session/bps_")


def test_fix_card_link_opens_the_portal(app: Flask, page: Page, double: DoubleServer, live_app: LiveServer) -> None:
    membership = become_patron(app.test_client(), double)
    token = issue_token(db.session(), _supporter(membership), TokenPurpose.FIX_CARD, timedelta(days=7))
    db.session.commit()
    page.goto(f"/account/fix-card/{token}")

    page.get_by_role("button", name="Update my card").click()

    expect(page.get_by_role("heading", name="Update your card")).to_be_visible()
    assert page.url.startswith(f"{double.portal_url}/p/session/bps_")


def test_a_portal_origin_missing_from_form_action_blocks_the_button(app: Flask, page: Page, double: DoubleServer,
                                                                    live_app: LiveServer) -> None:
    """What patrons saw with real Stripe while only Checkout's origin was allowed: the button did nothing."""
    membership = become_patron(app.test_client(), double)
    app.config["STRIPE_PAGE_ORIGINS"] = double.url  # Checkout's origin only
    _sign_in(page, membership)

    def refused(message: ConsoleMessage) -> bool:
        # Chromium names the form's own action, then the directive the redirect to the Portal broke.
        return (f"'{live_app.url}/account/portal' violates" in message.text
                and f"\"form-action 'self' {double.url}\"" in message.text and "has been blocked" in message.text)

    with page.expect_console_message(refused):
        page.get_by_role("button", name="Update card / invoices").click()

    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    assert page.url == f"{live_app.url}/account"
    assert [r for r in double.requests if r["path"] == "/v1/billing_portal/sessions"]  # the app did its part
