"""Patron rules: who counts as a patron. One definition, used by the account page, ballots and reports."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from membership.db import utcnow
from membership.giving.models import Membership, MembershipStatus
from membership.patrons.models import SignInToken, TokenPurpose
from membership.supporters.models import Supporter


def patron_condition(now: datetime, grace: timedelta) -> ColumnElement[bool]:
    """SQL for "this membership makes its supporter a patron at `now`".

    - active or trialing (a membership cancelled at period end stays active at Stripe until then, and
      counts until its period ends even if that webhook is late);
    - past_due, but for less than the grace period.
    """
    current = or_(
        Membership.cancel_at_period_end.is_(False),
        Membership.current_period_end.is_(None),
        Membership.current_period_end > now,
    )
    return or_(
        and_(Membership.status.in_([MembershipStatus.ACTIVE, MembershipStatus.TRIALING]), current),
        and_(Membership.status == MembershipStatus.PAST_DUE, Membership.past_due_since > now - grace),
    )


def patron_membership(session: Session, supporter_id: int, grace: timedelta,
                      now: datetime | None = None) -> Membership | None:
    """The membership that makes this supporter a patron now (the newest, if several), or None."""
    return session.scalar(
        select(Membership)
        .where(Membership.supporter_id == supporter_id, patron_condition(now or utcnow(), grace))
        .order_by(Membership.id.desc())
        .limit(1)
    )


def is_patron(session: Session, supporter_id: int, grace: timedelta, now: datetime | None = None) -> bool:
    return patron_membership(session, supporter_id, grace, now) is not None


# Emailed links -------------------------------------------------------------------------------------


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
        raise InvalidLink("This link is not valid. Please ask for a new one.")
    row = session.scalar(
        select(SignInToken).where(SignInToken.token_hash == _token_hash(token), SignInToken.purpose == purpose)
    )
    if row is None:
        raise InvalidLink("This link is not valid. It may have been copied incompletely; please ask for a new one.")
    if row.used_at is not None:
        raise InvalidLink("This link has already been used. Each link works once; please ask for a new one.")
    if row.expires_at <= utcnow():
        raise InvalidLink("This link has expired. Links work for a short time only; please ask for a new one.")
    if row.supporter.erased_at is not None or not row.supporter.email:
        raise InvalidLink("This link belongs to an account that no longer exists.")
    return row


def use_token(session: Session, token: str, purpose: TokenPurpose) -> Supporter:
    """Use the token up (once, even under concurrent requests) and return its supporter."""
    row = check_token(session, token, purpose)
    used = session.execute(
        update(SignInToken)
        .where(SignInToken.id == row.id, SignInToken.used_at.is_(None))
        .values(used_at=utcnow())
    )
    if getattr(used, "rowcount", 0) != 1:
        raise InvalidLink("This link has already been used. Each link works once; please ask for a new one.")
    return row.supporter
