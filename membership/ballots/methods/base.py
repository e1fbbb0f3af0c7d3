"""The interface every voting method implements."""

from __future__ import annotations

from abc import ABC, abstractmethod

from flask_babel.speaklater import LazyString


class BallotMethod(ABC):
    """What a voting method decides: how many topics a patron may choose, how the ballot says so, and which
    settings staff may give it."""

    #: The method's name and rule, as the staff form offers it (translated when shown).
    label: LazyString
    #: True when a patron may choose several topics (checkboxes rather than radio buttons), so the shares of a
    #: result can add up to more than 100%.
    several_choices: bool

    @abstractmethod
    def choice_limit(self, max_choices: int) -> int:
        """The most topics one vote may choose, given the ballot's stored `max_choices`."""

    @abstractmethod
    def stored_max_choices(self, requested: int) -> int:
        """The `max_choices` to store for what staff asked for."""

    @abstractmethod
    def instruction(self, max_choices: int) -> str:
        """What the voting form asks a patron to do."""

    @abstractmethod
    def statement(self, max_choices: int) -> str:
        """The method, in a sentence, as the ballot page and results state it."""

    @abstractmethod
    def form_problems(self, requested: int | None, options: int, options_valid: bool) -> list[str]:
        """What is wrong with the N staff typed on the ballot form, for a ballot of `options` options
        (`options_valid`: that number is itself within bounds)."""

    @abstractmethod
    def structure_problem(self, max_choices: int, options: int) -> str | None:
        """Why a ballot with these settings breaks the method's rule, or None when it doesn't."""
