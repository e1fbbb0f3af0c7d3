"""Registering the newsroom's webhook endpoints, audited; the deliveries staff see and send again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from membership.staff.accounts.audit import record_audit
from membership.staff.accounts.models import StaffUser
from membership.webhooks_out import EventType, WebhookDelivery, WebhookEndpoint, new_secret, send_again

RECENT_DELIVERIES = 50


@dataclass(frozen=True)
class EndpointValues:
    url: str
    description: str
    event_types: Sequence[str]
    include_email: bool
    active: bool


def _clean(values: EndpointValues) -> dict[str, object]:
    known = [event.value for event in EventType if event.value in values.event_types]
    return {"url": values.url.strip(), "description": values.description.strip(), "event_types": known,
            "include_email": values.include_email, "active": values.active}


def endpoints(session: Session) -> list[tuple[WebhookEndpoint, dict[str, int]]]:
    """Every endpoint, with its deliveries counted by status."""
    rows = session.execute(select(WebhookDelivery.endpoint_id, WebhookDelivery.status, func.count())
                           .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.status)).all()
    counts: dict[int, dict[str, int]] = {}
    for endpoint_id, status, count in rows:
        counts.setdefault(endpoint_id, {})[status] = count
    return [(endpoint, counts.get(endpoint.id, {}))
            for endpoint in session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id))]


def create_endpoint(session: Session, actor: StaffUser, values: EndpointValues, ip: str = "") -> WebhookEndpoint:
    endpoint = WebhookEndpoint(secret=new_secret(), **_clean(values))
    session.add(endpoint)
    session.flush()
    record_audit(session, actor, "webhook.endpoint_created", target_type="webhook_endpoint", target_id=endpoint.id,
                 ip=ip, event_types=endpoint.event_types, include_email=endpoint.include_email)
    return endpoint


def update_endpoint(session: Session, actor: StaffUser, endpoint: WebhookEndpoint, values: EndpointValues,
                    ip: str = "") -> None:
    for name, value in _clean(values).items():
        setattr(endpoint, name, value)
    session.flush()
    record_audit(session, actor, "webhook.endpoint_updated", target_type="webhook_endpoint", target_id=endpoint.id,
                 ip=ip, event_types=endpoint.event_types, include_email=endpoint.include_email,
                 active=endpoint.active)


def rotate_secret(session: Session, actor: StaffUser, endpoint: WebhookEndpoint, ip: str = "") -> None:
    endpoint.secret = new_secret()
    session.flush()
    record_audit(session, actor, "webhook.secret_rotated", target_type="webhook_endpoint", target_id=endpoint.id,
                 ip=ip)


def delete_endpoint(session: Session, actor: StaffUser, endpoint: WebhookEndpoint, ip: str = "") -> None:
    record_audit(session, actor, "webhook.endpoint_deleted", target_type="webhook_endpoint", target_id=endpoint.id,
                 ip=ip, url_host=endpoint.url.split("/")[2] if "//" in endpoint.url else "")
    session.delete(endpoint)
    session.flush()


def recent_deliveries(session: Session, endpoint: WebhookEndpoint) -> list[WebhookDelivery]:
    return list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
                                .order_by(WebhookDelivery.id.desc()).limit(RECENT_DELIVERIES)))


def resend(session: Session, actor: StaffUser, delivery: WebhookDelivery, ip: str = "") -> None:
    send_again(session, delivery)
    record_audit(session, actor, "webhook.delivery_resent", target_type="webhook_delivery", target_id=delivery.id,
                 ip=ip, message_id=delivery.message_id)
