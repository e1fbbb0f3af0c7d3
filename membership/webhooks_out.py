"""Webhooks out: the newsroom's own tools (a CRM, a newsletter provider, a Slack relay) hear what happens here.

Admins register endpoints at /staff/webhooks, each with the event types it wants. When something happens, the
code where it happens calls `emit(session, type, data)` in the same transaction: one delivery row per endpoint
that wants the type (a transactional outbox, as for emails). After the commit the deliveries are handed to the
worker (`webhooks` queue, with REDIS_URL) or wait for `jobs run`, which also retries the ones that failed.

Deliveries follow the Standard Webhooks convention (https://www.standardwebhooks.com): headers `webhook-id`,
`webhook-timestamp` and `webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed by the
endpoint's `whsec_` secret), so any Standard Webhooks library verifies them. A delivery is retried with growing
waits for three days, then marked failed; staff see each one's status and can send it again.

Payloads carry ids and amounts, not personal data: the supporter's email only when the endpoint is set to
include it (a CRM needs it, a Slack relay doesn't). Names are never sent.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import json
import logging
import secrets
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import current_app
from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from membership.db import Base, UTCDateTime, rows_affected, utcnow
from membership.i18n import gettext
from membership.queue import WEBHOOKS, push_after_commit, redis_queue

log = logging.getLogger(__name__)


class EventType(enum.StrEnum):
    SUPPORTER_CREATED = "supporter.created"
    MEMBERSHIP_STARTED = "membership.started"
    MEMBERSHIP_CHANGED = "membership.changed"
    MEMBERSHIP_ENDED = "membership.ended"
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_REFUNDED = "payment.refunded"
    CONSENT_CHANGED = "consent.changed"
    BALLOT_CLOSED = "ballot.closed"
    SUPPORTER_ERASED = "supporter.erased"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after RETRY_FOR


# Waits between attempts (Standard Webhooks' suggested schedule), then every RETRY_EVERY until RETRY_FOR is up.
RETRY_SCHEDULE = [timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
                  timedelta(hours=5), timedelta(hours=10)]
RETRY_EVERY = timedelta(hours=10)
RETRY_FOR = timedelta(days=3)
SEND_LEASE = timedelta(minutes=2)  # a sender's claim on a delivery; a sender that dies meanwhile is retried
TIMEOUT_SECONDS = 10
SECRET_PREFIX = "whsec_"  # noqa: S105  (the prefix, not a secret)
MAX_RESPONSE_KEPT = 500


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(200), default="")
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    include_email: Mapped[bool] = mapped_column(Boolean, default=False)
    secret: Mapped[str] = mapped_column(String(100))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base):
    """One event for one endpoint: the exact body sent (so a re-send is byte-identical) and how it went."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[str] = mapped_column(String(40), unique=True)
    event_type: Mapped[str] = mapped_column(String(40))
    # Whose event it is (none for a ballot's): erasure finds their deliveries by it, not by searching bodies.
    supporter_id: Mapped[int | None] = mapped_column(Integer, index=True)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default=DeliveryStatus.PENDING.value, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` header: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`, keyed by the
    secret's bytes (the base64 after `whsec_`)."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return f"v1,{base64.b64encode(digest).decode()}"


def active_endpoints(session: Session) -> list[WebhookEndpoint]:
    """The endpoints deliveries go to (for a caller that emits more than one event, or only if one is wanted)."""
    return list(session.scalars(_ACTIVE_ENDPOINTS))


_ACTIVE_ENDPOINTS = select(WebhookEndpoint).where(WebhookEndpoint.active)  # built once: it runs for every payment


def wanted(endpoints: Sequence[WebhookEndpoint], event_type: EventType) -> bool:
    """Whether any of `endpoints` wants `event_type`."""
    return any(event_type.value in (endpoint.event_types or []) for endpoint in endpoints)


def emit(session: Session, event_type: EventType, data: Mapping[str, Any], *, email: str | None = None,
         endpoints: Sequence[WebhookEndpoint] | None = None) -> int:
    """Queue `event_type` for every active endpoint that wants it; `email` is added to `data` only for endpoints
    set to include it. Sent after the caller's transaction commits (nothing if it rolls back). Returns how many
    deliveries were queued. `endpoints`: the active endpoints, if the caller has read them already."""
    if endpoints is None:
        endpoints = active_endpoints(session)
    endpoints = [endpoint for endpoint in endpoints if event_type.value in (endpoint.event_types or [])]
    now = utcnow()
    for endpoint in endpoints:
        payload = dict(data)
        if endpoint.include_email and email:
            payload["email"] = email
        message_id = f"msg_{uuid.uuid4().hex}"
        body = json.dumps({"type": event_type.value, "timestamp": now.isoformat().replace("+00:00", "Z"),
                           "data": payload}, separators=(",", ":"), sort_keys=True)
        delivery = WebhookDelivery(endpoint_id=endpoint.id, message_id=message_id, event_type=event_type.value,
                                   supporter_id=data.get("supporter_id"), body=body, next_attempt_at=now,
                                   created_at=now)
        session.add(delivery)
        session.flush()
        if redis_queue() is not None:
            push_after_commit(session, WEBHOOKS, delivery.id)
    return len(endpoints)


