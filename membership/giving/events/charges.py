"""Charges: the payment a settled charge becomes, and its refunds and disputes as Stripe has them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session, make_transient_to_detached

from membership.db import dialect_insert, from_unix, utcnow
from membership.giving import integrations
from membership.giving.events.shared import stripe_id
from membership.giving.models import Checkout, Membership, Payment, PaymentKind, PaymentStatus
from membership.giving.month_changes import note_changed_months
from membership.giving.stripe_gateway import ChargeDetails, Receipt, StripeGateway
from membership.supporters.models import Supporter


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
    receipt: Receipt | None = None,
) -> tuple[Payment, bool]:
    """One payment row per settled charge, with fee and net from its balance transaction, its dispute
    as Stripe has it now (`dispute_status`: a dispute event that came first found no row to update), and the
    invoice Stripe issued for it (`receipt`: its hosted page and PDF are the reader's receipt).
    Idempotent: returns the row and whether this call created it."""
    if receipt is not None:
        invoice_id = invoice_id or receipt.invoice_id
    values = {
        "supporter_id": supporter.id,
        "membership_id": membership.id if membership else None,
        "checkout_id": checkout.id if checkout else None,
        "kind": kind,
        "stripe_payment_intent_id": details.payment_intent_id,
        "stripe_charge_id": details.charge_id,
        "stripe_invoice_id": invoice_id,
        "stripe_balance_transaction_id": details.balance_transaction_id,
        "amount_minor": details.amount_minor,
        "fee_minor": details.fee_minor,
        "net_minor": details.net_minor,
        "currency": details.currency,
        "settlement_currency": details.settlement_currency,
        "exchange_rate": details.exchange_rate,
        "status": _payment_status(details.amount_minor, details.amount_refunded_minor,
                                  _counts_as_disputed(details.disputed, dispute_status)),
        "refunded_minor": details.amount_refunded_minor,
        "dispute_status": dispute_status,
        "receipt_url": receipt.url if receipt else "",
        "receipt_pdf_url": receipt.pdf_url if receipt else "",
        "paid_at": from_unix(details.created),
        "created_at": utcnow(),
    }
    with session.no_autoflush:  # the row needs none of the caller's pending changes: they go in one flush later
        row = session.execute(_insert_payment(session, tuple(values)), values).first()
    if row is not None:
        created = _attached(session, row)
        # A Core INSERT, which no flush sees: a late or backdated payment changes an ended month's figures.
        note_changed_months(session, [created.paid_at], utcnow())
        integrations.announce_new_payment(session, supporter, created)
        return created, True
    existing = session.scalars(
        select(Payment).where(Payment.stripe_payment_intent_id == details.payment_intent_id)
    ).one()
    if membership is not None and existing.membership_id is None:
        existing.membership_id = membership.id
    if receipt is not None and not existing.receipt_url:
        existing.receipt_url, existing.receipt_pdf_url = receipt.url, receipt.pdf_url
    return existing, False


_INSERT_PAYMENT: dict[tuple[str, tuple[str, ...]], Any] = {}
_PAYMENTS = cast(Table, Payment.__table__)
# The mapped attribute of each column, to make a Payment of the row the INSERT returns.
_PAYMENT_ATTRIBUTES = tuple((column.key, Payment.__mapper__.get_property_by_column(column).key)
                            for column in _PAYMENTS.columns)


def _insert_payment(session: Session, columns: tuple[str, ...]) -> Any:
    """INSERT … ON CONFLICT DO NOTHING RETURNING every column, on the table (no ORM bulk-insert machinery), built
    once per dialect (every payment runs it, and building a statement costs more than running it); the values of
    `columns` are bound at execution."""
    insert = dialect_insert(session)
    key = (insert.__module__, columns)
    statement = _INSERT_PAYMENT.get(key)
    if statement is None:
        statement = _INSERT_PAYMENT[key] = (
            insert(_PAYMENTS).values({column: bindparam(column) for column in columns}).on_conflict_do_nothing()
            .returning(*_PAYMENTS.columns))
    return statement


def _attached(session: Session, row: Any) -> Payment:
    """The payment row just inserted, as a Payment in the session, clean (as if loaded): no query to read back."""
    mapping = row._mapping
    payment = Payment(**{attribute: mapping[column] for column, attribute in _PAYMENT_ATTRIBUTES})
    make_transient_to_detached(payment)
    session.add(payment)
    return payment


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


def read_dispute_status(gateway: StripeGateway, charge: ChargeDetails | None) -> str:
    """A disputed charge's dispute status, read as its payment is recorded (one more call, disputes only)."""
    return gateway.charge_dispute_status(charge.charge_id) if charge is not None and charge.disputed else ""


def recorded_charge(session: Session, obj: dict[str, Any]) -> str | None:
    """The charge a refund or dispute concerns, if we recorded a payment for it."""
    charge_id = stripe_id(obj.get("charge")) if obj.get("object") == "dispute" else stripe_id(obj.get("id"))
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
    refunded_before = payment.refunded_minor
    payment.refunded_minor = min(details.amount_refunded_minor, payment.amount_minor)
    if state.dispute_status is not None:
        payment.dispute_status = state.dispute_status
    disputed = _counts_as_disputed(details.disputed, payment.dispute_status)
    payment.status = _payment_status(payment.amount_minor, payment.refunded_minor, disputed)
    if payment.refunded_minor > refunded_before:
        session.flush()
        integrations.announce_refund(session, payment)
