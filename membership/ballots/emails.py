"""Ballot emails: "what your vote commissioned", to the patrons who chose a topic that became an article."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from membership.ballots.models import BallotOption, Vote, VoteChoice
from membership.email import queue_email
from membership.i18n import in_locale
from membership.supporters.models import Supporter


def send_commissioned_emails(session: Session, option: BallotOption, ballot_url: str) -> int:
    """Queue the email to every patron who chose `option` and still wants ballot emails. Returns how many.

    This is the one place that reads who chose an option, and only to address these emails: nothing of it
    is shown or logged. The messages go out with the periodic email job, so a popular topic's thousands
    of voters don't hold up the staff member's request. Each is written in its voter's language.
    """
    voters = session.scalars(
        select(Supporter)
        .join(Vote, Vote.supporter_id == Supporter.id)
        .join(VoteChoice, VoteChoice.vote_id == Vote.id)
        .where(VoteChoice.ballot_id == option.ballot_id, VoteChoice.option_id == option.id,
               Supporter.ballot_emails.is_(True), Supporter.erased_at.is_(None), Supporter.email.is_not(None))
        .order_by(Supporter.id)
    )
    queued = 0
    for supporter in voters:
        assert supporter.email is not None
        with in_locale(supporter.locale) as locale:
            queue_email(session, "ballot_commissioned", supporter.email, supporter_id=supporter.id, locale=locale,
                        send_after_commit=False, name=supporter.name, topic=option.title,
                        ballot_title=option.ballot.title, article_url=option.article_url, ballot_url=ballot_url)
        queued += 1
    return queued
