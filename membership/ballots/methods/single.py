"""Single choice: each patron chooses one topic."""

from __future__ import annotations

from membership.ballots.methods.base import BallotMethod
from membership.i18n import gettext as _
from membership.i18n import lazy_gettext


class SingleChoice(BallotMethod):
    label = lazy_gettext("Single choice: each patron chooses one topic")
    several_choices = False

    def choice_limit(self, max_choices: int) -> int:
        return 1

    def stored_max_choices(self, requested: int) -> int:
        return 1

    def instruction(self, max_choices: int) -> str:
        return str(_("Choose one topic"))

    def statement(self, max_choices: int) -> str:
        return str(_("Choose one topic."))

    def form_problems(self, requested: int | None, options: int, options_valid: bool) -> list[str]:
        return []  # N means nothing here: one topic, whatever the form says

    def structure_problem(self, max_choices: int, options: int) -> str | None:
        return None
