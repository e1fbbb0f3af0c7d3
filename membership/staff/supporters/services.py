"""Supporters for staff: the searchable list, one supporter's record, and the admin actions.

The list pages by keyset (the last id shown), never OFFSET, so the thousandth page costs what the first
does; each filter is an EXISTS probe on an indexed column (migration 0004). Admin actions reach Stripe
through the gateway with idempotency keys from our own rows. Reading a supporter's record and every
action is written to the audit log with ids and amounts only, never personal data. Services flush,
never commit.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, delete, func, or_, select, update
from sqlalchemy.orm import Session

from membership.ballots import services as ballot_services
from membership.ballots.models import SuggestionStatus, TopicSuggestion
from membership.db import rows_affected, utcnow
from membership.email import OutboundEmail
from membership.formatting import format_money
from membership.giving.events import redact, sync_membership
from membership.giving.models import (
    Checkout,
    CheckoutStatus,
    Membership,
    MembershipStatus,
    Payment,
    PaymentStatus,
    RefundRequest,
    RefundStatus,
    StripeEvent,
    Tier,
)
from membership.giving.services import DUNNING_STATUSES
from membership.giving.stripe_gateway import StripeGateway, StripeRejected, StripeUnavailable
from membership.patrons.models import ChangeKind, MembershipChange
from membership.patrons.services import ENDED_STATUSES, patron_condition
from membership.staff.models import StaffUser
from membership.staff.services import record_audit
from membership.supporters.models import ConsentEvent, Supporter
from membership.supporters.services import end_sessions
from membership.supporters.tokens import SignInToken

PAGE_SIZE = 50
LIKE_ESCAPE = "/"


class PatronStatus(enum.StrEnum):
    PATRON = "patron"  # a patron now (the one patron rule)
    PAST_DUE = "past_due"  # a membership whose renewal is failing, in its grace period or past it
    CANCELLED = "cancelled"  # a cancelled membership, and not a patron now
    NEVER = "never"  # never had a membership


class ActionRefused(ValueError):
    """The action can't be done as asked; the message says why. Nothing was sent to Stripe."""


class StripeActionFailed(RuntimeError):
    """Stripe refused the action or couldn't be reached. The caller rolls back: nothing changed here."""


# The list -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SupporterFilters:
    search: str = ""  # part of the email address or name, any case
    status: PatronStatus | None = None
    tier_id: int | None = None  # a membership at this tier, now or before
    currency: str = ""  # gave in this currency
    first_gift_from: date | None = None  # first payment on or after this day (UTC)
    first_gift_to: date | None = None  # first payment on or before this day (UTC)
    source: str = ""  # gave through a checkout whose article URL contains this
    campaign: str = ""  # gave through a checkout with exactly this utm_campaign


@dataclass(frozen=True)
class SupporterRow:
    supporter: Supporter
    status: str
    first_gift_at: datetime | None


@dataclass(frozen=True)
class SupporterPage:
    rows: list[SupporterRow]
    next_after: int | None  # the cursor of the next page, None on the last one


