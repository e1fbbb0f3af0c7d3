"""The gateway at Stripe's pace: every request takes a turn (readers' first), and Stripe's 429s are retried with
back-off so that what the reader and the books see is what they would have seen without them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership.db import db
from membership.giving.models import Payment, PaymentStatus
from membership.giving.stripe_gateway import StripeGateway, StripeUnavailable, gateway
from membership.pace import Pace, Priority, current_priority
from stripe_double import DoubleServer
from tests.support.giving import paid_gift, start_gift
from tests.support.helpers import FakeClock, csrf_token, post_event
from tests.support.settings import WEBHOOK_SECRET


class RecordingPace(Pace):
    """Pace that lets everyone through at once and notes at which priority each request asked."""

    def __init__(self) -> None:
        super().__init__(1000)
        self.asked: list[Priority] = []

    def take(self, priority: Priority | None = None) -> Priority:
        self.asked.append(priority or current_priority())
        return self.asked[-1]


@pytest.fixture
def recorded(app: Flask) -> Iterator[RecordingPace]:
    pace = RecordingPace()
    previous, gateway().pace = gateway().pace, pace
    yield pace
    gateway().pace = previous


def _log(double: DoubleServer, method: str, path: str) -> list[tuple[int, str | None]]:
    return [(r["status"], r["idempotency_key"]) for r in double.requests if (r["method"], r["path"]) == (method, path)]


def test_a_readers_checkout_is_retried_past_429s_and_opens_once(client: FlaskClient, double: DoubleServer,
                                                                recorded: RecordingPace) -> None:
    double.limits.inject("rate_limit", times=1, path="/v1/checkout/sessions")
    double.limits.inject("lock_timeout", times=1, path="/v1/checkout/sessions")
    checkout = start_gift(client)
    assert [s["id"] for s in double.state.all("checkout.session")] == [checkout.stripe_session_id]
    attempts = _log(double, "POST", "/v1/checkout/sessions")
    # One request, three attempts (the SDK retried the lock timeout itself, as Stripe-Should-Retry asked), all
    # under the checkout's own idempotency key, and each took a turn at the pace, as a reader's.
    assert [status for status, _ in attempts] == [429, 429, 200]
    assert len({key for _, key in attempts}) == 1 and str(attempts[0][1]).endswith(f"checkout-{checkout.id}-session")
    assert recorded.asked == [Priority.INTERACTIVE] * 3


def test_a_reader_is_not_kept_waiting_past_a_few_retries(client: FlaskClient, double: DoubleServer) -> None:
    double.limits.inject("rate_limit", times=10, path="/v1/checkout/sessions")
    response = client.post("/give", data={"frequency": "once", "currency": "EUR", "amount": "10",
                                          "email": "olena@example.org", "name": "Olena",
                                          "csrf_token": csrf_token(client)})
    assert response.status_code == 503
    assert double.state.all("checkout.session") == []
    assert [s for s, _ in _log(double, "POST", "/v1/checkout/sessions")] == [429, 429, 429]  # 2 retries


def test_an_event_is_processed_the_same_through_429s(client: FlaskClient, double: DoubleServer,
                                                      recorded: RecordingPace) -> None:
    _, event = paid_gift(client, double)
    recorded.asked.clear()
    double.limits.inject("rate_limit", times=3, path="/v1/checkout/sessions/")
    double.limits.inject("lock_timeout", times=1, path="/v1/checkout/sessions/")
    response = post_event(client, event, WEBHOOK_SECRET)
    assert response.status_code == 200 and response.get_json()["result"] == "processed"
    db.session.rollback()
    payment = db.session.scalars(sa.select(Payment)).one()
    # The same payment as without any 429 (test_webhooks: €10 gift, fee 1.5% + €0.25).
    assert (payment.amount_minor, payment.fee_minor, payment.net_minor, payment.status) == (
        1000, 40, 960, PaymentStatus.PAID)
    refetches = [r["status"] for r in double.requests if r["path"].startswith("/v1/checkout/sessions/")]
    assert refetches[:5] == [429, 429, 429, 429, 200]
    # The webhook's processing is background work, though it runs inside a request.
    assert recorded.asked and set(recorded.asked) == {Priority.BACKGROUND}


def test_a_429_that_says_dont_retry_is_not_retried(app: Flask, double: DoubleServer) -> None:
    double.limits.inject("lock_timeout", times=1, should_retry=False)
    with pytest.raises(StripeUnavailable):
        gateway().retrieve_account()
    assert [r["status"] for r in double.requests] == [429]
    assert gateway().retrieve_account()["id"]


def test_other_errors_are_not_retried_as_429s(app: Flask, double: DoubleServer) -> None:
    with pytest.raises(Exception, match="No such"):
        gateway().retrieve_invoice("in_missing")
    assert [r["status"] for r in double.requests] == [404]


def test_each_request_waits_its_turn_at_the_pace(double: DoubleServer) -> None:
    clock = FakeClock()
    paced = StripeGateway("sk_test_x", api_base=double.url, timeout_seconds=5,
                          pace=Pace(5, reserve=0, clock=clock, sleep=clock.sleep))
    start = clock.now
    for _ in range(3):
        paced.retrieve_account()
    # Three requests at 5 a second: the first at once, then two waits of a fifth of a second (plus jitter).
    assert 0.4 <= clock.now - start <= 0.4 + 2 * 0.2 / 10 + 1e-6
