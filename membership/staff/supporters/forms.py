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
from membership.i18n import gettext as _
from membership.i18n import lazy_gettext
from membership.money import parse_major_amount
from membership.staff.forms import DATE_MESSAGE, DayField, strip_text
from membership.staff.supporters.services import PatronStatus, SupporterFilters

CURSOR_MESSAGE = lazy_gettext("That page link isn't valid. Start again from the first page.")

STATUS_CHOICES = [
    SelectChoice("", lazy_gettext("Any")),
    SelectChoice(PatronStatus.PATRON.value, lazy_gettext("Patron now")),
    SelectChoice(PatronStatus.PAST_DUE.value, lazy_gettext("Renewal failing (past due)")),
    SelectChoice(PatronStatus.CANCELLED.value, lazy_gettext("Cancelled, not a patron now")),
    SelectChoice(PatronStatus.NEVER.value, lazy_gettext("Never a patron")),
]
# Stripe's refund reasons.
REFUND_REASONS = [
    SelectChoice("", lazy_gettext("None given")),
    SelectChoice("requested_by_customer", lazy_gettext("The supporter asked for it")),
    SelectChoice("duplicate", lazy_gettext("A duplicate payment")),
    SelectChoice("fraudulent", lazy_gettext("Fraudulent")),
]
# Stripe's cancellation feedback codes, as staff record what the supporter told them.
CANCEL_REASONS = [
    SelectChoice("", lazy_gettext("Choose a reason")),
    SelectChoice("too_expensive", lazy_gettext("Too expensive for them")),
    SelectChoice("unused", lazy_gettext("They don't read enough to keep supporting")),
    SelectChoice("low_quality", lazy_gettext("Unhappy with the journalism")),
    SelectChoice("missing_features", lazy_gettext("Missing something they want")),
    SelectChoice("switched_service", lazy_gettext("Supporting someone else instead")),
    SelectChoice("customer_service", lazy_gettext("A bad experience with support")),
    SelectChoice("too_complex", lazy_gettext("Too complicated to manage")),
    SelectChoice("other", lazy_gettext("Another reason (fraud, a duplicate, the newsroom's decision…)")),
]
def choice_label(choices: Sequence[SelectChoice], value: str) -> str:
    """What a select shows for `value` (a stored code), in the page's language; the code when it isn't a choice."""
    return next((str(choice.label) for choice in choices if choice.value == value), value)


WHEN_CHOICES = [
    SelectChoice("period_end", lazy_gettext("At the end of the paid period: no further charges, access until then")),
    SelectChoice("now", lazy_gettext("Now: it ends at once; the current period is not refunded")),
]


class SupporterFilterForm(FlaskForm):
    """The list's search and filters. A GET form: it changes nothing, so it carries no CSRF token."""

    class Meta:
        csrf = False

    q = StringField(lazy_gettext("Email or name contains"), filters=[strip_text],
                    validators=[Optional(), Length(max=120)])
    status = SelectField(lazy_gettext("Patron status"), choices=STATUS_CHOICES, default="")
    tier = SelectField(lazy_gettext("Tier (a membership at it, now or before)"), default="")
    currency = SelectField(lazy_gettext("Gave in"), default="")
    first_from = DayField(lazy_gettext("First gift from"), validators=[Optional()], invalid_value_message=DATE_MESSAGE)
    first_to = DayField(lazy_gettext("First gift to"), validators=[Optional()], invalid_value_message=DATE_MESSAGE)
    source = StringField(lazy_gettext("Article URL contains"), filters=[strip_text],
                         validators=[Optional(), Length(max=300)])
    campaign = StringField(lazy_gettext("Campaign (utm_campaign)"), filters=[strip_text],
                           validators=[Optional(), Length(max=200)])
    after = StringField(lazy_gettext("Page"),
                        validators=[Optional(), Regexp(r"^[1-9][0-9]{0,17}$", message=CURSOR_MESSAGE)])

    def __init__(self, *args: Any, tiers: Sequence[tuple[int, str]] = (), currencies: Sequence[str] = (),
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tier.choices = [SelectChoice("", _("Any")), *(SelectChoice(str(tid), name) for tid, name in tiers)]
        self.currency.choices = [SelectChoice("", _("Any")), *(SelectChoice(code, code) for code in currencies)]

    def validate_first_to(self, field: DayField) -> None:
        if self.first_from.data and field.data and self.first_from.data > field.data:
            raise ValidationError(lazy_gettext("The end date is before the start date."))

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
    amount = StringField(lazy_gettext("Amount to refund"), filters=[strip_text],
                         validators=[DataRequired(lazy_gettext("Enter the amount to refund.")), Length(max=20)])
    reason = SelectField(lazy_gettext("Reason, as Stripe records it"), choices=REFUND_REASONS, default="")
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
            raise ValidationError(lazy_gettext("Nothing is left to refund on this payment."))
        if minor > self.refundable_minor:
            raise ValidationError(_("That is more than is left to refund on this payment (%(amount)s).",
                                    amount=format_money(self.refundable_minor, self.code)))
        self.amount_minor = minor


class CancelMembershipForm(ConfirmedForm):
    when = RadioField(lazy_gettext("When should the membership end?"), choices=WHEN_CHOICES,
                      validators=[InputRequired(lazy_gettext("Choose when the membership ends."))])
    reason = SelectField(lazy_gettext("Reason the supporter gave"), choices=CANCEL_REASONS,
                         validators=[DataRequired(lazy_gettext("Choose a reason."))])
    comment = TextAreaField(lazy_gettext("Note, sent to Stripe with the cancellation (optional)"), filters=[strip_text],
                            validators=[Optional(), Length(max=500)])


class EraseForm(FlaskForm):
    email = StringField(lazy_gettext("Type the supporter's email address to confirm"), filters=[strip_text],
                        validators=[DataRequired(lazy_gettext("Type the supporter's email address to confirm the "
                                                              "erasure.")),
                                    Length(max=320)])

    def __init__(self, expected_email: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expected_email = expected_email

    def validate_email(self, field: StringField) -> None:
        if (field.data or "").lower() != self.expected_email.lower():
            raise ValidationError(lazy_gettext("That isn't this supporter's email address. Nothing was erased."))
