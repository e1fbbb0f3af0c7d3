"""The dashboard's date range (a GET form: it changes nothing, so it carries no CSRF token)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional

from membership.staff.forms import DayField

DATE_MESSAGE = "Enter the date as YYYY-MM-DD, for example 2026-01-31."


class DashboardForm(FlaskForm):
    class Meta:
        csrf = False

    date_from = DayField("From", name="from", validators=[Optional()], invalid_value_message=DATE_MESSAGE)
    date_to = DayField("To", name="to", validators=[Optional()], invalid_value_message=DATE_MESSAGE)
    rank = SelectField("Rank sources by", name="rank", default="")

    def __init__(self, *args: Any, currencies: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rank.choices = [SelectChoice("", "Conversions"),
                             *(SelectChoice(code, f"Revenue in {code}") for code in currencies)]
