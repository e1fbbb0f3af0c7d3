"""Stripe's 429s: the global rate limiter (`--rate-limit N`) and injected lock timeouts, both answered before a
request runs, so a refused request changes nothing and consumes no idempotency key (as with Stripe).

Stripe's SDKs don't retry a real rate limit on their own (retrying would only add load; the caller decides
what slows down), so its 429 carries no `Stripe-Should-Retry`. A lock timeout (another request holds the
object) is safe to retry, and Stripe says so with `Stripe-Should-Retry: true`, which the SDKs obey.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

from .wire import StripeError

RATE_LIMIT_MESSAGE = (
    "Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits."
)
LOCK_TIMEOUT_MESSAGE = (
    "This object cannot be accessed right now because another API request or Stripe process is currently "
    "accessing it. If you see this error intermittently, retry the request. If you see this error frequently "
    "and are making multiple concurrent requests to a single object, make your requests serially or at a lower "
    "rate. See https://stripe.com/docs/rate-limits for more details."
)


@dataclass(frozen=True)
class Refusal:
    """A 429 as Stripe sends it: the error body and the headers that go with it."""

    error: StripeError
    headers: dict[str, str]


def rate_limited() -> Refusal:
    """The global rate limiter's 429."""
    error = StripeError(RATE_LIMIT_MESSAGE, status=429, code="rate_limit")
    return Refusal(error, {"Stripe-Rate-Limited-Reason": "global-rate"})


def lock_timeout(should_retry: bool | None = True) -> Refusal:
    """A lock timeout's 429 (`should_retry=None` leaves the header out, `False` says "don't")."""
    error = StripeError(LOCK_TIMEOUT_MESSAGE, status=429, code="lock_timeout")
    headers = {} if should_retry is None else {"Stripe-Should-Retry": "true" if should_retry else "false"}
    return Refusal(error, headers)


@dataclass
class Injected:
    """Refuse the next `times` requests whose path starts with `path` (all, if empty) with `code`."""

    code: str
    times: int
    path: str = ""
    should_retry: bool | None = True


class Limits:
    """The account's request limiter and the errors a test asked for. Thread-safe; `limit` is read from the
    config at each request, so a running double can be limited and freed again."""

    WINDOW_SECONDS = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._admitted: deque[float] = deque()
        self._injected: list[Injected] = []
        self.refused = 0  # 429s answered, for the dashboard, tests and benchmarks

    def inject(self, code: str = "lock_timeout", times: int = 1, path: str = "",
               should_retry: bool | None = True) -> None:
        """Answer the next `times` matching requests with a 429 of `code` (`lock_timeout` or `rate_limit`)."""
        if code not in ("lock_timeout", "rate_limit"):
            raise ValueError(f"Can't inject {code!r}: only lock_timeout and rate_limit.")
        with self._lock:
            self._injected.append(Injected(code, times, path, should_retry))

    def clear(self) -> None:
        """Forget injected errors, admitted requests and the refusal count."""
        with self._lock:
            self._injected.clear()
            self._admitted.clear()
            self.refused = 0

    def check(self, path: str, limit: int | None) -> Refusal | None:
        """The 429 this request gets, or None to let it run (and count it against the rate)."""
        with self._lock:
            refusal = self._injected_refusal(path) or self._over_rate(limit)
            if refusal is not None:
                self.refused += 1
            return refusal

    def _injected_refusal(self, path: str) -> Refusal | None:
        for injected in self._injected:
            if path.startswith(injected.path):
                injected.times -= 1
                if injected.times <= 0:
                    self._injected.remove(injected)
                if injected.code == "rate_limit":
                    return rate_limited()
                return lock_timeout(injected.should_retry)
        return None

    def _over_rate(self, limit: int | None) -> Refusal | None:
        if not limit:
            return None
        now = time.monotonic()
        while self._admitted and self._admitted[0] <= now - self.WINDOW_SECONDS:
            self._admitted.popleft()
        # At most `limit` requests in any one-second window: the strictest reading of "N requests a second".
        if len(self._admitted) >= limit:
            return rate_limited()
        self._admitted.append(now)
        return None
