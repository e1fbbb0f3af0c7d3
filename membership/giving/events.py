"""Stripe webhooks: verify, store, then process each event once in its own transaction.

Stripe is the source of truth. Events may arrive twice, concurrently and out of order, so every
handler re-reads the object it concerns from Stripe and writes rows with unique Stripe ids: the final
state does not depend on the order of delivery, and a duplicate changes nothing.

Each handler has three steps. `prepare` reads our rows to decide whether Stripe needs asking and what;
`fetch` makes the Stripe calls, with no transaction open; `apply` then writes, in one transaction that holds
the event row's lock and, where it touches a supporter's rows, that supporter's. No lock or transaction is
ever held across an HTTP call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
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
from membership.giving.stripe_gateway import API_VERSION, ChargeDetails, CheckoutOutcome, StripeGateway
from membership.supporters.models import Supporter
from membership.supporters.services import link_stripe_customer, record_consent

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Outcome:
    """What became of one delivery: 'processed', 'duplicate', 'ignored' or 'failed'."""

    event_id: str
    result: str
    error: str = ""


DONE = (EventStatus.PROCESSED, EventStatus.IGNORED)


def _insert(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


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


def store_event(session: Session, event: dict[str, Any]) -> bool:
    """Keep the event, trimmed to what processing needs (`trim_event`), under Stripe's id. True if this
    delivery stored it; False if it was stored already, in which case nothing changes."""
    stored = session.execute(
        _insert(session)(StripeEvent.__table__)
        .values(
            id=event["id"],
            type=str(event.get("type", "")),
            created=_event_created(event.get("created")),
            livemode=bool(event.get("livemode")),
            payload=trim_event(event),
            status=EventStatus.RECEIVED.value,
            received_at=utcnow(),
            attempts=0,
            last_error="",
        )
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(StripeEvent.__table__.c.id)
    ).first()
    return stored is not None


def _status(session: Session, event_id: str, *, lock: bool) -> EventStatus | None:
    query = select(StripeEvent.status).where(StripeEvent.id == event_id)
    return session.scalar(query.with_for_update() if lock else query)


def _finish(session: Session, event_id: str, status: EventStatus, error: str = "") -> None:
    """Record an attempt's outcome: processed or ignored (done, and when), or failed with its error."""
    done = {} if status is EventStatus.FAILED else {"processed_at": utcnow()}
    session.execute(
        update(StripeEvent).where(StripeEvent.id == event_id)
        .values(status=status.value, attempts=StripeEvent.attempts + 1, last_error=error, **done)
        .execution_options(synchronize_session=False)
    )


def process_event(session: Session, gateway: StripeGateway, event_id: str,
                  event: dict[str, Any] | None = None, *, fresh: bool = False) -> Outcome:
    """Process one stored event, unless it is done already: Stripe reads first, then one transaction.

    `event` is the payload if the caller has it (else the stored copy is read); `fresh` says the caller
    has just stored it, so it can't be done yet. On failure the transaction is rolled back, the event is
    marked failed with its error in a transaction of its own, and the exception is re-raised so the
    webhook answers 500 and Stripe retries.
    """
    status: EventStatus | None
    if event is None:
        stored = session.get(StripeEvent, event_id, populate_existing=True)
        if stored is None:
            raise LookupError(f"Event {event_id} is not stored.")
        event, status = stored.payload, stored.status
    else:
        status = EventStatus.RECEIVED if fresh else _status(session, event_id, lock=False)
        if status is None:
            raise LookupError(f"Event {event_id} is not stored.")
    if status in DONE:
        session.rollback()
        return Outcome(event_id, "duplicate")
    event_type = str(event.get("type", ""))
    obj = _event_object(event)
    if bool(event.get("livemode")) != gateway.livemode or obj is None:
        # A test-mode event reaching a live deployment (or the reverse) is kept but never acted on; so is a
        # thin event (no `data.object`): nothing we handle comes that way.
        if _status(session, event_id, lock=True) in DONE:
            session.rollback()
            return Outcome(event_id, "duplicate")
        _finish(session, event_id, EventStatus.IGNORED)
        session.commit()
        return Outcome(event_id, "ignored")
    handler = HANDLERS.get(event_type)
    try:
        prepared = handler.prepare(session, obj) if handler is not None else None
        session.rollback()  # end the reads' transaction: nothing is held while we wait for Stripe
        fetched = handler.fetch(gateway, obj, prepared) if handler is not None and prepared is not None else None
        if _status(session, event_id, lock=True) in DONE:  # a concurrent delivery finished it meanwhile
            session.rollback()
            return Outcome(event_id, "duplicate")
        if handler is not None and fetched is not None:
            handler.apply(session, obj, fetched)
        _finish(session, event_id, EventStatus.PROCESSED)
        session.commit()
    except Exception as exc:
        session.rollback()
        _finish(session, event_id, EventStatus.FAILED, f"{type(exc).__name__}: {exc}"[:4000])
        session.commit()
        log.exception("Stripe event %s (%s) failed", event_id, event_type)
        raise
    return Outcome(event_id, "processed")


