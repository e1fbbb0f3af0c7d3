"""Who is on the supporter wall, and what it shows of them. Staff moderation is in membership.staff.wall."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, func, select, tuple_, update
from sqlalchemy.orm import Session

from membership.giving.models import Checkout, CheckoutStatus, Frequency, Payment, PaymentStatus, WallStatus
from membership.i18n import gettext, lazy_gettext
from membership.supporters.models import Supporter

PAGE_SIZE = 50
RECENT = 6  # entries in the support page's "Recent supporters"
NAMELESS = lazy_gettext("A reader")


class BadCursor(ValueError):
    """A `?before=` that names no entry of the wall."""


@dataclass(frozen=True)
class WallEntry:
    checkout_id: int
    name: str
    frequency: Frequency
    at: datetime
    message: str  # empty unless it may be shown
    status: WallStatus

    @property
    def joined_as(self) -> str:
        if self.frequency is Frequency.MONTHLY:
            return str(gettext("became a monthly patron"))
        if self.frequency is Frequency.YEARLY:
            return str(gettext("became a yearly patron"))
        return str(gettext("gave once"))


@dataclass(frozen=True)
class WallPage:
    entries: list[WallEntry]
    next_cursor: int | None  # the `?before=` of the next (older) page


def on_wall(include_hidden: bool = False) -> ColumnElement[bool]:
    """A checkout the wall may show (the query joins its Supporter): paid, not anonymous, not hidden by an
    editor, its supporter not erased, and no payment of it refunded in full or disputed."""
    taken_back = exists().where(Payment.checkout_id == Checkout.id,
                                Payment.status.in_([PaymentStatus.REFUNDED, PaymentStatus.DISPUTED]))
    shown = [] if include_hidden else [Checkout.wall_status != WallStatus.HIDDEN]
    return and_(Checkout.status == CheckoutStatus.COMPLETED, Checkout.completed_at.is_not(None),
                Checkout.anonymous.is_(False), Supporter.erased_at.is_(None), ~taken_back, *shown)


def message_shown(review: bool) -> ColumnElement[bool]:
    """Whether an entry's message is public: approved, or (without review) anything not hidden."""
    if review:
        return Checkout.wall_status == WallStatus.APPROVED
    return Checkout.wall_status != WallStatus.HIDDEN


def entry_of(checkout: Checkout, name: str, show_message: bool) -> WallEntry:
    assert checkout.completed_at is not None
    return WallEntry(checkout_id=checkout.id, name=name.strip() or str(NAMELESS), frequency=checkout.frequency,
                     at=checkout.completed_at, message=checkout.message if show_message else "",
                     status=checkout.wall_status)


def wall_page(session: Session, review: bool, before: int | None = None, size: int = PAGE_SIZE) -> WallPage:
    """One page of the wall, newest first, starting after the entry `before` (keyset: no OFFSET scans).

    Raises BadCursor when `before` names no completed checkout."""
    query = (select(Checkout, Supporter.name, message_shown(review))
             .join(Supporter, Supporter.id == Checkout.supporter_id).where(on_wall()))
    if before is not None:
        cursor_at = session.scalar(select(Checkout.completed_at).where(
            Checkout.id == before, Checkout.status == CheckoutStatus.COMPLETED))
        if cursor_at is None:
            raise BadCursor("That page of the supporter wall doesn't exist.")
        query = query.where(tuple_(Checkout.completed_at, Checkout.id) < tuple_(cursor_at, before))
    rows = session.execute(query.order_by(Checkout.completed_at.desc(), Checkout.id.desc()).limit(size + 1)).all()
    entries = [entry_of(checkout, name, bool(shown)) for checkout, name, shown in rows[:size]]
    return WallPage(entries=entries, next_cursor=entries[-1].checkout_id if len(rows) > size else None)


def shown_on_wall(session: Session, supporter_id: int) -> bool | None:
    """Whether the supporter's name is on the wall (any of their paid checkouts not anonymous); None when they
    have no paid checkout, so there is nothing to show or hide."""
    choices = set(session.scalars(select(Checkout.anonymous).where(
        Checkout.supporter_id == supporter_id, Checkout.status == CheckoutStatus.COMPLETED)))
    return (False in choices) if choices else None


def set_shown_on_wall(session: Session, supporter_id: int, shown: bool) -> None:
    """The supporter's own choice, from their account: every checkout of theirs goes on or off the wall (an
    entry an editor hid stays hidden)."""
    session.execute(update(Checkout).where(Checkout.supporter_id == supporter_id).values(anonymous=not shown))


def supporters_count(session: Session) -> int:
    """Everyone who has ever given, anonymous or not: the wall's "N readers" (erased supporters still count)."""
    return int(session.scalar(select(func.count(func.distinct(Checkout.supporter_id)))
                              .where(Checkout.status == CheckoutStatus.COMPLETED)) or 0)