def _contains(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with LIKE's own wildcards taken literally."""
    for char in (LIKE_ESCAPE, "%", "_"):
        text = text.replace(char, LIKE_ESCAPE + char)
    return f"%{text}%"


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def filter_conditions(filters: SupporterFilters, now: datetime, grace: timedelta,
                      after: int | None = None) -> list[ColumnElement[bool]]:
    """The filters as SQL conditions on `supporters`, each an EXISTS probe on an index led by its column.

    The page cursor `after` is repeated inside each EXISTS: PostgreSQL doesn't carry a range across a
    join, and without it a deep page would scan the related table from the top down to the cursor.
    """

    def exists(model: type[Membership] | type[Payment] | type[Checkout],
               *where: ColumnElement[bool]) -> ColumnElement[bool]:
        below = [model.supporter_id < after] if after is not None else []
        return select(model.id).where(model.supporter_id == Supporter.id, *below, *where).exists()

    conditions: list[ColumnElement[bool]] = []
    if filters.search:
        pattern = _contains(filters.search)
        conditions.append(or_(Supporter.email.ilike(pattern, escape=LIKE_ESCAPE),
                              Supporter.name.ilike(pattern, escape=LIKE_ESCAPE)))
    patron_now = exists(Membership, patron_condition(now, grace))
    if filters.status is PatronStatus.PATRON:
        conditions.append(patron_now)
    elif filters.status is PatronStatus.PAST_DUE:
        conditions.append(exists(Membership, Membership.status.in_(DUNNING_STATUSES)))
    elif filters.status is PatronStatus.CANCELLED:
        conditions += [exists(Membership, Membership.status == MembershipStatus.CANCELED), ~patron_now]
    elif filters.status is PatronStatus.NEVER:
        conditions.append(~exists(Membership))
    if filters.tier_id is not None:
        conditions.append(exists(Membership, Membership.tier_id == filters.tier_id))
    if filters.currency:
        conditions.append(exists(Payment, Payment.currency == filters.currency))
    if filters.first_gift_from or filters.first_gift_to:
        # The first gift falls in the range: none before it, at least one in it.
        in_range: list[ColumnElement[bool]] = []
        if filters.first_gift_from:
            conditions.append(~exists(Payment, Payment.paid_at < _start_of(filters.first_gift_from)))
            in_range.append(Payment.paid_at >= _start_of(filters.first_gift_from))
        if filters.first_gift_to:
            in_range.append(Payment.paid_at < _start_of(filters.first_gift_to) + timedelta(days=1))
        conditions.append(exists(Payment, *in_range))
    completed = Checkout.status == CheckoutStatus.COMPLETED
    if filters.source:
        conditions.append(exists(Checkout, completed,
                                 Checkout.source_url.ilike(_contains(filters.source), escape=LIKE_ESCAPE)))
    if filters.campaign:
        conditions.append(exists(Checkout, Checkout.utm_campaign == filters.campaign, completed))
    return conditions


def tier_choices(session: Session) -> list[tuple[int, str]]:
    """Every tier (hidden ones too: memberships stay at them), for the tier filter."""
    return [(tier_id, name) for tier_id, name in session.execute(
        select(Tier.id, Tier.name).order_by(Tier.position, Tier.id))]


def list_supporters(session: Session, filters: SupporterFilters, after: int | None, now: datetime,
                    grace: timedelta, page_size: int = PAGE_SIZE) -> SupporterPage:
    """One page of supporters matching `filters`, newest first, starting after the supporter id `after`."""
    query = (select(Supporter).where(*filter_conditions(filters, now, grace, after))
             .order_by(Supporter.id.desc()).limit(page_size + 1))
    if after is not None:
        query = query.where(Supporter.id < after)
    supporters = list(session.scalars(query))
    page, more = supporters[:page_size], len(supporters) > page_size
    ids = [supporter.id for supporter in page]
    labels = status_labels(session, ids, now, grace)
    firsts = first_gifts(session, ids)
    return SupporterPage(
        rows=[SupporterRow(supporter, labels[supporter.id], firsts.get(supporter.id)) for supporter in page],
        next_after=page[-1].id if more else None,
    )


def browse_supporters(session: Session, actor: StaffUser, filters: SupporterFilters, after: int | None,
                      now: datetime, grace: timedelta, ip: str = "") -> SupporterPage:
    """A page of the list, for a staff member to read: written to the audit log with the search and filters
    used and the ids of the supporters it showed (their emails and names are on the page, not in the log)."""
    page = list_supporters(session, filters, after, now, grace)
    used = {name: value.isoformat() if isinstance(value, date) else str(value)
            for name, value in vars(filters).items() if value not in (None, "")}
    record_audit(session, actor, "supporters.listed", ip=ip, filters=used, after=after,
                 shown=[row.supporter.id for row in page.rows])
    return page


def first_gifts(session: Session, supporter_ids: Sequence[int]) -> dict[int, datetime]:
    if not supporter_ids:
        return {}
    return {
        supporter_id: first
        for supporter_id, first in session.execute(
            select(Payment.supporter_id, func.min(Payment.paid_at))
            .where(Payment.supporter_id.in_(supporter_ids))
            .group_by(Payment.supporter_id)
        )
    }


def status_labels(session: Session, supporter_ids: Sequence[int], now: datetime, grace: timedelta) -> dict[int, str]:
    """Each supporter's patron status in words, as the filter defines the statuses."""

    def having(*conditions: ColumnElement[bool]) -> set[int]:
        if not supporter_ids:
            return set()
        return set(session.scalars(
            select(Membership.supporter_id).where(Membership.supporter_id.in_(supporter_ids), *conditions).distinct()
        ))

    patrons, failing = having(patron_condition(now, grace)), having(Membership.status.in_(DUNNING_STATUSES))
    cancelled, members = having(Membership.status == MembershipStatus.CANCELED), having()

    def label(supporter_id: int) -> str:
        if supporter_id in patrons:
            return "Patron, renewal failing" if supporter_id in failing else "Patron"
        if supporter_id in failing:
            return "Renewal failing"
        if supporter_id in cancelled:
            return "Cancelled"
        return "Not a patron" if supporter_id in members else "Never a patron"

    return {supporter_id: label(supporter_id) for supporter_id in supporter_ids}


# One supporter ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SupporterRecord:
    """Everything the staff page shows about one supporter."""

    supporter: Supporter
    status: str
    checkouts: list[Checkout]
    memberships: list[Membership]
    payments: list[Payment]
    refundable: dict[int, int]  # payment id → what is left to refund, minor units
    refunds: list[RefundRequest]
    consent_events: list[ConsentEvent]
    ballots: int  # how many ballots they took part in (never which way they voted)


def ballots_taken_part(session: Session, supporter_id: int) -> int:
    """How many ballots the supporter voted in, never which way."""
    return ballot_services.ballots_taken_part(session, supporter_id)


def accepted_refunds_minor(session: Session, payment_id: int) -> int:
    return int(session.scalar(
        select(func.coalesce(func.sum(RefundRequest.amount_minor), 0))
        .where(RefundRequest.payment_id == payment_id, RefundRequest.status == RefundStatus.ACCEPTED)
    ) or 0)


def refundable_minor(session: Session, payment: Payment) -> int:
    """What is left to refund: the amount less refunds Stripe reported or accepted from us (its webhook may
    not have arrived yet). Nothing for a disputed payment or one without a charge."""
    if payment.status is PaymentStatus.DISPUTED or not payment.stripe_charge_id:
        return 0
    refunded = max(payment.refunded_minor, accepted_refunds_minor(session, payment.id))
    return max(0, payment.amount_minor - refunded)


def supporter_record(session: Session, supporter_id: int, now: datetime, grace: timedelta) -> SupporterRecord | None:
    supporter = session.get(Supporter, supporter_id)
    if supporter is None:
        return None
    payments = list(session.scalars(
        select(Payment).where(Payment.supporter_id == supporter_id).order_by(Payment.paid_at.desc(), Payment.id.desc())
    ))
    return SupporterRecord(
        supporter=supporter,
        status=status_labels(session, [supporter_id], now, grace)[supporter_id],
        checkouts=list(session.scalars(
            select(Checkout).where(Checkout.supporter_id == supporter_id).order_by(Checkout.id.desc()))),
        memberships=list(session.scalars(
            select(Membership).where(Membership.supporter_id == supporter_id).order_by(Membership.id.desc()))),
        payments=payments,
        refundable={payment.id: refundable_minor(session, payment) for payment in payments},
        refunds=list(session.scalars(
            select(RefundRequest).join(Payment).where(Payment.supporter_id == supporter_id)
            .order_by(RefundRequest.id.desc()))),
        consent_events=list(supporter.consent_events),
        ballots=ballots_taken_part(session, supporter_id),
    )


def view_supporter(session: Session, actor: StaffUser, supporter_id: int, now: datetime, grace: timedelta,
                   ip: str = "") -> SupporterRecord | None:
    """The supporter's record, for a staff member to read. The reading is written to the audit log."""
    record = supporter_record(session, supporter_id, now, grace)
    if record is not None:
        record_audit(session, actor, "supporter.viewed", target_type="supporter", target_id=supporter_id, ip=ip)
    return record


# Refunds ------------------------------------------------------------------------------------------------


def refund_requests_count(session: Session, payment_id: int) -> int:
    return int(session.scalar(
        select(func.count()).select_from(RefundRequest).where(RefundRequest.payment_id == payment_id)) or 0)


def refund_payment(session: Session, gateway: StripeGateway, actor: StaffUser, payment: Payment, amount_minor: int,
                   reason: str, seen_requests: int, ip: str = "") -> RefundRequest:
    """Ask Stripe to refund `amount_minor` of the payment; its charge.refunded webhook then updates the payment.

    `seen_requests` is how many refund requests the payment had when the staff member reviewed this one:
    if another was made since (a second click, a colleague), nothing is sent. The request is recorded
    whatever Stripe answers, so a failed one stays visible and its idempotency key is never reused.
    """
    session.execute(select(Payment.id).where(Payment.id == payment.id).with_for_update())
    if refund_requests_count(session, payment.id) != seen_requests:
        raise ActionRefused("This payment was refunded again since you reviewed this refund. "
                            "Check what is left and try again.")
    left = refundable_minor(session, payment)
    if amount_minor > left:
        raise ActionRefused(f"Only {format_money(left, payment.currency)} is left to refund on this payment."
                            if left else "Nothing is left to refund on this payment.")
    assert payment.stripe_charge_id is not None  # refundable_minor is 0 without one
    request = RefundRequest(payment_id=payment.id, staff_user_id=actor.id, amount_minor=amount_minor, reason=reason)
    session.add(request)
    session.flush()
    details: dict[str, Any] = {"supporter_id": payment.supporter_id, "refund_request_id": request.id,
                               "amount_minor": amount_minor, "currency": payment.currency, "reason": reason}
    try:
        refund = gateway.create_refund(payment.stripe_charge_id, amount_minor, f"refund-{request.id}", reason,
                                       metadata={"refund_request_id": str(request.id), "payment_id": str(payment.id)})
    except (StripeUnavailable, StripeRejected) as exc:
        request.status, request.error = RefundStatus.FAILED, str(exc)[:1000]
        record_audit(session, actor, "payment.refund_failed", target_type="payment", target_id=payment.id, ip=ip,
                     **details)
        return request
    request.stripe_refund_id = str(refund["id"])
    request.status = RefundStatus.FAILED if refund.get("status") in ("failed", "canceled") else RefundStatus.ACCEPTED
    session.flush()
    record_audit(session, actor, "payment.refunded", target_type="payment", target_id=payment.id, ip=ip,
                 stripe_refund_id=request.stripe_refund_id, **details)
    return request


# Cancellations ------------------------------------------------------------------------------------------


def can_cancel_now(membership: Membership) -> bool:
    return membership.status not in ENDED_STATUSES


def can_cancel_at_period_end(membership: Membership) -> bool:
    return not membership.cancel_at_period_end and membership.status in (
        MembershipStatus.ACTIVE, MembershipStatus.TRIALING, MembershipStatus.PAST_DUE)


def _lock_supporter(session: Session, supporter_id: int) -> None:
    """Take the supporter's row lock before asking Stripe for a change, as the webhooks do before applying
    one: the webhook Stripe sends at once then waits for this transaction instead of deadlocking with it."""
    session.execute(select(Supporter.id).where(Supporter.id == supporter_id).with_for_update())


def _refresh_from_stripe(session: Session, gateway: StripeGateway, memberships: Sequence[Membership]) -> None:
    """Show Stripe's answer at once; if Stripe can't be asked now, its webhooks bring the same change later."""
    for membership in memberships:
        with contextlib.suppress(StripeUnavailable, StripeRejected):
            sync_membership(session, gateway, membership.stripe_subscription_id)


def cancel_membership(session: Session, gateway: StripeGateway, actor: StaffUser, membership: Membership, *,
                      at_period_end: bool, reason: str, comment: str = "", ip: str = "") -> None:
    """End a membership now, or at the end of its paid period, with the reason (Stripe's feedback code)."""
    _lock_supporter(session, membership.supporter_id)
    session.refresh(membership)  # as the last webhook left it
    comment = comment.strip()
    if at_period_end and not can_cancel_at_period_end(membership):
        raise ActionRefused("This membership can't be set to end at the end of its period: it has ended or "
                            "is already set to. It can still be ended now.")
    if not can_cancel_now(membership):
        raise ActionRefused("This membership has already ended.")
    try:
        if at_period_end:
            change = MembershipChange(membership_id=membership.id, kind=ChangeKind.CANCEL, reason=reason,
                                      comment=comment, requested_by="staff")
            session.add(change)
            session.flush()
            gateway.set_cancel_at_period_end(membership.stripe_subscription_id, True,
                                             f"membership-change-{change.id}", feedback=reason, comment=comment)
        else:
            gateway.cancel_subscription_now(membership.stripe_subscription_id, feedback=reason, comment=comment)
    except (StripeUnavailable, StripeRejected) as exc:
        raise StripeActionFailed(str(exc)) from exc
    membership.cancel_reason, membership.cancel_comment = reason, comment
    session.flush()
    record_audit(session, actor, "membership.cancelled", target_type="membership", target_id=membership.id, ip=ip,
                 supporter_id=membership.supporter_id, when="period_end" if at_period_end else "now", reason=reason)
    _refresh_from_stripe(session, gateway, [membership])


# Export -------------------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def export_supporter(session: Session, actor: StaffUser, supporter_id: int, now: datetime, grace: timedelta,
                     ip: str = "") -> dict[str, Any] | None:
    """Everything we hold about a supporter, as JSON-ready data (a subject access request). Audited."""
    record = supporter_record(session, supporter_id, now, grace)
    if record is None:
        return None
    s = record.supporter
    emails = session.scalars(select(OutboundEmail).where(OutboundEmail.supporter_id == supporter_id)
                             .order_by(OutboundEmail.id))
    suggestions = session.scalars(select(TopicSuggestion).where(TopicSuggestion.supporter_id == supporter_id)
                                  .order_by(TopicSuggestion.id))
    data: dict[str, Any] = {
        "exported_at": now.isoformat(),
        "supporter": {"id": s.id, "email": s.email, "name": s.name, "created_at": _iso(s.created_at),
                      "email_consent": s.email_consent, "email_consent_at": _iso(s.email_consent_at),
                      "stripe_customer_id": s.stripe_customer_id, "erased_at": _iso(s.erased_at),
                      "patron_status": record.status},
        "consent_history": [{"consented": e.consented, "source": e.source, "note": e.note,
                             "at": _iso(e.created_at)} for e in record.consent_events],
        "gifts": [{"id": c.id, "frequency": c.frequency.value, "amount_minor": c.amount_minor,
                   "fee_cover_minor": c.fee_cover_minor, "currency": c.currency, "status": c.status.value,
                   "message": c.message, "anonymous": c.anonymous, "source_url": c.source_url,
                   "utm_source": c.utm_source, "utm_medium": c.utm_medium, "utm_campaign": c.utm_campaign,
                   "utm_term": c.utm_term, "utm_content": c.utm_content, "created_at": _iso(c.created_at),
                   "completed_at": _iso(c.completed_at)} for c in record.checkouts],
        "memberships": [{"id": m.id, "status": m.status.value, "amount_minor": m.amount_minor,
                         "currency": m.currency, "interval": m.interval, "tier": m.tier.name if m.tier else None,
                         "started_at": _iso(m.started_at), "current_period_end": _iso(m.current_period_end),
                         "cancel_at_period_end": m.cancel_at_period_end, "canceled_at": _iso(m.canceled_at),
                         "ended_at": _iso(m.ended_at), "cancel_reason": m.cancel_reason,
                         "cancel_comment": m.cancel_comment, "card_brand": m.card_brand, "card_last4": m.card_last4,
                         "stripe_subscription_id": m.stripe_subscription_id} for m in record.memberships],
        "payments": [{"id": p.id, "kind": p.kind.value, "amount_minor": p.amount_minor, "fee_minor": p.fee_minor,
                      "net_minor": p.net_minor, "currency": p.currency,
                      "settlement_currency": p.settlement_currency, "status": p.status.value,
                      "refunded_minor": p.refunded_minor, "paid_at": _iso(p.paid_at),
                      "stripe_payment_intent_id": p.stripe_payment_intent_id,
                      "stripe_charge_id": p.stripe_charge_id, "stripe_invoice_id": p.stripe_invoice_id}
                     for p in record.payments],
        "refunds": [{"payment_id": r.payment_id, "amount_minor": r.amount_minor, "status": r.status.value,
                     "stripe_refund_id": r.stripe_refund_id, "at": _iso(r.created_at)} for r in record.refunds],
        "emails": [{"message": e.message, "to": e.to_address, "subject": e.subject, "status": e.status,
                    "created_at": _iso(e.created_at), "sent_at": _iso(e.sent_at)} for e in emails],
        "topic_suggestions": [{"text": t.text, "status": t.status.value, "created_at": _iso(t.created_at),
                               "reviewed_at": _iso(t.reviewed_at)} for t in suggestions],
        "ballots_taken_part": record.ballots,
    }
    record_audit(session, actor, "supporter.exported", target_type="supporter", target_id=supporter_id, ip=ip)
    return data


