"""Each voting method's rules, asked through the one interface the rest of the code uses."""

from __future__ import annotations

import pytest

from membership.ballots.methods import METHODS, method_of
from membership.ballots.models import VotingMethod


def test_every_voting_method_has_its_rules() -> None:
    assert set(METHODS) == set(VotingMethod)


@pytest.mark.parametrize(("method", "stored", "limit", "several"), [
    (VotingMethod.SINGLE, 1, 1, False),
    (VotingMethod.APPROVAL, 4, 4, True),
])
def test_how_many_topics_a_vote_may_choose(method: VotingMethod, stored: int, limit: int, several: bool) -> None:
    rules = method_of(method)
    assert rules.stored_max_choices(4) == stored
    assert rules.choice_limit(stored) == limit
    assert rules.several_choices is several


def test_approval_refuses_an_n_the_ballot_cannot_meet() -> None:
    approval = method_of(VotingMethod.APPROVAL)
    assert approval.structure_problem(5, 4) == (
        "With approval voting, N must be between 2 and the number of options (4).")
    assert approval.structure_problem(1, 4) is not None
    assert approval.structure_problem(3, 4) is None
    assert approval.form_problems(None, 4, True) == ["Choose N between 2 and 20."]
    assert approval.form_problems(5, 4, True) == ["N can't be more than the number of options (4)."]
    assert approval.form_problems(5, 1, False) == []


def test_single_choice_ignores_n() -> None:
    single = method_of(VotingMethod.SINGLE)
    assert single.structure_problem(1, 2) is None
    assert single.form_problems(None, 2, True) == []
    assert single.statement(1) == "Choose one topic."
