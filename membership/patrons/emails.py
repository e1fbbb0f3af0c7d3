"""Patron emails: the sign-in link, and the January email with last year's statement."""

from __future__ import annotations

from sqlalchemy.orm import Session

from membership.email import queue_email
from membership.formatting import absolute_url
from membership.i18n import in_locale
from membership.supporters.models import Supporter


def send_sign_in_link(session: Session, supporter: Supporter, link: str, minutes: int) -> None:
    """Queue the sign-in link email, in the supporter's language; it is sent once the request commits."""
    assert supporter.email, "erased supporters get no email"
    queue_email(session, "sign_in_link", supporter.email, supporter_id=supporter.id, locale=supporter.locale,
                link=link, minutes=minutes, name=supporter.name)


def send_yearly_statement(session: Session, supporter: Supporter, year: int) -> None:
    """Queue the email that links the supporter's statement for `year`, written in their language."""
    assert supporter.email, "erased supporters get no email"
    with in_locale(supporter.locale):
        queue_email(session, "yearly_statement", supporter.email, supporter_id=supporter.id, year=year,
                    locale=supporter.locale,
                    name=supporter.name, statement_url=absolute_url(f"/account/statements/{year}"),
                    account_url=absolute_url("/account"))
