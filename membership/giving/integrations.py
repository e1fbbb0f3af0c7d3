"""What the newsroom's webhook endpoints hear about memberships and payments (membership.webhooks_out): ids,
amounts and states, never names; the email only for endpoints set to include it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from membership.giving.models import Membership, Payment
from membership.supporters.models import Supporter
from membership.webhooks_out import EventType, active_endpoints, emit, wanted


def _when(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def membership_data(membership: Membership) -> dict[str, Any]:
    return {
        "membership_id": membership.id, "supporter_id": membership.supporter_id, "status": membership.status.value,
        "amount_minor": membership.amount_minor, "currency": membership.currency, "interval": membership.interval,
        "cancel_at_period_end": membership.cancel_at_period_end,
        "current_period_end": _when(membership.current_period_end), "started_at": _when(membership.started_at),
        "ended_at": _when(membership.ended_at),
    }


def payment_data(payment: Payment) -> dict[str, Any]:
    return {
        "payment_id": payment.id, "supporter_id": payment.supporter_id, "membership_id": payment.membership_id,
        "kind": payment.kind.value, "status": payment.status.value, "amount_minor": payment.amount_minor,
        "refunded_minor": payment.refunded_minor, "currency": payment.currency, "paid_at": _when(payment.paid_at),
    }


def announce_membership(session: Session, event_type: EventType, supporter: Supporter, membership: Membership) -> None:
    session.flush()
    emit(session, event_type, membership_data(membership), email=supporter.email)


def announce_new_payment(session: Session, supporter: Supporter, payment: Payment) -> None:
    """payment.succeeded; and supporter.created when it is the supporter's first payment. Only the endpoints are
    read when none listens (the usual case): the first-payment count runs only for an endpoint that wants it.
    The endpoints are read without flushing the caller's pending changes, which the rest of its work flushes
    anyway: a completed checkout's then go in one flush, not two."""
    with session.no_autoflush:
        endpoints = active_endpoints(session)
    if not endpoints:
        return
    session.flush()
    if wanted(endpoints, EventType.SUPPORTER_CREATED) and session.scalar(
            select(func.count()).select_from(Payment).where(Payment.supporter_id == supporter.id)) == 1:
        emit(session, EventType.SUPPORTER_CREATED,
             {"supporter_id": supporter.id, "email_consent": supporter.email_consent, "locale": supporter.locale,
              "created_at": _when(supporter.created_at)}, email=supporter.email, endpoints=endpoints)
    emit(session, EventType.PAYMENT_SUCCEEDED, payment_data(payment), email=supporter.email, endpoints=endpoints)


def announce_refund(session: Session, payment: Payment) -> None:
    supporter = session.get(Supporter, payment.supporter_id)
    emit(session, EventType.PAYMENT_REFUNDED, payment_data(payment), email=supporter.email if supporter else None)
