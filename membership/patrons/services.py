"""Patron rules: who counts as a patron (one definition, used by the account page, ballots and reports),
emailed sign-in links, the account overview, and the self-service changes made through Stripe.

Services take plain values and a session, flush but never commit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session

from membership.db import utcnow
from membership.giving import events as giving_events
from membership.giving.models import Membership, MembershipStatus, Payment, PaymentStatus
from membership.giving.services import ENDED_STATUSES as ENDED_STATUSES  # staff read it from here too
from membership.giving.stripe_gateway import StripeGateway, StripeRejected, StripeUnavailable
from membership.i18n import gettext as _
from membership.patrons.emails import send_sign_in_link
from membership.patrons.models import ChangeKind, MembershipChange
from membership.ratelimit import allow
from membership.supporters.models import Supporter
from membership.supporters.services import find_supporter_by_email, record_consent
from membership.supporters.tokens import TokenPurpose, issue_token


def patron_condition(now: datetime, grace: timedelta) -> ColumnElement[bool]:
    """SQL for "this membership makes its supporter a patron at `now`".

    - active or trialing (a membership cancelled at period end stays active at Stripe until then, and
      counts until its period ends even if that webhook is late);
    - past_due, but for less than the grace period.
    """
    current = or_(
        Membership.cancel_at_period_end.is_(False),
        Membership.current_period_end.is_(None),
        Membership.current_period_end > now,
    )
    return or_(
        and_(Membership.status.in_([MembershipStatus.ACTIVE, MembershipStatus.TRIALING]), current),
        and_(Membership.status == MembershipStatus.PAST_DUE, Membership.past_due_since > now - grace),
    )


def patron_membership(session: Session, supporter_id: int, grace: timedelta,
                      now: datetime | None = None) -> Membership | None:
    """The membership that makes this supporter a patron now (the newest, if several), or None."""
    return session.scalar(
        select(Membership)
        .where(Membership.supporter_id == supporter_id, patron_condition(now or utcnow(), grace))
        .order_by(Membership.id.desc())
        .limit(1)
    )


def is_patron(session: Session, supporter_id: int, grace: timedelta, now: datetime | None = None) -> bool:
    return patron_membership(session, supporter_id, grace, now) is not None


# Asking for a sign-in link ----------------------------------------------------------------------------

RATE_WINDOW = timedelta(hours=1)


class TooManyRequests(RuntimeError):
    """Past the hourly limit of sign-in links for this address or this IP; nothing was sent."""


@dataclass(frozen=True)
class SignInLimits:
    link_minutes: int
    per_address: int
    per_ip: int


def request_sign_in_link(session: Session, email: str, ip: str, limits: SignInLimits,
                         link_for: Callable[[str], str]) -> None:
    """Email a sign-in link if `email` belongs to a supporter; do nothing visible otherwise.

    Known and unknown addresses are counted against the same limits in the same way, so neither the
    answer nor the limits tell anyone whether an address is a supporter's. The IP is counted first:
    an IP refused for one address has still used up one of its attempts, while an address never loses
    an attempt to a request its IP was refused for. Raises TooManyRequests past either limit.
    """
    if not allow(session, "sign_in_ip", ip, limits.per_ip, RATE_WINDOW):
        raise TooManyRequests("ip")
    if not allow(session, "sign_in_address", email, limits.per_address, RATE_WINDOW):
        raise TooManyRequests("address")
    supporter = find_supporter_by_email(session, email)
    if supporter is None or supporter.erased_at is not None or not supporter.email:
        return
    token = issue_token(session, supporter, TokenPurpose.SIGN_IN, timedelta(minutes=limits.link_minutes))
    send_sign_in_link(session, supporter, link_for(token), limits.link_minutes)


# The account ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class YearTotal:
    year: int
    currency: str
    amount_minor: int


@dataclass(frozen=True)
class AccountOverview:
    supporter: Supporter
    memberships: list[Membership]  # every one still running, newest first: each is charged on its own
    last_ended: Membership | None  # the most recent one that ended, when none is running
    patron: bool
    payments: list[Payment]
    yearly_totals: list[YearTotal]


def _running(supporter_id: int) -> Select[Membership]:
    return (select(Membership)
            .where(Membership.supporter_id == supporter_id, Membership.status.not_in(ENDED_STATUSES))
            .order_by(Membership.id.desc()))


def current_membership(session: Session, supporter_id: int) -> Membership | None:
    """The supporter's newest membership that hasn't ended (it may be past due or cancelling)."""
    return session.scalar(_running(supporter_id).limit(1))


def running_memberships(session: Session, supporter_id: int) -> list[Membership]:
    """Every membership of the supporter that hasn't ended, newest first."""
    return list(session.scalars(_running(supporter_id)))


