"""axe-core on every public, patron and staff page, error states included: no serious or critical violation.
And on every form sent back with errors, focus is on the error summary, so a screen reader announces it.

One browser context per role visits its pages in turn, and the violations of all of them are listed together: a
run shows everything that needs fixing, and the live app starts once per role, not once per page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from membership.db import db, utcnow
from membership.giving.campaigns import Campaign, GoalKind
from membership.giving.models import WallStatus
from membership.staff.accounts.models import Role, StaffUser
from membership.supporters.tokens import TokenPurpose, issue_token
from membership.webhooks_out import EventType, WebhookEndpoint, new_secret
from tests.support.ballots import add_ballot, add_patron
from tests.support.browser import ACTION_TIMEOUT_MS, sign_in_staff
from tests.support.servers import LiveServer
from tests.support.wall import add_gift

pytestmark = pytest.mark.browser

AXE = Axe()
SERIOUS = ("serious", "critical")
MODERATE_AND_WORSE = ("moderate", *SERIOUS)


def serious_violations(page: Page, where: str, impacts: Iterable[str] = SERIOUS) -> list[str]:
    """Each axe violation of these impacts (serious or critical unless told) on the page as it stands, one readable
    line per offending element."""
    found = []
    for violation in AXE.run(page).response["violations"]:
        if violation["impact"] in impacts:
            found += [f"{where}: [{violation['impact']}] {violation['id']} ({violation['help']}) at "
                      f"{' '.join(map(str, node['target']))}: {' '.join(node['failureSummary'].split())}"
                      for node in violation["nodes"]]
    return found


def check_pages(page: Page, paths: Iterable[str]) -> list[str]:
    """Visit each page (each must answer 200, but a path with "no-such" in it 404) and collect its violations."""
    found: list[str] = []
    for path in paths:
        response = page.goto(path)
        assert response is not None
        assert response.status == (404 if "no-such" in path else 200), f"{path} answered {response.status}"
        found += serious_violations(page, path)
    return found


def report(found: list[str]) -> str:
    return f"{len(found)} accessibility violation(s):\n" + "\n".join(found)


def submit(page: Page) -> None:
    """Press the main form's submit button, as a keyboard user would."""
    page.locator("main form").last.locator("[type=submit]").last.click()


def expect_focus_on_the_error_summary(page: Page) -> None:
    expect(page.locator("#error-summary")).to_be_focused()
    assert page.evaluate("document.activeElement.id") == "error-summary"


@pytest.fixture
def staff_page(app: Flask, browser: Browser, live_app: LiveServer,
               make_staff: Callable[..., StaffUser]) -> Iterator[Page]:
    """A browser signed in to the staff console as an admin (the session cookie a sign-in would set)."""
    context = browser.new_context(base_url=live_app.url)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    sign_in_staff(context, app, make_staff(Role.ADMIN), live_app.url)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_public_pages_and_their_error_states(page: Page) -> None:
    ballot = add_ballot()
    add_gift("Mykola", message="Keep going!", wall_status=WallStatus.APPROVED)
    found = check_pages(page, ["/", "/give", "/appeal", "/supporters", "/ballots", f"/ballots/{ballot.id}",
                               "/account/sign-in", "/staff/sign-in", "/no-such-page",
                               "/?lang=uk", "/give?lang=uk", "/ballots?lang=uk", "/no-such-page?lang=uk"])

    page.goto("/give?lang=en")
    page.get_by_label("Other amount").fill("0.10")
    page.get_by_label("Email", exact=True).fill("olena-at-example")
    page.get_by_role("button", name="Continue to secure payment").click()
    expect_focus_on_the_error_summary(page)
    found += serious_violations(page, "/give with errors")

    page.goto("/account/sign-in")
    page.get_by_label("Email").fill("not-an-email")
    submit(page)
    expect_focus_on_the_error_summary(page)
    found += serious_violations(page, "/account/sign-in with errors")

    page.goto("/staff/sign-in")
    page.get_by_label("Email").fill("nobody@newsroom.example")
    page.get_by_label("Password").fill("wrong password")
    submit(page)
    expect_focus_on_the_error_summary(page)
    found += serious_violations(page, "/staff/sign-in with a wrong password")

    assert found == [], report(found)


