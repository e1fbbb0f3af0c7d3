"""Subscriptions: our membership rows follow Stripe's subscriptions, once we know a subscription is ours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from membership.db import dialect_insert, from_unix, utcnow
from membership.giving import emails, integrations
from membership.giving.events.shared import lock_supporter, metadata_checkout_id, stripe_id
from membership.giving.models import Checkout, Frequency, Membership, MembershipStatus
from membership.giving.services import DUNNING_STATUSES, ENDED_STATUSES, tier_for_amount
from membership.giving.stripe_gateway import StripeGateway
from membership.supporters.models import Supporter
from membership.supporters.services import link_stripe_customer
from membership.webhooks_out import EventType


def _subscription_owner(session: Session, subscription_id: str, opened_by: int | None,
                        owner_id: int | None = None) -> Supporter | None:
    """Locked: the supporter whose membership the subscription is (`owner_id` if the caller read it already),
    else the one whose checkout (verified with Stripe by the caller) opened it. Metadata or a shared customer alone
    never make one ours."""
    if owner_id is None:
        owner_id = session.scalar(MEMBERSHIP_OWNER, {"subscription_id": subscription_id})
    if owner_id is None and opened_by is not None:
        owner_id = session.scalar(_CHECKOUT_OWNER, {"checkout_id": opened_by})
    return lock_supporter(session, owner_id) if owner_id is not None else None


# Built once: every subscription and invoice event runs them, and building a statement costs more than running it.
MEMBERSHIP_OWNER = select(Membership.supporter_id).where(
    Membership.stripe_subscription_id == bindparam("subscription_id"))
_MEMBERSHIP_STANDING = select(Membership.status, Membership.supporter_id).where(
    Membership.stripe_subscription_id == bindparam("subscription_id"))
# Read under the supporter's lock, fresh (the identity map may hold an older state).
MEMBERSHIP_FOR_SUBSCRIPTION = (
    select(Membership).where(Membership.stripe_subscription_id == bindparam("subscription_id"))
    .execution_options(populate_existing=True)
)
_CHECKOUT_OWNER = select(Checkout.supporter_id).where(Checkout.id == bindparam("checkout_id"))


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
                       opened_by: int | None = None, *, read_at: datetime,
                       owner_id: int | None = None) -> Membership | None:
    """Make our membership row match Stripe's subscription as read at `read_at`. None if it isn't ours.

    It is ours if we have its membership, or if `opened_by`, our checkout whose Checkout Session the caller
    has seen open it at Stripe, is given. A read that began before the one whose state the row holds changes
    nothing: a webhook that asked Stripe just before a patron's change, and writes just after the state that
    change returned was applied, would otherwise put the old state back. `supporter`, when given, is the
    owner already locked by the caller; `owner_id`, the owner of its membership as the caller read it (a
    membership's supporter never changes), saves reading it again."""
    subscription_id = str(subscription["id"])
    if supporter is None:
        supporter = _subscription_owner(session, subscription_id, opened_by, owner_id)
    if supporter is None:
        return None
    link_stripe_customer(session, supporter, stripe_id(subscription.get("customer")))
    item = subscription["items"]["data"][0]
    price = item["price"]
    interval = str(price["recurring"]["interval"])
    amount = int(price["unit_amount"])
    currency = str(price["currency"]).upper()
    # Read under the supporter's lock: emails follow the change, so a duplicate or late event that changes
    # nothing sends nothing.
    membership = session.scalars(MEMBERSHIP_FOR_SUBSCRIPTION, {"subscription_id": subscription_id}).one_or_none()
    before: tuple[MembershipStatus, bool] | None = None
    announced_before: dict[str, Any] | None = None
    if membership is None:
        checkout = session.get(Checkout, opened_by) if opened_by is not None else None
        membership = session.scalars(
            dialect_insert(session)(Membership)
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
        announced_before = integrations.membership_data(membership)
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
    _tell_integrations(session, supporter, membership, announced_before)
    return membership


GOOD_STANDING = (MembershipStatus.ACTIVE, MembershipStatus.TRIALING)
NOT_STARTED = (MembershipStatus.INCOMPLETE,)
WATCHED = ("status", "amount_minor", "currency", "interval", "cancel_at_period_end")


def _tell_integrations(session: Session, supporter: Supporter, membership: Membership,
                       before: dict[str, Any] | None) -> None:
    """membership.started the first time it is in good standing, .ended when it ends, .changed when its
    status, amount or end date changed otherwise (webhooks out; a duplicate event changes nothing, so says
    nothing)."""
    previous = MembershipStatus(before["status"]) if before is not None else None
    if membership.status in ENDED_STATUSES:
        if previous is not None and previous not in ENDED_STATUSES:
            integrations.announce_membership(session, EventType.MEMBERSHIP_ENDED, supporter, membership)
    elif membership.status in GOOD_STANDING and (previous is None or previous in NOT_STARTED):
        integrations.announce_membership(session, EventType.MEMBERSHIP_STARTED, supporter, membership)
    elif before is not None and any(before[key] != value for key, value
                                    in integrations.membership_data(membership).items() if key in WATCHED):
        integrations.announce_membership(session, EventType.MEMBERSHIP_CHANGED, supporter, membership)


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


@dataclass(frozen=True)
class Ownership:
    """Why a subscription is ours, decided from our rows before Stripe is asked: we have its membership, or
    our checkout names it (the checkout id in its metadata); then that checkout's Checkout Session must
    confirm, at Stripe, that it opened this subscription."""

    subscription_id: str
    membership_status: MembershipStatus | None  # None: no membership for it yet
    checkout_id: int | None = None
    session_id: str | None = None
    owner_id: int | None = None  # the membership's supporter, read with its status

    @property
    def in_good_standing(self) -> bool:
        return self.membership_status in (MembershipStatus.ACTIVE, MembershipStatus.TRIALING)


def subscription_ownership(session: Session, subscription_id: str | None, metadata: Any) -> Ownership | None:
    """None when the subscription can't be ours: then no Stripe call is made for it."""
    if not subscription_id:
        return None
    standing = session.execute(_MEMBERSHIP_STANDING, {"subscription_id": subscription_id}).first()
    if standing is not None:
        return Ownership(subscription_id, standing.status, owner_id=standing.supporter_id)
    checkout_id = metadata_checkout_id(metadata if isinstance(metadata, dict) else None)
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
    owner_id: int | None = None  # our membership's supporter, when we have one


def fetch_owned_subscription(gateway: StripeGateway, ownership: Ownership) -> OwnedSubscription | None:
    """The subscription as Stripe has it now. One we have no membership for is read through the Checkout
    Session our checkout opened, and only if that session did open it: None otherwise (not ours)."""
    read_at = utcnow()
    if ownership.session_id is None:
        return OwnedSubscription(gateway.retrieve_subscription(ownership.subscription_id), None, read_at,
                                 ownership.owner_id)
    subscription = gateway.checkout_outcome(ownership.session_id).subscription
    if subscription is None or subscription.get("id") != ownership.subscription_id:
        return None
    return OwnedSubscription(subscription, ownership.checkout_id, read_at)


def subscription_claim(session: Session, obj: dict[str, Any]) -> Ownership | None:
    return subscription_ownership(session, stripe_id(obj.get("id")), obj.get("metadata"))


def fetch_subscription(gateway: StripeGateway, obj: dict[str, Any], ownership: Ownership) -> OwnedSubscription | None:
    return fetch_owned_subscription(gateway, ownership)


def apply_subscription_changed(session: Session, obj: dict[str, Any], owned: OwnedSubscription) -> None:
    apply_subscription(session, owned.subscription, opened_by=owned.opened_by, read_at=owned.read_at,
                       owner_id=owned.owner_id)
