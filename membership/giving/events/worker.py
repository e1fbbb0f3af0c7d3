"""Webhooks with a queue (REDIS_URL): acknowledge in the request, process in `flask --app membership worker`.

The request only verifies, stores the event (one Core INSERT … ON CONFLICT DO NOTHING, its own commit, no ORM)
and pushes its id on the `stripe_events` queue (`acknowledge_event`). A worker claims the event with one
conditional UPDATE that counts the attempt and leases it for STRIPE_EVENT_LEASE_SECONDS, then runs its handler
as the inline path does (`pipeline.run_handler`: prepare → fetch from Stripe → apply, one transaction under the
event row's lock, so a duplicate or a concurrent worker changes nothing). The claim commits with the handler's
reads before Stripe is asked; when there is nothing to ask, claim, reads and writes are one transaction (a
worker killed in it leaves the event as it was, due again when its earlier lease runs out).

A failed attempt is retried after STRIPE_EVENT_RETRY_SECONDS, doubling each time, up to STRIPE_EVENT_MAX_ATTEMPTS
attempts; the last failure marks the event `failed`, which the staff dashboard and `stripe reconcile` show.

`next_attempt_at` says when a `received` event is due again: a retry's time, or the end of a lease (a worker
killed mid-event), or, for an event no worker has taken yet, the time by which one should have (Redis lost at
push time). `requeue_due_events` pushes the due ones again: run by `jobs run` and by an idle worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import redis
from flask import current_app
from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from membership.db import unit_of_work, utcnow
from membership.giving.events.pipeline import (
    Outcome,
    error_text,
    event_lease,
    note_api_version,
    process_event,
    run_handler,
    store_with_core,
    stored_values,
    trim_event,
)
from membership.giving.models import EventStatus, StripeEvent
from membership.giving.stripe_gateway import StripeGateway
from membership.queue import STRIPE_EVENTS, push, queue_length, redis_queue

log = logging.getLogger(__name__)

RETRY_CAP = timedelta(hours=6)
REQUEUE_BATCH = 1000


@dataclass(frozen=True)
class RetryPolicy:
    """STRIPE_EVENT_MAX_ATTEMPTS, STRIPE_EVENT_RETRY_SECONDS and STRIPE_EVENT_LEASE_SECONDS."""

    max_attempts: int
    first_retry: timedelta
    lease: timedelta

    def retry_after(self, attempts: int) -> timedelta:
        """The wait before the next attempt, after `attempts` failed ones: first_retry, doubling, at most 6 hours."""
        return min(self.first_retry * (1 << min(max(attempts - 1, 0), 20)), RETRY_CAP)


def retry_policy() -> RetryPolicy:
    config = current_app.config
    return RetryPolicy(max_attempts=int(config["STRIPE_EVENT_MAX_ATTEMPTS"]),
                       first_retry=timedelta(seconds=int(config["STRIPE_EVENT_RETRY_SECONDS"])),
                       lease=event_lease())


def queued_processing() -> bool:
    """Whether webhooks are acknowledged and left to the worker (REDIS_URL set), or processed in the request."""
    return redis_queue() is not None


# The request ------------------------------------------------------------------------------------------------


def acknowledge_event(engine: Engine, event: dict[str, Any],
                      store: Callable[[Engine, dict[str, Any]], bool] = store_with_core) -> Outcome:
    """Store a verified event (trimmed) in a transaction of its own and hand its id to the worker: 'queued', or
    'duplicate' if it was stored already (nothing changes). If Redis can't take the id, the event is stored all
    the same and `requeue_due_events` pushes it once its lease has run out. `store` runs the INSERT
    (`store_with_core`, or `store_with_driver` on an engine in autocommit)."""
    note_api_version(event)
    kept = trim_event(event)
    # No Session, and no transaction around the one statement: in autocommit the INSERT commits by itself, one
    # round trip with no BEGIN/COMMIT, and the connection is never left "idle in transaction" while this process
    # waits for a CPU between the INSERT and its COMMIT (which a loaded machine made 16-19 % of its time).
    if not store(engine, stored_values(kept, event_lease())):
        return Outcome(kept["id"], "duplicate")
    try:
        push(STRIPE_EVENTS, [kept["id"]])
    except redis.RedisError as exc:
        log.warning("The Stripe event queue is unreachable (%s); event %s waits for `jobs run`.", exc, kept["id"])
    return Outcome(kept["id"], "queued")


# The worker -------------------------------------------------------------------------------------------------


def _claim(session: Session, event_id: str, lease: timedelta) -> tuple[dict[str, Any], int] | None:
    """Take the event for this worker: one not tried yet, or whose retry (or another worker's lease) is due.
    Counts the attempt and leases the event. Leaves the transaction open (the handler's reads commit it)."""
    now = utcnow()
    row = session.execute(_CLAIM, {"event_id": event_id, "now": now, "leased_until": now + lease}).one_or_none()
    return None if row is None else (row[0], int(row[1]))


# Built once: it runs for every event, and building a statement costs more than running it. On the table, not the
# mapped class: an ORM UPDATE … RETURNING missed SQLAlchemy's compiled cache and was compiled afresh for every
# event (a tenth of a worker's CPU).
_EVENTS = cast(Table, StripeEvent.__table__)
_CLAIM = (
    update(_EVENTS)
    .where(_EVENTS.c.id == bindparam("event_id"), _EVENTS.c.status == EventStatus.RECEIVED.value,
           or_(_EVENTS.c.attempts == 0, _EVENTS.c.next_attempt_at <= bindparam("now")))
    .values(attempts=_EVENTS.c.attempts + 1, next_attempt_at=bindparam("leased_until"))
    .returning(_EVENTS.c.payload, _EVENTS.c.attempts)
)


def _record_failure(session: Session, event_id: str, attempts: int, error: str, policy: RetryPolicy) -> bool:
    """Keep a failed attempt's error, and retry the event later or, after the last attempt, mark it failed.
    True if it failed for good."""
    final = attempts >= policy.max_attempts
    values: dict[str, Any] = {"attempts": attempts, "last_error": error}
    if final:
        values.update(status=EventStatus.FAILED.value, next_attempt_at=None)
    else:
        values["next_attempt_at"] = utcnow() + policy.retry_after(attempts)
    with unit_of_work(session):
        session.execute(update(StripeEvent).where(StripeEvent.id == event_id,
                                                  StripeEvent.status == EventStatus.RECEIVED.value)
                        .values(**values).execution_options(synchronize_session=False))
    return final


def process_queued_event(session: Session, gateway: StripeGateway, event_id: str,
                         policy: RetryPolicy) -> bool | None:
    """Process one event the queue handed over: True done (processed, ignored, or found done by another
    worker meanwhile), False this attempt failed (retried later, or failed for good), None nothing to take
    (done already, leased by another worker, or not stored)."""
    claimed = _claim(session, event_id, policy.lease)
    if claimed is None:
        session.rollback()
        return None
    event, attempts = claimed
    try:
        run_handler(session, gateway, event_id, event, counted=True)
    except Exception as exc:
        session.rollback()
        final = _record_failure(session, event_id, attempts, error_text(exc), policy)
        log.warning("Stripe event %s (%s) failed (attempt %d%s): %s", event_id, event.get("type"), attempts,
                    ", the last" if final else "", error_text(exc), exc_info=final)
        return False
    return True


# Re-queueing -----------------------------------------------------------------------------------------------


def _due(session: Session, now: datetime, *, waiting_too: bool) -> list[str]:
    """Received events due again. `waiting_too`: with those no worker has taken yet (they may still be on the
    queue, so only when it is empty)."""
    query = select(StripeEvent.id).where(StripeEvent.status == EventStatus.RECEIVED.value,
                                         StripeEvent.next_attempt_at <= now)
    if not waiting_too:
        query = query.where(StripeEvent.attempts > 0)
    ids = list(session.scalars(query.order_by(StripeEvent.next_attempt_at).limit(REQUEUE_BATCH)))
    session.rollback()
    return ids


def requeue_due_events(session: Session, gateway: StripeGateway, now: datetime) -> int:
    """Hand the events that are due again to the worker (or, without a queue, process them here): retries whose
    time has come, events whose worker's lease ran out, and events stored but never taken (their push was lost;
    only when the queue is empty, since otherwise they may just be waiting on it). How many were handed over."""
    if not queued_processing():
        due = _due(session, now, waiting_too=True)
        for event_id in due:
            try:
                process_event(session, gateway, event_id)
            except Exception:  # noqa: S112 - logged and recorded on the event; the others still go
                continue
        return len(due)
    try:
        due = _due(session, now, waiting_too=queue_length(STRIPE_EVENTS) == 0)
        if due:
            push(STRIPE_EVENTS, due)
    except redis.RedisError as exc:
        log.warning("The Stripe event queue is unreachable (%s); due events wait for the next `jobs run`.", exc)
        return 0
    return len(due)


# What needs attention --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FailedEvent:
    id: str
    type: str
    received_at: datetime
    attempts: int
    last_error: str


def failed_events(session: Session, limit: int = 50) -> tuple[list[FailedEvent], int]:
    """The events that failed (newest first, at most `limit`) and how many there are in all."""
    rows = session.execute(
        select(StripeEvent.id, StripeEvent.type, StripeEvent.received_at, StripeEvent.attempts, StripeEvent.last_error)
        .where(StripeEvent.status == EventStatus.FAILED.value)
        .order_by(StripeEvent.received_at.desc()).limit(limit)
    ).all()
    total = len(rows) if len(rows) < limit else session.scalar(
        select(func.count()).select_from(StripeEvent).where(StripeEvent.status == EventStatus.FAILED.value))
    return [FailedEvent(*row) for row in rows], int(total or 0)
