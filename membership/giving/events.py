"""Stripe webhooks: verify, store, then process each event once in its own transaction.

Stripe is the source of truth. Events may arrive twice, concurrently and out of order, so every
handler re-reads the object it concerns from Stripe and writes rows with unique Stripe ids: the final
state does not depend on the order of delivery, and a duplicate changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from membership.db import from_unix, utcnow
from membership.giving import emails
from membership.giving.models import (
    Checkout,
    CheckoutStatus,
    EventStatus,
    Frequency,
    Membership,
    MembershipStatus,
    Payment,
    PaymentKind,
    PaymentStatus,
    StripeEvent,
)
from membership.giving.services import DUNNING_STATUSES, tier_for_amount
from membership.giving.stripe_gateway import StripeGateway
from membership.supporters.models import Supporter
from membership.supporters.services import link_stripe_customer

log = logging.getLogger(__name__)

Handler = Callable[[Session, StripeGateway, dict[str, Any]], None]


@dataclass(frozen=True)
class Outcome:
    """What became of one delivery: 'processed', 'duplicate', 'ignored' or 'failed'."""

    event_id: str
    result: str
    error: str = ""


def _insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


# Storing and processing -----------------------------------------------------------------------------


def store_event(session: Session, event: dict[str, Any]) -> None:
    """Keep the raw event under Stripe's id; a second delivery of the same id changes nothing."""
    session.execute(
        _insert(session)(StripeEvent.__table__)
        .values(
            id=event["id"],
            type=str(event.get("type", "")),
            created=from_unix(int(event.get("created") or 0)),
            livemode=bool(event.get("livemode")),
            payload=event,
            status=EventStatus.RECEIVED.value,
            received_at=utcnow(),
            attempts=0,
            last_error="",
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )


def process_event(session: Session, gateway: StripeGateway, event_id: str) -> Outcome:
    """Process one stored event in one transaction, unless it is done already.

    On failure the transaction is rolled back, the event is marked failed with its error in a
    transaction of its own, and the exception is re-raised so the webhook answers 500 and Stripe retries.
    """
    stored = session.scalar(
        select(StripeEvent).where(StripeEvent.id == event_id).with_for_update()
        .execution_options(populate_existing=True)
    )
    if stored is None:
        raise LookupError(f"Event {event_id} is not stored.")
    if stored.status in (EventStatus.PROCESSED, EventStatus.IGNORED):
        session.rollback()
        return Outcome(event_id, "duplicate")
    if stored.livemode != gateway.livemode:
        # A test-mode event reaching a live deployment (or the reverse) is kept but never acted on.
        stored.status = EventStatus.IGNORED
        stored.processed_at = utcnow()
        session.commit()
        return Outcome(event_id, "ignored")
    try:
        handler = HANDLERS.get(stored.type)
        if handler is not None:
            handler(session, gateway, stored.payload["data"]["object"])
        stored.status = EventStatus.PROCESSED
        stored.processed_at = utcnow()
        stored.attempts += 1
        stored.last_error = ""
        session.commit()
    except Exception as exc:
        session.rollback()
        error = f"{type(exc).__name__}: {exc}"[:4000]
        session.execute(
            update(StripeEvent)
            .where(StripeEvent.id == event_id)
            .values(status=EventStatus.FAILED.value, attempts=StripeEvent.attempts + 1, last_error=error)
        )
        session.commit()
        log.exception("Stripe event %s (%s) failed", event_id, stored.type)
        raise
    return Outcome(event_id, "processed")


def receive_event(session: Session, gateway: StripeGateway, event: dict[str, Any]) -> Outcome:
    """A verified webhook: store it durably first, then process it."""
    store_event(session, event)
    session.commit()
    return process_event(session, gateway, event["id"])


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
        status = session.scalar(select(StripeEvent.status).where(StripeEvent.id == event["id"]))
        session.rollback()
        if status in (EventStatus.PROCESSED, EventStatus.IGNORED):
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


# Shared writes --------------------------------------------------------------------------------------


def _lock_supporter(session: Session, supporter_id: int) -> Supporter | None:
    """Serialise work on one supporter's rows across concurrent webhook deliveries."""
    return session.scalar(
        select(Supporter).where(Supporter.id == supporter_id).with_for_update()
        .execution_options(populate_existing=True)
    )


def _supporter_for(session: Session, metadata: dict[str, Any] | None, customer_id: str | None) -> Supporter | None:
    """Our supporter for a Stripe object: by the supporter id we put in metadata, else by customer."""
    raw = (metadata or {}).get("supporter_id")
    if raw is not None and str(raw).isdigit():
        supporter = _lock_supporter(session, int(raw))
        if supporter is not None:
            return supporter
    if customer_id:
        found = session.scalar(select(Supporter.id).where(Supporter.stripe_customer_id == customer_id))
        if found is not None:
            return _lock_supporter(session, found)
    return None


def _checkout_for(session: Session, metadata: dict[str, Any] | None) -> Checkout | None:
    raw = (metadata or {}).get("checkout_id")
    if raw is None or not str(raw).isdigit():
        return None
    return session.get(Checkout, int(raw))


def _id(value: Any) -> str | None:
    """A Stripe reference that may be an id or an expanded object."""
    if isinstance(value, dict):
        return str(value["id"])
    return str(value) if value else None


def record_payment(
    session: Session,
    gateway: StripeGateway,
    supporter: Supporter,
    payment_intent_id: str,
    kind: PaymentKind,
    *,
    checkout: Checkout | None = None,
    membership: Membership | None = None,
    invoice_id: str | None = None,
) -> Payment | None:
    """One payment row per settled charge, with fee and net from its balance transaction. Idempotent."""
    existing = session.scalar(select(Payment).where(Payment.stripe_payment_intent_id == payment_intent_id))
    if existing is not None:
        if membership is not None and existing.membership_id is None:
            existing.membership_id = membership.id
        return existing
    details = gateway.charge_details(payment_intent_id)
    if details is None:
        return None
    session.execute(
        _insert(session)(Payment.__table__)
        .values(
            supporter_id=supporter.id,
            membership_id=membership.id if membership else None,
            checkout_id=checkout.id if checkout else None,
            kind=kind.value,
            stripe_payment_intent_id=payment_intent_id,
            stripe_charge_id=details.charge_id,
            stripe_invoice_id=invoice_id,
            stripe_balance_transaction_id=details.balance_transaction_id,
            amount_minor=details.amount_minor,
            fee_minor=details.fee_minor,
            net_minor=details.net_minor,
            currency=details.currency,
            status=_payment_status(details.amount_minor, details.amount_refunded_minor, details.disputed).value,
            refunded_minor=details.amount_refunded_minor,
            paid_at=from_unix(details.created),
            created_at=utcnow(),
        )
        .on_conflict_do_nothing()
    )
    return session.scalar(
        select(Payment).where(Payment.stripe_payment_intent_id == payment_intent_id)
        .execution_options(populate_existing=True)
    )


def _payment_status(amount: int, refunded: int, disputed: bool) -> PaymentStatus:
    if disputed:
        return PaymentStatus.DISPUTED
    if refunded >= amount:
        return PaymentStatus.REFUNDED
    if refunded > 0:
        return PaymentStatus.PARTIALLY_REFUNDED
    return PaymentStatus.PAID


def sync_membership(session: Session, gateway: StripeGateway, subscription_id: str) -> Membership | None:
    """Make our membership row match Stripe's subscription as it is now. None if it isn't ours."""
    subscription = gateway.retrieve_subscription(subscription_id)
    supporter = _supporter_for(session, subscription.get("metadata"), _id(subscription.get("customer")))
    if supporter is None:
        return None
    link_stripe_customer(session, supporter, _id(subscription.get("customer")))
    # What we knew before this event, read under the supporter's lock: emails follow the change, so a
    # duplicate or late event that changes nothing sends nothing.
    before = session.execute(
        select(Membership.status, Membership.cancel_at_period_end)
        .where(Membership.stripe_subscription_id == subscription_id)
    ).one_or_none()
    item = subscription["items"]["data"][0]
    price = item["price"]
    interval = price["recurring"]["interval"]
    amount = int(price["unit_amount"])
    currency = str(price["currency"]).upper()
    checkout = _checkout_for(session, subscription.get("metadata"))
    frequency = Frequency.MONTHLY if interval == "month" else Frequency.YEARLY
    tier_basis = checkout.amount_minor if checkout is not None and checkout.total_minor == amount else amount
    tier = tier_for_amount(session, currency, frequency, tier_basis)
    session.execute(
        _insert(session)(Membership.__table__)
        .values(
            supporter_id=supporter.id,
            checkout_id=checkout.id if checkout else None,
            stripe_subscription_id=subscription_id,
            status=str(subscription["status"]),
            amount_minor=amount,
            currency=currency,
            interval=interval,
            started_at=from_unix(subscription.get("start_date") or subscription.get("created")),
            updated_at=utcnow(),
            cancel_at_period_end=False,
            stripe_price_id="",
        )
        .on_conflict_do_nothing(index_elements=["stripe_subscription_id"])
    )
    membership = session.scalars(
        select(Membership).where(Membership.stripe_subscription_id == subscription_id)
        .execution_options(populate_existing=True)
    ).one()
    status = MembershipStatus(subscription["status"])
    if status is MembershipStatus.PAST_DUE and membership.status is not MembershipStatus.PAST_DUE:
        membership.past_due_since = utcnow()
    elif status is not MembershipStatus.PAST_DUE:
        membership.past_due_since = None
    membership.status = status
    membership.amount_minor = amount
    membership.currency = currency
    membership.interval = interval
    membership.stripe_price_id = str(price.get("id") or "")
    membership.tier_id = tier.id if tier else None
    membership.current_period_end = from_unix(item.get("current_period_end"))
    membership.cancel_at_period_end = bool(subscription.get("cancel_at_period_end"))
    card = (subscription.get("default_payment_method") or {}).get("card") if isinstance(
        subscription.get("default_payment_method"), dict) else None
    if card:
        membership.card_brand = str(card.get("brand") or "")
        membership.card_last4 = str(card.get("last4") or "")
    membership.canceled_at = from_unix(subscription.get("canceled_at"))
    membership.ended_at = from_unix(subscription.get("ended_at"))
    if before is not None:
        _announce_change(session, supporter, membership, MembershipStatus(before.status),
                         bool(before.cancel_at_period_end))
    _follow_up_payment_failure(session, supporter, membership)
    session.flush()
    return membership


def _announce_change(session: Session, supporter: Supporter, membership: Membership,
                     previous_status: MembershipStatus, previously_cancelling: bool) -> None:
    """Email the patron when their membership ended, or was set to end at the end of its period."""
    if membership.status is MembershipStatus.CANCELED:
        if previous_status is not MembershipStatus.CANCELED:
            emails.send_membership_ended_email(session, supporter, membership)
    elif membership.cancel_at_period_end and not previously_cancelling:
        emails.send_membership_cancelled_email(session, supporter, membership)


def _follow_up_payment_failure(session: Session, supporter: Supporter, membership: Membership) -> None:
    """Dunning: one payment-failed email per failure episode; the episode ends when the membership is paid up.

    The one reminder goes later, from the periodic jobs (`giving.services.send_dunning_reminders`).
    """
    if membership.status in (MembershipStatus.ACTIVE, MembershipStatus.TRIALING):
        membership.dunning_emailed_at = None
        membership.dunning_reminded_at = None
    elif (membership.status in DUNNING_STATUSES and membership.dunning_emailed_at is None
          and emails.send_payment_failed_email(session, supporter, membership)):
        membership.dunning_emailed_at = utcnow()


def _complete_checkout(session: Session, checkout: Checkout, supporter: Supporter,
                       membership: Membership | None = None, paid_at: datetime | None = None) -> None:
    """Mark the checkout completed and, the first time only, thank the supporter."""
    if checkout.status is CheckoutStatus.COMPLETED:
        return
    checkout.status = CheckoutStatus.COMPLETED
    checkout.completed_at = paid_at or utcnow()
    emails.send_thank_you_email(session, supporter, checkout, membership)


# Handlers: one per event type -----------------------------------------------------------------------


def handle_checkout_completed(session: Session, gateway: StripeGateway, obj: dict[str, Any]) -> None:
    """A reader finished Checkout. Gifts become payments; memberships are synced from the subscription."""
    stripe_session = gateway.retrieve_checkout_session(obj["id"])
    checkout = _checkout_for(session, stripe_session.get("metadata"))
    if checkout is None or checkout.stripe_session_id not in (None, stripe_session["id"]):
        return  # not one of ours
    supporter = _lock_supporter(session, checkout.supporter_id)
    assert supporter is not None
    # Read again under the lock: a concurrent invoice.paid may have completed it (and thanked them) meanwhile.
    session.refresh(checkout)
    checkout.stripe_session_id = stripe_session["id"]
    link_stripe_customer(session, supporter, _id(stripe_session.get("customer")))
    if stripe_session.get("payment_status") not in ("paid", "no_payment_required"):
        return  # an asynchronous method is still settling; async_payment_succeeded follows
    if stripe_session.get("mode") == "subscription":
        subscription_id = _id(stripe_session.get("subscription"))
        membership = sync_membership(session, gateway, subscription_id) if subscription_id else None
        _complete_checkout(session, checkout, supporter, membership)
        return
    intent_id = _id(stripe_session.get("payment_intent"))
    if intent_id:
        payment = record_payment(session, gateway, supporter, intent_id, PaymentKind.GIFT, checkout=checkout)
        _complete_checkout(session, checkout, supporter, paid_at=payment.paid_at if payment else None)


def handle_checkout_async_failed(session: Session, gateway: StripeGateway, obj: dict[str, Any]) -> None:
    checkout = _checkout_for(session, obj.get("metadata"))
    if checkout is not None and checkout.stripe_session_id == obj.get("id"):
        checkout.status = CheckoutStatus.FAILED


def handle_checkout_expired(session: Session, gateway: StripeGateway, obj: dict[str, Any]) -> None:
    checkout = _checkout_for(session, obj.get("metadata"))
    if (checkout is not None and checkout.stripe_session_id == obj.get("id")
            and checkout.status in (CheckoutStatus.OPEN, CheckoutStatus.PENDING)):
        checkout.status = CheckoutStatus.EXPIRED


def handle_subscription_changed(session: Session, gateway: StripeGateway, obj: dict[str, Any]) -> None:
    sync_membership(session, gateway, obj["id"])


def _invoice_subscription_id(invoice: dict[str, Any]) -> str | None:
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return _id(details.get("subscription"))


def handle_invoice_paid(session: Session, gateway: StripeGateway, obj: dict[str, Any]) -> None:
    """A membership invoice was paid (the first one or a renewal): record the payment."""
    subscription_id = _invoice_subscription_id(obj)
    if not subscription_id or int(obj.get("amount_paid") or 0) <= 0:
        return
    membership = sync_membership(session, gateway, subscription_id)
    if membership is None:
        return
    intent_id = gateway.payment_intent_for_invoice(obj["id"])
    if intent_id is None:
        raise RuntimeError(f"Invoice {obj['id']} is paid but Stripe lists no payment for it yet.")
    supporter = _lock_supporter(session, membership.supporter_id)
    assert supporter is not None
    checkout = session.get(Checkout, membership.checkout_id) if membership.checkout_id else None
    first = obj.get("billing_reason") == "subscription_create"
    already_recorded = session.scalar(select(Payment.id).where(Payment.stripe_payment_intent_id == intent_id))
    payment = record_payment(session, gateway, supporter, intent_id, PaymentKind.MEMBERSHIP,
                             membership=membership, invoice_id=obj["id"], checkout=checkout if first else None)
    if checkout is not None and first:
        _complete_checkout(session, checkout, supporter, membership)
    elif payment is not None and already_recorded is None and obj.get("billing_reason") == "subscription_cycle":
        emails.send_renewal_receipt_email(session, supporter, membership, payment)


def handle_invoice_payment_failed(session: Session, gateway: StripeGateway, obj: dict[str, Any]) -> None:
    subscription_id = _invoice_subscription_id(obj)
    if subscription_id:
        sync_membership(session, gateway, subscription_id)


def _refresh_charge(session: Session, gateway: StripeGateway, charge_id: str | None,
                    dispute_status: str | None = None) -> None:
    if not charge_id:
        return
    payment = session.scalar(select(Payment).where(Payment.stripe_charge_id == charge_id).with_for_update())
    if payment is None:
        return
    details = gateway.retrieve_charge(charge_id)
    payment.refunded_minor = min(details.amount_refunded_minor, payment.amount_minor)
    if dispute_status is not None:
        payment.dispute_status = dispute_status
    # A charge stays `disputed` at Stripe after the newsroom wins; only an open or lost dispute counts.
    disputed = details.disputed and payment.dispute_status not in ("won", "warning_closed")
    payment.status = _payment_status(payment.amount_minor, payment.refunded_minor, disputed)


def handle_charge_refunded(session: Session, gateway: StripeGateway, obj: dict[str, Any]) -> None:
    _refresh_charge(session, gateway, _id(obj.get("id")))


def handle_dispute(session: Session, gateway: StripeGateway, obj: dict[str, Any]) -> None:
    _refresh_charge(session, gateway, _id(obj.get("charge")), dispute_status=str(obj.get("status") or ""))


HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": handle_checkout_completed,
    "checkout.session.async_payment_succeeded": handle_checkout_completed,
    "checkout.session.async_payment_failed": handle_checkout_async_failed,
    "checkout.session.expired": handle_checkout_expired,
    "customer.subscription.created": handle_subscription_changed,
    "customer.subscription.updated": handle_subscription_changed,
    "customer.subscription.deleted": handle_subscription_changed,
    "invoice.paid": handle_invoice_paid,
    "invoice.payment_failed": handle_invoice_payment_failed,
    "charge.refunded": handle_charge_refunded,
    "charge.dispute.created": handle_dispute,
    "charge.dispute.closed": handle_dispute,
}