def test_the_appeal_embed_has_no_moderate_finding_either(page: Page) -> None:
    """The appeal is framed on every article, in every language: held to moderate findings too (a landmark for
    its content, one top-level heading), with and without a campaign."""
    now = utcnow()
    db.session.add(Campaign(slug="spring", title="Spring drive", text="Help us.", goal_kind=GoalKind.AMOUNT,
                            goal_minor=500_000, goal_currency="EUR", starts_at=now - timedelta(days=1),
                            ends_at=now + timedelta(days=20), matching_text="Every gift is matched."))
    db.session.commit()
    found: list[str] = []
    for path in ("/appeal", "/appeal?campaign=spring", "/appeal?lang=uk&campaign=spring", "/appeal?currency=UAH"):
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        found += serious_violations(page, path, impacts=MODERATE_AND_WORSE)
    assert found == [], report(found)


def test_patron_pages_and_a_form_with_errors(page: Page, live_app: LiveServer) -> None:
    patron = add_patron("olena@example.org")
    token = issue_token(db.session(), patron, TokenPurpose.SIGN_IN, timedelta(minutes=15))
    db.session.commit()
    page.goto(f"/account/sign-in/{token}")
    submit(page)
    expect(page).to_have_url(f"{live_app.url}/account")
    found = check_pages(page, ["/account", "/account/amount", "/account/cancel", "/account?lang=uk",
                               "/account/amount?lang=uk"])

    page.goto("/account/amount?lang=en")
    page.get_by_label("New amount").fill("0.01")
    submit(page)
    expect_focus_on_the_error_summary(page)
    found += serious_violations(page, "/account/amount with errors")

    assert found == [], report(found)


def test_staff_pages_and_a_form_with_errors(staff_page: Page) -> None:
    page = staff_page
    patron = add_patron("pat@example.org")
    ballot = add_ballot()
    add_gift("Mykola", message="Keep going!")
    now = utcnow()
    campaign = Campaign(slug="spring", title="Spring drive", text="Help us.", goal_kind=GoalKind.AMOUNT,
                        goal_minor=500_000, goal_currency="EUR", starts_at=now - timedelta(days=1),
                        ends_at=now + timedelta(days=20), on_support_page=True)
    endpoint = WebhookEndpoint(url="https://crm.example.org/hooks", description="CRM", secret=new_secret(),
                               event_types=[EventType.SUPPORTER_CREATED.value])
    db.session.add_all([campaign, endpoint])
    db.session.commit()

    found = check_pages(page, [
        "/staff/", "/staff/dashboard", "/staff/supporters", f"/staff/supporters/{patron.id}", "/staff/reports",
        "/staff/tiers", "/staff/tiers/new", "/staff/ballots", "/staff/ballots/new", f"/staff/ballots/{ballot.id}",
        f"/staff/ballots/{ballot.id}/edit", "/staff/ballots/suggestions", "/staff/wall", "/staff/campaigns",
        "/staff/campaigns/new", f"/staff/campaigns/{campaign.id}", "/staff/webhooks", "/staff/webhooks/new",
        f"/staff/webhooks/{endpoint.id}", "/staff/audit", "/staff/users", "/staff/account", "/staff/appeal",
        "/staff/no-such-page", "/staff/?lang=uk", "/staff/dashboard?lang=uk", "/staff/supporters?lang=uk",
        "/?campaign=spring", "/give?campaign=spring", "/appeal?campaign=spring",
    ])

    page.goto("/staff/campaigns/new?lang=en")
    page.get_by_label("Title", exact=True).fill("A campaign")
    submit(page)
    expect(page).to_have_url(re.compile(r"/staff/campaigns/new"))
    expect_focus_on_the_error_summary(page)
    found += serious_violations(page, "/staff/campaigns/new with errors")

    page.goto("/staff/tiers/new")
    submit(page)
    expect_focus_on_the_error_summary(page)
    found += serious_violations(page, "/staff/tiers/new with errors")

    assert found == [], report(found)
