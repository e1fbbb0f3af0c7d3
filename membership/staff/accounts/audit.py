"""The audit log: every staff section appends to it with `record_audit`; admins read it a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from membership.i18n import lazy_gettext
from membership.staff.accounts.models import AuditEntry, StaffUser

PAGE_SIZE = 50
# What each action means, in staff words; the log keeps the action's code, which the filter matches.
ACTION_DESCRIPTIONS = {
    "ballot.created": lazy_gettext("Ballot drafted"),
    "ballot.updated": lazy_gettext("Ballot changed"),
    "ballot.published": lazy_gettext("Ballot published"),
    "ballot.option_commissioned": lazy_gettext("Article attached to a topic; its voters emailed"),
    "export.supporters": lazy_gettext("Supporters exported"),
    "export.payments": lazy_gettext("Payments exported"),
    "export.memberships": lazy_gettext("Memberships exported"),
    "export.ballot_results": lazy_gettext("Ballot results downloaded"),
    "export.downloaded": lazy_gettext("Queued export downloaded"),
    "limits.changed": lazy_gettext("Amount limits changed"),
    "presets.changed": lazy_gettext("Preset amounts changed"),
    "tiers.changed": lazy_gettext("Tier changed"),
    "settings.changed": lazy_gettext("Setting changed"),
    "membership.cancelled": lazy_gettext("Membership cancelled by staff"),
    "payment.refunded": lazy_gettext("Payment refunded"),
    "payment.refund_failed": lazy_gettext("Refund failed"),
    "staff.created": lazy_gettext("Staff member added"),
    "staff.updated": lazy_gettext("Staff member's role or access changed"),
    "staff.password_changed": lazy_gettext("Password changed"),
    "staff.password_reset": lazy_gettext("Password reset by an admin"),
    "staff.recovery_code_used": lazy_gettext("Signed in with a recovery code"),
    "staff.recovery_codes_generated": lazy_gettext("New recovery codes generated"),
    "staff.sign_in_failed": lazy_gettext("Failed sign-in"),
    "staff.signed_in": lazy_gettext("Signed in"),
    "staff.signed_out": lazy_gettext("Signed out on every device"),
    "staff.two_factor_enabled": lazy_gettext("Two-factor sign-in turned on"),
    "staff.two_factor_disabled": lazy_gettext("Two-factor sign-in turned off"),
    "staff.two_factor_replaced": lazy_gettext("Moved to a new authenticator app"),
    "staff.two_factor_reset": lazy_gettext("Two-factor sign-in reset by an admin"),
    "suggestion.accepted": lazy_gettext("Topic suggestion accepted"),
    "suggestion.declined": lazy_gettext("Topic suggestion declined"),
    "supporter.erased": lazy_gettext("Supporter's personal data erased"),
    "supporter.exported": lazy_gettext("Supporter's personal data exported"),
    "supporter.viewed": lazy_gettext("Supporter viewed"),
    "supporters.listed": lazy_gettext("Supporters searched"),
    "wall.pending": lazy_gettext("Wall entry put back for review"),
    "wall.approved": lazy_gettext("Wall message approved"),
    "wall.hidden": lazy_gettext("Wall entry hidden"),
}


def record_audit(session: Session, actor: StaffUser | None, action: str, *, target_type: str = "",
                 target_id: str | int = "", ip: str = "", actor_label: str = "", **details: Any) -> AuditEntry:
    """Append one line to the audit log. Details hold ids and counts, never a supporter's personal data."""
    entry = AuditEntry(
        staff_user_id=actor.id if actor else None,
        actor=actor.label if actor else (actor_label or "system"),
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        details=details,
        ip_address=ip[:64],
    )
    session.add(entry)
    session.flush()
    return entry


def audit_action(action: str) -> str:
    """What `action` means, in the page's language ('' for an action this list doesn't know)."""
    description = ACTION_DESCRIPTIONS.get(action)
    return str(description) if description is not None else ""


@dataclass(frozen=True)
class AuditFilter:
    """What the audit log page is narrowed to: an action prefix, part of who, and UTC days (both included)."""

    action: str = ""
    actor: str = ""
    date_from: date | None = None
    date_to: date | None = None


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    next_before: int | None  # the `before` of the next (older) page, if there is one


def audit_page(session: Session, filters: AuditFilter, before: int | None = None,
               size: int = PAGE_SIZE) -> AuditPage:
    """The newest `size` entries matching `filters` (older than entry `before`, if given), newest first."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(size + 1)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    if filters.action:
        query = query.where(AuditEntry.action.startswith(filters.action.strip()))
    if filters.actor:
        query = query.where(AuditEntry.actor.icontains(filters.actor.strip()))
    if filters.date_from:
        query = query.where(AuditEntry.created_at >= datetime.combine(filters.date_from, time.min, UTC))
    if filters.date_to:
        query = query.where(
            AuditEntry.created_at < datetime.combine(filters.date_to, time.min, UTC) + timedelta(days=1))
    entries = list(session.scalars(query))
    next_before = entries[size - 1].id if len(entries) > size else None
    return AuditPage(entries[:size], next_before)
