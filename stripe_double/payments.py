"""Money movements: payment methods, payment intents and charges with Stripe's fees, refunds, disputes."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from . import objects
from .cards import CARDS, CardInput, Decline, decline_for
from .config import FeeRule
from .core import Double
from .money import decimals, stripe_fee
from .store import Obj, render
from .wire import StripeError, get_int, get_metadata, get_str, invalid, not_found, reject_unknown


@dataclass
class ChargeResult:
    """The payment intent of an attempt, its charge, and the decline if it failed."""

    payment_intent: Obj
    charge: Obj
    decline: Decline | None

    @property
    def ok(self) -> bool:
        """Whether money moved."""
        return self.decline is None


def create_payment_method(
    d: Double, card: CardInput, *, name: str | None, email: str | None, customer_id: str | None, now: int
) -> Obj:
    """A card payment method, attached to the customer when there is one (emits payment_method.attached)."""
    pm = objects.payment_method(
        d.new("pm_"),
        now,
        brand=card.card.brand,
        last4=card.card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        fingerprint=card.card.fingerprint,
        name=name,
        email=email,
    )
    pm["_number"] = card.card.number
    d.store.add(pm)
    if customer_id:
        pm["customer"] = customer_id
        d.emit("payment_method.attached", pm)
    return pm


@dataclass(frozen=True)
class Settled:
    """An amount as it reaches the account's balance: in the settlement currency, with the rate used."""

    amount: int
    currency: str
    exchange_rate: Decimal | None  # None when nothing was converted


def settle(d: Double, amount: int, currency: str) -> Settled:
    """Convert a charge currency amount into the settlement currency (if the account converts that currency)."""
    code, target = currency.lower(), d.config.settlement_currency.lower()
    rate = d.config.exchange_rates.get(code)
    if code == target or rate is None:
        return Settled(amount, code, None)
    converted = Decimal(amount) / 10 ** decimals(code) * rate * 10 ** decimals(target)
    return Settled(int(converted.quantize(Decimal(1), rounding=ROUND_HALF_UP)), target, rate)


def settled_fee(d: Double, settled: Settled) -> int:
    """Stripe's fee on a settled charge: the settlement currency's pricing plus the conversion fee, if converted."""
    rule = d.config.fees.get(settled.currency, d.config.default_fee)
    if settled.exchange_rate is not None:
        rule = FeeRule(rule.percent + d.config.conversion_fee_percent, rule.fixed)
    return stripe_fee(settled.amount, rule)


def _balance_transaction(d: Double, now: int, *, amount: int, currency: str, charge_fee: bool, source: str,
                         type: str, description: str | None) -> Obj:
    """A balance transaction for `amount` in the charge currency, in the account's settlement currency."""
    settled = settle(d, abs(amount), currency)
    return objects.balance_transaction(
        d.new("txn_"),
        now,
        amount=settled.amount if amount >= 0 else -settled.amount,
        currency=settled.currency,
        fee=settled_fee(d, settled) if charge_fee else 0,
        exchange_rate=float(settled.exchange_rate) if settled.exchange_rate is not None else None,
        source=source,
        type=type,
        description=description,
    )


def charge_card(
    d: Double,
    pm: Obj,
    *,
    amount: int,
    currency: str,
    customer_id: str | None,
    description: str | None,
    metadata: Obj,
    off_session: bool,
    now: int,
    in_checkout: bool = False,
) -> ChargeResult:
    """Try to charge a card; emits charge.succeeded + payment_intent.succeeded or the failure pair.

    A success also creates the balance transaction with the fee, and a 0259 card opens its dispute
    right after (the caller finishes its own events first; see `open_pending_disputes`).
    """
    pi = objects.payment_intent(
        d.new("pi_"),
        now,
        amount=amount,
        currency=currency,
        customer=customer_id,
        payment_method=pm["id"],
        description=description,
        metadata=dict(metadata),
    )
    d.store.add(pi)
    ch = objects.charge(
        d.new("ch_"),
        now,
        amount=amount,
        currency=currency,
        customer=customer_id,
        pi=pi,
        pm=pm,
        description=description,
        metadata=dict(metadata),
    )
    d.store.add(ch)
    pi["latest_charge"] = ch["id"]
    card = CARDS[pm["_number"]]
    decline = decline_for(card, off_session=off_session, in_checkout=in_checkout)
    if decline is not None:
        ch.update(
            status="failed",
            failure_code=decline.code,
            failure_message=decline.message,
            outcome=objects.outcome(ok=False, reason=decline.decline_code, message=decline.message),
        )
        pi["status"] = "requires_payment_method"
        pi["last_payment_error"] = {
            "charge": ch["id"],
            "code": decline.code,
            "decline_code": decline.decline_code,
            "message": decline.message,
            "payment_method": render(pm),
            "type": "card_error",
        }
        d.emit("charge.failed", ch)
        d.emit("payment_intent.payment_failed", pi)
        return ChargeResult(pi, ch, decline)
    txn = _balance_transaction(
        d,
        now,
        amount=amount,
        currency=currency,
        charge_fee=True,
        source=ch["id"],
        type="charge",
        description=description,
    )
    d.store.add(txn)
    ch.update(
        status="succeeded",
        paid=True,
        captured=True,
        amount_captured=amount,
        balance_transaction=txn["id"],
        outcome=objects.outcome(ok=True),
    )
    pi.update(status="succeeded", amount_received=amount)
    if card.behavior == "dispute":
        ch["_dispute_pending"] = True
    d.emit("charge.succeeded", ch)
    d.emit("payment_intent.succeeded", pi)
    return ChargeResult(pi, ch, None)