# Erasure ------------------------------------------------------------------------------------------------


def _unless_gone(call: Callable[[], object]) -> bool:
    """Make a Stripe call whose object may already be gone (a retried erasure). True if it did something."""
    try:
        call()
    except StripeRejected as exc:
        if exc.code != "resource_missing":
            raise
        return False
    return True


def _redact_stripe_events(session: Session, needles: Sequence[str]) -> int:
    """Blank the personal details in stored webhook events that mention the supporter. A rare, full scan.

    Events are stored redacted (`giving.events.store_event`); this catches any stored before that was so."""
    redacted = 0
    for needle in needles:
        for event in session.scalars(
            select(StripeEvent).where(cast(StripeEvent.payload, Text).contains(needle, autoescape=True))
        ):
            event.payload = redact(event.payload)
            redacted += 1
    return redacted


def _blank_personal_data(session: Session, supporter: Supporter) -> tuple[int, int]:
    """Blank everything here that identifies the supporter. Returns how many emails to them, and how many of
    their topic suggestions, were deleted.

    Suggestions are their own words and may name them; those an editor accepted became a ballot option, the
    newsroom's text now, and stay. Their votes stay too, tied to the anonymous row, so that a ballot's
    published tally doesn't change.
    """
    sid, email = supporter.id, supporter.email
    session.execute(update(Checkout).where(Checkout.supporter_id == sid).values(message=""))
    session.execute(update(ConsentEvent).where(ConsentEvent.supporter_id == sid).values(note=""))
    session.execute(update(Membership).where(Membership.supporter_id == sid)
                    .values(cancel_comment="", card_brand="", card_last4=""))
    memberships = select(Membership.id).where(Membership.supporter_id == sid)
    session.execute(update(MembershipChange).where(MembershipChange.membership_id.in_(memberships)).values(comment=""))
    sent_to = OutboundEmail.supporter_id == sid
    emails = session.execute(delete(OutboundEmail).where(or_(sent_to, OutboundEmail.to_address == email)
                                                         if email else sent_to))
    session.execute(delete(SignInToken).where(SignInToken.supporter_id == sid))
    suggestions = session.execute(delete(TopicSuggestion).where(TopicSuggestion.supporter_id == sid,
                                                                TopicSuggestion.status != SuggestionStatus.ACCEPTED))
    supporter.email, supporter.name, supporter.email_consent = None, "", False
    return rows_affected(emails), rows_affected(suggestions)


