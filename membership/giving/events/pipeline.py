"""The webhook pipeline: store each verified event, trimmed, then process it once; reconcile what was missed.

Processing runs the event type's handler (`HANDLERS`) in three steps: `prepare` reads our rows, `fetch`
asks Stripe with no transaction open, `apply` writes under the event row's lock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from membership.db import dialect_insert, unit_of_work, utcnow
from membership.giving.events.charges import apply_charge, fetch_charge, recorded_charge
from membership.giving.events.checkout_sessions import (
    always,
    apply_checkout_async_failed,
    apply_checkout_completed,
    apply_checkout_expired,
    checkout_owner,
    fetch_checkout,
    nothing_to_fetch,
)
from membership.giving.events.invoices import (
    apply_invoice_paid,
    fetch_invoice_paid,
    fetch_invoice_subscription,
    invoice_claim,
)
from membership.giving.events.subscriptions import apply_subscription_changed, fetch_subscription, subscription_claim
from membership.giving.models import EventStatus, StripeEvent
from membership.giving.stored_events import event_subjects
from membership.giving.stripe_gateway import API_VERSION, StripeGateway
from membership.logs import log_context
from membership.metrics import EVENT_PROCESSING_SECONDS, OTHER, WEBHOOK_EVENTS

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Outcome:
    """What became of one delivery: 'processed', 'duplicate', 'ignored' or 'failed'."""

    event_id: str
    result: str
    error: str = ""
    event_type: str = ""


DONE = (EventStatus.PROCESSED, EventStatus.IGNORED)
DEFAULT_LEASE = timedelta(minutes=5)


def event_lease() -> timedelta:
    """How long an event may be in a worker's hands (or wait for one) before it is taken for lost
    (STRIPE_EVENT_LEASE_SECONDS)."""
    seconds = current_app.config.get("STRIPE_EVENT_LEASE_SECONDS") or DEFAULT_LEASE.total_seconds()
    return timedelta(seconds=int(seconds))


# Storing and processing -----------------------------------------------------------------------------

# Personal data Stripe puts in event payloads. Events are stored trimmed to a few ids (`trim_event`), so
# the stored copy keeps none of it; `redact` blanks it in copies stored whole before that, so an erased
# supporter's name and email can't linger in `stripe_events`.
PERSONAL_FIELDS = frozenset({
    "email", "name", "phone", "address", "description", "shipping", "shipping_details", "billing_details",
    "customer_details", "customer_email", "customer_name", "customer_phone", "customer_address",
    "customer_shipping", "receipt_email", "cardholder_name", "ip_address", "user_agent",
})


def redact(value: Any) -> Any:
    """A copy of an event payload with every personal field blanked (set to null), at any depth."""
    if isinstance(value, dict):
        return {key: (None if key in PERSONAL_FIELDS and item is not None else redact(item))
                for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


# What processing and reconcile read from an event, and so all that is kept of it: the event's own fields,
# and of its object the ids handlers decide on (handlers re-read everything else from Stripe). Stripe signs
# events of several megabytes (long invoices, large metadata); none of that is stored.
EVENT_FIELDS = ("id", "object", "type", "created", "api_version", "livemode")
OBJECT_FIELDS = ("id", "object", "customer", "subscription", "charge", "payment_intent", "status")
# Only the metadata keys we set ourselves (`giving.services.start_checkout`).
OUR_METADATA = ("checkout_id", "supporter_id")
KEPT_VALUE_MAX = 255


def _kept_value(value: Any) -> Any:
    """A scalar as stored: an expanded object by its id, text cut short, anything else dropped."""
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, str):
        return value[:KEPT_VALUE_MAX]
    return value if isinstance(value, (bool, int, float)) else None


def _our_metadata(metadata: Any) -> dict[str, Any]:
    if not isinstance(metadata, dict):
        return {}
    return {key: _kept_value(metadata[key]) for key in OUR_METADATA if key in metadata}


def _event_object(event: dict[str, Any]) -> dict[str, Any] | None:
    """The event's `data.object`; None for a thin event (or anything else without one)."""
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    return obj if isinstance(obj, dict) else None


