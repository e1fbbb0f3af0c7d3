"""The export forms on /staff/reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from membership.i18n import gettext as _
from membership.i18n import language_name, lazy_gettext, supported_locales
from membership.staff.forms import DATE_MESSAGE, DayField
from membership.staff.reports.models import ExportFormat, ExportKind
from membership.staff.reports.services import DEFAULT_EXPORT_LANGUAGE, statuses_for

KIND_LABELS = {
    ExportKind.PAYMENTS: lazy_gettext("Payments (for accounting)"),
    ExportKind.MEMBERSHIPS: lazy_gettext("Memberships"),
    ExportKind.SUPPORTERS: lazy_gettext("Supporters"),
}
KIND_NAMES = {
    ExportKind.PAYMENTS: lazy_gettext("Payments"),
    ExportKind.MEMBERSHIPS: lazy_gettext("Memberships"),
    ExportKind.SUPPORTERS: lazy_gettext("Supporters"),
}
# Which form field shows an error the export service found (FilterError.field → attribute).
FILTER_FIELDS = {"kind": "kind", "from": "date_from", "to": "date_to", "currency": "currency", "status": "status"}
FORMAT_CHOICES = [SelectChoice(ExportFormat.CSV.value, lazy_gettext("CSV (UTF-8)")),
                  SelectChoice(ExportFormat.XLSX.value, lazy_gettext("Excel (XLSX)"))]


def language_field() -> SelectField:
    """The language of an export's column headers: English by default, what accounting tools expect."""
    return SelectField(lazy_gettext("Column headers in"), name="language", default=DEFAULT_EXPORT_LANGUAGE)


def _language_choices() -> list[SelectChoice]:
    return [SelectChoice(code, language_name(code)) for code in supported_locales()]


class ExportForm(FlaskForm):
    kind = SelectField(lazy_gettext("Export"))
    date_from = DayField(lazy_gettext("From (UTC)"), name="from", invalid_value_message=DATE_MESSAGE,
                         validators=[InputRequired(lazy_gettext("Enter the first day to export."))])
    date_to = DayField(lazy_gettext("To (UTC, included)"), name="to", invalid_value_message=DATE_MESSAGE,
                       validators=[InputRequired(lazy_gettext("Enter the last day to export."))])
    currency = SelectField(lazy_gettext("Currency"), default="")
    status = SelectField(lazy_gettext("Status"), default="")
    fmt = SelectField(lazy_gettext("Format"), name="format", default=ExportFormat.CSV.value, choices=FORMAT_CHOICES)
    language = language_field()

    def __init__(self, *args: Any, currencies: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind.choices = [SelectChoice(kind.value, str(label)) for kind, label in KIND_LABELS.items()]
        self.currency.choices = [SelectChoice("", _("All currencies")), *(SelectChoice(code) for code in currencies)]
        self.status.choices = [
            SelectChoice("", _("Any status")),
            *(SelectChoice(value, label, optgroup=str(KIND_NAMES[kind]))
              for kind in ExportKind for value, label in statuses_for(kind).items()),
        ]
        self.language.choices = _language_choices()


class BallotResultsForm(FlaskForm):
    """Download one ballot's results: totals per topic and the turnout, never anyone's vote."""

    ballot = SelectField(lazy_gettext("Ballot"), coerce=int, choices=[])
    fmt = SelectField(lazy_gettext("Format"), name="format", default=ExportFormat.CSV.value, choices=FORMAT_CHOICES)
    language = language_field()

    def __init__(self, *args: Any, ballots: Sequence[tuple[int, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ballot.choices = [SelectChoice(ballot_id, title) for ballot_id, title in ballots]
        self.language.choices = _language_choices()
