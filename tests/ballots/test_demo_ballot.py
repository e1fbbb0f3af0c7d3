"""`make run` (seed-demo --history, development only) seeds one open demo ballot, once."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from membership.ballots.models import Ballot, BallotPhase
from membership.db import db, utcnow
from membership.demo import DEMO_BALLOT_TITLE, seed_demo, seed_demo_ballot


def test_the_demo_ballot_is_seeded_open_and_once(app: Flask) -> None:
    assert seed_demo_ballot(db.session(), utcnow()) is True
    db.session.commit()
    assert seed_demo_ballot(db.session(), utcnow()) is False
    ballot = db.session.scalars(sa.select(Ballot)).one()
    assert ballot.title == DEMO_BALLOT_TITLE and ballot.phase(utcnow()) is BallotPhase.OPEN
    assert len(ballot.options) == 4 and not ballot.require_paid_before_open


def test_plain_seed_demo_adds_no_ballot(app: Flask) -> None:
    """Plain `seed-demo` works in production too: it must never publish a demo ballot to real patrons."""
    seed_demo(db.session())
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Ballot)) == 0
