"""The give form. Amount rules (per-currency bounds, decimals) come from the catalogue service."""

from __future__ import annotations

from collections.abc import Mapping

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields import EmailField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from membership.config import CurrencyRules
from membership.giving.models import Frequency
from membership.giving.services import check_gift_amount
from membership.i18n import gettext as _
from membership.i18n import lazy_gettext
from membership.money import parse_major_amount

FREQUENCY_CHOICES = [
    SelectChoice(Frequency.ONCE.value, lazy_gettext("Once")),
    SelectChoice(Frequency.MONTHLY.value, lazy_gettext("Monthly")),
    SelectChoice(Frequency.YEARLY.value, lazy_gettext("Yearly")),
]
MESSAGE_MAX = 500
NAME_MAX = 120
ATTRIBUTION_MAX = 200
SOURCE_MAX = 2048


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class AmountForm(FlaskForm):
    """What is given, how often and in which currency: the give form's amount, and the live total's question
    (`QuoteForm`), read and checked by the same rules."""

    # validate_choice off: validate_frequency and validate_currency say what to choose, in the reader's language.
    frequency = RadioField(lazy_gettext("How often"), choices=FREQUENCY_CHOICES, default=Frequency.ONCE.value,
                           validate_choice=False)
    currency = SelectField(lazy_gettext("Currency"), validate_choice=False)
    preset = RadioField(lazy_gettext("Amount"), validate_choice=False, validators=[Optional()])
    amount = StringField(lazy_gettext("Other amount"),
                         validators=[Length(max=20, message=lazy_gettext("Type at most 20 characters."))])
    cover_fees = BooleanField(lazy_gettext("Cover the card processing fees, so the newsroom receives my full gift"))

    def __init__(self, currency_rules: Mapping[str, CurrencyRules], *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.currency_rules = currency_rules
        self.currency.choices = [SelectChoice(code, code) for code in currency_rules]
        self.amount_minor: int | None = None

    def validate_frequency(self, field: RadioField) -> None:
        if field.data not in {choice.value for choice in FREQUENCY_CHOICES}:
            raise ValidationError(_("Choose once, monthly or yearly."))

    def validate_currency(self, field: SelectField) -> None:
        if field.data not in self.currency_rules:
            raise ValidationError(_("Choose one of the currencies listed."))

    def validate_amount(self, field: StringField) -> None:
        """Resolve the custom amount, or else the chosen preset, into minor units within the bounds."""
        text = (field.data or "").strip() or (self.preset.data or "").strip()
        rules = self.currency_rules.get(self.currency.data or "")
        if rules is None:
            return  # the currency field reports the problem
        if not text:
            raise ValidationError(_("Choose an amount or enter your own."))
        try:
            minor = parse_major_amount(text, rules.code)
            check_gift_amount(rules, minor, bool(self.cover_fees.data))
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        self.amount_minor = minor


class QuoteForm(AmountForm):
    """The give form's live total asks, from the query string, what a choice would charge (GET /give/quote)."""

    class Meta:
        csrf = False  # a read-only question that changes nothing


class GiveForm(AmountForm):
    email = EmailField(
        lazy_gettext("Email"),
        filters=[_strip],
        validators=[DataRequired(lazy_gettext("Enter your email address.")),
                    Email(lazy_gettext("Enter a valid email address.")),
                    Length(max=254, message=lazy_gettext("An email address is at most 254 characters."))],
    )
    name = StringField(
        lazy_gettext("Your name (optional)"),
        filters=[_strip],
        validators=[Optional(),
                    Length(max=NAME_MAX, message=lazy_gettext("Your name can be at most %(max)d characters."))],
    )
    message = TextAreaField(
        lazy_gettext("A message for the newsroom (optional, may be shown on our supporter wall)"),
        validators=[Optional(), Length(max=MESSAGE_MAX,
                                       message=lazy_gettext("Your message can be at most %(max)d characters."))],
    )
    anonymous = BooleanField(lazy_gettext("Keep my name and message off our supporter wall"))
    email_consent = BooleanField(lazy_gettext("Email me news and updates from the newsroom (you can stop any time)"))
    source = HiddenField(validators=[Optional(), Length(max=SOURCE_MAX)])
    utm_source = HiddenField(validators=[Optional(), Length(max=ATTRIBUTION_MAX)])
    utm_medium = HiddenField(validators=[Optional(), Length(max=ATTRIBUTION_MAX)])
    utm_campaign = HiddenField(validators=[Optional(), Length(max=ATTRIBUTION_MAX)])
    utm_term = HiddenField(validators=[Optional(), Length(max=ATTRIBUTION_MAX)])
    utm_content = HiddenField(validators=[Optional(), Length(max=ATTRIBUTION_MAX)])
    # "1" once the reader, told this address already has a running membership, chose to add another.
    second_membership = HiddenField(validators=[Optional(), Length(max=1)])
