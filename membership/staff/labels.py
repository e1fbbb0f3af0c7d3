"""What the staff console calls the states it shows (Stripe's statuses, kinds, outcomes), in the page's language.
The database and the exports' rows keep the codes; only pages and the export form read these."""

from __future__ import annotations

import enum
from typing import Any

from flask_babel import LazyString

from membership.giving.models import (
    CheckoutStatus,
    Frequency,
    MembershipStatus,
    PaymentKind,
    PaymentStatus,
    RefundStatus,
)
from membership.i18n import lazy_gettext

# Stripe's subscription statuses.
MEMBERSHIP_STATUSES = {
    MembershipStatus.INCOMPLETE: lazy_gettext("Incomplete"),
    MembershipStatus.INCOMPLETE_EXPIRED: lazy_gettext("Incomplete, expired"),
    MembershipStatus.TRIALING: lazy_gettext("Trialing"),
    MembershipStatus.ACTIVE: lazy_gettext("Active"),
    MembershipStatus.PAST_DUE: lazy_gettext("Past due"),
    MembershipStatus.CANCELED: lazy_gettext("Canceled"),
    MembershipStatus.UNPAID: lazy_gettext("Unpaid"),
    MembershipStatus.PAUSED: lazy_gettext("Paused"),
}
PAYMENT_STATUSES = {
    PaymentStatus.PAID: lazy_gettext("Paid"),
    PaymentStatus.PARTIALLY_REFUNDED: lazy_gettext("Partially refunded"),
    PaymentStatus.REFUNDED: lazy_gettext("Refunded"),
    PaymentStatus.DISPUTED: lazy_gettext("Disputed"),
}
PAYMENT_KINDS = {PaymentKind.GIFT: lazy_gettext("one-time gift"), PaymentKind.MEMBERSHIP: lazy_gettext("membership")}
REFUND_STATUSES = {
    RefundStatus.REQUESTED: lazy_gettext("Requested"),
    RefundStatus.ACCEPTED: lazy_gettext("Accepted"),
    RefundStatus.FAILED: lazy_gettext("Failed"),
}
CHECKOUT_STATUSES = {
    CheckoutStatus.PENDING: lazy_gettext("Pending"),
    CheckoutStatus.OPEN: lazy_gettext("Open"),
    CheckoutStatus.COMPLETED: lazy_gettext("Completed"),
    CheckoutStatus.EXPIRED: lazy_gettext("Expired"),
    CheckoutStatus.FAILED: lazy_gettext("Failed"),
}
FREQUENCIES = {Frequency.ONCE: lazy_gettext("once"), Frequency.MONTHLY: lazy_gettext("monthly"),
               Frequency.YEARLY: lazy_gettext("yearly")}
_LABELS: dict[type[enum.Enum], dict[Any, LazyString]] = {
    MembershipStatus: MEMBERSHIP_STATUSES, PaymentStatus: PAYMENT_STATUSES, PaymentKind: PAYMENT_KINDS,
    RefundStatus: REFUND_STATUSES, CheckoutStatus: CHECKOUT_STATUSES, Frequency: FREQUENCIES,
}


def label(value: enum.Enum) -> str:
    """A status or kind in words ('Past due'), or its code when it has no words yet."""
    words = _LABELS.get(type(value), {}).get(value)
    return str(words) if words is not None else str(value.value)
