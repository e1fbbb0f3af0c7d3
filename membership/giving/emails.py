"""The emails that follow a gift or membership through its life: thanks, receipts, dunning, cancellation,
resumption.

Each message is written in the supporter's stored language (`Supporter.locale`), whoever sends it: its amounts
and dates are formatted inside `in_locale` too, so a Ukrainian reader's receipt sent by the worker shows Ukrainian
amounts and dates.

Each function queues one message in the caller's transaction (see `membership.email`), so it is sent
only if that transaction commits. They return whether a message was queued: nothing goes to a supporter
whose personal data was erased.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from flask import current_app
from sqlalchemy.orm import Session

from membership.email import queue_email
from membership.formatting import (
    absolute_url,
    format_charge,
    format_long_date,
    format_money,
    format_recurring,
    to_major_text,
)
from membership.giving.models import Checkout, Membership, Payment
from membership.giving.stripe_gateway import Receipt
from membership.i18n import in_locale
from membership.supporters.models import Supporter
from membership.supporters.tokens import TokenPurpose, issue_token

# How long the payment-failed email's link keeps working (the reminder carries a fresh one).
FIX_CARD_LINK_LIFETIME = timedelta(days=7)


def _recipient(supporter: Supporter) -> str | None:
    return None if supporter.erased_at is not None else supporter.email


def _membership_amount(membership: Membership) -> str:
    return format_recurring(membership.amount_minor, membership.currency, membership.interval)


def _membership_charge(membership: Membership) -> str:
    """What each period charges, with the part that covers card fees."""
    return format_charge(membership.amount_minor, membership.fee_cover_minor, membership.currency, membership.interval)


def _fix_card_url(session: Session, supporter: Supporter) -> str:
    token = issue_token(session, supporter, TokenPurpose.FIX_CARD, FIX_CARD_LINK_LIFETIME)
    return absolute_url(f"/account/fix-card/{token}")


def send_thank_you_email(session: Session, supporter: Supporter, checkout: Checkout,
                         membership: Membership | None = None, receipt: Receipt | None = None) -> bool:
    """Thank the supporter for a completed checkout: a one-time gift, or a new membership; with the receipt
    (Stripe's invoice for the payment) when Stripe has issued it."""
    to = _recipient(supporter)
    if to is None:
        return False
    interval = membership.interval if membership is not None else checkout.frequency.interval
    with in_locale(supporter.locale) as locale:
        if membership is not None:
            amount = _membership_charge(membership)
        else:
            amount = format_charge(checkout.total_minor, checkout.fee_cover_minor, checkout.currency, interval)
        queue_email(
            session, "thank_you", to, supporter.id, locale=locale,
            name=supporter.name,
            amount=amount,
            interval=interval or "",
            next_charge=format_long_date(membership.current_period_end) if membership is not None else "",
            sign_in_url=absolute_url("/account/sign-in"),
            receipt_url=receipt.url if receipt else "",
            receipt_pdf_url=receipt.pdf_url if receipt else "",
        )
    return True


def send_renewal_receipt_email(session: Session, supporter: Supporter, membership: Membership,
                               payment: Payment) -> bool:
    """A receipt for one renewal payment; only when the RENEWAL_RECEIPTS setting is on."""
    to = _recipient(supporter)
    if to is None or not current_app.config["RENEWAL_RECEIPTS"]:
        return False
    with in_locale(supporter.locale) as locale:
        queue_email(
            session, "renewal_receipt", to, supporter.id, locale=locale,
            name=supporter.name,
            amount=format_money(payment.amount_minor, payment.currency),
            membership_amount=_membership_charge(membership),
            paid_on=format_long_date(payment.paid_at),
            next_charge=format_long_date(membership.current_period_end),
            ends=membership.cancel_at_period_end,
            reference=payment.stripe_invoice_id or f"#{payment.id}",
            account_url=absolute_url("/account"),
        )
    return True


def send_payment_failed_email(session: Session, supporter: Supporter, membership: Membership) -> bool:
    """A renewal payment failed: a link that signs the patron in and opens the card-update form."""
    return _send_dunning(session, "payment_failed", supporter, membership)


def send_payment_failed_reminder(session: Session, supporter: Supporter, membership: Membership) -> bool:
    """The one reminder, some days after the payment-failed email, with a fresh link."""
    return _send_dunning(session, "payment_failed_reminder", supporter, membership)


def _send_dunning(session: Session, message: str, supporter: Supporter, membership: Membership) -> bool:
    to = _recipient(supporter)
    if to is None:
        return False
    with in_locale(supporter.locale) as locale:
        queue_email(
            session, message, to, supporter.id, locale=locale,
            name=supporter.name,
            amount=_membership_amount(membership),
            fix_card_url=_fix_card_url(session, supporter),
            link_days=FIX_CARD_LINK_LIFETIME.days,
            sign_in_url=absolute_url("/account/sign-in"),
        )
    return True


def send_membership_cancelled_email(session: Session, supporter: Supporter, membership: Membership) -> bool:
    """The membership will end at the end of its period (cancel at period end was turned on)."""
    to = _recipient(supporter)
    if to is None:
        return False
    with in_locale(supporter.locale) as locale:
        queue_email(
            session, "membership_cancelled", to, supporter.id, locale=locale,
            name=supporter.name,
            amount=_membership_amount(membership),
            ends_on=format_long_date(membership.current_period_end),
            sign_in_url=absolute_url("/account/sign-in"),
        )
    return True


def send_membership_resumed_email(session: Session, supporter: Supporter, membership: Membership) -> bool:
    """A cancellation was undone before the period ended: the membership renews as before."""
    to = _recipient(supporter)
    if to is None:
        return False
    with in_locale(supporter.locale) as locale:
        queue_email(
            session, "membership_resumed", to, supporter.id, locale=locale,
            name=supporter.name,
            amount=_membership_amount(membership),
            renews_on=format_long_date(membership.current_period_end),
            account_url=absolute_url("/account"),
        )
    return True


def send_membership_ended_email(session: Session, supporter: Supporter, membership: Membership) -> bool:
    """The membership has ended; rejoining is one link away, pre-filled with the same amount."""
    to = _recipient(supporter)
    if to is None:
        return False
    frequency = "yearly" if membership.interval == "year" else "monthly"
    rejoin = urlencode({"frequency": frequency, "currency": membership.currency,
                        "amount": to_major_text(membership.amount_minor, membership.currency)})
    with in_locale(supporter.locale) as locale:
        queue_email(
            session, "membership_ended", to, supporter.id, locale=locale,
            name=supporter.name,
            amount=_membership_amount(membership),
            ended_on=format_long_date(membership.ended_at or membership.canceled_at),
            rejoin_url=absolute_url(f"/give?{rejoin}"),
        )
    return True
