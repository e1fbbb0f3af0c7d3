"""Patron emails: the sign-in link."""

from __future__ import annotations

from sqlalchemy.orm import Session

from membership.email import queue_email
from membership.supporters.models import Supporter


def send_sign_in_link(session: Session, supporter: Supporter, link: str, minutes: int) -> None:
    """Queue the sign-in link email, in the supporter's language; it is sent once the request commits."""
    assert supporter.email, "erased supporters get no email"
    queue_email(session, "sign_in_link", supporter.email, supporter_id=supporter.id, locale=supporter.locale,
                link=link, minutes=minutes, name=supporter.name)
