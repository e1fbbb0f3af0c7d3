"""The plain values and errors the Stripe gateway (`stripe_gateway`) hands back, so nothing else depends on the
SDK. The gateway re-exports them; import them from there."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


class StripeUnavailable(RuntimeError):
    """Stripe could not be reached or answered with a server or authentication error."""


class StripeRejected(RuntimeError):
    """Stripe refused the request itself (bad parameters, over-refund, unknown object)."""

    def __init__(self, message: str, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.param = param


class StripePermissionDenied(StripeRejected):
    """A restricted key (rk_…) without the permission the request needs: Stripe's 403."""


class InvalidWebhook(ValueError):
    """A webhook whose Stripe-Signature does not verify (missing, wrong secret, tampered, too old)."""


@dataclass(frozen=True)
class CheckoutRequest:
    """What a Checkout Session is created from: our checkout row's values, already validated."""

    checkout_id: int
    supporter_id: int
    mode: str  # "payment" or "subscription"
    interval: str | None  # "month" / "year" for memberships
    amount_minor: int  # the total charged, fees included
    currency: str
    product_name: str
    customer_id: str | None
    customer_email: str
    success_url: str
    cancel_url: str
    metadata: Mapping[str, str]
    locale: str = "auto"  # Stripe's name for the page's language (membership.i18n.stripe_locale)
    invoice_footer: str = ""  # printed on a gift's invoice (the receipt): the newsroom's registration text


@dataclass(frozen=True)
class SessionRef:
    id: str
    url: str


@dataclass(frozen=True)
class ChargeDetails:
    """A settled charge with its balance transaction: what the newsroom actually receives."""

    payment_intent_id: str
    charge_id: str
    balance_transaction_id: str | None
    amount_minor: int
    fee_minor: int  # fee and net are in the settlement currency, not the charge's
    net_minor: int
    currency: str
    settlement_currency: str  # the balance transaction's currency
    exchange_rate: str | None  # Stripe's rate from `currency` to `settlement_currency`; None if not converted
    amount_refunded_minor: int
    disputed: bool
    created: int
    card_brand: str
    card_last4: str


@dataclass(frozen=True)
class Receipt:
    """An invoice Stripe issued for a payment: its hosted page and PDF are the reader's receipt."""

    invoice_id: str
    url: str  # hosted_invoice_url
    pdf_url: str  # invoice_pdf


@dataclass(frozen=True)
class CheckoutOutcome:
    """A Checkout Session as Stripe has it now, with what it produced, read in one request."""

    session: dict[str, Any]
    charge: ChargeDetails | None  # a one-time gift's charge, once it has succeeded
    subscription: dict[str, Any] | None  # a membership's subscription, with its default payment method
    receipt: Receipt | None = None  # the session's invoice: a gift's (invoice_creation), a membership's first


# Stripe's objects (as the API returns them, at our version) read into the values above -------------------------


def charge_details_of(payment_intent_id: str, charge: dict[str, Any]) -> ChargeDetails:
    """A charge (its balance transaction expanded, or not yet there) as ChargeDetails."""
    txn = charge.get("balance_transaction")
    amount = int(charge["amount"])
    fee = int(txn["fee"]) if isinstance(txn, dict) else 0
    net = int(txn["net"]) if isinstance(txn, dict) else amount
    settled_in = txn["currency"] if isinstance(txn, dict) else charge["currency"]
    rate = txn.get("exchange_rate") if isinstance(txn, dict) else None
    card = (charge.get("payment_method_details") or {}).get("card") or {}
    return ChargeDetails(
        payment_intent_id=payment_intent_id,
        charge_id=str(charge["id"]),
        balance_transaction_id=str(txn["id"]) if isinstance(txn, dict) else (txn or None),
        amount_minor=amount,
        fee_minor=fee,
        net_minor=net,
        currency=str(charge["currency"]).upper(),
        settlement_currency=str(settled_in).upper(),
        exchange_rate=_rate_text(rate),
        amount_refunded_minor=int(charge.get("amount_refunded") or 0),
        disputed=bool(charge.get("disputed")),
        created=int(charge["created"]),
        card_brand=str(card.get("brand") or ""),
        card_last4=str(card.get("last4") or ""),
    )


def _rate_text(rate: object) -> str | None:
    """Stripe's exchange rate (a JSON number) as exact decimal text, e.g. `0.0226`; None when there is none."""
    if rate is None:
        return None
    return format(Decimal(str(rate)).normalize(), "f")


def paid_intent_of(invoice_payments: list[dict[str, Any]]) -> str | None:
    """The PaymentIntent of the first paid one of an invoice's payments (`invoice_payment` objects)."""
    for item in invoice_payments:
        payment = item.get("payment") or {}
        if item.get("status") == "paid" and payment.get("payment_intent"):
            intent = payment["payment_intent"]
            return str(intent["id"] if isinstance(intent, dict) else intent)
    return None
