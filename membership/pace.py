"""Stripe's pace: one limiter every Stripe request waits its turn at, shared by all processes.

Stripe allows about 25 requests a second in test mode and 100 live, per account, and answers 429 past that.
Every HTTP request the gateway makes (its own retries and the SDK's included) first takes a turn here, at
`STRIPE_MAX_REQUESTS_PER_SECOND`: in Redis when REDIS_URL is set, so web processes and workers share one
budget, else in this process (the embedded default is one process).

The limiter is a GCRA (generic cell rate algorithm: a token bucket kept as one timestamp). Turns are spaced
`1/rate` apart on a schedule, the "theoretical arrival time" (TAT). A caller may go when the schedule is no
further ahead of now than its tolerance, and then moves it on by one interval:

- background work (webhook events, reconcile, commands) has tolerance 0: it runs strictly on schedule;
- a reader waiting on a page (Checkout, the Portal: any call made while serving a web request) may run up to
  `reserve` turns ahead of it.

So, provably: (1) in any window of W seconds at most `rate·W + reserve + 1` requests start (each admission moves
the TAT on by 1/rate, and nobody starts with the TAT more than `reserve` intervals ahead); with the defaults
(20 a second and a reserve of 4 in test mode, 80 and 16 live) that is 25 and 97, within Stripe's 25 and 100.
(2) A reader's call never waits while the schedule is less than `reserve` turns ahead, however busy the
workers are: background work alone never takes the schedule past now + one interval. (3) Background work
waits while readers' calls keep arriving: it needs the schedule at now, and each reader's call moves it on.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import redis
from flask import has_request_context

log = logging.getLogger(__name__)

# The share of the rate readers may run ahead of the schedule (their reserve), and its least.
INTERACTIVE_SHARE = 0.2
# How long a caller waits for its turn before giving up (a reader sees "try again"; a worker retries the event).
MAX_WAIT_SECONDS = {"interactive": 10.0, "background": 300.0}
DEFAULT_KEY = "membership:stripe-pace"

# KEYS: the schedule (TAT, ms). ARGV: interval ms, tolerance ms. Returns "0" when the caller may go (and moves
# the schedule on), else how many ms to wait. Redis's clock, so every process keeps one schedule.
_TAKE = """
local t = redis.call('TIME')
local now = t[1] * 1000 + t[2] / 1000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local ahead = tat - now
if ahead > tonumber(ARGV[2]) + 0.001 then return tostring(ahead - tonumber(ARGV[2])) end
redis.call('SET', KEYS[1], tostring(tat + tonumber(ARGV[1])), 'PX', math.ceil(ahead + tonumber(ARGV[1]) + 1000))
return '0'
"""


_TAKE_SHA = hashlib.sha1(_TAKE.encode()).hexdigest()  # noqa: S324 - Redis names scripts by their SHA-1


def _run_take(client: redis.Redis, key: str, interval_ms: float, tolerance_ms: float) -> Any:
    """The take script by its SHA (EVALSHA: a few bytes a call, not the script's text); loaded the first time a
    Redis server hasn't seen it (after a restart or SCRIPT FLUSH too)."""
    try:
        return client.evalsha(_TAKE_SHA, 1, key, interval_ms, tolerance_ms)
    except redis.exceptions.NoScriptError:
        return client.eval(_TAKE, 1, key, interval_ms, tolerance_ms)


class Priority(enum.StrEnum):
    INTERACTIVE = "interactive"  # a reader is waiting on the answer
    BACKGROUND = "background"  # webhook events, reconcile, commands


class PaceTimeout(RuntimeError):
    """No turn came within the caller's wait: Stripe's budget is taken by others for now."""


_priority: ContextVar[Priority | None] = ContextVar("stripe_priority", default=None)


@contextmanager
def background() -> Iterator[None]:
    """Stripe calls inside are background work, even while serving a request (the webhook's inline processing)."""
    token = _priority.set(Priority.BACKGROUND)
    try:
        yield
    finally:
        _priority.reset(token)


def current_priority() -> Priority:
    """Interactive while serving a web request (unless inside `background()`), else background."""
    chosen = _priority.get()
    if chosen is not None:
        return chosen
    return Priority.INTERACTIVE if has_request_context() else Priority.BACKGROUND


def default_reserve(rate: float) -> int:
    """How many turns ahead of the schedule readers may go: INTERACTIVE_SHARE of a second's rate, at least 1."""
    return max(1, math.floor(rate * INTERACTIVE_SHARE))


class Pace:
    """The limiter. `take()` blocks until the caller's turn; thread-safe, and shared through Redis when
    `redis_client()` gives one (read at each call, so a queue configured later is used)."""

    def __init__(self, rate: float, *, reserve: int | None = None,
                 redis_client: Callable[[], redis.Redis | None] = lambda: None,
                 key: Callable[[], str] = lambda: DEFAULT_KEY,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("The rate must be above 0 requests a second.")
        self.rate = rate
        self.reserve = default_reserve(rate) if reserve is None else reserve
        self.key = key
        self._redis = redis_client
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tat = 0.0  # this process's schedule, in clock seconds (used without Redis)

    @property
    def interval(self) -> float:
        return 1.0 / self.rate

    def _tolerance(self, priority: Priority) -> float:
        return self.reserve * self.interval if priority is Priority.INTERACTIVE else 0.0

    def try_take(self, priority: Priority) -> float:
        """Take a turn now if the schedule allows: 0.0 if taken, else the seconds to wait before asking again."""
        client = self._redis()
        if client is not None:
            try:
                waited = _run_take(client, self.key(), self.interval * 1000, self._tolerance(priority) * 1000)
                return float(waited) / 1000
            except redis.RedisError as exc:
                log.warning("Redis is unreachable for Stripe's pace (%s); pacing in this process only.", exc)
        with self._lock:
            now = self._clock()
            tat = max(self._tat, now)
            ahead = tat - now
            tolerance = self._tolerance(priority)
            if ahead > tolerance + 1e-9:  # float noise isn't a wait
                return ahead - tolerance
            self._tat = tat + self.interval
            return 0.0

    def take(self, priority: Priority | None = None) -> Priority:
        """Wait for a turn (PaceTimeout after MAX_WAIT_SECONDS); returns the priority it was taken at."""
        priority = priority or current_priority()
        deadline = self._clock() + MAX_WAIT_SECONDS[priority.value]
        while (wait := self.try_take(priority)) > 0:
            if self._clock() + wait > deadline:
                raise PaceTimeout(f"No turn for a Stripe request within {MAX_WAIT_SECONDS[priority.value]:.0f} s.")
            # A little jitter, so callers told the same wait don't all ask again at the same instant.
            self._sleep(wait + random.uniform(0, self.interval / 10))
        return priority


# Retrying Stripe's 429s (rate_limit, lock_timeout): how many times, by priority. A reader gets a quick answer
# ("try again"); a worker waits longer, and its own retries of the event cover the rest.
RETRIES = {Priority.INTERACTIVE: 2, Priority.BACKGROUND: 6}
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 8.0


def backoff_seconds(attempt: int) -> float:
    """Exponential back-off with jitter before retry number `attempt` (1, 2, …): 0.5 s, 1 s, 2 s … at most 8 s,
    each drawn between half and all of it, so callers refused together don't come back together."""
    ceiling = min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2.0 ** (attempt - 1))
    return ceiling * random.uniform(0.5, 1.0)
