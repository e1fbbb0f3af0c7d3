"""The article appeal, framed by the newsroom's own site as an article's foot, takes the reader to the give form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.support.servers import LiveServer, free_port, serving

pytestmark = pytest.mark.browser

ARTICLE_PATH = "/2026/energy-winter"


@pytest.fixture
def article(live_app: LiveServer) -> Iterator[str]:
    """The newsroom's article page, with the appeal framed at its foot, served from its own origin
    (`localhost`, where the app is `127.0.0.1`: two sites as far as the browser is concerned). Returns its URL."""
    port = free_port()
    url = f"http://localhost:{port}{ARTICLE_PATH}"
    body = ("<!doctype html><meta charset=utf-8><title>Winter energy</title><h1>Who gets cut off first</h1>"
            f'<p>The article.</p><iframe src="{live_app.url}/appeal?source={url}&amp;utm_medium=appeal" '
            'title="Support us" width="100%" height="300"></iframe>').encode()

    class Newsroom(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with serving(ThreadingHTTPServer(("127.0.0.1", port), Newsroom)):
        yield url


def test_a_reader_gives_from_the_foot_of_an_article(app: Flask, page: Page, live_app: LiveServer,
                                                     article: str) -> None:
    app.config["APPEAL_EMBED_ORIGINS"] = article.removesuffix(ARTICLE_PATH)
    page.goto(article)
    appeal = page.frame_locator("iframe[title='Support us']")
    expect(appeal.get_by_role("heading", name=re.compile("Join our community"))).to_be_visible()
    appeal.get_by_role("link", name="Give €3.00/month").click()
    # The give form opens in the whole window, monthly €3 chosen, the article kept for attribution.
    expect(page).to_have_url(re.compile(re.escape(f"{live_app.url}/give?")))
    expect(page.get_by_label("Monthly")).to_be_checked()
    expect(page.locator("input[name=source]")).to_have_value(article)
    expect(page.locator("input[name=utm_medium]")).to_have_value("appeal")


def test_a_site_not_listed_cant_frame_the_appeal(app: Flask, page: Page, live_app: LiveServer,
                                                 article: str) -> None:
    with page.expect_response(re.compile(r"/appeal\?")) as answered:  # APPEAL_EMBED_ORIGINS is unset
        page.goto(article)
    assert "frame-ancestors 'self';" in answered.value.headers["content-security-policy"]
    page.wait_for_load_state("load")
    assert page.frame_locator("iframe[title='Support us']").get_by_role("link").count() == 0
