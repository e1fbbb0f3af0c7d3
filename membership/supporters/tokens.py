"""Emailed single-use links: the sign-in link and the payment-failed email's link to fix the card.

Below both `giving` (whose payment-failed email carries a link) and `patrons` (who sign in with one).
Only the SHA-256 of a token is stored; the raw token goes in the email.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from membership.db import Base, UTCDateTime, enum_column, rows_affected, utcnow
from membership.i18n import gettext as _
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


class InvalidLink(ValueError):
    """An emailed link that can't be used; the message says why, for the reader."""


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, supporter: Supporter, purpose: TokenPurpose, lifetime: timedelta) -> str:
    """A new single-use link token for the supporter. Only its hash is stored; the raw token goes in the email."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(SignInToken(supporter_id=supporter.id, purpose=purpose, token_hash=_token_hash(token),
                            created_at=now, expires_at=now + lifetime))
    session.flush()
    return token


def check_token(session: Session, token: str, purpose: TokenPurpose) -> SignInToken:
    """The usable token row, without using it up (for the GET that shows the confirm button)."""
    if not token or len(token) > 100:
        raise InvalidLink(_("This link is not valid. Please ask for a new one."))
    row = session.scalar(
        select(SignInToken).where(SignInToken.token_hash == _token_hash(token), SignInToken.purpose == purpose)
    )
    if row is None:
        raise InvalidLink(_("This link is not valid. It may have been copied incompletely; please ask for a new one."))
    if row.used_at is not None:
        raise InvalidLink(_("This link has already been used. Each link works once; please ask for a new one."))
    if row.expires_at <= utcnow():
        raise InvalidLink(_("This link has expired. Links work for a short time only; please ask for a new one."))
    if row.supporter.erased_at is not None or not row.supporter.email:
        raise InvalidLink(_("This link belongs to an account that no longer exists."))
    return row


def use_token(session: Session, token: str, purpose: TokenPurpose) -> Supporter:
    """Use the token up (once, even under concurrent requests) and return its supporter."""
    row = check_token(session, token, purpose)
    used = session.execute(
        update(SignInToken)
        .where(SignInToken.id == row.id, SignInToken.used_at.is_(None))
        .values(used_at=utcnow())
    )
    if rows_affected(used) != 1:
        raise InvalidLink(_("This link has already been used. Each link works once; please ask for a new one."))
    return row.supporter
