"""Closed ballots, told to the newsroom's webhook endpoints once each (`ballot.closed`, from `jobs run`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from membership.ballots.models import Ballot
from membership.ballots.services import tally
from membership.db import rows_affected
from membership.webhooks_out import EventType, emit


def announce_closed_ballots(session: Session, now: datetime, grace: timedelta) -> int:
    """Emit `ballot.closed`, with the results, for each published ballot that has closed and wasn't announced.
    Each ballot is claimed with a conditional update, so two `jobs run` at once announce it once."""
    announced = 0
    due = session.scalars(select(Ballot).where(Ballot.closes_at <= now, Ballot.published_at.is_not(None),
                                               Ballot.closed_announced_at.is_(None)).order_by(Ballot.id))
    for ballot in list(due):
        claimed = session.execute(update(Ballot).where(Ballot.id == ballot.id, Ballot.closed_announced_at.is_(None))
                                  .values(closed_announced_at=now).execution_options(synchronize_session=False))
        if rows_affected(claimed) != 1:
            continue
        result = tally(session, ballot, now, grace)
        emit(session, EventType.BALLOT_CLOSED, {
            "ballot_id": ballot.id, "title": ballot.title,
            "closed_at": ballot.closes_at.isoformat().replace("+00:00", "Z"),
            "voters": result.voters, "eligible": result.eligible,
            "options": [{"option_id": option.option.id, "title": option.option.title, "voters": option.voters,
                         "weighted_votes": option.weighted, "share": round(option.share, 4)}
                        for option in result.options],
        })
        announced += 1
    return announced
