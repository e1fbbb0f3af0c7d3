"""A supporter's personal data: everything we hold as one export (a subject access request), and its erasure.

Both are written to the audit log with ids and counts only. Services flush, never commit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from membership.ballots.models import SuggestionStatus, TopicSuggestion
from membership.db import rows_affected, utcnow
from membership.email import OutboundEmail
from membership.giving.events import redact
from membership.giving.models import Checkout, Membership
from membership.giving.stored_events import events_naming
from membership.giving.stripe_gateway import StripeGateway, StripeRejected, StripeUnavailable
from membership.i18n import gettext as _
from membership.patrons.models import MembershipChange
from membership.staff.accounts.audit import record_audit
from membership.staff.accounts.models import StaffUser
from membership.staff.supporters.actions import (
    ActionRefused,
    StripeActionFailed,
    can_cancel_now,
    lock_supporter,
    refresh_from_stripe,
)
from membership.staff.supporters.services import supporter_record
from membership.supporters.models import ConsentEvent, Supporter
from membership.supporters.services import end_sessions
from membership.supporters.tokens import SignInToken
from membership.webhooks_out import EventType, emit, forget_email

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


def _redact_stripe_events(session: Session, supporter: Supporter) -> int:
    """Blank the personal details in stored webhook events that name the supporter, found by index (their
    Stripe customer id, the digest of their address), and forget the digest.

    Events are stored trimmed (`giving.events.pipeline.store_event`); this catches any stored before that was so."""
    events = events_naming(session, supporter.stripe_customer_id, supporter.email)
    for event in events:
        event.payload = redact(event.payload)
        event.email_hash = None
    return len(events)


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
    events_redacted = _redact_stripe_events(session, supporter)
    lock_supporter(session, supporter.id)
    session.refresh(supporter)
    if supporter.erased_at is not None:
        raise ActionRefused(_("This supporter's personal data was already erased."))
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
    # The newsroom's tools (a CRM, a newsletter) must forget them too: by id, the address being gone here.
    forget_email(session, supporter.id)
    emit(session, EventType.SUPPORTER_ERASED, {"supporter_id": supporter.id,
                                               "erased_at": supporter.erased_at.isoformat().replace("+00:00", "Z")})
    end_sessions(session, supporter)  # signed out on every device, as by their own sign-out
    record_audit(session, actor, "supporter.erased", target_type="supporter", target_id=supporter.id, ip=ip,
                 memberships_cancelled=[m.id for m in running], stripe_customer_deleted=customer_deleted,
                 emails_deleted=emails_deleted, suggestions_deleted=suggestions_deleted,
                 stripe_events_redacted=events_redacted)
    refresh_from_stripe(session, gateway, running)
