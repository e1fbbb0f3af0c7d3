"""A patron in the browser: asks for a sign-in link, opens it from the (real SMTP) email, confirms, and
manages the membership: change the amount, cancel at the period's end, resume. Stripe is the double."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from stripe_double import DoubleServer
from tests.support.browser import CONTROLS_AND_LABELS
from tests.support.giving import settle
from tests.support.patrons import LINK_RE, become_patron
from tests.support.servers import LiveServer, SmtpSink

pytestmark = pytest.mark.browser


def test_patron_signs_in_from_the_email_and_manages_the_membership(
    app: Flask, page: Page, double: DoubleServer, live_app: LiveServer, smtp_server: SmtpSink
) -> None:
    membership = become_patron(app.test_client(), double, email="olena@example.org")
    assert membership.current_period_end is not None
    renews = f"{membership.current_period_end.day} {membership.current_period_end:%B %Y}"

    page.goto("/account")
    expect(page).to_have_url(re.compile(r"/account/sign-in\?next=/account$"))
    page.get_by_label("Email").fill("olena@example.org")
    page.get_by_role("button", name="Email me a sign-in link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()

    [message] = [m for m in smtp_server.to("olena@example.org")
                 if m["Subject"] == "Your sign-in link for Kyiv Independent Test"]
    body = message.get_body(("plain",))
    assert body is not None
    match = LINK_RE.search(body.get_content())
    assert match is not None
    page.goto(match.group(1))
    expect(page.get_by_text("You're signing in as olena@example.org.")).to_be_visible()
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{live_app.url}/account")
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("€5.00/month")
    expect(facts).to_contain_text("Active")
    expect(facts).to_contain_text(f"Next payment{renews}")
    expect(facts).to_contain_text("Visa ending 4242")
    expect(page.get_by_role("cell", name="Membership")).to_be_visible()

    assert [c["control"] for c in page.evaluate(CONTROLS_AND_LABELS) if not c["labelled"]] == []

    page.get_by_role("link", name="Change amount").click()
    assert [c["control"] for c in page.evaluate(CONTROLS_AND_LABELS) if not c["labelled"]] == []
    page.get_by_label("New amount").fill("7")
    page.get_by_role("button", name="Change my amount").click()
    expect(page.get_by_role("status")).to_have_text(f"Done. From {renews} you'll give €7.00/month. "
                                                    "Nothing is charged now.")
    expect(facts).to_contain_text("€7.00/month")  # at once, under the banner: no reload, no waiting for webhooks
    settle(double)

    page.get_by_role("link", name="Cancel membership").click()
    assert [c["control"] for c in page.evaluate(CONTROLS_AND_LABELS) if not c["labelled"]] == []
    page.get_by_label("Why are you cancelling? (optional)").select_option("too_expensive")
    page.get_by_label("Anything you'd like to tell us? (optional)").fill("Back next year.")
    page.get_by_role("button", name="Cancel at the end of the period").click()
    expect(page.get_by_role("status")).to_contain_text(f"it stays active until {renews}")
    expect(facts).to_contain_text(f"Cancels on {renews}")
    settle(double)

    page.get_by_role("button", name="Resume my membership").click()
    expect(page.get_by_role("status")).to_contain_text("Welcome back: your membership continues")
    expect(facts).to_contain_text(f"Next payment{renews}")
    expect(facts).not_to_contain_text("Cancels on")
    settle(double)
