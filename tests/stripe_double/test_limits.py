"""The double's 429s: `--rate-limit N` and injected lock timeouts, in Stripe's shape, read by the SDK as Stripe's."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
import stripe

from stripe_double import DoubleServer
from stripe_double.__main__ import parse_args
from stripe_double.config import DoubleConfig

from .conftest import payment_params


@pytest.fixture
def limited(srv: DoubleServer) -> Iterator[DoubleServer]:
    srv.config.rate_limit = 3
    yield srv
    srv.config.rate_limit = None


def _get(url: str) -> tuple[int, dict[str, str], dict[str, object]]:
    request = urllib.request.Request(url, headers={"Authorization": "Bearer sk_test_x"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), json.loads(exc.read())


def test_past_the_rate_limit_requests_get_stripes_429(limited: DoubleServer) -> None:
    # Many more than 3 requests inside one second: whatever the machine's speed, some are over the limit.
    answers = [_get(f"{limited.url}/v1/customers") for _ in range(12)]
    statuses = [status for status, _, _ in answers]
    assert statuses.count(200) >= 3 and 429 in statuses
    _, headers, body = next(a for a in answers if a[0] == 429)
    assert body == {"error": {
        "type": "invalid_request_error", "code": "rate_limit",
        "doc_url": "https://stripe.com/docs/error-codes/rate-limit",
        "message": "Request rate limit exceeded. You can learn more about rate limits here "
                   "https://stripe.com/docs/rate-limits."}}
    assert headers["Stripe-Rate-Limited-Reason"] == "global-rate"
    # Stripe's SDKs don't retry a real rate limit by themselves, and Stripe doesn't ask them to.
    assert "Stripe-Should-Retry" not in headers
    assert headers["Request-Id"].startswith("req_")
    assert limited.limits.refused == statuses.count(429)


def test_a_rate_limited_create_creates_nothing_and_leaves_its_key_unused(limited: DoubleServer,
                                                                         sdk: stripe.StripeClient) -> None:
    limited.limits.inject("rate_limit", times=1)
    with pytest.raises(stripe.RateLimitError) as excinfo:
        sdk.v1.checkout.sessions.create(params=payment_params(), options={"idempotency_key": "k-1"})  # type: ignore[arg-type]
    assert excinfo.value.http_status == 429
    assert excinfo.value.error is not None and excinfo.value.error.code == "rate_limit"
    assert limited.state.all("checkout.session") == []
    # The same key later runs the request for real (a 429 isn't saved as the key's answer).
    session = sdk.v1.checkout.sessions.create(params=payment_params(), options={"idempotency_key": "k-1"})  # type: ignore[arg-type]
    assert [s["id"] for s in limited.state.all("checkout.session")] == [session.id]
    assert [(r["status"], r["idempotency_key"]) for r in limited.requests] == [(429, "k-1"), (200, "k-1")]


def test_a_lock_timeout_says_retry_and_the_sdk_retries_it(srv: DoubleServer) -> None:
    srv.limits.inject("lock_timeout", times=1, path="/v1/customers")
    status, headers, body = _get(f"{srv.url}/v1/customers")
    assert status == 429 and headers["Stripe-Should-Retry"] == "true"
    assert body["error"]["code"] == "lock_timeout"  # type: ignore[index]

    srv.limits.inject("lock_timeout", times=1, path="/v1/customers")
    retrying = stripe.StripeClient("sk_test_x", base_addresses={"api": srv.url}, max_network_retries=1)
    assert retrying.v1.customers.list().data == []
    assert [r["status"] for r in srv.requests[-2:]] == [429, 200]


def test_a_lock_timeout_can_say_dont_retry(srv: DoubleServer, sdk: stripe.StripeClient) -> None:
    srv.limits.inject("lock_timeout", times=1, should_retry=False)
    retrying = stripe.StripeClient("sk_test_x", base_addresses={"api": srv.url}, max_network_retries=3)
    with pytest.raises(stripe.RateLimitError):
        retrying.v1.customers.list()
    assert [r["status"] for r in srv.requests] == [429]


def test_errors_and_stats_over_http(srv: DoubleServer) -> None:
    form = urllib.parse.urlencode({"code": "lock_timeout", "times": "2"}).encode()
    with urllib.request.urlopen(f"{srv.url}/_double/errors", data=form, timeout=10):  # noqa: S310
        pass
    assert [_get(f"{srv.url}/v1/customers")[0] for _ in range(3)] == [429, 429, 200]
    with urllib.request.urlopen(f"{srv.url}/_double/stats", timeout=10) as response:  # noqa: S310
        stats = json.loads(response.read())
        assert stats == {"requests": 3, "refused_429": 2, "rate_limit": None, "pending_deliveries": 0}
    bad = urllib.parse.urlencode({"code": "card_declined"}).encode()
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(f"{srv.url}/_double/errors", data=bad, timeout=10)  # noqa: S310
    with excinfo.value:
        assert excinfo.value.code == 400


def test_rate_limit_from_flag_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_args(["--rate-limit", "25"]).rate_limit == 25
    assert parse_args(["--rate-limit", "0"]).rate_limit is None
    assert DoubleConfig.from_env({"STRIPE_DOUBLE_RATE_LIMIT": "100"}).rate_limit == 100
    assert DoubleConfig.from_env({}).rate_limit is None
    with pytest.raises(SystemExit):
        parse_args(["--rate-limit", "fast"])
    with pytest.raises(ValueError, match="not a whole number"):
        DoubleConfig.from_env({"STRIPE_DOUBLE_RATE_LIMIT": "fast"})


def test_the_summary_counts_paid_invoices_by_reason_and_the_deliveries(srv: DoubleServer) -> None:
    store = srv.double.store
    for n, (reason, status) in enumerate([("subscription_cycle", "paid"), ("subscription_cycle", "paid"),
                                          ("subscription_create", "paid"), ("subscription_cycle", "open")]):
        store.add({"id": f"in_{n}", "object": "invoice", "billing_reason": reason, "status": status})
    store.deliveries.extend([
        {"status": "succeeded", "attempts": [{"at": 100, "status": 500, "ms": 3.0}, {"at": 102, "status": 200,
                                                                                      "ms": 4.5}]},
        {"status": "failed", "attempts": [{"at": 105, "status": None, "error": "refused", "ms": None}]},
    ])
    with urllib.request.urlopen(f"{srv.url}/_double/summary", timeout=10) as response:  # noqa: S310
        summary = json.loads(response.read())
    assert summary == {"paid_invoices": {"subscription_cycle": 2, "subscription_create": 1}, "deliveries": 2,
                       "succeeded": 1, "first_attempt_at": 100, "last_attempt_at": 105, "ack_ms": [4.5]}
