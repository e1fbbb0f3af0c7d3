from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from membership.db import Base, UTCDateTime, enum_column, utcnow
from membership.giving.models import Membership


class ChangeKind(enum.StrEnum):
    AMOUNT = "amount"
    CANCEL = "cancel"
    RESUME = "resume"


class MembershipChange(Base):
    """A change a patron (or staff) asked Stripe to make; its id keys the Stripe request's idempotency."""

    __tablename__ = "membership_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("memberships.id", ondelete="CASCADE"), index=True)
    kind: Mapped[ChangeKind] = mapped_column(enum_column(ChangeKind, "change_kind"))
    old_amount_minor: Mapped[int | None] = mapped_column(Integer)
    new_amount_minor: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(40), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(String(20), default="patron")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    membership: Mapped[Membership] = relationship()

    __table_args__ = (
        CheckConstraint("new_amount_minor IS NULL OR new_amount_minor > 0", name="new_amount_positive"),
    )


class StatementEmail(Base):
    """The January email with a supporter's statement for a year: one per supporter and year. The primary key is
    the claim, so two `jobs run` at once still send one."""

    __tablename__ = "statement_emails"

    supporter_id: Mapped[int] = mapped_column(ForeignKey("supporters.id", ondelete="CASCADE"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