def open_pending_disputes(d: Double, charge_id: str) -> None:
    """Open the dispute a 0259 card promises, after the events of the payment itself."""
    ch = d.store.get(charge_id, "charge")
    if ch is None or not ch.pop("_dispute_pending", False):
        return
    now = d.now()
    txn = _balance_transaction(
        d,
        now,
        amount=-int(ch["amount"]),
        currency=ch["currency"],
        charge_fee=False,
        source=ch["id"],
        type="adjustment",
        description=f"Chargeback withdrawal for {ch['id']}",
    )
    d.store.add(txn)
    dispute = objects.dispute(d.new("dp_"), now, charge_obj=ch, balance_transactions=[render(txn)])
    d.store.add(dispute)
    before = render(ch)
    ch["disputed"] = True
    d.emit("charge.dispute.created", dispute)
    d.emit_update("charge.updated", ch, before)


def close_dispute(d: Double, dispute: Obj, *, won: bool) -> Obj:
    """Close a dispute: accepting it (POST /close) loses it; winning evidence wins it."""
    if dispute["status"] in ("won", "lost"):
        raise StripeError(f"This dispute is already closed ({dispute['id']}).", code="dispute_already_closed")
    dispute["status"] = "won" if won else "lost"
    dispute["is_charge_refundable"] = False
    d.emit("charge.dispute.closed", dispute)
    return dispute


def create_refund(d: Double, params: Obj) -> Obj:
    """POST /v1/refunds: refund all or part of a charge; emits refund.created and charge.refunded."""
    reject_unknown(params, ["charge", "payment_intent", "amount", "reason", "metadata", "instructions_email"])
    charge_id = get_str(params, "charge")
    pi_id = get_str(params, "payment_intent")
    if charge_id is None and pi_id is None:
        raise StripeError(
            "One of the following params should be provided for this request: payment_intent or charge.",
            code="parameter_missing",
            param="charge",
        )
    if charge_id is not None:
        ch = d.store.get(charge_id, "charge")
        if ch is None:
            raise not_found("charge", charge_id, "charge")
    else:
        assert pi_id is not None
        pi = d.store.get(pi_id, "payment_intent")
        if pi is None:
            raise not_found("payment_intent", pi_id, "payment_intent")
        found = d.store.get(pi["latest_charge"], "charge") if pi["latest_charge"] else None
        if found is None or pi["status"] != "succeeded":
            raise StripeError(
                f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        ch = found
    reason = get_str(params, "reason")
    if reason is not None and reason not in ("duplicate", "fraudulent", "requested_by_customer"):
        raise invalid(
            "reason",
            "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
            code="parameter_invalid",
        )
    if ch["disputed"]:
        raise StripeError(
            f"Charge {ch['id']} has been charged back; cannot issue a refund.",
            code="charge_disputed",
            param="charge",
        )
    remaining = int(ch["amount_captured"]) - int(ch["amount_refunded"])
    if ch["refunded"] or remaining <= 0:
        raise StripeError(
            f"Charge {ch['id']} has already been refunded.", code="charge_already_refunded", param="charge"
        )
    amount = get_int(params, "amount")
    amount = remaining if amount is None else amount
    if amount <= 0:
        raise invalid("amount", "Refund amount must be positive.", code="parameter_invalid_integer")
    if amount > remaining:
        raise StripeError(
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
            code="amount_too_large",
            param="amount",
        )
    now = d.now()
    txn = _balance_transaction(
        d,
        now,
        amount=-amount,
        currency=ch["currency"],
        charge_fee=False,
        source="",
        type="refund",
        description="REFUND FOR CHARGE",
    )
    meta = {k: v for k, v in get_metadata(params).items() if v is not None}
    refund = objects.refund(
        d.new("re_"),
        now,
        amount=amount,
        charge_obj=ch,
        reason=reason,
        metadata=meta,
        balance_transaction=txn["id"],
    )
    txn["source"] = refund["id"]
    d.store.add(txn)
    d.store.add(refund)
    before = render(ch)
    ch["amount_refunded"] = int(ch["amount_refunded"]) + amount
    ch["refunded"] = ch["amount_refunded"] >= ch["amount_captured"]
    ch["refunds"]["data"].insert(0, render(refund))
    d.emit("refund.created", refund)
    d.emit("charge.refunded", ch, {k: v for k, v in before.items() if render(ch).get(k) != v})
    return refund
