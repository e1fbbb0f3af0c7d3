"""Voting methods: every rule that differs between methods lives behind `BallotMethod`, one module per method.

A new method is one module here (a `BallotMethod` subclass), a `VotingMethod` value and a line in `METHODS`.
Everything else (casting a vote, the ballot page, the staff form and its checks) asks the method.
"""

from __future__ import annotations

from membership.ballots.methods.approval import Approval
from membership.ballots.methods.base import BallotMethod
from membership.ballots.methods.single import SingleChoice
from membership.ballots.models import VotingMethod

METHODS: dict[VotingMethod, BallotMethod] = {
    VotingMethod.SINGLE: SingleChoice(),
    VotingMethod.APPROVAL: Approval(),
}


def method_of(method: VotingMethod) -> BallotMethod:
    """The rules of one voting method."""
    return METHODS[method]


__all__ = ["METHODS", "BallotMethod", "method_of"]