def receive_event(session: Session, gateway: StripeGateway, event: dict[str, Any]) -> Outcome:
    """A verified webhook: store it durably first (its own commit), then process it.

    It is processed from the same trimmed copy that is stored, so a retry from storage acts the same."""
    _note_api_version(event)
    kept = trim_event(event)
    try:
        fresh = store_event(session, kept)
        session.commit()
    except Exception:
        log.exception("Stripe event %s (%s) could not be stored", kept.get("id"), kept.get("type"))
        raise
    return process_event(session, gateway, kept["id"], kept, fresh=fresh)


_api_versions_noted: set[str] = set()


def _note_api_version(event: dict[str, Any]) -> None:
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
        status = _status(session, event["id"], lock=False)
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


# Shared writes --------------------------------------------------------------------------------------


def _lock_supporter(session: Session, supporter_id: int) -> Supporter | None:
    """Serialise work on one supporter's rows across concurrent webhook deliveries."""
    return session.scalar(
        select(Supporter).where(Supporter.id == supporter_id).with_for_update()
        .execution_options(populate_existing=True)
    )


def _subscription_owner(session: Session, subscription_id: str, opened_by: int | None) -> Supporter | None:
    """Locked: the supporter whose membership the subscription is, else the one whose checkout (verified
    with Stripe by the caller) opened it. Metadata or a shared customer alone never make one ours."""
    owner_id = session.scalar(
        select(Membership.supporter_id).where(Membership.stripe_subscription_id == subscription_id))
    if owner_id is None and opened_by is not None:
        owner_id = session.scalar(select(Checkout.supporter_id).where(Checkout.id == opened_by))
    return _lock_supporter(session, owner_id) if owner_id is not None else None


def _checkout_id(metadata: dict[str, Any] | None) -> int | None:
    raw = (metadata or {}).get("checkout_id")
    return int(raw) if raw is not None and str(raw).isdigit() else None


def _checkout_for(session: Session, metadata: dict[str, Any] | None) -> Checkout | None:
    checkout_id = _checkout_id(metadata)
    return session.get(Checkout, checkout_id) if checkout_id is not None else None


def _id(value: Any) -> str | None:
    """A Stripe reference that may be an id or an expanded object."""
    if isinstance(value, dict):
        return str(value["id"])
    return str(value) if value else None


def record_payment(
    session: Session,
    supporter: Supporter,
    details: ChargeDetails,
    kind: PaymentKind,
    *,
    checkout: Checkout | None = None,
    membership: Membership | None = None,
    invoice_id: str | None = None,
    dispute_status: str = "",
) -> tuple[Payment, bool]:
    """One payment row per settled charge, with fee and net from its balance transaction, and its dispute
    as Stripe has it now (`dispute_status`: a dispute event that came first found no row to update).
    Idempotent: returns the row and whether this call created it."""
    created = session.scalars(
        _insert(session)(Payment)
        .values(
            supporter_id=supporter.id,
            membership_id=membership.id if membership else None,
            checkout_id=checkout.id if checkout else None,
            kind=kind,
            stripe_payment_intent_id=details.payment_intent_id,
            stripe_charge_id=details.charge_id,
            stripe_invoice_id=invoice_id,
            stripe_balance_transaction_id=details.balance_transaction_id,
            amount_minor=details.amount_minor,
            fee_minor=details.fee_minor,
            net_minor=details.net_minor,
            currency=details.currency,
            settlement_currency=details.settlement_currency,
            exchange_rate=details.exchange_rate,
            status=_payment_status(details.amount_minor, details.amount_refunded_minor,
                                   _counts_as_disputed(details.disputed, dispute_status)),
            refunded_minor=details.amount_refunded_minor,
            dispute_status=dispute_status,
            paid_at=from_unix(details.created),
            created_at=utcnow(),
        )
        .on_conflict_do_nothing()
        .returning(Payment),
        execution_options={"populate_existing": True},
    ).first()
    if created is not None:
        return created, True
    existing = session.scalars(
        select(Payment).where(Payment.stripe_payment_intent_id == details.payment_intent_id)
    ).one()
    if membership is not None and existing.membership_id is None:
        existing.membership_id = membership.id
    return existing, False


