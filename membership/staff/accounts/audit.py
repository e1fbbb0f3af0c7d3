"""The audit log: every staff section appends to it with `record_audit`; admins read it a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from membership.staff.accounts.models import AuditEntry, StaffUser

PAGE_SIZE = 50


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
