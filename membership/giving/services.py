"""Giving rules: the catalogue of tiers and amounts, starting a checkout, and confirming it.

Services take plain values and a session, flush but never commit: the request, webhook or CLI command
that called them ends the transaction.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from membership import ratelimit
from membership.config import CurrencyRules
from membership.db import current_session, dialect_insert, rows_affected, utcnow
from membership.formatting import format_money
from membership.giving import emails
from membership.giving.catalogue import current_catalogue
from membership.giving.models import (
    Checkout,
    CheckoutStatus,
    Frequency,
    Membership,
    MembershipStatus,
    RefusedCheckoutReason,
    RefusedCheckouts,
    Tier,
    TierAmount,
)
from membership.giving.stripe_gateway import CheckoutRequest, StripeGateway, StripeRejected, StripeUnavailable
from membership.i18n import gettext as _
from membership.logs import log_context
from membership.metrics import CHECKOUTS_STARTED, count_after_commit
from membership.money import STRIPE_MAXIMUM_CHARGE, check_stripe_charge, round_up_to_charge_step
from membership.supporters.models import Supporter
from membership.supporters.services import find_or_create_supporter, normalise_email

log = logging.getLogger(__name__)


class PaymentsUnavailable(RuntimeError):
    """Stripe can't take payments right now; nothing was charged."""


# Limits against card testing (someone trying stolen card numbers through our checkout, one small gift each).
CHECKOUT_WINDOW = timedelta(hours=1)


class TooManyCheckouts(RuntimeError):
    """Past the hourly limit of new checkouts for this IP or this address; nothing was recorded."""


@dataclass(frozen=True)
class CheckoutLimits:
    per_ip: int
    per_address: int


def check_checkout_limits(session: Session, email: str, ip: str, limits: CheckoutLimits) -> None:
    """Count a new checkout for the IP and the address, or raise TooManyCheckouts past either hourly limit
    (and count the refusal for the dashboard). As with sign-in links, the IP is counted first: a checkout
    refused for its address still uses one of its IP's, but an address loses none to its IP's refusals."""
    if not ratelimit.allow(session, "checkout_ip", ip, limits.per_ip, CHECKOUT_WINDOW):
        _count_refused(session, RefusedCheckoutReason.IP)
        raise TooManyCheckouts(RefusedCheckoutReason.IP.value)
    if not ratelimit.allow(session, "checkout_address", email, limits.per_address, CHECKOUT_WINDOW):
        _count_refused(session, RefusedCheckoutReason.ADDRESS)
        raise TooManyCheckouts(RefusedCheckoutReason.ADDRESS.value)


def _count_refused(session: Session, reason: RefusedCheckoutReason) -> None:
    insert = dialect_insert(session)
    statement = insert(RefusedCheckouts).values(day=utcnow().date(), reason=reason, attempts=1)
    session.execute(statement.on_conflict_do_update(
        index_elements=["day", "reason"], set_={"attempts": RefusedCheckouts.attempts + 1}))


@dataclass(frozen=True)
class Attribution:
    """Where a gift came from: the article and the campaign's utm_* parameters."""

    source_url: str = ""
    utm_source: str = ""
    utm_medium: str = ""
    utm_campaign: str = ""
    utm_term: str = ""
    utm_content: str = ""


@dataclass(frozen=True)
class GiftChoice:
    """A reader's validated choices from the give form."""

    email: str
    name: str
    frequency: Frequency
    amount_minor: int
    currency: str
    cover_fees: bool = False
    message: str = ""
    anonymous: bool = False
    email_consent: bool = False
    attribution: Attribution = field(default_factory=Attribution)


@dataclass(frozen=True)
class Confirmation:
    checkout: Checkout
    confirmed: bool


# Catalogue ------------------------------------------------------------------------------------------


def tier_for_amount(session: Session, currency: str, frequency: Frequency, amount_minor: int) -> Tier | None:
    """The highest active tier whose suggested amount for this currency and frequency is met."""
    return session.scalar(
        select(Tier)
        .join(TierAmount)
        .where(
            Tier.active.is_(True),
            TierAmount.currency == currency,
            TierAmount.frequency == frequency,
            TierAmount.amount_minor <= amount_minor,
        )
        .order_by(TierAmount.amount_minor.desc())
        .limit(1)
    )


def fee_cover_for(rules: CurrencyRules, amount_minor: int) -> int:
    """What a reader adds so that, after the card fee, the newsroom receives `amount_minor` (rounded up to an
    amount Stripe can charge in the currency)."""
    return round_up_to_charge_step(rules.fee.gross_up(amount_minor), rules.code) - amount_minor