def _counts_as_disputed(charge_disputed: bool, dispute_status: str) -> bool:
    """A charge stays `disputed` at Stripe after the newsroom wins; only an open or lost dispute counts."""
    return charge_disputed and dispute_status not in ("won", "warning_closed")


def _payment_status(amount: int, refunded: int, disputed: bool) -> PaymentStatus:
    if disputed:
        return PaymentStatus.DISPUTED
    if refunded >= amount:
        return PaymentStatus.REFUNDED
    if refunded > 0:
        return PaymentStatus.PARTIALLY_REFUNDED
    return PaymentStatus.PAID


@dataclass(frozen=True)
class SubscriptionRead:
    """A subscription as Stripe returned it, and when we asked (just before the request left)."""

    subscription: dict[str, Any]
    read_at: datetime


def read_subscription(gateway: StripeGateway, subscription_id: str) -> SubscriptionRead:
    read_at = utcnow()
    return SubscriptionRead(gateway.retrieve_subscription(subscription_id), read_at)


def sync_membership(session: Session, gateway: StripeGateway, subscription_id: str) -> Membership | None:
    """Re-read a subscription from Stripe and make our membership match it (staff actions use this)."""
    read = read_subscription(gateway, subscription_id)
    return apply_subscription(session, read.subscription, read_at=read.read_at)


def apply_subscription(session: Session, subscription: dict[str, Any], supporter: Supporter | None = None,
                       opened_by: int | None = None, *, read_at: datetime) -> Membership | None:
    """Make our membership row match Stripe's subscription as read at `read_at`. None if it isn't ours.

    It is ours if we have its membership, or if `opened_by`, our checkout whose Checkout Session the caller
    has seen open it at Stripe, is given. A read that began before the one whose state the row holds changes
    nothing: a webhook that asked Stripe just before a patron's change, and writes just after the state that
    change returned was applied, would otherwise put the old state back. `supporter`, when given, is the
    owner already locked by the caller."""
    subscription_id = str(subscription["id"])
    if supporter is None:
        supporter = _subscription_owner(session, subscription_id, opened_by)
    if supporter is None:
        return None
    link_stripe_customer(session, supporter, _id(subscription.get("customer")))
    item = subscription["items"]["data"][0]
    price = item["price"]
    interval = str(price["recurring"]["interval"])
    amount = int(price["unit_amount"])
    currency = str(price["currency"]).upper()
    # Read under the supporter's lock: emails follow the change, so a duplicate or late event that changes
    # nothing sends nothing.
    membership = session.scalars(
        select(Membership).where(Membership.stripe_subscription_id == subscription_id)
        .execution_options(populate_existing=True)
    ).one_or_none()
    before: tuple[MembershipStatus, bool] | None = None
    if membership is None:
        checkout = session.get(Checkout, opened_by) if opened_by is not None else None
        membership = session.scalars(
            _insert(session)(Membership)
            .values(
                supporter_id=supporter.id,
                checkout_id=checkout.id if checkout else None,
                tier_id=_tier_id(session, currency, interval, amount, checkout),
                stripe_subscription_id=subscription_id,
                status=MembershipStatus(subscription["status"]),
                amount_minor=amount,
                currency=currency,
                interval=interval,
                started_at=from_unix(subscription.get("start_date") or subscription.get("created")),
                updated_at=utcnow(),
                cancel_at_period_end=False,
                stripe_price_id="",
            )
            .on_conflict_do_nothing(index_elements=["stripe_subscription_id"])
            .returning(Membership),
            execution_options={"populate_existing": True},
        ).first()
        if membership is None:  # created meanwhile for another supporter row; take it as it is
            membership = session.scalars(
                select(Membership).where(Membership.stripe_subscription_id == subscription_id)
            ).one()
    else:
        if membership.stripe_read_at is not None and read_at < membership.stripe_read_at:
            return membership  # we hold a newer state than this read
        before = (membership.status, membership.cancel_at_period_end)
        if (amount, currency, interval) != (membership.amount_minor, membership.currency, membership.interval):
            checkout = session.get(Checkout, membership.checkout_id) if membership.checkout_id else None
            membership.tier_id = _tier_id(session, currency, interval, amount, checkout)
    status = MembershipStatus(subscription["status"])
    if status is MembershipStatus.PAST_DUE and (before is None or before[0] is not MembershipStatus.PAST_DUE):
        membership.past_due_since = utcnow()
    elif status is not MembershipStatus.PAST_DUE:
        membership.past_due_since = None
    membership.status = status
    membership.amount_minor = amount
    membership.currency = currency
    membership.interval = interval
    membership.stripe_price_id = str(price.get("id") or "")
    membership.current_period_end = from_unix(item.get("current_period_end"))
    membership.cancel_at_period_end = bool(subscription.get("cancel_at_period_end"))
    method = subscription.get("default_payment_method")
    card = method.get("card") if isinstance(method, dict) else None
    if card:
        membership.card_brand = str(card.get("brand") or "")
        membership.card_last4 = str(card.get("last4") or "")
    membership.canceled_at = from_unix(subscription.get("canceled_at"))
    membership.ended_at = from_unix(subscription.get("ended_at"))
    membership.stripe_read_at = read_at
    if before is not None:
        _announce_change(session, supporter, membership, *before)
    _follow_up_payment_failure(session, supporter, membership)
    session.flush()
    return membership


