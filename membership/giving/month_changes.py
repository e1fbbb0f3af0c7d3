"""Which ended months had payments or completed checkouts written after they ended.

The staff dashboard keeps figures precomputed per month (`membership.staff.dashboard.rollups`) for months that
have ended. A refund, a dispute, a late webhook or an imported history can still change such a month: every write
to a payment, or to a completed checkout, of a month other than the current one adds one to that month's counter
here, in the same transaction as the write. A precomputed month remembers the counter it was computed at; when
the counter has moved on, the figures are computed again.

ORM writes are seen by a flush listener; a Core statement that writes payments or checkouts (`record_payment`'s
INSERT … ON CONFLICT) calls `note_changed_months` itself. Writes to the current month note nothing: every new
payment is one, and one counter row updated by every webhook would make them wait for each other. The dashboard
computes a month live until it has been over for a while (`rollups.CLOSED_AFTER`), so nothing written while the
month was current can be missed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from itertools import chain
from typing import Any

from sqlalchemy import Date, Integer, event, inspect
from sqlalchemy.orm import Mapped, Session, UOWTransaction, mapped_column

from membership.db import Base, dialect_insert, utcnow
from membership.giving.models import Checkout, CheckoutStatus, Payment


class ChangedMonth(Base):
    """How many writes have touched a month's payments or completed checkouts since it ended."""

    __tablename__ = "changed_months"

    month: Mapped[date] = mapped_column(Date, primary_key=True)  # the first day of the month (UTC)
    changes: Mapped[int] = mapped_column(Integer, default=0)


def month_of(moment: datetime) -> date:
    """The first day of the UTC month of `moment` (a naive one is taken as UTC)."""
    return (moment.astimezone(UTC) if moment.tzinfo else moment).date().replace(day=1)


def note_changed_months(session: Session, moments: Iterable[datetime | None], now: datetime) -> None:
    """Add one to the counter of every month of `moments` that is not `now`'s month (in UTC)."""
    current = month_of(now)
    months = sorted({month_of(moment) for moment in moments if moment is not None} - {current})
    if not months:
        return
    insert = dialect_insert(session)(ChangedMonth)
    statement = insert.values([{"month": month, "changes": 1} for month in months])
    statement = statement.on_conflict_do_update(index_elements=[ChangedMonth.month],
                                                set_={"changes": ChangedMonth.changes + 1})
    # The session's connection, not `session.execute`: this runs inside a flush, which must not flush again.
    session.connection().execute(statement)


# What the dashboard sums: a write that changes none of these leaves its month's figures as they were.
_PAYMENT_FIGURES = ("kind", "currency", "settlement_currency", "amount_minor", "fee_minor", "net_minor", "status",
                    "refunded_minor", "paid_at")
_CHECKOUT_FIGURES = ("status", "completed_at", "currency", "amount_minor", "fee_cover_minor", "source_url",
                     "utm_campaign")


def _moments(obj: Any, figures: tuple[str, ...], when: str, changed: bool) -> list[datetime]:
    """`when` before and after the flush, if the object is new or deleted (`changed`) or one of `figures` changed."""
    state = inspect(obj)
    if not changed and not any(state.attrs[name].history.has_changes() for name in figures):
        return []
    history = state.attrs[when].history
    return list(history.sum()) or [getattr(obj, when)]


def _checkout_counted(obj: Checkout) -> bool:
    """Whether the checkout was or is completed (only completed checkouts are conversions)."""
    history = inspect(obj).attrs["status"].history
    return CheckoutStatus.COMPLETED in (*history.sum(), obj.status)


@event.listens_for(Session, "after_flush")
def _note_flushed_changes(session: Session, _context: UOWTransaction) -> None:
    # After the flush the new, dirty and deleted sets and the attributes' history still show what it wrote.
    moments: list[datetime] = []
    for obj in chain(session.new, session.dirty, session.deleted):
        changed = obj not in session.dirty
        if isinstance(obj, Payment):
            moments += _moments(obj, _PAYMENT_FIGURES, "paid_at", changed)
        elif isinstance(obj, Checkout) and _checkout_counted(obj):
            moments += _moments(obj, _CHECKOUT_FIGURES, "completed_at", changed)
    if moments:
        note_changed_months(session, moments, utcnow())
