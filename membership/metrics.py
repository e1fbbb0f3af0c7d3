"""Every Prometheus metric the service exports, in one place; `/metrics` (membership.monitoring) serves them.

Under gunicorn each worker is a process of its own: with PROMETHEUS_MULTIPROC_DIR set (gunicorn's configuration
sets one when the environment doesn't), prometheus-client keeps each process's counts in files there and
`/metrics` adds them up, so a scrape that reaches any worker sees them all. The variable must be set before
this module is first imported, which is why it is read from the environment, not from the app's settings.

Labels take few values (a frequency, an event type we handle, a message name): never an id or an address.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from sqlalchemy.orm import Session

from membership.db import after_commit, committed, sends_after_commit

if _directory := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(_directory, exist_ok=True)  # prometheus-client writes each process's counts there

CHECKOUTS_STARTED = Counter(
    "membership_checkouts_started", "Checkouts sent to Stripe, by frequency (once, monthly, yearly).",
    ["frequency"])
CHECKOUTS_COMPLETED = Counter(
    "membership_checkouts_completed", "Checkouts Stripe confirmed as paid, by frequency.", ["frequency"])
WEBHOOK_EVENTS = Counter(
    "membership_webhook_events",
    "Stripe events handled, by type (`other` for types we only store) and outcome "
    "(processed, duplicate, ignored, failed).", ["type", "outcome"])
EVENT_PROCESSING_SECONDS = Histogram(
    "membership_event_processing_seconds", "Time to process one Stripe event, Stripe's reads included.", ["type"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
EMAILS_QUEUED = Counter("membership_emails_queued", "Emails written to the outbox, by message.", ["message"])
EMAILS_SENT = Counter("membership_emails_sent", "Emails handed to the mail server, by message.", ["message"])
EMAILS_FAILED = Counter(
    "membership_emails_failed", "Attempts to send an email that failed (it is retried), by message.", ["message"])
EXPORTS = Counter(
    "membership_exports", "Exports written, by kind, how (inline, queued, command) and outcome (written, failed).",
    ["kind", "how", "outcome"])
RATE_LIMIT_REFUSALS = Counter(
    "membership_rate_limit_refusals", "Requests refused by a rate limit or lock-out, by bucket.", ["bucket"])
STRIPE_REQUESTS = Counter(
    "membership_stripe_requests",
    "Requests to Stripe's API, by resource and HTTP status (`network` when no answer came).",
    ["resource", "status"])
STRIPE_REQUEST_SECONDS = Histogram(
    "membership_stripe_request_seconds", "Time Stripe took to answer, retries included, by resource.", ["resource"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40))

OTHER = "other"
AFTER_COMMIT_NAME = "metrics"  # what `count_after_commit` keeps for after the commit (membership.db.after_commit)


@dataclass
class StripeRequest:
    status: str = "network"  # the HTTP status, once one came back


@contextmanager
def observed_stripe_request(path: str) -> Iterator[StripeRequest]:
    """Count and time one request to Stripe's API, by resource (`/v1/<resource>/…`) and HTTP status: the block
    sets `status` from the answer, or the SDK's error carries it (`http_status`); none is a network failure."""
    parts = path.split("/")
    resource = parts[2] if len(parts) > 2 and parts[1] == "v1" else OTHER
    request, started = StripeRequest(), time.perf_counter()
    try:
        yield request
    except Exception as exc:
        request.status = str(getattr(exc, "http_status", None) or "network")
        raise
    finally:
        STRIPE_REQUESTS.labels(resource, request.status).inc()
        STRIPE_REQUEST_SECONDS.labels(resource).observe(time.perf_counter() - started)


def multiprocess_dir() -> str:
    """The directory the worker processes share their counts through; empty in a single process."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or ""


def exposition() -> bytes:
    """Every process's metrics (or this process's, without a multiprocess directory) in the text format."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(DEFAULT_REGISTRY)


def count_after_commit(session: Session, counter: Counter, *labels: str) -> None:
    """Count one on `counter` once the session's transaction commits (nothing if it rolls back), so a retried
    transaction (a Stripe event processed again after a failure) never counts twice."""
    after_commit(session, AFTER_COMMIT_NAME, (counter, labels))


@sends_after_commit
def _count_committed(session: Session) -> None:
    for counter, labels in committed(session, AFTER_COMMIT_NAME):
        counter.labels(*labels).inc()
