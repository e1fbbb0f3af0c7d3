"""Patron forms: asking for a sign-in link, confirming it, and the account's self-service forms."""

from __future__ import annotations

from collections.abc import Mapping

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields import EmailField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from membership.config import CurrencyRules
from membership.formatting import format_recurring
from membership.giving.models import Membership
from membership.giving.services import check_gift_amount
from membership.i18n import gettext as _
from membership.i18n import lazy_gettext
from membership.money import parse_major_amount
from membership.supporters.services import InvalidEmail, normalise_email

COMMENT_MAX = 1000

# Stripe's cancellation feedback codes, with the words a patron sees.
CANCEL_REASONS = [
    SelectChoice("", lazy_gettext("Prefer not to say")),
    SelectChoice("too_expensive", lazy_gettext("It's too expensive for me right now")),
    SelectChoice("unused", lazy_gettext("I don't read enough to keep supporting")),
    SelectChoice("low_quality", lazy_gettext("I'm not happy with the journalism")),
    SelectChoice("missing_features", lazy_gettext("It's missing something I want")),
    SelectChoice("switched_service", lazy_gettext("I'm supporting someone else instead")),
    SelectChoice("customer_service", lazy_gettext("I had a bad experience with support")),
    SelectChoice("too_complex", lazy_gettext("Managing it is too complicated")),
    SelectChoice("other", lazy_gettext("Another reason")),
]


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class SignInForm(FlaskForm):
    email = EmailField(
        lazy_gettext("Email"),
        filters=[_strip],
        validators=[DataRequired(lazy_gettext("Enter your email address.")),
                    Email(lazy_gettext("Enter a valid email address.")),
                    Length(max=254, message=lazy_gettext("Enter at most %(max)d characters."))],
    )
    next = HiddenField(validators=[Optional(), Length(max=500)])

    def validate_email(self, field: EmailField) -> None:
        """Normalised as the supporter's address is stored, so the lookup and the rate limit agree."""
        try:
            field.data = normalise_email(field.data or "")
        except InvalidEmail:
            raise ValidationError(_("Enter a valid email address.")) from None


class ConfirmForm(FlaskForm):
    """A button and its CSRF token: sign in, sign out, open the Portal, resume."""


class PortalForm(FlaskForm):
    """Open Stripe's Billing Portal; `update_card` opens it straight on the card form."""

    update_card = HiddenField()


class ConsentForm(FlaskForm):
    email_consent = BooleanField(lazy_gettext("Email me news and updates from the newsroom (you can stop any time)"))


class BallotEmailsForm(FlaskForm):
    ballot_emails = BooleanField(lazy_gettext("Email me when a topic I voted for is published"))


class WallForm(FlaskForm):
    on_wall = BooleanField(lazy_gettext("Show my name and messages on the supporter wall"))


class LanguageForm(FlaskForm):
    """The language of the patron's pages (once signed in) and of every email we send them."""

    locale = SelectField(lazy_gettext("Language"), choices=[],
                         validators=[DataRequired(lazy_gettext("Choose a language."))])

    def __init__(self, locales: list[tuple[str, str]], *args: object, **kwargs: object) -> None:
        """`locales`: the offered languages, (code, its own name)."""
        super().__init__(*args, **kwargs)
        self.locale.choices = [SelectChoice(code, name) for code, name in locales]


class ChangeAmountForm(FlaskForm):
    """A new amount for the membership, in its own currency and within that currency's bounds.

    `membership` is the one being changed (None when the patron has none that can change); the
    problems a patron can fix are reported next to the amount, and nothing is sent to Stripe.
    """

    amount = StringField(lazy_gettext("New amount"),
                         validators=[Length(max=20, message=lazy_gettext("Enter at most %(max)d characters."))])
    currency = HiddenField()

    def __init__(self, membership: Membership | None, rules: Mapping[str, CurrencyRules],
                 *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.membership = membership
        self.rules = rules
        self.amount_minor: int | None = None

    def validate_amount(self, field: StringField) -> None:
        membership = self.membership
        if membership is None:
            raise ValidationError(_("You have no active membership whose amount can change."))
        if (self.currency.data or membership.currency) != membership.currency:
            raise ValidationError(_("Your membership is in %(currency)s; the amount can't move to another currency.",
                                    currency=membership.currency))
        rules = self.rules.get(membership.currency)
        if rules is None:
            raise ValidationError(_("Amounts in %(currency)s can't be changed online; please write to us.",
                                    currency=membership.currency))
        try:
            minor = parse_major_amount(field.data or "", membership.currency)
            check_gift_amount(rules, minor, cover_fees=False)  # the new price is charged as it is
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        if minor == membership.amount_minor:
            raise ValidationError(_("You already give %(amount)s.",
                                    amount=format_recurring(minor, membership.currency, membership.interval)))
        self.amount_minor = minor


class CancelForm(FlaskForm):
    reason = SelectField(lazy_gettext("Why are you cancelling? (optional)"), choices=CANCEL_REASONS, default="")
    comment = TextAreaField(lazy_gettext("Anything you'd like to tell us? (optional)"),
                            validators=[Optional(), Length(max=COMMENT_MAX,
                                                           message=lazy_gettext("Enter at most %(max)d characters."))])
