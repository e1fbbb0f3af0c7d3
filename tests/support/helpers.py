"""Small helpers shared by the tests: CSRF tokens, signed webhook deliveries, row counts, queued ids."""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypedDict, TypeVar

import redis
import requests
import sqlalchemy as sa
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from membership.db import db
from membership.queue import STRIPE_EVENTS, queue_keys

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str = "/give") -> str:
    page = client.get(path).get_data(as_text=True)
    match = CSRF_RE.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A Stripe-Signature header exactly as Stripe computes it."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


def post_event(client: FlaskClient, event: dict[str, Any], secret: str) -> TestResponse:
    body = json.dumps(event).encode()
    return client.post("/stripe/webhook", data=body, content_type="application/json",
                       headers={"Stripe-Signature": sign(body, secret)})


def count(model: Any) -> int:
    db.session.rollback()
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def text(response: TestResponse) -> str:
    """The page as a reader's browser shows its text: HTML entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def mentions(haystack: str, number: str) -> bool:
    """Whether the number shows on its own ("card 4242", "last4": "4242"), not inside an id or a token
    (a random hex id such as ...6af6b979a64242887... holds "4242" once in a few thousand)."""
    return re.search(rf"(?<![0-9A-Za-z]){re.escape(number)}(?![0-9A-Za-z])", haystack) is not None


def preset_tile(page: str, value: str) -> str:
    """The /give preset tile whose radio has this value, as HTML."""
    match = re.search(r'<span class="choice"><input[^>]*value="' + re.escape(value) + r'"[^>]*>.*?</span>\s*'
                      r'(?=<span class="choice">|</div>)', page, re.S)
    assert match, f"no tile for {value}"
    return match.group(0)


def queued_event_ids(client: redis.Redis) -> list[str]:
    """The Stripe event ids waiting on the `stripe_events` queue, first out first."""
    raws = client.lrange(queue_keys(STRIPE_EVENTS)[0], 0, -1)
    return [raw.decode() if isinstance(raw, bytes) else str(raw) for raw in raws]


def queued_ids(client: redis.Redis, name: str) -> list[int]:
    """The ids waiting on the queue `name` (`emails`, `exports`), in the order a worker takes them (its priority
    list first)."""
    return [int(raw) for key in queue_keys(name) for raw in client.lrange(key, 0, -1)]


def parts(message: Any) -> dict[str, str]:
    """An email's parts by content type: {"text/plain": …, "text/html": …}."""
    return {part.get_content_type(): part.get_content() for part in message.iter_parts()}


def all_at_once(count_: int, work: Callable[[int], object]) -> list[object]:
    """Run `work(i)` in `count_` threads released together by a barrier; return results or exceptions."""
    barrier = threading.Barrier(count_)

    def run(i: int) -> object:
        barrier.wait()
        try:
            return work(i)
        except Exception as exc:  # the test inspects every outcome
            return exc

    with ThreadPoolExecutor(max_workers=count_) as pool:
        return list(pool.map(run, range(count_)))


def post_together(base_url: str, path: str, forms: list[dict[str, str]]) -> list[int]:
    """POST every form to `path` at once, from one browser (its cookie and CSRF token) and one IP, as threads
    against a live server; the status codes, in order."""
    browser = requests.Session()
    match = CSRF_RE.search(browser.get(f"{base_url}{path}", timeout=30).text)
    assert match is not None, path
    cookies = {name: value for name, value in browser.cookies.get_dict().items() if value is not None}

    def post(i: int) -> int:
        response = requests.post(f"{base_url}{path}", data={**forms[i], "csrf_token": match.group(1)},
                                 cookies=cookies, timeout=120, allow_redirects=False)
        return response.status_code

    outcomes = all_at_once(len(forms), post)
    assert [o for o in outcomes if not isinstance(o, int)] == []
    return [o for o in outcomes if isinstance(o, int)]


Row = TypeVar("Row")


def refreshed(row: Row) -> Row:
    """`row` re-read from the database. Assign the result (`x = refreshed(x)`), so that mypy too forgets what
    earlier asserts said about `x`."""
    db.session.refresh(row)
    return row


class SampleContext(TypedDict):
    """Variables for any email template, typed so mypy sees that `**SAMPLE` fills none of queue_email's parameters."""

    name: str
    amount: str
    link: str
    minutes: int
    link_days: int  # counts the templates write with ngettext must be numbers
    attempts: int


SAMPLE: SampleContext = {"name": "Olena", "amount": "€5.00/month", "link": "http://x.test/l", "minutes": 15,
                         "link_days": 7, "attempts": 3}


class FakeClock:
    """Time that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