def _tier_id(session: Session, currency: str, interval: str, amount: int, checkout: Checkout | None) -> int | None:
    """The tier a membership's amount reaches; a covered fee doesn't lift anyone into the next tier."""
    frequency = Frequency.MONTHLY if interval == "month" else Frequency.YEARLY
    basis = checkout.amount_minor if checkout is not None and checkout.total_minor == amount else amount
    tier = tier_for_amount(session, currency, frequency, basis)
    return tier.id if tier else None


def _announce_change(session: Session, supporter: Supporter, membership: Membership,
                     previous_status: MembershipStatus, previously_cancelling: bool) -> None:
    """Email the patron when their membership ended, was set to end at the end of its period, or was resumed
    (so the last email they have never says it ends when it doesn't)."""
    if membership.status is MembershipStatus.CANCELED:
        if previous_status is not MembershipStatus.CANCELED:
            emails.send_membership_ended_email(session, supporter, membership)
    elif membership.cancel_at_period_end and not previously_cancelling:
        emails.send_membership_cancelled_email(session, supporter, membership)
    elif previously_cancelling and not membership.cancel_at_period_end:
        emails.send_membership_resumed_email(session, supporter, membership)


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
    _apply_give_form_consent(session, supporter, checkout)
    emails.send_thank_you_email(session, supporter, checkout, membership)


def _apply_give_form_consent(session: Session, supporter: Supporter, checkout: Checkout) -> None:
    """The give form's "email me news", now that the person who ticked it has paid.

    A choice the supporter made after this checkout was started (at /account, say) stands: the form
    ticked days ago in an unpaid tab, or by someone else typing their address, doesn't overrule it."""
    if not checkout.email_consent or supporter.erased_at is not None:
        return
    if supporter.email_consent_at is not None and supporter.email_consent_at > checkout.created_at:
        return
    record_consent(session, supporter, True, source="give_form")


# Handlers: one per event type, each a Stripe read (`fetch`) and the writes it leads to (`apply`) ----------


@dataclass(frozen=True)
class Handler:
    """`prepare(session, object)` reads our rows: None when there is nothing to do, else what `fetch` needs.
    `fetch(gateway, object, prepared)` asks Stripe, with no transaction open, and returns what `apply` needs
    (None: nothing to do). `apply(session, object, fetched)` writes, under the event's lock."""

    prepare: Callable[[Session, dict[str, Any]], Any]
    fetch: Callable[[StripeGateway, dict[str, Any], Any], Any]
    apply: Callable[[Session, dict[str, Any], Any], None]


