"""Forms for the supporter pages: the list's filters (GET) and each admin action (POST, confirmed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp, ValidationError
from wtforms.widgets import HiddenInput

from membership.db import parse_id
from membership.formatting import format_money
from membership.money import parse_major_amount
from membership.staff.forms import DayField
from membership.staff.supporters.services import PatronStatus, SupporterFilters

DATE_MESSAGE = "Enter the date as YYYY-MM-DD, for example 2026-01-31."
CURSOR_MESSAGE = "That page link isn't valid. Start again from the first page."

STATUS_CHOICES = [
    SelectChoice("", "Any"),
    SelectChoice(PatronStatus.PATRON.value, "Patron now"),
    SelectChoice(PatronStatus.PAST_DUE.value, "Renewal failing (past due)"),
    SelectChoice(PatronStatus.CANCELLED.value, "Cancelled, not a patron now"),
    SelectChoice(PatronStatus.NEVER.value, "Never a patron"),
]
# Stripe's refund reasons.
REFUND_REASONS = [
    SelectChoice("", "None given"),
    SelectChoice("requested_by_customer", "The supporter asked for it"),
    SelectChoice("duplicate", "A duplicate payment"),
    SelectChoice("fraudulent", "Fraudulent"),
]
# Stripe's cancellation feedback codes, as staff record what the supporter told them.
CANCEL_REASONS = [
    SelectChoice("", "Choose a reason"),
    SelectChoice("too_expensive", "Too expensive for them"),
    SelectChoice("unused", "They don't read enough to keep supporting"),
    SelectChoice("low_quality", "Unhappy with the journalism"),
    SelectChoice("missing_features", "Missing something they want"),
    SelectChoice("switched_service", "Supporting someone else instead"),
    SelectChoice("customer_service", "A bad experience with support"),
    SelectChoice("too_complex", "Too complicated to manage"),
    SelectChoice("other", "Another reason (fraud, a duplicate, the newsroom's decision…)"),
]
WHEN_CHOICES = [
    SelectChoice("period_end", "At the end of the paid period: no further charges, access until then"),
    SelectChoice("now", "Now: it ends at once; the current period is not refunded"),
]


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class SupporterFilterForm(FlaskForm):
    """The list's search and filters. A GET form: it changes nothing, so it carries no CSRF token."""

    class Meta:
        csrf = False

    q = StringField("Email or name contains", filters=[_strip], validators=[Optional(), Length(max=120)])
    status = SelectField("Patron status", choices=STATUS_CHOICES, default="")
    tier = SelectField("Tier (a membership at it, now or before)", default="")
    currency = SelectField("Gave in", default="")
    first_from = DayField("First gift from", validators=[Optional()], invalid_value_message=DATE_MESSAGE)
    first_to = DayField("First gift to", validators=[Optional()], invalid_value_message=DATE_MESSAGE)
    source = StringField("Article URL contains", filters=[_strip], validators=[Optional(), Length(max=300)])
    campaign = StringField("Campaign (utm_campaign)", filters=[_strip], validators=[Optional(), Length(max=200)])
    after = StringField("Page", validators=[Optional(), Regexp(r"^[1-9][0-9]{0,17}$", message=CURSOR_MESSAGE)])

    def __init__(self, *args: Any, tiers: Sequence[tuple[int, str]] = (), currencies: Sequence[str] = (),
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tier.choices = [SelectChoice("", "Any")] + [SelectChoice(str(tid), name) for tid, name in tiers]
        self.currency.choices = [SelectChoice("", "Any")] + [SelectChoice(code, code) for code in currencies]

    def validate_first_to(self, field: DayField) -> None:
        if self.first_from.data and field.data and self.first_from.data > field.data:
            raise ValidationError("The end date is before the start date.")

    def filters(self) -> SupporterFilters:
        return SupporterFilters(
            search=self.q.data or "",
            status=PatronStatus(self.status.data) if self.status.data else None,
            tier_id=int(self.tier.data) if self.tier.data else None,
            currency=self.currency.data or "",
            first_gift_from=self.first_from.data,
            first_gift_to=self.first_to.data,
            source=self.source.data or "",
            campaign=self.campaign.data or "",
        )

    def validate_after(self, field: StringField) -> None:
        if field.data and parse_id(field.data) is None:
            raise ValidationError(CURSOR_MESSAGE)

    def cursor(self) -> int | None:
        return parse_id(self.after.data)


class ConfirmedForm(FlaskForm):
    """An action shown once for review, then sent again with `confirmed=yes` to be carried out."""

    confirmed = HiddenField()

    @property
    def is_confirmed(self) -> bool:
        return bool(self.confirmed.data == "yes")


class RefundForm(ConfirmedForm):
    amount = StringField("Amount to refund", filters=[_strip],
                         validators=[DataRequired("Enter the amount to refund."), Length(max=20)])
    reason = SelectField("Reason, as Stripe records it", choices=REFUND_REASONS, default="")
    # How many refund requests the payment had when this one was first shown: a second submission is refused.
    seen = IntegerField(widget=HiddenInput(), validators=[InputRequired()])

    def __init__(self, currency: str, refundable_minor: int, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.code = currency
        self.refundable_minor = refundable_minor
        self.amount_minor: int | None = None

    def validate_amount(self, field: StringField) -> None:
        try:
            minor = parse_major_amount(field.data or "", self.code)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        if not self.refundable_minor:
            raise ValidationError("Nothing is left to refund on this payment.")
        if minor > self.refundable_minor:
            raise ValidationError(f"That is more than is left to refund on this payment "
                                  f"({format_money(self.refundable_minor, self.code)}).")
        self.amount_minor = minor


class CancelMembershipForm(ConfirmedForm):
    when = RadioField("When should the membership end?", choices=WHEN_CHOICES,
                      validators=[InputRequired("Choose when the membership ends.")])
    reason = SelectField("Reason the supporter gave", choices=CANCEL_REASONS,
                         validators=[DataRequired("Choose a reason.")])
    comment = TextAreaField("Note, sent to Stripe with the cancellation (optional)", filters=[_strip],
                            validators=[Optional(), Length(max=500)])


class EraseForm(FlaskForm):
    email = StringField("Type the supporter's email address to confirm", filters=[_strip],
                        validators=[DataRequired("Type the supporter's email address to confirm the erasure."),
                                    Length(max=320)])

    def __init__(self, expected_email: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expected_email = expected_email

    def validate_email(self, field: StringField) -> None:
        if (field.data or "").lower() != self.expected_email.lower():
            raise ValidationError("That isn't this supporter's email address. Nothing was erased.")
