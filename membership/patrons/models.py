from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from membership.db import Base, UTCDateTime, utcnow
from membership.giving.models import Membership, enum_column
from membership.supporters.models import Supporter


class TokenPurpose(enum.StrEnum):
    SIGN_IN = "sign_in"  # the emailed sign-in link
    FIX_CARD = "fix_card"  # the payment-failed email's link straight to the Portal's card update


class SignInToken(Base):
    """A single-use emailed link. Only the SHA-256 of the token is stored."""

    __tablename__ = "sign_in_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    supporter_id: Mapped[int] = mapped_column(ForeignKey("supporters.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[TokenPurpose] = mapped_column(enum_column(TokenPurpose, "token_purpose"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    supporter: Mapped[Supporter] = relationship()


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