@dataclass(frozen=True)
class CompletedCheckout:
    supporter_id: int  # whose checkout it is, read before asking Stripe
    outcome: CheckoutOutcome
    read_at: datetime  # when Stripe was asked
    dispute_status: str = ""  # the gift's charge's dispute, if it has one already


def checkout_owner(session: Session, obj: dict[str, Any]) -> int | None:
    """Whose checkout this is; None if it isn't one of ours (then Stripe needn't be asked): the checkout its
    metadata names must be the one we opened this very session for."""
    checkout_id = _checkout_id(obj.get("metadata"))
    if checkout_id is None or not obj.get("id"):
        return None
    return session.scalar(select(Checkout.supporter_id)
                          .where(Checkout.id == checkout_id, Checkout.stripe_session_id == str(obj["id"])))


def fetch_checkout(gateway: StripeGateway, obj: dict[str, Any], supporter_id: int) -> CompletedCheckout:
    read_at = utcnow()
    outcome = gateway.checkout_outcome(obj["id"])
    return CompletedCheckout(supporter_id, outcome, read_at, _dispute_status(gateway, outcome.charge))


def _dispute_status(gateway: StripeGateway, charge: ChargeDetails | None) -> str:
    """A disputed charge's dispute status, read as its payment is recorded (one more call, disputes only)."""
    return gateway.charge_dispute_status(charge.charge_id) if charge is not None and charge.disputed else ""


def apply_checkout_completed(session: Session, obj: dict[str, Any], completed: CompletedCheckout) -> None:
    """A reader finished Checkout. Gifts become payments; memberships follow their subscription."""
    outcome = completed.outcome
    stripe_session = outcome.session
    # Lock the supporter before reading the checkout: a concurrent invoice.paid may complete it (and thank
    # them) meanwhile.
    supporter = _lock_supporter(session, completed.supporter_id)
    checkout = session.get(Checkout, _checkout_id(stripe_session.get("metadata")), populate_existing=True)
    if supporter is None or checkout is None or checkout.supporter_id != supporter.id:
        return
    if checkout.stripe_session_id != stripe_session["id"]:
        return  # not the session we opened for this checkout
    checkout.stripe_session_id = stripe_session["id"]
    link_stripe_customer(session, supporter, _id(stripe_session.get("customer")))
    if stripe_session.get("payment_status") not in ("paid", "no_payment_required"):
        return  # an asynchronous method is still settling; async_payment_succeeded follows
    if stripe_session.get("mode") == "subscription":
        membership = (apply_subscription(session, outcome.subscription, supporter, opened_by=checkout.id,
                                         read_at=completed.read_at)
                      if outcome.subscription else None)
        _complete_checkout(session, checkout, supporter, membership)
        return
    if outcome.charge is not None:
        payment, _ = record_payment(session, supporter, outcome.charge, PaymentKind.GIFT, checkout=checkout,
                                    dispute_status=completed.dispute_status)
        _complete_checkout(session, checkout, supporter, paid_at=payment.paid_at)


def apply_checkout_async_failed(session: Session, obj: dict[str, Any], fetched: Any) -> None:
    checkout = _checkout_for(session, obj.get("metadata"))
    if checkout is not None and checkout.stripe_session_id == obj.get("id"):
        checkout.status = CheckoutStatus.FAILED


def apply_checkout_expired(session: Session, obj: dict[str, Any], fetched: Any) -> None:
    checkout = _checkout_for(session, obj.get("metadata"))
    if (checkout is not None and checkout.stripe_session_id == obj.get("id")
            and checkout.status in (CheckoutStatus.OPEN, CheckoutStatus.PENDING)):
        checkout.status = CheckoutStatus.EXPIRED


def always(session: Session, obj: dict[str, Any]) -> bool:
    return True


def nothing_to_fetch(gateway: StripeGateway, obj: dict[str, Any], prepared: Any) -> bool:
    return True


@dataclass(frozen=True)
class Ownership:
    """Why a subscription is ours, decided from our rows before Stripe is asked: we have its membership, or
    our checkout names it (the checkout id in its metadata); then that checkout's Checkout Session must
    confirm, at Stripe, that it opened this subscription."""

    subscription_id: str
    membership_status: MembershipStatus | None  # None: no membership for it yet
    checkout_id: int | None = None
    session_id: str | None = None

    @property
    def in_good_standing(self) -> bool:
        return self.membership_status in (MembershipStatus.ACTIVE, MembershipStatus.TRIALING)


