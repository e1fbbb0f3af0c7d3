"""Approval voting: each patron approves up to N topics, and each approval counts once."""

from __future__ import annotations

from membership.ballots.methods.base import BallotMethod
from membership.ballots.models import MAX_OPTIONS


class Approval(BallotMethod):
    label = "Approval: each patron approves up to N topics"
    several_choices = True

    def choice_limit(self, max_choices: int) -> int:
        return max_choices

    def stored_max_choices(self, requested: int) -> int:
        return requested

    def instruction(self, max_choices: int) -> str:
        return f"Approve up to {max_choices} topics"

    def statement(self, max_choices: int) -> str:
        return f"Approve up to {max_choices} topics; each approval counts once."

    def form_problems(self, requested: int | None, options: int, options_valid: bool) -> list[str]:
        problems = []
        if options_valid and (requested or 0) > options:
            problems.append(f"N can't be more than the number of options ({options}).")
        if requested is None:
            problems.append(f"Choose N between 2 and {MAX_OPTIONS}.")
        return problems

    def structure_problem(self, max_choices: int, options: int) -> str | None:
        if not 2 <= max_choices <= options:
            return f"With approval voting, N must be between 2 and the number of options ({options})."
        return None
