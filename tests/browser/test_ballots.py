"""A patron in the browser: signs in, votes in a ballot, changes the vote, and after the ballot closes sees
the results as a chart with the same figures in a table. No JavaScript is needed for any of it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from membership.db import db
from membership.supporters.tokens import TokenPurpose, issue_token
from tests.support.ballots import add_ballot, add_patron, close_ballot
from tests.support.browser import CONTROLS_AND_LABELS
from tests.support.servers import LiveServer

pytestmark = pytest.mark.browser


def sign_in_in_browser(page: Page, email: str) -> None:
    """Follow an emailed sign-in link (made here, without the email) and press "Sign in"."""
    patron = add_patron(email)
    token = issue_token(db.session(), patron, TokenPurpose.SIGN_IN, timedelta(minutes=15))
    db.session.commit()
    page.goto(f"/account/sign-in/{token}?next=/ballots")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Ballots: choose what we cover next")).to_be_visible()


def test_patron_votes_changes_the_vote_and_sees_the_results(app: Flask, page_without_javascript: Page,
                                                            live_app: LiveServer) -> None:
    page = page_without_javascript
    ballot = add_ballot(3, title="What should we investigate next?")
    add_patron("did-not-vote@example.org")
    sign_in_in_browser(page, "olena@example.org")

    page.get_by_role("link", name="What should we investigate next?").click()
    expect(page.get_by_text("Choose one topic. One patron, one vote.").first).to_be_visible()
    assert [c["control"] for c in page.evaluate(CONTROLS_AND_LABELS) if not c["labelled"]] == []
    page.get_by_label("Topic 1").check()
    page.get_by_role("button", name="Record my vote").click()
    expect(page.get_by_text("Thank you for voting.")).to_be_visible()
    recorded = page.locator("#your-vote .notice")
    expect(recorded).to_contain_text("Your vote is recorded: you chose “Topic 1”.")
    expect(page.get_by_label("Topic 1")).to_be_checked()

    page.get_by_label("Topic 2").check()
    page.get_by_role("button", name="Change my vote").click()
    expect(recorded).to_contain_text("Your vote is recorded: you chose “Topic 2”.")
    expect(page.get_by_role("heading", name="Results")).to_have_count(0)  # results show after closing

    close_ballot(ballot)
    page.reload()
    expect(page.get_by_role("heading", name="Results", exact=True)).to_be_visible()
    expect(page.get_by_text("Turnout: 1 of 2 eligible patrons voted (50.0%).")).to_be_visible()
    chart = page.get_by_role("img", name="Results: What should we investigate next?")
    expect(chart).to_be_visible()
    assert chart.bounding_box() is not None and chart.bounding_box()["width"] > 200  # type: ignore[index]
    table = page.get_by_role("table", name="Votes for each topic")
    expect(table.get_by_role("row", name="Topic 2 1 100.0%")).to_be_visible()
    expect(table.get_by_role("row", name="Topic 1 0 0.0%")).to_be_visible()
    expect(page.get_by_text("This ballot has closed; votes are no longer accepted.")).to_be_visible()
    expect(page.get_by_role("button", name="Change my vote")).to_have_count(0)
