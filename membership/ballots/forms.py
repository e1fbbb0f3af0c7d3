"""Patron ballot forms: a vote, and a topic suggestion."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, TextAreaField
from wtforms.validators import DataRequired, Length

from membership.ballots.models import SUGGESTION_MAX
from membership.i18n import lazy_gettext


class VoteForm(FlaskForm):
    """The chosen option ids, as submitted: radio buttons (one choice) or checkboxes (approval).

    The field takes every value sent, so two values for a one-choice ballot, a repeated option or an option
    of another ballot reach `cast_vote`, which refuses them; values that aren't numbers fail here.
    """

    choice = SelectMultipleField(lazy_gettext("Your choice"), coerce=int, validate_choice=False)


class SuggestionForm(FlaskForm):
    topic = TextAreaField(
        lazy_gettext("Suggest a topic for us to cover"),
        filters=[lambda value: value.replace("\r\n", "\n").strip() if isinstance(value, str) else value],
        validators=[DataRequired(lazy_gettext("Write the topic you'd like us to cover.")),
                    Length(max=SUGGESTION_MAX, message=lazy_gettext("Keep it to %(max)d characters."))],
    )
