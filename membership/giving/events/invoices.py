"""Invoices: a paid membership invoice becomes a payment; a failed one brings its subscription up to date."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from membership.giving import emails
from membership.giving.events.charges import read_dispute_status, record_payment
from membership.giving.events.checkout_sessions import complete_checkout
from membership.giving.events.shared import lock_supporter, stripe_id
from membership.giving.events.subscriptions import (
    MEMBERSHIP_FOR_SUBSCRIPTION,
    OwnedSubscription,
    Ownership,
    apply_subscription,
    fetch_owned_subscription,
    subscription_ownership,
)
from membership.giving.models import Checkout, PaymentKind
from membership.giving.stripe_gateway import ChargeDetails, StripeGateway, receipt_of
from membership.supporters.models import Supporter

log = logging.getLogger(__name__)


def _invoice_subscription_id(invoice: dict[str, Any]) -> str | None:
    """The subscription an invoice bills: `parent.subscription_details.subscription` today, a top-level
    `subscription` in events rendered at API versions before 2025-03-31."""
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return stripe_id(details.get("subscription")) or stripe_id(invoice.get("subscription"))


def _invoice_subscription_metadata(invoice: dict[str, Any]) -> Any:
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or invoice.get("subscription_details") or {}
    return details.get("metadata")


def invoice_claim(session: Session, obj: dict[str, Any]) -> Ownership | None:
    """Whether an invoice's subscription is ours, from the ids the event carries (in either API version's
    shape); everything else is re-read from Stripe at our version."""
    return subscription_ownership(session, _invoice_subscription_id(obj), _invoice_subscription_metadata(obj))


def _reread_invoice(gateway: StripeGateway, obj: dict[str, Any], ownership: Ownership, *,
                    with_payments: bool = False) -> dict[str, Any] | None:
    """The invoice as Stripe has it now, at our API version (with its first payments if asked); None if it
    doesn't bill the subscription named."""
    invoice = gateway.retrieve_invoice(str(obj["id"]), with_payments=with_payments)
    return invoice if _invoice_subscription_id(invoice) == ownership.subscription_id else None


@dataclass(frozen=True)
class PaidInvoice:
    invoice: dict[str, Any]  # re-read from Stripe
    charge: ChargeDetails | None  # None if its charge has not succeeded (nothing to record yet)
    subscription: OwnedSubscription | None  # read only when our membership is missing or not in good standing
    dispute_status: str = ""
    owner_id: int | None = None  # our membership's supporter, read before Stripe was asked


def fetch_invoice_paid(gateway: StripeGateway, obj: dict[str, Any], ownership: Ownership) -> PaidInvoice | None:
    subscription = None
    if not ownership.in_good_standing:
        # Not seen yet (this invoice.paid came first) or in arrears until now: take it as Stripe has it.
        subscription = fetch_owned_subscription(gateway, ownership)
        if subscription is None:
            return None  # our checkout did not open it: not ours
    invoice = _reread_invoice(gateway, obj, ownership, with_payments=True)
    if invoice is None or invoice.get("status") != "paid" or int(invoice.get("amount_paid") or 0) <= 0:
        return None
    intent_id = gateway.payment_intent_for_invoice(invoice)
    if intent_id is None:
        log.info("Invoice %s was paid with no PaymentIntent (out of band): no payment to record.", invoice["id"])
        return None
    charge = gateway.charge_details(intent_id)
    return PaidInvoice(invoice, charge, subscription, read_dispute_status(gateway, charge), ownership.owner_id)


def apply_invoice_paid(session: Session, obj: dict[str, Any], paid: PaidInvoice) -> None:
    """A membership invoice was paid (the first one or a renewal): record the payment."""
    invoice = paid.invoice
    subscription_id = _invoice_subscription_id(invoice)
    if paid.subscription is not None:
        membership = apply_subscription(session, paid.subscription.subscription, opened_by=paid.subscription.opened_by,
                                        read_at=paid.subscription.read_at, owner_id=paid.owner_id)
        if membership is None:
            return  # not ours
        supporter = session.get(Supporter, membership.supporter_id)  # locked by apply_subscription
    else:
        # Good standing: we have its membership, whose supporter prepare read (a membership's owner never changes).
        supporter_id = paid.owner_id
        if supporter_id is None:
            return
        supporter = lock_supporter(session, supporter_id)
        membership = session.scalars(MEMBERSHIP_FOR_SUBSCRIPTION, {"subscription_id": subscription_id}).one()
    assert supporter is not None
    first = invoice.get("billing_reason") == "subscription_create"
    checkout = session.get(Checkout, membership.checkout_id) if first and membership.checkout_id else None
    payment, created = None, False
    receipt = receipt_of(invoice)
    if paid.charge is not None:
        payment, created = record_payment(session, supporter, paid.charge, PaymentKind.MEMBERSHIP,
                                          membership=membership, invoice_id=str(invoice["id"]),
                                          checkout=checkout, dispute_status=paid.dispute_status, receipt=receipt)
    if checkout is not None:
        complete_checkout(session, checkout, supporter, membership, receipt=receipt)
    elif payment is not None and created and invoice.get("billing_reason") == "subscription_cycle":
        emails.send_renewal_receipt_email(session, supporter, membership, payment)


def fetch_invoice_subscription(gateway: StripeGateway, obj: dict[str, Any],
                               ownership: Ownership) -> OwnedSubscription | None:
    owned = fetch_owned_subscription(gateway, ownership)
    if owned is None or _reread_invoice(gateway, obj, ownership) is None:
        return None
    return owned
