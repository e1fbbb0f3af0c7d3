"""Admin actions on a supporter's money: refunds and cancellations.

They reach Stripe through the gateway with idempotency keys from our own rows, and each is written to the
audit log with ids and amounts only, never personal data. Services flush, never commit.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from membership.formatting import format_money
from membership.giving.events import sync_membership
from membership.giving.models import Membership, MembershipStatus, Payment, RefundRequest, RefundStatus
from membership.giving.stripe_gateway import StripeGateway, StripeRejected, StripeUnavailable
from membership.i18n import gettext as _
from membership.patrons.models import ChangeKind, MembershipChange
from membership.patrons.services import ENDED_STATUSES
from membership.staff.accounts.audit import record_audit
from membership.staff.accounts.models import StaffUser
from membership.staff.supporters.services import refundable_minor
from membership.supporters.models import Supporter

log = logging.getLogger(__name__)


class ActionRefused(ValueError):
    """The action can't be done as asked; the message says why. Nothing was sent to Stripe."""


class StripeActionFailed(RuntimeError):
    """Stripe refused the action or couldn't be reached. The caller rolls back: nothing changed here."""


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
        raise ActionRefused(_("This payment was refunded again since you reviewed this refund. "
                              "Check what is left and try again."))
    left = refundable_minor(session, payment)
    if amount_minor > left:
        raise ActionRefused(_("Only %(amount)s is left to refund on this payment.",
                              amount=format_money(left, payment.currency))
                            if left else _("Nothing is left to refund on this payment."))
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
        log.warning("Refund %s of payment %s (%s %s) failed: Stripe answered %s", request.id, payment.id,
                    amount_minor, payment.currency, type(exc).__name__)
        record_audit(session, actor, "payment.refund_failed", target_type="payment", target_id=payment.id, ip=ip,
                     **details)
        return request
    request.stripe_refund_id = str(refund["id"])
    request.status = RefundStatus.FAILED if refund.get("status") in ("failed", "canceled") else RefundStatus.ACCEPTED
    session.flush()
    log.info("Refund %s of payment %s (%s %s) asked of Stripe by staff %s: %s", request.id, payment.id, amount_minor,
             payment.currency, actor.id, request.status.value)
    record_audit(session, actor, "payment.refunded", target_type="payment", target_id=payment.id, ip=ip,
                 stripe_refund_id=request.stripe_refund_id, **details)
    return request


# Cancellations ------------------------------------------------------------------------------------------


def can_cancel_now(membership: Membership) -> bool:
    return membership.status not in ENDED_STATUSES


def can_cancel_at_period_end(membership: Membership) -> bool:
    return not membership.cancel_at_period_end and membership.status in (
        MembershipStatus.ACTIVE, MembershipStatus.TRIALING, MembershipStatus.PAST_DUE)


def lock_supporter(session: Session, supporter_id: int) -> None:
    """Take the supporter's row lock before asking Stripe for a change, as the webhooks do before applying
    one: the webhook Stripe sends at once then waits for this transaction instead of deadlocking with it."""
    session.execute(select(Supporter.id).where(Supporter.id == supporter_id).with_for_update())


def refresh_from_stripe(session: Session, gateway: StripeGateway, memberships: Sequence[Membership]) -> None:
    """Show Stripe's answer at once; if Stripe can't be asked now, its webhooks bring the same change later."""
    for membership in memberships:
        with contextlib.suppress(StripeUnavailable, StripeRejected):
            sync_membership(session, gateway, membership.stripe_subscription_id)


def cancel_membership(session: Session, gateway: StripeGateway, actor: StaffUser, membership: Membership, *,
                      at_period_end: bool, reason: str, comment: str = "", ip: str = "") -> None:
    """End a membership now, or at the end of its paid period, with the reason (Stripe's feedback code)."""
    lock_supporter(session, membership.supporter_id)
    session.refresh(membership)  # as the last webhook left it
    comment = comment.strip()
    if at_period_end and not can_cancel_at_period_end(membership):
        raise ActionRefused(_("This membership can't be set to end at the end of its period: it has ended or "
                              "is already set to. It can still be ended now."))
    if not can_cancel_now(membership):
        raise ActionRefused(_("This membership has already ended."))
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
    refresh_from_stripe(session, gateway, [membership])
