"""Browser fixtures: Debian's Chromium, driven by Playwright, against the live app and the Stripe double.

The root fixtures do the rest: `live_app` serves the app on the port its PUBLIC_URL names, so Stripe's
success and cancel URLs bring the browser back to it, and the double delivers its webhooks there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, sync_playwright

from membership.db import current_session, db
from membership.demo import seed_catalogue
from tests.support.browser import ACTION_TIMEOUT_MS
from tests.support.servers import LiveServer

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not os.access(executable, os.X_OK):
        reason = (f"BROWSER TESTS NOT RUN: no Chromium at {executable} "
                  "(apt-get install chromium, or set CHROMIUM=/path/to/chromium)")
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _open_page(browser: Browser, live_app: LiveServer, *, javascript: bool) -> Iterator[Page]:
    context = browser.new_context(base_url=live_app.url, java_script_enabled=javascript)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser, live_app: LiveServer) -> Iterator[Page]:
    """A fresh browser context (no cookies, no cache) on the live app."""
    yield from _open_page(browser, live_app, javascript=True)


@pytest.fixture
def page_without_javascript(browser: Browser, live_app: LiveServer) -> Iterator[Page]:
    """A reader whose browser runs no scripts."""
    yield from _open_page(browser, live_app, javascript=False)


@pytest.fixture(autouse=True)
def catalogue(app: Flask) -> None:
    """The demo tiers and preset amounts, as a real site has."""
    seed_catalogue(current_session())
    db.session.commit()