def check_gift_amount(rules: CurrencyRules, amount_minor: int, cover_fees: bool) -> None:
    """Raise ValueError, with the reason a reader reads, unless the give form accepts this amount: within the
    bounds staff set, and the total Stripe will charge (covered fees included) within Stripe's limits."""
    limits = rules.limits
    if amount_minor < limits.minimum_minor:
        raise ValueError(_("The smallest amount we can accept is %(amount)s.",
                           amount=format_money(limits.minimum_minor, rules.code)))
    if amount_minor > limits.maximum_minor:
        raise ValueError(_("The largest amount we can accept online is %(amount)s. For larger gifts, please write "
                           "to us.", amount=format_money(limits.maximum_minor, rules.code)))
    total = amount_minor + (fee_cover_for(rules, amount_minor) if cover_fees else 0)
    if total > STRIPE_MAXIMUM_CHARGE and total != amount_minor:
        raise ValueError(_("With the card fees covered the total would be %(total)s, more than Stripe can charge in "
                           "one payment (%(maximum)s). Choose a smaller amount.",
                           total=format_money(total, rules.code),
                           maximum=format_money(STRIPE_MAXIMUM_CHARGE, rules.code)))
    check_stripe_charge(total, rules.code)


def product_name(newsroom: str, frequency: Frequency, amount_minor: int, fee_cover_minor: int,
                 currency: str) -> str:
    """The line the reader sees on Stripe's page, saying exactly what the total is made of (in the active
    language: the reader's)."""
    if frequency is Frequency.ONCE:
        base = _("Gift to %(newsroom)s", newsroom=newsroom)
    elif frequency is Frequency.MONTHLY:
        base = _("Monthly membership of %(newsroom)s", newsroom=newsroom)
    else:
        base = _("Yearly membership of %(newsroom)s", newsroom=newsroom)
    if fee_cover_minor:
        return str(_("%(product)s: %(amount)s + %(fees)s to cover card fees", product=base,
                     amount=format_money(amount_minor, currency), fees=format_money(fee_cover_minor, currency)))
    return str(base)


# Checkout -------------------------------------------------------------------------------------------

# Memberships that are over: Stripe will never charge them again.
ENDED_STATUSES = (MembershipStatus.CANCELED, MembershipStatus.INCOMPLETE_EXPIRED)


def has_running_membership(session: Session, email: str) -> bool:
    """Whether the supporter with this address has a membership that hasn't ended (a new one would be a second).

    Says nothing else about it: whoever asks may only have typed the address."""
    supporter_id = session.scalar(select(Supporter.id).where(Supporter.email == normalise_email(email)))
    if supporter_id is None:
        return False
    return session.scalar(
        select(Membership.id)
        .where(Membership.supporter_id == supporter_id, Membership.status.not_in(ENDED_STATUSES)).limit(1)
    ) is not None


def start_checkout(
    session: Session,
    gateway: StripeGateway,
    choice: GiftChoice,
    rules: Mapping[str, CurrencyRules],
    newsroom: str,
    success_url: str,
    cancel_url: Callable[[int], str],
    locale: str | None = None,
    stripe_locale: str = "auto",
    invoice_footer: str = "",
) -> tuple[Checkout, str]:
    """Record a pending checkout for the reader and open a Stripe Checkout Session for it.

    The reader's "email me news" is kept on the checkout, not the supporter: anyone can type any address,
    so it counts only once the checkout is paid (see `giving.events`).
    Returns the checkout and the URL to send the reader to. If Stripe is unreachable the pending
    checkout stays recorded (so the attempt is not lost) and PaymentsUnavailable is raised.
    """
    supporter = find_or_create_supporter(session, choice.email, choice.name)
    fee_cover = fee_cover_for(rules[choice.currency], choice.amount_minor) if choice.cover_fees else 0
    checkout = Checkout(
        supporter=supporter,
        locale=locale,
        frequency=choice.frequency,
        amount_minor=choice.amount_minor,
        fee_cover_minor=fee_cover,
        currency=choice.currency,
        cover_fees=choice.cover_fees,
        message=choice.message.strip(),
        anonymous=choice.anonymous,
        email_consent=choice.email_consent,
        source_url=choice.attribution.source_url,
        utm_source=choice.attribution.utm_source,
        utm_medium=choice.attribution.utm_medium,
        utm_campaign=choice.attribution.utm_campaign,
        utm_term=choice.attribution.utm_term,
        utm_content=choice.attribution.utm_content,
        status=CheckoutStatus.PENDING,
    )
    session.add(checkout)
    session.flush()
    request = CheckoutRequest(
        checkout_id=checkout.id,
        supporter_id=supporter.id,
        mode="payment" if choice.frequency is Frequency.ONCE else "subscription",
        interval=choice.frequency.interval,
        amount_minor=checkout.total_minor,
        currency=choice.currency,
        product_name=product_name(newsroom, choice.frequency, choice.amount_minor, fee_cover, choice.currency),
        customer_id=supporter.stripe_customer_id,
        customer_email=supporter.email or choice.email,
        success_url=success_url,
        cancel_url=cancel_url(checkout.id),
        metadata={"checkout_id": str(checkout.id), "supporter_id": str(supporter.id)},
        locale=stripe_locale,
        invoice_footer=invoice_footer,
    )
    with log_context(checkout_id=checkout.id):
        try:
            ref = gateway.create_checkout_session(request)
        except (StripeUnavailable, StripeRejected) as exc:
            log.warning("Checkout %s could not be started: Stripe answered %s", checkout.id, type(exc).__name__)
            raise PaymentsUnavailable(str(exc)) from exc
        checkout.stripe_session_id = ref.id
        checkout.status = CheckoutStatus.OPEN
        session.flush()
        log.info("Checkout %s started: %s %s %s", checkout.id, choice.frequency.value, checkout.total_minor,
                 checkout.currency)
    count_after_commit(session, CHECKOUTS_STARTED, choice.frequency.value)
    return checkout, ref.url


