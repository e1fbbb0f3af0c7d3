"""The dashboard's date range (a GET form: it changes nothing, so it carries no CSRF token)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional

from membership.i18n import gettext as _
from membership.i18n import lazy_gettext
from membership.staff.forms import DATE_MESSAGE, DayField


class DashboardForm(FlaskForm):
    class Meta:
        csrf = False

    date_from = DayField(lazy_gettext("From"), name="from", validators=[Optional()], invalid_value_message=DATE_MESSAGE)
    date_to = DayField(lazy_gettext("To"), name="to", validators=[Optional()], invalid_value_message=DATE_MESSAGE)
    rank = SelectField(lazy_gettext("Rank sources by"), name="rank", default="")

    def __init__(self, *args: Any, currencies: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rank.choices = [SelectChoice("", _("Conversions")),
                             *(SelectChoice(code, _("Revenue in %(currency)s", currency=code)) for code in currencies)]
