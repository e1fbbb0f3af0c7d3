"""Stripe's test cards and how each behaves, plus the checks the hosted card form makes.

4000000000000341: real Stripe attaches it to the customer and then fails every charge. The membership app's
browser test "€5 monthly with 4000000000000341: renewal fails" needs a subscription that starts, so here the
card's first, on-session payment in Checkout succeeds and every later off-session charge (renewals,
retries) is declined with card_declined. 4000002760003184 asks for 3D Secure on the hosted page; off
session it is declined with authentication_required, as Stripe does for cards that always need it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class TestCard:
    """A test card number and its behaviour."""

    number: str
    brand: str
    behavior: str  # succeed | decline | insufficient_funds | three_ds | fail_later | dispute

    @property
    def last4(self) -> str:
        """The last four digits."""
        return self.number[-4:]

    @property
    def fingerprint(self) -> str:
        """A stable per-number fingerprint, as Stripe gives one per card."""
        return hashlib.sha256(self.number.encode()).hexdigest()[:16]


CARDS = {
    card.number: card
    for card in (
        TestCard("4242424242424242", "visa", "succeed"),
        TestCard("5555555555554444", "mastercard", "succeed"),
        TestCard("4000000000000002", "visa", "decline"),
        TestCard("4000000000009995", "visa", "insufficient_funds"),
        TestCard("4000002760003184", "visa", "three_ds"),
        TestCard("4000000000000341", "visa", "fail_later"),
        TestCard("4000000000000259", "visa", "dispute"),
    )
}


@dataclass(frozen=True)
class Decline:
    """Why a charge failed, in Stripe's error terms."""

    code: str
    decline_code: str
    message: str


GENERIC_DECLINE = Decline("card_declined", "generic_decline", "Your card was declined.")
INSUFFICIENT_FUNDS = Decline("card_declined", "insufficient_funds", "Your card has insufficient funds.")
AUTH_REQUIRED = Decline(
    "authentication_required",
    "authentication_required",
    "Your card was declined. This transaction requires authentication.",
)
AUTH_FAILED = Decline(
    "payment_intent_authentication_failure",
    "authentication_failure",
    "We are unable to authenticate your payment method. Please choose a different payment method and try again.",
)


def decline_for(card: TestCard, *, off_session: bool, in_checkout: bool) -> Decline | None:
    """The decline this card gives for a charge, or None if the charge goes through.

    On-session 3D Secure is handled by the page (Checkout) or counted as done when the card is saved
    (Portal), so it only declines off session. 0341 only succeeds for the Checkout payment (module doc).
    """
    if card.behavior == "decline":
        return GENERIC_DECLINE
    if card.behavior == "insufficient_funds":
        return INSUFFICIENT_FUNDS
    if card.behavior == "fail_later" and not in_checkout:
        return GENERIC_DECLINE
    if off_session and card.behavior == "three_ds":
        return AUTH_REQUIRED
    return None


class CardFormError(Exception):
    """A card form input Stripe's Elements would reject before any charge."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class CardInput:
    """A validated card from the form."""

    card: TestCard
    exp_month: int
    exp_year: int


def validate_card(number: str, expiry: str, cvc: str, now: datetime | None = None) -> CardInput:
    """Check number, expiry (MM / YY) and CVC as Stripe's card form does; raise CardFormError."""
    digits = re.sub(r"[\s-]", "", number or "")
    if not digits:
        raise CardFormError("Your card number is incomplete.", "card_number")
    card = CARDS.get(digits)
    if card is None:
        raise CardFormError("Your card number is incorrect.", "card_number")
    match = re.fullmatch(r"\s*(\d{1,2})\s*/?\s*(\d{2}|\d{4})\s*", expiry or "")
    if not match:
        raise CardFormError("Your card's expiration date is incomplete.", "card_expiry")
    month, year = int(match.group(1)), int(match.group(2))
    if year < 100:
        year += 2000
    if not 1 <= month <= 12:
        raise CardFormError("Your card's expiration date is invalid.", "card_expiry")
    today = now or datetime.now(UTC)
    if (year, month) < (today.year, today.month):
        raise CardFormError("Your card's expiration year is in the past.", "card_expiry")
    if year > today.year + 50:
        raise CardFormError("Your card's expiration year is invalid.", "card_expiry")
    if not re.fullmatch(r"\d{3,4}", (cvc or "").strip()):
        raise CardFormError("Your card's security code is incomplete.", "card_cvc")
    return CardInput(card, month, year)
