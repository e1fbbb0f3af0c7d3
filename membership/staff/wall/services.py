"""Moderating the supporter wall: what waits for review, what is on the wall, approving and hiding."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from membership.giving.models import Checkout, WallStatus
from membership.staff.accounts.audit import record_audit
from membership.staff.accounts.models import StaffUser
from membership.supporters.models import Supporter
from membership.wall.services import WallEntry, entry_of, on_wall

LISTED = 100


def _entries(session: Session, *conditions: ColumnElement[bool], oldest_first: bool = False, page: int = 1,
             limit: int = LISTED) -> list[WallEntry]:
    """Page `page` (from 1) of `limit` entries."""
    order = Checkout.completed_at.asc() if oldest_first else Checkout.completed_at.desc()
    rows = session.execute(select(Checkout, Supporter.name).join(Supporter, Supporter.id == Checkout.supporter_id)
                           .where(*conditions).order_by(order, Checkout.id)
                           .offset((max(page, 1) - 1) * LISTED).limit(limit)).all()
    return [entry_of(checkout, name, show_message=True) for checkout, name in rows]


def _awaiting() -> list[ColumnElement[bool]]:
    return [on_wall(), Checkout.wall_status == WallStatus.PENDING, Checkout.message != ""]


def awaiting_review(session: Session, page: int = 1, limit: int = LISTED) -> list[WallEntry]:
    """Messages on the wall's entries that no editor has approved yet, oldest first (a page of them)."""
    return _entries(session, *_awaiting(), oldest_first=True, page=page, limit=limit)


def count_awaiting_review(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Checkout)
                              .join(Supporter, Supporter.id == Checkout.supporter_id).where(*_awaiting())) or 0)


def on_the_wall(session: Session, page: int = 1, limit: int = LISTED) -> list[WallEntry]:
    """The newest entries the wall may show (messages included, whatever their review), for hiding."""
    return _entries(session, on_wall(), page=page, limit=limit)


def hidden(session: Session, page: int = 1, limit: int = LISTED) -> list[WallEntry]:
    """Entries an editor took off the wall, newest first, to put back."""
    return _entries(session, on_wall(include_hidden=True), Checkout.wall_status == WallStatus.HIDDEN, page=page,
                    limit=limit)


def moderate(session: Session, actor: StaffUser, checkout_id: int, status: WallStatus, now: datetime,
             ip: str = "") -> bool | None:
    """Approve an entry (its message goes up; a hidden entry comes back) or hide it. None if there is no such
    entry on the wall (unknown, anonymous, erased, refunded…), False if it already had that status."""
    checkout = session.scalar(
        select(Checkout).join(Supporter, Supporter.id == Checkout.supporter_id)
        .where(Checkout.id == checkout_id, on_wall(include_hidden=True)).with_for_update(of=Checkout)
    )
    if checkout is None:
        return None
    if checkout.wall_status is status:
        return False
    checkout.wall_status, checkout.wall_reviewed_at = status, now
    session.flush()
    record_audit(session, actor, f"wall.{status.value}", target_type="checkout", target_id=checkout.id, ip=ip)
    return True