def find_checkout_by_session(session: Session, stripe_session_id: str) -> Checkout | None:
    return session.scalar(select(Checkout).where(Checkout.stripe_session_id == stripe_session_id))


def confirm_checkout(session: Session, gateway: StripeGateway, stripe_session_id: str) -> Confirmation | None:
    """Whether Stripe reports this checkout paid. Never trusts the URL; writes nothing (webhooks do)."""
    checkout = find_checkout_by_session(session, stripe_session_id)
    if checkout is None:
        return None
    if checkout.status is CheckoutStatus.COMPLETED:
        return Confirmation(checkout, True)
    try:
        stripe_session = gateway.retrieve_checkout_session(stripe_session_id)
    except (StripeUnavailable, StripeRejected):
        return Confirmation(checkout, False)
    paid = stripe_session.get("status") == "complete" and stripe_session.get("payment_status") == "paid"
    return Confirmation(checkout, paid)


def abandon_checkout(session: Session, gateway: StripeGateway, checkout_id: int) -> Checkout | None:
    """The reader came back from Stripe without paying: expire the session so it can't be paid later.

    Returns the checkout so its choices can fill the form again. Stripe's checkout.session.expired
    webhook marks the row expired.
    """
    checkout = session.get(Checkout, checkout_id)
    if checkout is None:
        return None
    if checkout.status is CheckoutStatus.OPEN and checkout.stripe_session_id:
        # If Stripe can't be reached the session expires on its own after 24 hours; the reader isn't held up.
        with contextlib.suppress(StripeUnavailable, StripeRejected):
            gateway.expire_checkout_session(checkout.stripe_session_id)
    return checkout


# Dunning --------------------------------------------------------------------------------------------

# A renewal payment is failing: the patron is emailed a link to fix the card, then reminded once.
DUNNING_STATUSES = (MembershipStatus.PAST_DUE, MembershipStatus.UNPAID)


def send_dunning_reminders(session: Session, now: datetime, after: timedelta) -> int:
    """Remind, once, every patron whose payment is still failing `after` the payment-failed email.

    Each membership is claimed with a conditional UPDATE before its email is queued, so two job runs
    at the same moment still send one reminder. Returns how many were queued.
    """
    due = session.scalars(
        select(Membership)
        .where(
            Membership.status.in_(DUNNING_STATUSES),
            Membership.dunning_emailed_at <= now - after,
            Membership.dunning_reminded_at.is_(None),
        )
        .order_by(Membership.id)
    ).all()
    sent = 0
    for membership in due:
        claimed = session.execute(
            update(Membership)
            .where(Membership.id == membership.id, Membership.dunning_reminded_at.is_(None))
            .values(dunning_reminded_at=now)
        )
        if rows_affected(claimed) != 1:
            continue
        if emails.send_payment_failed_reminder(session, membership.supporter, membership):
            sent += 1
    session.flush()
    return sent


def currency_rules() -> Mapping[str, CurrencyRules]:
    """The per-currency rules in force: the settings' currencies and fees, with the bounds staff set (from the
    app's cached catalogue, checked against the database's version token)."""
    return current_catalogue(current_session()).rules