def own_membership(session: Session, supporter_id: int, membership_id: int | None) -> Membership | None:
    """The membership a patron's action targets: theirs with this id (None if it isn't theirs), or, with no
    id, their newest running one."""
    if membership_id is None:
        return current_membership(session, supporter_id)
    return session.scalar(
        select(Membership).where(Membership.id == membership_id, Membership.supporter_id == supporter_id)
    )


def given_minor(payment: Payment) -> int:
    """What a payment finally gave: its amount less refunds; nothing while disputed."""
    if payment.status is PaymentStatus.DISPUTED:
        return 0
    return payment.amount_minor - payment.refunded_minor


def yearly_totals(payments: list[Payment]) -> list[YearTotal]:
    """Totals per calendar year (UTC) and currency, newest year first, for the patron's own records."""
    sums: dict[tuple[int, str], int] = defaultdict(int)
    for payment in payments:
        sums[(payment.paid_at.year, payment.currency)] += given_minor(payment)
    return [YearTotal(year, currency, amount)
            for (year, currency), amount in sorted(sums.items(), key=lambda kv: (-kv[0][0], kv[0][1]))]


def account_overview(session: Session, supporter_id: int, grace: timedelta) -> AccountOverview:
    """Everything the account page shows, for this supporter only."""
    supporter = session.get(Supporter, supporter_id)
    if supporter is None:
        raise LookupError(f"No supporter {supporter_id}.")
    memberships = running_memberships(session, supporter_id)
    last_ended = None
    if not memberships:
        last_ended = session.scalar(
            select(Membership).where(Membership.supporter_id == supporter_id, Membership.status.in_(ENDED_STATUSES))
            .order_by(Membership.id.desc()).limit(1)
        )
    payments = list(session.scalars(
        select(Payment).where(Payment.supporter_id == supporter_id).order_by(Payment.paid_at.desc(), Payment.id.desc())
    ))
    return AccountOverview(
        supporter=supporter,
        memberships=memberships,
        last_ended=last_ended,
        patron=is_patron(session, supporter_id, grace),
        payments=payments,
        yearly_totals=yearly_totals(payments),
    )


def update_consent(session: Session, supporter_id: int, consented: bool) -> None:
    """The patron changed their email-updates consent on the account page."""
    supporter = session.get(Supporter, supporter_id)
    if supporter is None:
        raise LookupError(f"No supporter {supporter_id}.")
    record_consent(session, supporter, consented, source="account")


def update_ballot_emails(session: Session, supporter_id: int, wanted: bool) -> None:
    """The patron switched the ballots' "what your vote commissioned" emails on or off."""
    supporter = session.get(Supporter, supporter_id)
    if supporter is None:
        raise LookupError(f"No supporter {supporter_id}.")
    supporter.ballot_emails = wanted
    session.flush()


def unsubscribe(session: Session, supporter_id: int, preference: str) -> None:
    """A List-Unsubscribe link was used: switch that preference off (nothing for an erased or unknown supporter,
    or a preference already off). `preference` is one of membership.email.UNSUBSCRIBE_LISTS's."""
    supporter = session.get(Supporter, supporter_id)
    if supporter is None or supporter.erased_at is not None:
        return
    if preference == "ballot_emails":
        supporter.ballot_emails = False
        session.flush()


def update_locale(session: Session, supporter_id: int, locale: str) -> None:
    """The patron chose the language of their pages and emails on the account page (an offered one: the form
    checks)."""
    supporter = session.get(Supporter, supporter_id)
    if supporter is None:
        raise LookupError(f"No supporter {supporter_id}.")
    supporter.locale = locale
    session.flush()


# Self-service through Stripe ------------------------------------------------------------------------


class NothingToChange(ValueError):
    """The patron has no membership this change applies to; the message says so, for the reader."""


class StripeChangeFailed(RuntimeError):
    """Stripe could not be reached or refused the change. The caller rolls back: nothing changed."""


def amount_changeable(membership: Membership | None) -> bool:
    return membership is not None and membership.status in (MembershipStatus.ACTIVE, MembershipStatus.TRIALING)


def cancellable(membership: Membership | None) -> bool:
    return (membership is not None and not membership.cancel_at_period_end
            and membership.status in (MembershipStatus.ACTIVE, MembershipStatus.TRIALING, MembershipStatus.PAST_DUE))


def resumable(membership: Membership | None, now: datetime | None = None) -> bool:
    return (membership is not None and membership.cancel_at_period_end
            and membership.status in (MembershipStatus.ACTIVE, MembershipStatus.TRIALING, MembershipStatus.PAST_DUE)
            and (membership.current_period_end is None or membership.current_period_end > (now or utcnow())))