def trim_event(event: dict[str, Any]) -> dict[str, Any]:
    """The part of an event payload that is stored and processed: no personal data, a few hundred bytes."""
    kept = {key: _kept_value(event[key]) for key in EVENT_FIELDS if key in event}
    obj = _event_object(event)
    if obj is None:
        return kept
    trimmed = {key: _kept_value(obj[key]) for key in OBJECT_FIELDS if key in obj}
    if "metadata" in obj:
        trimmed["metadata"] = _our_metadata(obj["metadata"])
    # An invoice names its subscription under `parent` today, at the top level (with `subscription_details`)
    # in events rendered at API versions before 2025-03-31.
    parent = obj.get("parent")
    details = parent.get("subscription_details") if isinstance(parent, dict) else None
    if isinstance(details, dict):
        trimmed["parent"] = {"subscription_details": {"subscription": _kept_value(details.get("subscription")),
                                                      "metadata": _our_metadata(details.get("metadata"))}}
    older = obj.get("subscription_details")
    if isinstance(older, dict):
        trimmed["subscription_details"] = {"metadata": _our_metadata(older.get("metadata"))}
    kept["data"] = {"object": trimmed}
    return kept


def _event_created(value: Any) -> datetime:
    """When Stripe created the event: unix seconds, or an RFC 3339 time as thin (v2) events carry it."""
    if isinstance(value, str) and not value.isdigit():
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
    try:
        return datetime.fromtimestamp(int(value or 0), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.fromtimestamp(0, UTC)


# The columns `stored_values` fills, in the order `insert_event` binds them.
STORED_COLUMNS = ("id", "type", "created", "customer_id", "email_hash", "livemode", "payload", "status", "received_at",
                  "attempts", "last_error", "next_attempt_at")


def stored_values(event: dict[str, Any], lease: timedelta) -> dict[str, Any]:
    """The `stripe_events` row of an event trimmed by `trim_event`, received now. `lease`: how long it may wait
    for a first attempt before `requeue_due_events` takes it for lost."""
    now = utcnow()
    customer_id, email_hash = event_subjects(event)  # the erasure's indexed lookup (giving.stored_events)
    return {
        "id": event["id"], "type": str(event.get("type", "")), "created": _event_created(event.get("created")),
        "customer_id": customer_id, "email_hash": email_hash,
        "livemode": bool(event.get("livemode")), "payload": event, "status": EventStatus.RECEIVED.value,
        "received_at": now, "attempts": 0, "last_error": "", "next_attempt_at": now + lease,
    }


def insert_event(bind: Session | Connection) -> Any:
    """The one statement that stores an event: INSERT … ON CONFLICT DO NOTHING RETURNING id (no row back: it
    was stored already), with the values of `stored_values` bound at execution. Built once per dialect: every
    delivery runs it, and building a statement costs more than running it."""
    insert = dialect_insert(bind)
    statement = _INSERT_EVENT.get(insert.__module__)
    if statement is None:
        table = StripeEvent.__table__
        statement = _INSERT_EVENT[insert.__module__] = (
            insert(table).values({column: bindparam(column) for column in STORED_COLUMNS})
            .on_conflict_do_nothing(index_elements=["id"]).returning(table.c.id))
    return statement


_INSERT_EVENT: dict[str, Any] = {}


def store_with_core(engine: Engine, values: dict[str, Any]) -> bool:
    """Run `insert_event` with `stored_values`' values on a connection of its own, in autocommit (the INSERT
    commits by itself: one round trip, no BEGIN/COMMIT). True if it stored the event, False if it was stored
    already (nothing changes)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        return connection.execute(insert_event(connection), values).first() is not None


@dataclass(frozen=True)
class _DriverInsert:
    """`insert_event` compiled for one dialect, and the bind processors of the columns it fills."""

    sql: str
    processors: dict[str, Callable[[Any], Any] | None]


_DRIVER_INSERTS: dict[str, _DriverInsert] = {}


def _driver_insert(engine: Engine) -> _DriverInsert:
    key = f"{engine.dialect.name}+{engine.dialect.driver}"
    statement = _DRIVER_INSERTS.get(key)
    if statement is None:
        with engine.connect() as connection:
            sql = insert_event(connection).compile(dialect=engine.dialect).string
        columns = cast(Table, StripeEvent.__table__).c
        statement = _DRIVER_INSERTS[key] = _DriverInsert(sql, {
            name: columns[name].type.dialect_impl(engine.dialect).bind_processor(engine.dialect)
            for name in STORED_COLUMNS})
    return statement


def store_with_driver(engine: Engine, values: dict[str, Any]) -> bool:
    """`store_with_core` on the database driver's own connection, for an engine in autocommit whose driver takes
    named parameters (the acknowledgement's own engine on PostgreSQL, `giving.acknowledge`).

    The same statement, compiled once for the dialect, and the same values put through the columns' own bind
    processors (UTCDateTime's check and conversion, the status's, JSON's serializer), so the row is the one
    `store_with_core` stores. It skips SQLAlchemy's Connection: the statement cache's lookup, the execution
    context and the result, 0.15-0.2 ms of a gunicorn worker's CPU per webhook, a seventh of an acknowledgement.
    A connection the database dropped is invalidated, as the Connection would, so the pool opens a new one."""
    if engine.dialect.paramstyle != "pyformat":
        return store_with_core(engine, values)
    statement = _driver_insert(engine)
    parameters = {name: value if (process := statement.processors[name]) is None else process(value)
                  for name, value in values.items()}
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(statement.sql, parameters)
            return cursor.fetchone() is not None
        finally:
            cursor.close()
    except engine.dialect.loaded_dbapi.Error as exc:
        if engine.dialect.is_disconnect(exc, connection.dbapi_connection, None):
            connection.invalidate(exc)
        raise
    finally:
        connection.close()


def store_event(session: Session, event: dict[str, Any], lease: timedelta = DEFAULT_LEASE) -> bool:
    """Keep the event, trimmed to what processing needs (`trim_event`), under Stripe's id. True if this
    delivery stored it; False if it was stored already, in which case nothing changes."""
    return session.execute(insert_event(session), stored_values(trim_event(event), lease)).first() is not None


def _status(session: Session, event_id: str) -> EventStatus | None:
    return session.scalar(select(StripeEvent.status).where(StripeEvent.id == event_id))


def _finish(session: Session, event_id: str, status: EventStatus, error: str = "", *, counted: bool = False) -> None:
    """Record an attempt's outcome: processed or ignored (done, and when), or failed with its error. `counted`:
    the attempt was counted already (by a worker's claim)."""
    done = {} if status is EventStatus.FAILED else {"processed_at": utcnow()}
    attempts = {} if counted else {"attempts": StripeEvent.attempts + 1}
    session.execute(
        update(StripeEvent).where(StripeEvent.id == event_id)
        .values(status=status.value, last_error=error, **attempts, **done)
        .execution_options(synchronize_session=False)
    )


def _mark_done(session: Session, event_id: str, status: EventStatus, *, counted: bool) -> bool:
    """Mark the event processed or ignored, unless it is done already: one UPDATE that also takes the event row's
    lock for the rest of the transaction, so a concurrent delivery of the same event waits here and then finds it
    done. False if it was done already (nothing changed). `counted`: a worker's claim counted the attempt."""
    statement = _MARK_DONE_COUNTED if counted else _MARK_DONE
    return session.execute(statement, {"event_id": event_id, "status": status, "now": utcnow()}).first() is not None


_EVENTS = cast(Table, StripeEvent.__table__)
# Built once: these run for every event, and building a statement costs more than running it.
_MARK_DONE_COUNTED = (
    update(_EVENTS)
    .where(_EVENTS.c.id == bindparam("event_id"), _EVENTS.c.status.not_in([status.value for status in DONE]))
    .values(status=bindparam("status"), last_error="", processed_at=bindparam("now"))
    .returning(_EVENTS.c.id)
)
_MARK_DONE = _MARK_DONE_COUNTED.values(attempts=_EVENTS.c.attempts + 1)


def process_event(session: Session, gateway: StripeGateway, event_id: str,
                  event: dict[str, Any] | None = None, *, fresh: bool = False) -> Outcome:
    """Process one stored event, unless it is done already: Stripe reads first, then one transaction.

    `event` is the payload if the caller has it (else the stored copy is read); `fresh` says the caller
    has just stored it, so it can't be done yet. On failure the transaction is rolled back, the event is
    marked failed with its error in a transaction of its own, and the exception is re-raised so the
    webhook answers 500 and Stripe retries. Every line logged meanwhile carries the event's id; the outcome is
    logged and counted (`membership_webhook_events`), and the time it took measured.
    """
    event_type = str((event or {}).get("type", ""))
    started = time.perf_counter()
    with log_context(event_id=event_id):
        try:
            outcome = _process_event(session, gateway, event_id, event, fresh=fresh)
        except Exception:
            _observe(event_type, "failed", started)  # logged, with the error, where it failed
            raise
        _observe(outcome.event_type or event_type, outcome.result, started)
        if outcome.result != "duplicate":
            log.info("Stripe event %s (%s) %s", event_id, outcome.event_type or event_type, outcome.result,
                     extra={"outcome": outcome.result})
    return outcome


def _observe(event_type: str, result: str, started: float) -> None:
    label = event_type if event_type in HANDLERS else OTHER
    WEBHOOK_EVENTS.labels(label, result).inc()
    if result in ("processed", "failed"):
        EVENT_PROCESSING_SECONDS.labels(label).observe(time.perf_counter() - started)


def _process_event(session: Session, gateway: StripeGateway, event_id: str, event: dict[str, Any] | None,
                   *, fresh: bool) -> Outcome:
    status: EventStatus | None
    if event is None:
        stored = session.get(StripeEvent, event_id, populate_existing=True)
        if stored is None:
            raise LookupError(f"Event {event_id} is not stored.")
        event, status = stored.payload, stored.status
        if stored.payload_deleted_at is not None and status not in DONE:
            raise LookupError(f"Event {event_id}'s payload was deleted (STRIPE_EVENT_RETENTION_DAYS).")
    else:
        status = EventStatus.RECEIVED if fresh else _status(session, event_id)
        if status is None:
            raise LookupError(f"Event {event_id} is not stored.")
    if status in DONE:
        session.rollback()
        return Outcome(event_id, "duplicate")
    try:
        return run_handler(session, gateway, event_id, event)
    except Exception as exc:
        session.rollback()  # a failure before the unit of work (prepare, fetch) may leave reads open
        with unit_of_work(session):
            _finish(session, event_id, EventStatus.FAILED, error_text(exc))
        log.exception("Stripe event %s (%s) failed", event_id, event.get("type"))
        raise


def error_text(exc: BaseException) -> str:
    """What `last_error` keeps of a failure."""
    return f"{type(exc).__name__}: {exc}"[:4000]


def run_handler(session: Session, gateway: StripeGateway, event_id: str, event: dict[str, Any], *,
                counted: bool = False) -> Outcome:
    """Act on one event: its handler's prepare (reads), fetch (Stripe, no transaction open) and apply, in one
    transaction that also marks the event done, under its row's lock. Raises whatever failed, having written
    nothing; the caller records the failure. `counted`: a worker's claim has counted this attempt already.

    Before asking Stripe, the reads' transaction is ended with a commit, not a rollback: it wrote nothing of its
    own, and a worker's claim of the event (`worker.process_queued_event`) goes with it, which saves a round trip
    per event. When Stripe needn't be asked (an event that concerns nothing of ours, an expired checkout), there is
    no HTTP call to keep a transaction from, and the reads, the claim and the writes are one transaction."""
    event_type = str(event.get("type", ""))
    obj = _event_object(event)
    if bool(event.get("livemode")) != gateway.livemode or obj is None:
        # A test-mode event reaching a live deployment (or the reverse) is kept but never acted on; so is a
        # thin event (no `data.object`): nothing we handle comes that way.
        with unit_of_work(session):
            if not _mark_done(session, event_id, EventStatus.IGNORED, counted=counted):
                return Outcome(event_id, "duplicate", event_type=event_type)
        return Outcome(event_id, "ignored", event_type=event_type)
    handler = HANDLERS.get(event_type)
    prepared = handler.prepare(session, obj) if handler is not None else None
    fetched = None
    if handler is not None and prepared is not None:
        if handler.fetch is not nothing_to_fetch:
            session.commit()  # end the reads' transaction: nothing is held while we wait for Stripe
        fetched = handler.fetch(gateway, obj, prepared)
    # With nothing to ask Stripe, the reads' transaction (and a worker's claim) goes on into this one: one
    # transaction for the event, one COMMIT.
    with unit_of_work(session):  # commits, then sends what it queued
        # Marked first, under the row's lock (the whole transaction rolls back if applying fails).
        if not _mark_done(session, event_id, EventStatus.PROCESSED, counted=counted):
            return Outcome(event_id, "duplicate", event_type=event_type)  # a concurrent delivery finished it meanwhile
        if handler is not None and fetched is not None:
            handler.apply(session, obj, fetched)
    return Outcome(event_id, "processed", event_type=event_type)


def receive_event(session: Session, gateway: StripeGateway, event: dict[str, Any]) -> Outcome:
    """A verified webhook: store it durably first (its own commit), then process it.

    It is processed from the same trimmed copy that is stored, so a retry from storage acts the same."""
    note_api_version(event)
    kept = trim_event(event)
    try:
        with unit_of_work(session):
            fresh = store_event(session, kept, event_lease())
    except Exception:
        log.exception("Stripe event %s (%s) could not be stored", kept.get("id"), kept.get("type"))
        raise
    return process_event(session, gateway, kept["id"], kept, fresh=fresh)


_api_versions_noted: set[str] = set()


def note_api_version(event: dict[str, Any]) -> None:
    """Warn, once per version, about events rendered at an API version other than ours. Handlers read ids
    only and re-read objects at our version, so they still work; the endpoint's version wants fixing."""
    version = event.get("api_version")
    if not isinstance(version, str) or version == API_VERSION or version in _api_versions_noted:
        return
    _api_versions_noted.add(version)
    log.warning("Stripe sends events at API version %s, not ours (%s): pin the webhook endpoint to %s.",
                version, API_VERSION, API_VERSION)


@dataclass
class ReconcileReport:
    seen: int = 0
    processed: int = 0
    already_done: int = 0
    failed: int = 0


def reconcile(session: Session, gateway: StripeGateway, since: datetime | None = None) -> ReconcileReport:
    """Process every event Stripe lists (oldest first) that we have not processed yet."""
    report = ReconcileReport()
    events = list(gateway.list_events(since=since))
    events.reverse()
    for event in events:
        report.seen += 1
        status = _status(session, event["id"])
        session.rollback()
        if status in DONE:
            report.already_done += 1
            continue
        try:
            outcome = receive_event(session, gateway, event)
        except Exception:
            report.failed += 1
            continue
        if outcome.result == "duplicate":
            report.already_done += 1
        else:
            report.processed += 1
    return report


# Handlers: one per event type (in the modules named after the Stripe object they concern) -------------


@dataclass(frozen=True)
class Handler:
    """`prepare(session, object)` reads our rows: None when there is nothing to do, else what `fetch` needs.
    `fetch(gateway, object, prepared)` asks Stripe, with no transaction open, and returns what `apply` needs
    (None: nothing to do). `apply(session, object, fetched)` writes, under the event's lock."""

    prepare: Callable[[Session, dict[str, Any]], Any]
    fetch: Callable[[StripeGateway, dict[str, Any], Any], Any]
    apply: Callable[[Session, dict[str, Any], Any], None]


CHECKOUT_COMPLETED = Handler(checkout_owner, fetch_checkout, apply_checkout_completed)
SUBSCRIPTION_CHANGED = Handler(subscription_claim, fetch_subscription, apply_subscription_changed)
CHARGE_CHANGED = Handler(recorded_charge, fetch_charge, apply_charge)

HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": CHECKOUT_COMPLETED,
    "checkout.session.async_payment_succeeded": CHECKOUT_COMPLETED,
    "checkout.session.async_payment_failed": Handler(always, nothing_to_fetch, apply_checkout_async_failed),
    "checkout.session.expired": Handler(always, nothing_to_fetch, apply_checkout_expired),
    "customer.subscription.created": SUBSCRIPTION_CHANGED,
    "customer.subscription.updated": SUBSCRIPTION_CHANGED,
    "customer.subscription.deleted": SUBSCRIPTION_CHANGED,
    "invoice.paid": Handler(invoice_claim, fetch_invoice_paid, apply_invoice_paid),
    "invoice.payment_failed": Handler(invoice_claim, fetch_invoice_subscription, apply_subscription_changed),
    "charge.refunded": CHARGE_CHANGED,
    "charge.dispute.created": CHARGE_CHANGED,
    "charge.dispute.closed": CHARGE_CHANGED,
}
