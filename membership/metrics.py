"""Every Prometheus metric the service exports, in one place; `/metrics` (membership.monitoring) serves them.

Under gunicorn each worker is a process of its own: with PROMETHEUS_MULTIPROC_DIR set (gunicorn's configuration
sets one when the environment doesn't), prometheus-client keeps each process's counts in files there and
`/metrics` adds them up, so a scrape that reaches any worker sees them all. The variable must be set before
this module is first imported, which is why it is read from the environment, not from the app's settings.

Labels take few values (a frequency, an event type we handle, a message name): never an id or an address.
"""

from __future__ import annotations

import os

from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

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


def multiprocess_dir() -> str:
    """The directory the worker processes share their counts through; empty in a single process."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or ""


def exposition() -> bytes:
    """Every process's metrics (or this process's, without a multiprocess directory) in the text format."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(DEFAULT_REGISTRY)