def _own_membership_locked(session: Session, supporter_id: int, membership_id: int | None) -> Membership | None:
    """`own_membership`, under the supporter's row lock and as the last webhook left it.

    The lock comes first, as the webhooks take it before the membership's: the webhook Stripe sends at once for
    the change we are about to ask for then waits for this transaction. Taking the membership's row first (by
    the change's foreign key and the UPDATE) and the supporter's later (applying Stripe's answer) would make the
    two wait for each other, and PostgreSQL would cancel one: the patron's request, or the webhook."""
    session.execute(select(Supporter.id).where(Supporter.id == supporter_id).with_for_update())
    membership = own_membership(session, supporter_id, membership_id)
    if membership is not None:
        session.refresh(membership)
    return membership


def _record_change(session: Session, membership: Membership, kind: ChangeKind, **values: object) -> MembershipChange:
    change = MembershipChange(membership_id=membership.id, kind=kind, **values)
    session.add(change)
    session.flush()
    return change


def _change_key(change: MembershipChange) -> str:
    return f"membership-change-{change.id}"


def _apply_stripe_answer(session: Session, membership: Membership, change: Callable[[], dict[str, Any]]) -> None:
    """Make the change at Stripe and apply the subscription it answers with to our row at once, so the page
    that follows shows the new state. Its webhook confirms the same state later and changes nothing then."""
    asked_at = utcnow()
    try:
        subscription = change()
    except (StripeUnavailable, StripeRejected) as exc:
        raise StripeChangeFailed(str(exc)) from exc
    giving_events.apply_subscription(session, subscription, read_at=asked_at)


def change_amount(session: Session, gateway: StripeGateway, supporter_id: int, amount_minor: int,
                  membership_id: int | None = None) -> Membership:
    """Charge `amount_minor` per interval from the next renewal on (no charge now, no proration).

    `membership_id` picks one of the patron's memberships (see `own_membership`)."""
    membership = _own_membership_locked(session, supporter_id, membership_id)
    if membership is None or not amount_changeable(membership):
        raise NothingToChange(_("You have no active membership whose amount can change."))
    change = _record_change(session, membership, ChangeKind.AMOUNT,
                            old_amount_minor=membership.amount_minor, new_amount_minor=amount_minor)
    _apply_stripe_answer(session, membership, lambda: gateway.change_subscription_amount(
        membership.stripe_subscription_id, amount_minor, _change_key(change)))
    return membership


def cancel_membership(session: Session, gateway: StripeGateway, supporter_id: int,
                      reason: str = "", comment: str = "", membership_id: int | None = None) -> Membership:
    """Cancel at the end of the paid period, keeping the patron's reason (Stripe's feedback code) for churn reports."""
    membership = _own_membership_locked(session, supporter_id, membership_id)
    if membership is None or not cancellable(membership):
        raise NothingToChange(_("You have no membership that can be cancelled."))
    comment = comment.strip()
    change = _record_change(session, membership, ChangeKind.CANCEL, reason=reason, comment=comment)
    membership.cancel_reason = reason
    membership.cancel_comment = comment
    session.flush()
    _apply_stripe_answer(session, membership, lambda: gateway.set_cancel_at_period_end(
        membership.stripe_subscription_id, True, _change_key(change), feedback=reason, comment=comment))
    return membership


def resume_membership(session: Session, gateway: StripeGateway, supporter_id: int,
                      membership_id: int | None = None) -> Membership:
    """Undo a cancellation before the period ends: the membership renews as before."""
    membership = _own_membership_locked(session, supporter_id, membership_id)
    if membership is None or not resumable(membership):
        raise NothingToChange(_("You have no cancelled membership that can be resumed."))
    change = _record_change(session, membership, ChangeKind.RESUME)
    # They stayed: the reason no longer describes a lost patron (the change history keeps it).
    membership.cancel_reason = ""
    membership.cancel_comment = ""
    session.flush()
    _apply_stripe_answer(session, membership, lambda: gateway.set_cancel_at_period_end(
        membership.stripe_subscription_id, False, _change_key(change)))
    return membership


def portal_url(gateway: StripeGateway, supporter: Supporter, return_url: str, update_card: bool = False,
               locale: str = "auto") -> str:
    """A Stripe Billing Portal session for the supporter (card, invoices), returning to `return_url`."""
    if not supporter.stripe_customer_id:
        raise NothingToChange(_("You have no payments with us yet, so there is nothing to manage at Stripe."))
    try:
        return gateway.create_portal_session(supporter.stripe_customer_id, return_url, update_card=update_card,
                                             locale=locale)
    except (StripeUnavailable, StripeRejected) as exc:
        raise StripeChangeFailed(str(exc)) from exc
