"""Approval voting: each patron approves up to N topics, and each approval counts once."""

from __future__ import annotations

from membership.ballots.methods.base import BallotMethod
from membership.ballots.models import MAX_OPTIONS
from membership.i18n import gettext as _
from membership.i18n import lazy_gettext, ngettext


class Approval(BallotMethod):
    label = lazy_gettext("Approval: each patron approves up to N topics")
    several_choices = True

    def choice_limit(self, max_choices: int) -> int:
        return max_choices

    def stored_max_choices(self, requested: int) -> int:
        return requested

    def instruction(self, max_choices: int) -> str:
        return str(ngettext("Approve up to %(num)d topic", "Approve up to %(num)d topics", max_choices))

    def statement(self, max_choices: int) -> str:
        return str(ngettext("Approve up to %(num)d topic; each approval counts once.",
                            "Approve up to %(num)d topics; each approval counts once.", max_choices))

    def form_problems(self, requested: int | None, options: int, options_valid: bool) -> list[str]:
        problems = []
        if options_valid and (requested or 0) > options:
            problems.append(_("N can't be more than the number of options (%(options)d).", options=options))
        if requested is None:
            problems.append(_("Choose N between 2 and %(max)d.", max=MAX_OPTIONS))
        return problems

    def structure_problem(self, max_choices: int, options: int) -> str | None:
        if not 2 <= max_choices <= options:
            return str(_("With approval voting, N must be between 2 and the number of options (%(options)d).",
                         options=options))
        return None
