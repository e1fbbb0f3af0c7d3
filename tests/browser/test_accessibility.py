"""Basic accessibility of the public pages: labelled controls, a skip link, an announced error summary."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from membership.giving.models import Checkout
from tests.support.browser import CONTROLS_AND_LABELS
from tests.support.helpers import count

pytestmark = pytest.mark.browser

# Every visible form control, and whether something gives it a name: a <label> with text, or ARIA.



@pytest.mark.parametrize("path", ["/", "/give"])
def test_every_visible_control_has_a_label(page: Page, path: str) -> None:
    page.goto(path)
    controls = page.evaluate(CONTROLS_AND_LABELS)
    assert controls, f"no form controls found on {path}"
    assert [c["control"] for c in controls if not c["labelled"]] == []


@pytest.mark.parametrize("path", ["/", "/give", "/supporters"])
def test_first_tab_reaches_the_skip_link(page: Page, path: str) -> None:
    page.goto(path)

    page.keyboard.press("Tab")

    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("main")).to_be_focused()


def test_bad_submission_shows_an_error_summary_as_an_alert(page: Page) -> None:
    page.goto("/give")
    page.get_by_label("Other amount").fill("0.10")
    page.get_by_label("Email", exact=True).fill("olena-at-example")

    page.get_by_role("button", name="Continue to secure payment").click()

    summary = page.get_by_role("alert")
    expect(summary).to_have_count(1)
    expect(summary.get_by_role("heading")).to_have_text("Please check the form")
    expect(summary.get_by_role("link")).to_have_text([
        "Other amount: The smallest amount we can accept is €1.00.",
        "Email: Enter a valid email address.",
    ])
    email = page.get_by_label("Email", exact=True)
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_accessible_description(
        "For your receipt and to manage your support. We never share it. Enter a valid email address.")
    expect(email).to_have_value("olena-at-example")
    expect(page.get_by_label("Your name")).not_to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Other amount")).to_have_attribute("aria-invalid", "true")
    assert count(Checkout) == 0
