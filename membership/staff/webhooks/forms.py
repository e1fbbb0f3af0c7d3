"""The endpoint form."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms.fields import BooleanField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from membership.i18n import lazy_gettext
from membership.webhooks_out import EventType, endpoint_url_problem

EVENT_LABELS = {
    EventType.SUPPORTER_CREATED: lazy_gettext("A reader's first payment made them a supporter"),
    EventType.MEMBERSHIP_STARTED: lazy_gettext("A membership started"),
    EventType.MEMBERSHIP_CHANGED: lazy_gettext("A membership changed (amount, set to end, resumed, card problem)"),
    EventType.MEMBERSHIP_ENDED: lazy_gettext("A membership ended"),
    EventType.PAYMENT_SUCCEEDED: lazy_gettext("A payment succeeded"),
    EventType.PAYMENT_REFUNDED: lazy_gettext("A payment was refunded"),
    EventType.CONSENT_CHANGED: lazy_gettext("Email consent changed"),
    EventType.BALLOT_CLOSED: lazy_gettext("A ballot closed"),
    EventType.SUPPORTER_ERASED: lazy_gettext("A supporter's personal data was erased"),
}


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class EndpointForm(FlaskForm):
    url = StringField(lazy_gettext("Address (URL)"), validators=[
        DataRequired(lazy_gettext("Enter the address your tool receives webhooks at.")), Length(max=2048)])
    description = StringField(lazy_gettext("Description"), validators=[Length(max=200)])
    event_types = MultiCheckboxField(
        lazy_gettext("Events to send"), choices=[SelectChoice(event.value, label)
                                                 for event, label in EVENT_LABELS.items()],
        validators=[DataRequired(lazy_gettext("Choose at least one event."))])
    include_email = BooleanField(lazy_gettext("Include the supporter's email address"))
    active = BooleanField(lazy_gettext("Active"), default=True)

    def validate_url(self, field: Any) -> None:
        problem = endpoint_url_problem(str(field.data or "").strip())
        if problem:
            raise ValidationError(problem)