def erase_supporter(session: Session, gateway: StripeGateway, actor: StaffUser, supporter: Supporter,
                    ip: str = "") -> None:
    """Erase a supporter at their request: end their memberships and delete their Stripe customer, then blank
    their personal data here. Money rows stay, still linked to the (now anonymous) supporter, for the accounts.

    Stripe goes first: if it fails, StripeActionFailed is raised and nothing here has changed.
    """
    # Stored events first, before the supporter's lock: a webhook being processed holds its event's row
    # and waits for that lock, so taking them the other way round could deadlock.
    events_redacted = _redact_stripe_events(session, [n for n in (supporter.email, supporter.stripe_customer_id)
                                                      if n])
    _lock_supporter(session, supporter.id)
    session.refresh(supporter)
    if supporter.erased_at is not None:
        raise ActionRefused("This supporter's personal data was already erased.")
    running = [m for m in session.scalars(select(Membership).where(Membership.supporter_id == supporter.id))
               if can_cancel_now(m)]
    try:
        for membership in running:
            _unless_gone(partial(gateway.cancel_subscription_now, membership.stripe_subscription_id,
                                 feedback="other", comment="The supporter's personal data was erased."))
        customer_deleted = bool(supporter.stripe_customer_id) and _unless_gone(
            partial(gateway.delete_customer, str(supporter.stripe_customer_id)))
    except (StripeUnavailable, StripeRejected) as exc:
        raise StripeActionFailed(str(exc)) from exc
    emails_deleted, suggestions_deleted = _blank_personal_data(session, supporter)
    supporter.erased_at = utcnow()
    end_sessions(session, supporter)  # signed out on every device, as by their own sign-out
    record_audit(session, actor, "supporter.erased", target_type="supporter", target_id=supporter.id, ip=ip,
                 memberships_cancelled=[m.id for m in running], stripe_customer_deleted=customer_deleted,
                 emails_deleted=emails_deleted, suggestions_deleted=suggestions_deleted,
                 stripe_events_redacted=events_redacted)
    _refresh_from_stripe(session, gateway, running)
