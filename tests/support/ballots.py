"""Ballot test data: ballots, patrons whose membership payments date from a chosen moment, and votes."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from membership.ballots.models import Ballot, BallotOption, ResultsVisibility, Vote, VoteChoice, VotingMethod
from membership.db import db, utcnow
from membership.giving.models import Membership, MembershipStatus, PaymentKind
from membership.supporters.models import Supporter
from tests.support.helpers import csrf_token, text
from tests.support.patrons import add_membership, add_payment, add_supporter

DAY = timedelta(days=1)
_emails = itertools.count(1)


def add_ballot(options: int = 3, *, opens: timedelta = -DAY, closes: timedelta = 7 * DAY, published: bool = True,
               title: str = "What should we investigate next?", **values: Any) -> Ballot:
    """A ballot opening and closing relative to now (published unless told), with `options` topics."""
    now = utcnow()
    fields: dict[str, Any] = {
        "title": title, "introduction": "Choose the story our team takes on next.",
        "opens_at": now + opens, "closes_at": now + closes, "published_at": now - 2 * DAY if published else None,
        "method": VotingMethod.SINGLE, "max_choices": 1, "results_visibility": ResultsVisibility.AFTER_CLOSE,
        "tier_weights": {}, "min_monthly": {},
        **values,
    }
    ballot = Ballot(**fields, options=[BallotOption(title=f"Topic {n}", description=f"About topic {n}.", position=n)
                                       for n in range(1, options + 1)])
    db.session.add(ballot)
    db.session.commit()
    return ballot


def add_patron(email: str | None = None, *, paid_at: datetime | None = None, amount_minor: int = 500,
               currency: str = "EUR", interval: str = "month",
               status: MembershipStatus = MembershipStatus.ACTIVE, **membership: Any) -> Supporter:
    """A supporter with a membership whose first payment was `paid_at` (default: 60 days ago)."""
    supporter = add_supporter(email or f"patron{next(_emails)}@example.org", name="Pat")
    started = paid_at or utcnow() - 60 * DAY
    row = add_membership(supporter, status, amount_minor=amount_minor, currency=currency, interval=interval,
                         started_at=started, **membership)
    add_payment(supporter, amount_minor, started, currency=currency, kind=PaymentKind.MEMBERSHIP, membership=row)
    return supporter


def membership_of(supporter: Supporter) -> Membership:
    return db.session.scalars(sa.select(Membership).where(Membership.supporter_id == supporter.id)).one()


def post_vote(client: FlaskClient, ballot_id: int, choices: Sequence[int | str], *, token: str | None = None,
              with_csrf: bool = True) -> TestResponse:
    data: dict[str, Any] = {"choice": [str(c) for c in choices]}
    if with_csrf:
        data["csrf_token"] = token or csrf_token(client)
    return client.post(f"/ballots/{ballot_id}/vote", data=data)


def votes() -> list[tuple[int, int, list[int]]]:
    """(ballot id, supporter id, chosen option ids) of every vote, read fresh from the database."""
    db.session.rollback()
    rows = db.session.execute(sa.select(Vote.id, Vote.ballot_id, Vote.supporter_id).order_by(Vote.id)).all()
    return [(ballot_id, supporter_id, sorted(db.session.scalars(
        sa.select(VoteChoice.option_id).where(VoteChoice.vote_id == vote_id))))
        for vote_id, ballot_id, supporter_id in rows]


def option_ids(ballot: Ballot) -> list[int]:
    return [option.id for option in ballot.options]


def flat(response: TestResponse) -> str:
    """The page's HTML with entities decoded and every run of whitespace made one space."""
    return " ".join(text(response).split())


def close_ballot(ballot: Ballot, ago: timedelta = timedelta(seconds=1)) -> None:
    """Move the ballot's closing time into the past, as the clock would."""
    db.session.execute(sa.update(Ballot).where(Ballot.id == ballot.id).values(closes_at=utcnow() - ago))
    db.session.commit()
    db.session.expire_all()
