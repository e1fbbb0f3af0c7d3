"""Concurrency on PostgreSQL: votes arriving at once, each in its own transaction on its own connection.

SQLite serialises every writer, so there is nothing to race there: these tests are skipped on SQLite and
run by `make test-postgres`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy.orm import Session

from membership.ballots import services
from membership.ballots.models import Ballot, TopicSuggestion, Vote, VoteChoice, VotingMethod
from membership.db import db, utcnow
from membership.patrons.auth import EPOCH_KEY, SESSION_KEY, SIGNED_IN_AT_KEY
from tests.support.ballots import add_ballot, add_patron, option_ids, votes
from tests.support.helpers import CSRF_RE, all_at_once, count
from tests.support.servers import LiveServer

GRACE = timedelta(days=7)
CONNECTIONS = 40
pytestmark = pytest.mark.postgres_only


@pytest.fixture(autouse=True)
def postgres_only(app: Flask) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent voting is tested on PostgreSQL only (SQLite serialises writers): "
                    "run with TEST_DATABASE_URL=postgresql://… (make test-postgres)")





@pytest.fixture
def in_own_session(app: Flask) -> Iterator[Callable[[Callable[[Session], object]], object]]:
    """Run work in a session and transaction of its own, on a connection of its own, then commit.

    At most CONNECTIONS transactions run at once (PostgreSQL's default max_connections is 100, shared with
    other test runs); the other threads wait for a connection, as requests wait for a pooled one.
    """
    engine = sa.create_engine(db.engine.url, pool_size=CONNECTIONS, max_overflow=0, pool_timeout=120)

    def run(work: Callable[[Session], object]) -> object:
        with app.app_context(), Session(engine) as session:
            result = work(session)
            session.commit()
            return result

    yield run
    engine.dispose()


Runner = Callable[[Callable[[Session], object]], object]


def test_the_same_patron_submitting_50_times_at_once_has_one_vote(in_own_session: Runner) -> None:
    ballot_id, patron_id = add_ballot(5, method=VotingMethod.APPROVAL, max_choices=2).id, add_patron().id
    ids = option_ids(db.session.get_one(Ballot, ballot_id))

    def vote(i: int) -> object:
        picks = [ids[i % 5], ids[(i + 1) % 5]]
        return in_own_session(lambda s: services.cast_vote(s, ballot_id, patron_id, picks, utcnow(), GRACE))

    outcomes = all_at_once(50, vote)
    assert [o for o in outcomes if isinstance(o, Exception)] == []
    [(voted_in, supporter_id, chosen)] = votes()
    assert (voted_in, supporter_id, len(chosen)) == (ballot_id, patron_id, 2)  # one submission's choices, whole
    assert count(VoteChoice) == 2


def test_200_patrons_at_once_are_200_votes_and_the_tally_adds_up(in_own_session: Runner) -> None:
    ballot = add_ballot(4)
    ballot_id, ids = ballot.id, option_ids(ballot)
    patrons = [add_patron(f"crowd{n}@example.org").id for n in range(200)]

    def vote(i: int) -> object:
        return in_own_session(lambda s: services.cast_vote(s, ballot_id, patrons[i], [ids[i % 4]], utcnow(), GRACE))

    outcomes = all_at_once(200, vote)
    assert [o for o in outcomes if isinstance(o, Exception)] == []
    assert count(Vote) == 200
    db.session.expire_all()
    fresh = db.session.get(Ballot, ballot_id)
    assert fresh is not None
    result = services.tally(db.session(), fresh, utcnow(), GRACE)
    assert [r.voters for r in result.options] == [50, 50, 50, 50]
    assert sum(r.voters for r in result.options) == result.voters == 200
    assert result.eligible == 200 and result.turnout == 1.0


def test_suggestions_at_once_still_stop_at_three(in_own_session: Runner) -> None:
    patron_id = add_patron().id

    def suggest(i: int) -> object:
        return in_own_session(lambda s: services.suggest_topic(s, patron_id, f"Topic {i}", utcnow(), GRACE))

    outcomes = all_at_once(10, suggest)
    assert sum(isinstance(o, services.TooManySuggestions) for o in outcomes) == 7
    assert count(TopicSuggestion) == 3


def test_over_http_the_same_patron_50_times_at_once(app: Flask, live_app: LiveServer) -> None:
    """The same, through the live app: 50 POSTs with one patron's session cookie, sent together."""
    ballot = add_ballot(3)
    patron = add_patron()
    assert isinstance(app.session_interface, SecureCookieSessionInterface)
    serializer = app.session_interface.get_signing_serializer(app)
    assert serializer is not None
    cookie = serializer.dumps(
        {SESSION_KEY: patron.id, SIGNED_IN_AT_KEY: int(utcnow().timestamp()), EPOCH_KEY: patron.session_epoch,
         "_permanent": True})
    http = requests.Session()
    http.cookies.set(app.config["SESSION_COOKIE_NAME"], cookie)
    page = http.get(f"{live_app.url}/ballots/{ballot.id}", timeout=10)
    match = CSRF_RE.search(page.text)
    assert match is not None, page.text
    cookies = {name: value for name, value in http.cookies.get_dict().items() if value is not None}
    ballot_id, ids = ballot.id, option_ids(ballot)

    def post(i: int) -> object:
        response = requests.post(f"{live_app.url}/ballots/{ballot_id}/vote", cookies=cookies, timeout=30,
                                 allow_redirects=False, data={"choice": str(ids[i % 3]), "csrf_token": match.group(1)})
        return response.status_code

    assert all_at_once(50, post) == [303] * 50
    [(_, supporter_id, chosen)] = votes()
    assert supporter_id == patron.id and len(chosen) == 1