def _next_wait(attempts: int) -> timedelta:
    return RETRY_SCHEDULE[attempts - 1] if attempts - 1 < len(RETRY_SCHEDULE) else RETRY_EVERY


def _claim(session: Session, delivery_id: int, now: datetime, force: bool = False) -> WebhookDelivery | None:
    """Take a due delivery with one conditional update (so two senders never send it twice at once)."""
    conditions = [WebhookDelivery.id == delivery_id, WebhookDelivery.status == DeliveryStatus.PENDING.value]
    if not force:
        conditions.append(WebhookDelivery.next_attempt_at <= now)
    claimed = session.execute(
        update(WebhookDelivery)
        .where(*conditions)
        .values(next_attempt_at=now + SEND_LEASE, attempts=WebhookDelivery.attempts + 1)
        .execution_options(synchronize_session=False))
    session.commit()
    if rows_affected(claimed) != 1:
        return None
    return session.get(WebhookDelivery, delivery_id, populate_existing=True)


def deliver(session: Session, delivery_id: int, now: datetime | None = None) -> bool | None:
    """Send one due delivery and record how it went (committed). True delivered, False failed (retried later
    or given up), None when it wasn't due or someone else has it."""
    now = now or utcnow()
    delivery = _claim(session, delivery_id, now)
    if delivery is None:
        return None
    endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint is None or not endpoint.active:
        delivery.status = DeliveryStatus.FAILED.value
        delivery.last_error = "The endpoint was disabled."
        session.commit()
        return False
    timestamp = int(now.timestamp())
    headers = {
        "content-type": "application/json",
        "user-agent": "membership-webhooks/1",
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(endpoint.secret, delivery.message_id, timestamp, delivery.body),
    }
    try:
        response = requests.post(endpoint.url, data=delivery.body.encode(), headers=headers,
                                 timeout=TIMEOUT_SECONDS, allow_redirects=False)
        delivery.last_status_code = response.status_code
        ok = 200 <= response.status_code < 300
        delivery.last_error = "" if ok else f"HTTP {response.status_code}: {response.text[:MAX_RESPONSE_KEPT]}"
    except requests.RequestException as exc:
        ok = False
        delivery.last_status_code = None
        delivery.last_error = f"{type(exc).__name__}: {str(exc)[:MAX_RESPONSE_KEPT]}"
    if ok:
        delivery.status = DeliveryStatus.DELIVERED.value
        delivery.delivered_at = utcnow()
    else:
        retry_at = now + _next_wait(delivery.attempts)
        if retry_at > delivery.created_at + RETRY_FOR:
            delivery.status = DeliveryStatus.FAILED.value
            log.warning("Webhook delivery %s (%s) to endpoint %s failed for good after %s attempts: %s",
                        delivery.message_id, delivery.event_type, endpoint.id, delivery.attempts, delivery.last_error)
        else:
            delivery.next_attempt_at = retry_at
            log.info("Webhook delivery %s to endpoint %s failed (attempt %s), retrying at %s: %s",
                     delivery.message_id, endpoint.id, delivery.attempts, retry_at.isoformat(), delivery.last_error)
    session.commit()
    return ok


def deliver_due(session: Session, now: datetime, limit: int = 500) -> tuple[int, int]:
    """Send every due delivery (`jobs run`): those never handed to a worker, and retries. (delivered, failed)."""
    ids = list(session.scalars(select(WebhookDelivery.id).where(
        WebhookDelivery.status == DeliveryStatus.PENDING.value, WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.id).limit(limit)))
    session.commit()
    delivered = failed = 0
    for delivery_id in ids:
        result = deliver(session, delivery_id, now)
        delivered += result is True
        failed += result is False
    return delivered, failed


def send_again(session: Session, delivery: WebhookDelivery) -> None:
    """Staff's "send again": the same message (same id, so the receiver can tell) is due now, with a fresh
    three days of retries counted from now."""
    delivery.status = DeliveryStatus.PENDING.value
    delivery.next_attempt_at = utcnow()
    delivery.created_at = utcnow()
    session.flush()
    if redis_queue() is not None:
        push_after_commit(session, WEBHOOKS, delivery.id)


def forget_email(session: Session, supporter_id: int) -> int:
    """Erasure: the supporter's email goes from every delivery kept for them (sent or still to send, which then
    goes without it). Returns how many were rewritten."""
    changed = 0
    for delivery in session.scalars(select(WebhookDelivery).where(WebhookDelivery.supporter_id == supporter_id)):
        message = json.loads(delivery.body)
        if isinstance(message.get("data"), dict) and message["data"].pop("email", None) is not None:
            delivery.body = json.dumps(message, separators=(",", ":"), sort_keys=True)
            changed += 1
    session.flush()
    return changed


def endpoint_url_problem(url: str) -> str | None:
    """Why `url` can't be an endpoint, or None: an absolute http(s) address; https in production."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return str(gettext("Give the full address, starting with https://"))
    if parts.scheme != "https" and current_app.config.get("MEMBERSHIP_ENV") == "production":
        return str(gettext("Endpoints must use https:// in production."))
    return None
