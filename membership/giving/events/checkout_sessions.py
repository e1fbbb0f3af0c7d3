"""Checkout Sessions: a completed checkout becomes a gift's payment or a membership, and thanks its supporter."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from membership.db import utcnow
from membership.giving import emails
from membership.giving.events.charges import read_dispute_status, record_payment
from membership.giving.events.shared import lock_supporter, metadata_checkout_id, stripe_id
from membership.giving.events.subscriptions import apply_subscription
from membership.giving.models import Checkout, CheckoutStatus, Membership, PaymentKind
from membership.giving.stripe_gateway import CheckoutOutcome, Receipt, StripeGateway
from membership.metrics import CHECKOUTS_COMPLETED, count_after_commit
from membership.supporters.models import Supporter
from membership.supporters.services import link_stripe_customer, record_consent

log = logging.getLogger(__name__)


def _checkout_for(session: Session, metadata: dict[str, Any] | None) -> Checkout | None:
    checkout_id = metadata_checkout_id(metadata)
    return session.get(Checkout, checkout_id) if checkout_id is not None else None


def complete_checkout(session: Session, checkout: Checkout, supporter: Supporter,
                      membership: Membership | None = None, paid_at: datetime | None = None,
                      receipt: Receipt | None = None) -> None:
    """Mark the checkout completed and, the first time only, thank the supporter."""
    if checkout.status is CheckoutStatus.COMPLETED:
        return
    checkout.status = CheckoutStatus.COMPLETED
    checkout.completed_at = paid_at or utcnow()
    count_after_commit(session, CHECKOUTS_COMPLETED, checkout.frequency.value)
    log.info("Checkout %s completed: %s %s %s", checkout.id, checkout.frequency.value, checkout.total_minor,
             checkout.currency, extra={"checkout_id": checkout.id})
    _apply_give_form_consent(session, supporter, checkout)
    if checkout.locale and supporter.erased_at is None:
        supporter.locale = checkout.locale  # the language they gave in, now that they have paid
    emails.send_thank_you_email(session, supporter, checkout, membership, receipt=receipt)


def _apply_give_form_consent(session: Session, supporter: Supporter, checkout: Checkout) -> None:
    """The give form's "email me news", now that the person who ticked it has paid.

    A choice the supporter made after this checkout was started (at /account, say) stands: the form
    ticked days ago in an unpaid tab, or by someone else typing their address, doesn't overrule it."""
    if not checkout.email_consent or supporter.erased_at is not None:
        return
    if supporter.email_consent_at is not None and supporter.email_consent_at > checkout.created_at:
        return
    record_consent(session, supporter, True, source="give_form")


@dataclass(frozen=True)
class CompletedCheckout:
    supporter_id: int  # whose checkout it is, read before asking Stripe
    outcome: CheckoutOutcome
    read_at: datetime  # when Stripe was asked
    dispute_status: str = ""  # the gift's charge's dispute, if it has one already


def checkout_owner(session: Session, obj: dict[str, Any]) -> int | None:
    """Whose checkout this is; None if it isn't one of ours (then Stripe needn't be asked): the checkout its
    metadata names must be the one we opened this very session for."""
    checkout_id = metadata_checkout_id(obj.get("metadata"))
    if checkout_id is None or not obj.get("id"):
        return None
    return session.scalar(_CHECKOUT_OWNER, {"checkout_id": checkout_id, "session_id": str(obj["id"])})


# Built once (every checkout event runs it).
_CHECKOUT_OWNER = select(Checkout.supporter_id).where(Checkout.id == bindparam("checkout_id"),
                                                      Checkout.stripe_session_id == bindparam("session_id"))


def fetch_checkout(gateway: StripeGateway, obj: dict[str, Any], supporter_id: int) -> CompletedCheckout:
    read_at = utcnow()
    outcome = gateway.checkout_outcome(obj["id"])
    return CompletedCheckout(supporter_id, outcome, read_at, read_dispute_status(gateway, outcome.charge))


def apply_checkout_completed(session: Session, obj: dict[str, Any], completed: CompletedCheckout) -> None:
    """A reader finished Checkout. Gifts become payments; memberships follow their subscription."""
    outcome = completed.outcome
    stripe_session = outcome.session
    # Lock the supporter before reading the checkout: a concurrent invoice.paid may complete it (and thank
    # them) meanwhile.
    supporter = lock_supporter(session, completed.supporter_id)
    checkout = session.get(Checkout, metadata_checkout_id(stripe_session.get("metadata")), populate_existing=True)
    if supporter is None or checkout is None or checkout.supporter_id != supporter.id:
        return
    if checkout.stripe_session_id != stripe_session["id"]:
        return  # not the session we opened for this checkout
    link_stripe_customer(session, supporter, stripe_id(stripe_session.get("customer")))
    if stripe_session.get("payment_status") not in ("paid", "no_payment_required"):
        return  # an asynchronous method is still settling; async_payment_succeeded follows
    if stripe_session.get("mode") == "subscription":
        membership = (apply_subscription(session, outcome.subscription, supporter, opened_by=checkout.id,
                                         read_at=completed.read_at)
                      if outcome.subscription else None)
        complete_checkout(session, checkout, supporter, membership, receipt=outcome.receipt)
        return
    if outcome.charge is not None:
        payment, _ = record_payment(session, supporter, outcome.charge, PaymentKind.GIFT, checkout=checkout,
                                    dispute_status=completed.dispute_status, receipt=outcome.receipt)
        complete_checkout(session, checkout, supporter, paid_at=payment.paid_at, receipt=outcome.receipt)


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
