"""Voting: an eligible patron votes, sees it recorded and changes it; every bad submission is refused with
nothing recorded; the database keeps one vote per ballot and supporter; results and the tally."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from membership.ballots import services
from membership.ballots.models import Ballot, ResultsVisibility, Vote, VoteChoice, VotingMethod, Weighting
from membership.db import db, utcnow
from membership.giving.models import MembershipStatus, Tier
from tests.support.ballots import (
    DAY,
    add_ballot,
    add_patron,
    close_ballot,
    flat,
    membership_of,
    option_ids,
    post_vote,
    votes,
)
from tests.support.helpers import csrf_token, text
from tests.support.patrons import sign_in

GRACE = timedelta(days=7)


@pytest.fixture
def patron_client(client: FlaskClient) -> FlaskClient:
    sign_in(client, add_patron("olena@example.org"))
    return client


def test_patron_votes_sees_it_recorded_and_changes_it(patron_client: FlaskClient) -> None:
    ballot = add_ballot()
    first, second, _ = option_ids(ballot)
    page = patron_client.get(f"/ballots/{ballot.id}")
    body = text(page)
    assert page.status_code == 200
    assert "Choose one topic. One patron, one vote." in body
    assert f'type="radio" name="choice" value="{first}"' in body
    assert "Record my vote" in body and "Your vote is recorded" not in body

    response = post_vote(patron_client, ballot.id, [first])
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/ballots/{ballot.id}#your-vote")
    body = flat(patron_client.get(f"/ballots/{ballot.id}"))
    assert "Thank you for voting." in body
    assert "<strong>Your vote is recorded</strong>: you chose “Topic 1”. You can change it until" in body
    assert "Change my vote" in body
    assert f'value="{first}" id="choice-{first}" checked' in body
    [(ballot_id, _, chosen)] = votes()
    assert (ballot_id, chosen) == (ballot.id, [first])

    assert post_vote(patron_client, ballot.id, [second]).status_code == 303
    assert [chosen for _, _, chosen in votes()] == [[second]]
    assert "you chose “Topic 2”" in flat(patron_client.get(f"/ballots/{ballot.id}"))


def test_approval_takes_up_to_n_choices(patron_client: FlaskClient) -> None:
    ballot = add_ballot(4, method=VotingMethod.APPROVAL, max_choices=2)
    ids = option_ids(ballot)
    body = text(patron_client.get(f"/ballots/{ballot.id}"))
    assert "Approve up to 2 topics; each approval counts once." in body and 'type="checkbox" name="choice"' in body
    assert post_vote(patron_client, ballot.id, [ids[3], ids[1]]).status_code == 303
    assert [chosen for _, _, chosen in votes()] == [sorted([ids[3], ids[1]])]


# Bad input: each answers 400 (or the sign-in page) and records nothing --------------------------------


def _refused(response: TestResponse, message: str) -> None:
    assert response.status_code == 400
    assert message in text(response)
    assert votes() == []


def test_an_option_of_another_ballot_is_refused(patron_client: FlaskClient) -> None:
    ballot, other = add_ballot(), add_ballot(title="Another ballot")
    _refused(post_vote(patron_client, ballot.id, [option_ids(other)[0]]), "That topic isn't part of this ballot.")


def test_an_option_that_does_not_exist_is_refused(patron_client: FlaskClient) -> None:
    ballot = add_ballot()
    _refused(post_vote(patron_client, ballot.id, [999_999]), "That topic isn't part of this ballot.")


def test_a_choice_that_is_not_a_number_is_refused(patron_client: FlaskClient) -> None:
    ballot = add_ballot()
    _refused(post_vote(patron_client, ballot.id, ["first"]), "Choose from the topics listed. Nothing was recorded.")


def test_zero_choices_are_refused(patron_client: FlaskClient) -> None:
    ballot = add_ballot()
    _refused(post_vote(patron_client, ballot.id, []), "Choose at least one topic. Nothing was recorded.")


def test_two_choices_in_a_single_choice_ballot_are_refused(patron_client: FlaskClient) -> None:
    ballot = add_ballot()
    _refused(post_vote(patron_client, ballot.id, option_ids(ballot)[:2]), "Choose one topic.")


def test_more_than_n_approvals_are_refused(patron_client: FlaskClient) -> None:
    ballot = add_ballot(4, method=VotingMethod.APPROVAL, max_choices=2)
    _refused(post_vote(patron_client, ballot.id, option_ids(ballot)[:3]), "Choose at most 2 topics.")


def test_a_repeated_option_is_refused(patron_client: FlaskClient) -> None:
    ballot = add_ballot(4, method=VotingMethod.APPROVAL, max_choices=3)
    first = option_ids(ballot)[0]
    _refused(post_vote(patron_client, ballot.id, [first, first]), "Each topic can be chosen only once.")


def test_voting_on_a_closed_ballot_is_refused(patron_client: FlaskClient) -> None:
    ballot = add_ballot(opens=-10 * DAY, closes=-DAY)
    _refused(post_vote(patron_client, ballot.id, option_ids(ballot)[:1]),
             "This ballot has closed; votes are no longer accepted.")


def test_voting_before_opening_is_refused(patron_client: FlaskClient) -> None:
    ballot = add_ballot(opens=DAY, closes=8 * DAY)
    _refused(post_vote(patron_client, ballot.id, option_ids(ballot)[:1]), "This ballot hasn't opened yet.")


def test_voting_on_a_draft_ballot_is_refused(patron_client: FlaskClient) -> None:
    ballot = add_ballot(published=False)
    assert patron_client.get(f"/ballots/{ballot.id}").status_code == 404
    _refused(post_vote(patron_client, ballot.id, option_ids(ballot)[:1]), "There is no such ballot.")


def test_voting_on_an_unknown_ballot_is_refused(patron_client: FlaskClient) -> None:
    _refused(post_vote(patron_client, 424242, [1]), "There is no such ballot.")


def test_a_missing_csrf_token_is_refused(patron_client: FlaskClient) -> None:
    ballot = add_ballot()
    _refused(post_vote(patron_client, ballot.id, option_ids(ballot)[:1], with_csrf=False), "This form has expired")


def test_a_page_left_open_past_the_closing_time_cannot_vote(patron_client: FlaskClient) -> None:
    ballot = add_ballot()
    token = csrf_token(patron_client, f"/ballots/{ballot.id}")  # the page, loaded while open
    close_ballot(ballot)
    _refused(post_vote(patron_client, ballot.id, option_ids(ballot)[:1], token=token),
             "This ballot has closed; votes are no longer accepted.")


def test_signed_out_voters_are_sent_to_sign_in(client: FlaskClient) -> None:
    ballot = add_ballot()
    body = text(client.get(f"/ballots/{ballot.id}"))
    assert f'href="/account/sign-in?next=/ballots/{ballot.id}"' in body and "Sign in to vote" in body
    assert 'name="choice"' not in body
    response = post_vote(client, ballot.id, option_ids(ballot)[:1])
    assert response.status_code == 302 and "/account/sign-in?next=" in response.headers["Location"]
    assert votes() == []


# The database's own guarantees ---------------------------------------------------------------------------


def test_the_database_allows_one_vote_per_ballot_and_supporter(app: Flask) -> None:
    ballot, patron = add_ballot(), add_patron()
    now = utcnow()
    db.session.add(Vote(ballot_id=ballot.id, supporter_id=patron.id, weight=1, created_at=now, updated_at=now))
    db.session.commit()
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.insert(Vote).values(ballot_id=ballot.id, supporter_id=patron.id, weight=1,
                                                  created_at=now, updated_at=now))
    db.session.rollback()
    assert len(votes()) == 1


def test_the_database_caps_a_vote_weight_at_three(app: Flask) -> None:
    ballot, patron = add_ballot(), add_patron()
    now = utcnow()
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.insert(Vote).values(ballot_id=ballot.id, supporter_id=patron.id, weight=4,
                                                  created_at=now, updated_at=now))
    db.session.rollback()


def test_the_database_refuses_a_choice_of_another_ballots_option(app: Flask) -> None:
    ballot, other, patron = add_ballot(), add_ballot(title="Other"), add_patron()
    vote = services.cast_vote(db.session(), ballot.id, patron.id, option_ids(ballot)[:1], utcnow(), GRACE)
    db.session.commit()
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.insert(VoteChoice).values(ballot_id=ballot.id, vote_id=vote.id,
                                                        option_id=option_ids(other)[1]))
    db.session.rollback()
    with pytest.raises(sa.exc.IntegrityError):  # nor can the choice claim the other ballot
        db.session.execute(sa.insert(VoteChoice).values(ballot_id=other.id, vote_id=vote.id,
                                                        option_id=option_ids(other)[1]))
    db.session.rollback()


# Results ---------------------------------------------------------------------------------------------------


def _vote_as(ballot: Ballot, picks: list[int], **patron: Any) -> None:
    for index, pick in enumerate(picks):
        supporter = add_patron(f"voter{ballot.id}-{index}-{pick}@example.org", **patron)
        services.cast_vote(db.session(), ballot.id, supporter.id, [option_ids(ballot)[pick]], utcnow(), GRACE)
    db.session.commit()


def test_results_show_after_closing_with_chart_table_turnout_and_method(client: FlaskClient) -> None:
    ballot = add_ballot()
    _vote_as(ballot, [0, 0, 1])
    add_patron("non-voter@example.org")
    body = text(client.get(f"/ballots/{ballot.id}"))
    assert "Results" not in body.split("<h2")[-1] and "<svg" not in body  # hidden while open (after_close)

    close_ballot(ballot, DAY)
    body = flat(client.get(f"/ballots/{ballot.id}"))
    assert "Turnout: 3 of 4 eligible patrons voted (75.0%)." in body
    assert "Choose one topic. One patron, one vote." in body
    assert '<svg xmlns="http://www.w3.org/2000/svg" id="ballot-' in body and 'role="img"' in body
    assert "<title>Topic 1: 2</title>" in body
    assert '<th scope="row">Topic 1</th> <td class="num">2</td> <td class="num">66.7%</td>' in body
    assert '<th scope="row">Topic 3</th> <td class="num">0</td> <td class="num">0.0%</td>' in body
    # The chart is drawn by the server: the page's only script is the site-wide forms.js (focus on errors).
    assert re.findall(r"<script[^>]*>", body) == ['<script src="/static/forms.js" defer>']


def test_live_results_show_while_open(client: FlaskClient) -> None:
    ballot = add_ballot(results_visibility=ResultsVisibility.LIVE)
    _vote_as(ballot, [2])
    body = flat(client.get(f"/ballots/{ballot.id}"))
    assert "Results so far" in body and "Turnout: 1 of 1 eligible patron voted" in body


def test_weighted_tally_counts_tiers_and_caps_at_three(app: Flask) -> None:
    champion = Tier(slug="champion", name="Champion")
    db.session.add(champion)
    db.session.commit()
    # A weight above the cap (as if set straight in the database) still counts 3.
    ballot = add_ballot(weighting=Weighting.TIER, tier_weights={str(champion.id): 7})
    _vote_as(ballot, [0], tier_id=champion.id)
    _vote_as(ballot, [1, 1])
    result = services.tally(db.session(), ballot, utcnow(), GRACE)
    assert [(r.voters, r.weighted) for r in result.options] == [(1, 3), (2, 2), (0, 0)]
    assert (result.voters, result.weight, result.eligible) == (3, 5, 3)
    assert [round(r.share, 2) for r in result.options] == [0.6, 0.4, 0.0]
    assert "Votes are weighted by membership tier, at most 3 times a vote." in services.rules_statement(ballot)


def test_tally_is_computed_by_the_database(app: Flask) -> None:
    ballot = add_ballot(4, method=VotingMethod.APPROVAL, max_choices=3)
    for n in range(30):
        patron = add_patron(f"many{n}@example.org")
        services.cast_vote(db.session(), ballot.id, patron.id, option_ids(ballot)[: 1 + n % 3], utcnow(), GRACE)
    db.session.commit()
    db.session.expire_all()
    fresh = db.session.get(Ballot, ballot.id)
    assert fresh is not None and len(fresh.options) == 4
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *rest: object) -> None:
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        result = services.tally(db.session(), fresh, utcnow(), GRACE)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert [r.voters for r in result.options] == [30, 20, 10, 0] and result.voters == 30
    assert len(statements) <= 3, statements  # a fixed number of aggregate queries, whatever the number of votes
    assert any("count(" in s.lower() and "group by" in s.lower() for s in statements)
    assert not any(isinstance(obj, Vote | VoteChoice) for obj in db.session.identity_map.values())


def test_turnout_is_frozen_when_the_ballot_closes(app: Flask) -> None:
    ballot = add_ballot(opens=-10 * DAY, closes=-DAY)
    add_patron("one@example.org")
    second = add_patron("two@example.org")
    assert services.tally(db.session(), ballot, utcnow(), GRACE).eligible == 2
    db.session.commit()
    membership_of(second).status = MembershipStatus.CANCELED
    db.session.commit()
    assert services.tally(db.session(), ballot, utcnow(), GRACE).eligible == 2
    assert ballot.eligible_at_close == 2


def test_ballots_taken_part_counts_votes_only(app: Flask) -> None:
    first, second = add_ballot(), add_ballot(title="Second")
    patron = add_patron()
    for ballot in (first, second):
        services.cast_vote(db.session(), ballot.id, patron.id, option_ids(ballot)[:1], utcnow(), GRACE)
    services.cast_vote(db.session(), first.id, patron.id, option_ids(first)[1:2], utcnow(), GRACE)
    assert services.ballots_taken_part(db.session(), patron.id) == 2