def subscription_ownership(session: Session, subscription_id: str | None, metadata: Any) -> Ownership | None:
    """None when the subscription can't be ours: then no Stripe call is made for it."""
    if not subscription_id:
        return None
    status = session.scalar(select(Membership.status).where(Membership.stripe_subscription_id == subscription_id))
    if status is not None:
        return Ownership(subscription_id, status)
    checkout_id = _checkout_id(metadata if isinstance(metadata, dict) else None)
    if checkout_id is None:
        return None
    row = session.execute(select(Checkout.stripe_session_id, Checkout.frequency)
                          .where(Checkout.id == checkout_id)).first()
    if row is None or not row.stripe_session_id or row.frequency is Frequency.ONCE:
        return None
    return Ownership(subscription_id, None, checkout_id, row.stripe_session_id)


@dataclass(frozen=True)
class OwnedSubscription:
    subscription: dict[str, Any]  # as Stripe has it now
    opened_by: int | None  # our checkout that opened it, when we have no membership for it yet
    read_at: datetime  # when Stripe was asked


def fetch_owned_subscription(gateway: StripeGateway, ownership: Ownership) -> OwnedSubscription | None:
    """The subscription as Stripe has it now. One we have no membership for is read through the Checkout
    Session our checkout opened, and only if that session did open it: None otherwise (not ours)."""
    read_at = utcnow()
    if ownership.session_id is None:
        return OwnedSubscription(gateway.retrieve_subscription(ownership.subscription_id), None, read_at)
    subscription = gateway.checkout_outcome(ownership.session_id).subscription
    if subscription is None or subscription.get("id") != ownership.subscription_id:
        return None
    return OwnedSubscription(subscription, ownership.checkout_id, read_at)


def subscription_claim(session: Session, obj: dict[str, Any]) -> Ownership | None:
    return subscription_ownership(session, _id(obj.get("id")), obj.get("metadata"))


def fetch_subscription(gateway: StripeGateway, obj: dict[str, Any], ownership: Ownership) -> OwnedSubscription | None:
    return fetch_owned_subscription(gateway, ownership)


def apply_subscription_changed(session: Session, obj: dict[str, Any], owned: OwnedSubscription) -> None:
    apply_subscription(session, owned.subscription, opened_by=owned.opened_by, read_at=owned.read_at)


def _invoice_subscription_id(invoice: dict[str, Any]) -> str | None:
    """The subscription an invoice bills: `parent.subscription_details.subscription` today, a top-level
    `subscription` in events rendered at API versions before 2025-03-31."""
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return _id(details.get("subscription")) or _id(invoice.get("subscription"))


def _invoice_subscription_metadata(invoice: dict[str, Any]) -> Any:
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or invoice.get("subscription_details") or {}
    return details.get("metadata")


def invoice_claim(session: Session, obj: dict[str, Any]) -> Ownership | None:
    """Whether an invoice's subscription is ours, from the ids the event carries (in either API version's
    shape); everything else is re-read from Stripe at our version."""
    return subscription_ownership(session, _invoice_subscription_id(obj), _invoice_subscription_metadata(obj))


def _reread_invoice(gateway: StripeGateway, obj: dict[str, Any], ownership: Ownership) -> dict[str, Any] | None:
    """The invoice as Stripe has it now, at our API version; None if it doesn't bill the subscription named."""
    invoice = gateway.retrieve_invoice(str(obj["id"]))
    return invoice if _invoice_subscription_id(invoice) == ownership.subscription_id else None


@dataclass(frozen=True)
class PaidInvoice:
    invoice: dict[str, Any]  # re-read from Stripe
    charge: ChargeDetails | None  # None if its charge has not succeeded (nothing to record yet)
    subscription: OwnedSubscription | None  # read only when our membership is missing or not in good standing
    dispute_status: str = ""


