"""Stored Stripe events after processing: whom each names (indexed, for erasure) and how long its payload stays.

An erasure must find every stored event that names the supporter. Reading every payload for their address or
customer id (a LIKE over JSON) would take longer as the table grows, so each event's customer id, and the
SHA-256 of any email address its stored payload holds, are columns of their own, indexed, filled when the event
is stored. Payloads are trimmed before they are stored and hold no address; only events stored before that
(filled in by the migration that added the columns) have an `email_hash`.

Retention: `jobs run` deletes the payload of events received more than STRIPE_EVENT_RETENTION_DAYS ago that
are finished with (processed, ignored or failed), keeping the id, type, status and dates. Services flush; the
caller commits each batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from membership.db import rows_affected, utcnow
from membership.giving.models import EventStatus, StripeEvent

EMAIL_KEYS = frozenset({"email", "customer_email", "receipt_email"})
RETENTION_BATCH = 1000
# A received event is still to be processed (by the worker, `jobs run` or reconcile): its payload stays.
FINISHED = (EventStatus.PROCESSED, EventStatus.IGNORED, EventStatus.FAILED)


def email_digest(address: str) -> str:
    """The SHA-256 (hex) of an address as supporters' addresses are kept: trimmed, lower case."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


def _emails(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in EMAIL_KEYS and isinstance(item, str) and "@" in item:
                yield item
            else:
                yield from _emails(item)
    elif isinstance(value, list):
        for item in value:
            yield from _emails(item)


def event_subjects(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    """(customer id, email digest) that a stored payload names, for the lookup columns; None where it names none."""
    data = payload.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    customer: Any = None
    if isinstance(obj, dict):
        customer = obj.get("id") if obj.get("object") == "customer" else obj.get("customer")
        if isinstance(customer, dict):
            customer = customer.get("id")
    address = next(_emails(payload), None)
    return (customer[:255] if isinstance(customer, str) and customer else None,
            email_digest(address) if address else None)


def events_naming(session: Session, customer_id: str | None, email: str | None) -> list[StripeEvent]:
    """The stored events that name this Stripe customer or address, found through the indexed lookup columns."""
    conditions = []
    if customer_id:
        conditions.append(StripeEvent.customer_id == customer_id)
    if email:
        conditions.append(StripeEvent.email_hash == email_digest(email))
    if not conditions:
        return []
    return list(session.scalars(select(StripeEvent).where(or_(*conditions)).order_by(StripeEvent.received_at)))


def delete_old_payloads(session: Session, received_before: datetime, limit: int = RETENTION_BATCH) -> int:
    """Delete the payloads of up to `limit` finished events received before `received_before`, oldest first,
    keeping each one's id, type, status and dates (and the lookup columns). Returns how many; flushes."""
    batch = (select(StripeEvent.id)
             .where(StripeEvent.payload_deleted_at.is_(None), StripeEvent.received_at < received_before,
                    StripeEvent.status.in_(FINISHED))
             .order_by(StripeEvent.payload_deleted_at, StripeEvent.received_at).limit(limit))
    ids = list(session.scalars(batch))
    if not ids:
        return 0
    deleted = session.execute(
        update(StripeEvent).where(StripeEvent.id.in_(ids), StripeEvent.payload_deleted_at.is_(None))
        .values(payload={}, payload_deleted_at=utcnow()).execution_options(synchronize_session=False)
    )
    return rows_affected(deleted)
