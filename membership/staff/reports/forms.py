"""The export form on /staff/reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from membership.staff.forms import DayField
from membership.staff.reports.models import ExportFormat, ExportKind
from membership.staff.reports.services import statuses_for

DATE_MESSAGE = "Enter the date as YYYY-MM-DD, for example 2026-01-31."
KIND_LABELS = {
    ExportKind.PAYMENTS: "Payments (for accounting)",
    ExportKind.MEMBERSHIPS: "Memberships",
    ExportKind.SUPPORTERS: "Supporters",
}
# Which form field shows an error the export service found (FilterError.field → attribute).
FILTER_FIELDS = {"kind": "kind", "from": "date_from", "to": "date_to", "currency": "currency", "status": "status"}


class ExportForm(FlaskForm):
    kind = SelectField("Export", choices=[SelectChoice(kind.value, label) for kind, label in KIND_LABELS.items()])
    date_from = DayField("From (UTC)", name="from", invalid_value_message=DATE_MESSAGE,
                          validators=[InputRequired("Enter the first day to export.")])
    date_to = DayField("To (UTC, included)", name="to", invalid_value_message=DATE_MESSAGE,
                        validators=[InputRequired("Enter the last day to export.")])
    currency = SelectField("Currency", default="")
    status = SelectField("Status", default="", choices=[
        SelectChoice("", "Any status"),
        *(SelectChoice(value, label, optgroup=KIND_LABELS[kind].split(" (")[0])
          for kind in ExportKind for value, label in statuses_for(kind).items()),
    ])
    fmt = SelectField("Format", name="format", default=ExportFormat.CSV.value,
                      choices=[SelectChoice(ExportFormat.CSV.value, "CSV (UTF-8)"),
                               SelectChoice(ExportFormat.XLSX.value, "Excel (XLSX)")])

    def __init__(self, *args: Any, currencies: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.currency.choices = [SelectChoice("", "All currencies"), *(SelectChoice(code) for code in currencies)]


class BallotResultsForm(FlaskForm):
    """Download one ballot's results: totals per topic and the turnout, never anyone's vote."""

    ballot = SelectField("Ballot", coerce=int, choices=[])
    fmt = SelectField("Format", name="format", default=ExportFormat.CSV.value,
                      choices=[SelectChoice(ExportFormat.CSV.value, "CSV (UTF-8)"),
                               SelectChoice(ExportFormat.XLSX.value, "Excel (XLSX)")])

    def __init__(self, *args: Any, ballots: Sequence[tuple[int, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ballot.choices = [SelectChoice(ballot_id, title) for ballot_id, title in ballots]