def fetch_invoice_paid(gateway: StripeGateway, obj: dict[str, Any], ownership: Ownership) -> PaidInvoice | None:
    subscription = None
    if not ownership.in_good_standing:
        # Not seen yet (this invoice.paid came first) or in arrears until now: take it as Stripe has it.
        subscription = fetch_owned_subscription(gateway, ownership)
        if subscription is None:
            return None  # our checkout did not open it: not ours
    invoice = _reread_invoice(gateway, obj, ownership)
    if invoice is None or invoice.get("status") != "paid" or int(invoice.get("amount_paid") or 0) <= 0:
        return None
    intent_id = gateway.payment_intent_for_invoice(str(invoice["id"]))
    if intent_id is None:
        log.info("Invoice %s was paid with no PaymentIntent (out of band): no payment to record.", invoice["id"])
        return None
    charge = gateway.charge_details(intent_id)
    return PaidInvoice(invoice, charge, subscription, _dispute_status(gateway, charge))


def apply_invoice_paid(session: Session, obj: dict[str, Any], paid: PaidInvoice) -> None:
    """A membership invoice was paid (the first one or a renewal): record the payment."""
    invoice = paid.invoice
    subscription_id = _invoice_subscription_id(invoice)
    if paid.subscription is not None:
        membership = apply_subscription(session, paid.subscription.subscription, opened_by=paid.subscription.opened_by,
                                        read_at=paid.subscription.read_at)
        if membership is None:
            return  # not ours
        supporter = session.get(Supporter, membership.supporter_id)  # locked by apply_subscription
    else:
        supporter_id = session.scalar(
            select(Membership.supporter_id).where(Membership.stripe_subscription_id == subscription_id))
        if supporter_id is None:
            return
        supporter = _lock_supporter(session, supporter_id)
        membership = session.scalars(select(Membership).where(Membership.stripe_subscription_id == subscription_id)
                                     .execution_options(populate_existing=True)).one()
    assert supporter is not None
    first = invoice.get("billing_reason") == "subscription_create"
    checkout = session.get(Checkout, membership.checkout_id) if first and membership.checkout_id else None
    payment, created = None, False
    if paid.charge is not None:
        payment, created = record_payment(session, supporter, paid.charge, PaymentKind.MEMBERSHIP,
                                          membership=membership, invoice_id=str(invoice["id"]),
                                          checkout=checkout, dispute_status=paid.dispute_status)
    if checkout is not None:
        _complete_checkout(session, checkout, supporter, membership)
    elif payment is not None and created and invoice.get("billing_reason") == "subscription_cycle":
        emails.send_renewal_receipt_email(session, supporter, membership, payment)


def fetch_invoice_subscription(gateway: StripeGateway, obj: dict[str, Any],
                               ownership: Ownership) -> OwnedSubscription | None:
    owned = fetch_owned_subscription(gateway, ownership)
    if owned is None or _reread_invoice(gateway, obj, ownership) is None:
        return None
    return owned


def recorded_charge(session: Session, obj: dict[str, Any]) -> str | None:
    """The charge a refund or dispute concerns, if we recorded a payment for it."""
    charge_id = _id(obj.get("charge")) if obj.get("object") == "dispute" else _id(obj.get("id"))
    if not charge_id or session.scalar(select(Payment.id).where(Payment.stripe_charge_id == charge_id)) is None:
        return None
    return charge_id


@dataclass(frozen=True)
class ChargeState:
    details: ChargeDetails
    dispute_status: str | None  # the dispute re-read from Stripe, when the event is about one


def fetch_charge(gateway: StripeGateway, obj: dict[str, Any], charge_id: str) -> ChargeState:
    dispute = gateway.retrieve_dispute(str(obj["id"])) if obj.get("object") == "dispute" else None
    return ChargeState(gateway.retrieve_charge(charge_id),
                       str(dispute.get("status") or "") if dispute is not None else None)


def apply_charge(session: Session, obj: dict[str, Any], state: ChargeState) -> None:
    """A refund or a dispute: the payment takes the charge's refunded amount and dispute as Stripe has them.

    A dispute event that comes before its payment is recorded finds no row and changes nothing: the
    payment, when recorded, reads the dispute itself (`record_payment`'s `dispute_status`)."""
    details = state.details
    payment = session.scalar(select(Payment).where(Payment.stripe_charge_id == details.charge_id)
                             .with_for_update().execution_options(populate_existing=True))
    if payment is None:
        return
    payment.refunded_minor = min(details.amount_refunded_minor, payment.amount_minor)
    if state.dispute_status is not None:
        payment.dispute_status = state.dispute_status
    disputed = _counts_as_disputed(details.disputed, payment.dispute_status)
    payment.status = _payment_status(payment.amount_minor, payment.refunded_minor, disputed)


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
