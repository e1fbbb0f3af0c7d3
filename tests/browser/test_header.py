"""The header on a 390 px phone: no sideways scroll, no link split over two lines; one row on a desktop. The
newsroom's accent colour (NEWSROOM_ACCENT_COLOR) reaches the buttons."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, ViewportSize, expect

from membership.db import db
from membership.staff.accounts.models import Role, StaffUser
from membership.supporters.tokens import TokenPurpose, issue_token
from tests.support.browser import ACTION_TIMEOUT_MS, sign_in_staff
from tests.support.patrons import add_membership, add_supporter
from tests.support.servers import LiveServer

pytestmark = pytest.mark.browser

PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
# What a reader would notice: the page scrolling sideways, or a header item broken over two lines.
HEADER_LAYOUT = """() => {
  const header = document.querySelector('.site-header');
  const items = [...header.querySelectorAll('nav li > a, nav li > span, nav li button')];
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    // An inline link broken over two lines has two boxes; a button (one box) grows to two lines' height.
    split: items.filter(item => item.getClientRects().length !== 1
                               || item.offsetHeight > 1.5 * parseFloat(getComputedStyle(item).lineHeight))
                .map(item => item.textContent.trim()),
    oneRow: Math.max(...[...header.children].map(child => child.getBoundingClientRect().top))
            < Math.min(...[...header.children].map(child => child.getBoundingClientRect().bottom)),
  };
}"""


def _open(browser: Browser, live_app: LiveServer, size: ViewportSize) -> Page:
    context = browser.new_context(base_url=live_app.url, viewport=size, is_mobile=size is PHONE)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    return context.new_page()


def _sign_in(page: Page) -> None:
    supporter = add_supporter(email="olena@example.org")
    add_membership(supporter)
    token = issue_token(db.session(), supporter, TokenPurpose.SIGN_IN, timedelta(minutes=15))
    db.session.commit()
    page.goto(f"/account/sign-in/{token}")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()


def _layout(page: Page, path: str) -> dict[str, Any]:
    page.goto(path)
    layout: dict[str, Any] = page.evaluate(HEADER_LAYOUT)
    return layout


@pytest.mark.parametrize("branded", [False, True])
def test_the_header_fits_a_phone_without_splitting_an_item(app: Flask, browser: Browser, live_app: LiveServer,
                                                          branded: bool) -> None:
    if branded:
        app.config.update(NEWSROOM_LOGO_URL="/static/favicon.svg", NEWSROOM_ACCENT_COLOR="#8a1538")
    page = _open(browser, live_app, PHONE)
    try:
        for path in ("/", "/account"):
            if path == "/account":
                _sign_in(page)
            layout = _layout(page, path)
            assert layout["scrollWidth"] <= layout["innerWidth"], (path, layout)
            assert layout["split"] == [], (path, layout)
        expect(page.get_by_role("button", name="Sign out", exact=True)).to_be_visible()
    finally:
        page.context.close()


def test_the_staff_header_with_every_link_fits_a_phone(app: Flask, browser: Browser, live_app: LiveServer,
                                                      make_staff: Callable[..., StaffUser]) -> None:
    page = _open(browser, live_app, PHONE)
    sign_in_staff(page.context, app, make_staff(Role.ADMIN), live_app.url)
    try:
        for path in ("/staff/", "/staff/?lang=uk"):
            layout = _layout(page, path)
            assert layout["scrollWidth"] <= layout["innerWidth"], (path, layout)
            assert layout["split"] == [], (path, layout)
    finally:
        page.context.close()


def test_the_header_is_one_row_on_a_desktop(browser: Browser, live_app: LiveServer) -> None:
    page = _open(browser, live_app, DESKTOP)
    try:
        layout = _layout(page, "/")
        assert layout["oneRow"], layout
        assert layout["split"] == [], layout
    finally:
        page.context.close()


def test_the_accent_colour_fills_the_give_button(app: Flask, page: Page) -> None:
    give = page.get_by_role("link", name="Give now")
    page.goto("/")
    assert give.evaluate("button => getComputedStyle(button).backgroundColor") == "rgb(11, 83, 148)"  # #0b5394
    app.config["NEWSROOM_ACCENT_COLOR"] = "#8a1538"
    page.goto("/")
    assert give.evaluate("button => getComputedStyle(button).backgroundColor") == "rgb(138, 21, 56)"
    give.hover()
    expect(give).to_have_css("background-color", "rgb(92, 14, 37)")  # the darker shade, #5c0e25
