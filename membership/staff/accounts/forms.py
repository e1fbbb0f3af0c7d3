"""Forms of the staff accounts: sign-in, two-factor sign-in, passwords, staff users and the audit log filter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, SelectField, StringField
from wtforms.fields import EmailField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, Regexp, ValidationError

from membership.i18n import gettext, lazy_gettext
from membership.staff.accounts import recovery
from membership.staff.accounts.models import Role
from membership.staff.forms import DATE_MESSAGE, DayField

ROLE_CHOICES = [
    SelectChoice(Role.ANALYST.value, lazy_gettext("Analyst: dashboard, supporters (read only), reports and exports")),
    SelectChoice(Role.EDITOR.value, lazy_gettext("Editor: ballots and topic suggestions")),
    SelectChoice(Role.ADMIN.value, lazy_gettext("Admin: everything")),
]


class SignInForm(FlaskForm):
    email = EmailField(lazy_gettext("Email"),
                       validators=[DataRequired(lazy_gettext("Enter your email address.")), Length(max=320)])
    password = PasswordField(lazy_gettext("Password"),
                             validators=[DataRequired(lazy_gettext("Enter your password.")), Length(max=200)])


def _code_field(label: str = lazy_gettext("Code from your authenticator app")) -> StringField:
    return StringField(label,
                       validators=[DataRequired(lazy_gettext("Enter the 6-digit code.")),
                                   Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message=lazy_gettext("Enter the 6-digit code."))])


class CodeForm(FlaskForm):
    code = _code_field()


class RecoveryCodeForm(FlaskForm):
    code = StringField(lazy_gettext("Recovery code"), validators=[DataRequired(lazy_gettext("Enter a recovery code."))])

    def validate_code(self, field: StringField) -> None:
        if recovery.normalise(field.data) is None:
            raise ValidationError(lazy_gettext("Enter a recovery code: ten letters and digits, like 7k2m9-x4qrt."))


class PasswordForm(FlaskForm):
    current = PasswordField(lazy_gettext("Current password"),
                            validators=[DataRequired(lazy_gettext("Enter your current password."))])
    new = PasswordField(lazy_gettext("New password (at least 12 characters)"),
                        validators=[DataRequired(lazy_gettext("Choose a new password.")), Length(max=200)])
    confirm = PasswordField(lazy_gettext("New password again"),
                            validators=[DataRequired(lazy_gettext("Repeat the new password.")),
                                        EqualTo("new", lazy_gettext("The two new passwords don't match."))])


class EnableTwoFactorForm(FlaskForm):
    secret = StringField(lazy_gettext("Key"), validators=[
        DataRequired(lazy_gettext("The set-up key is missing. Scan the new code and try again.")),
        Regexp(r"^[A-Z2-7]{16,64}$", message=lazy_gettext("The set-up key is missing. Scan the new code and try "
                                                          "again."))])
    code = _code_field()


class NewAuthenticatorForm(FlaskForm):
    """A code from the new authenticator app. `setup` carries the new secret in a signed token that is made only
    once the password was right (see `new_authenticator` in `membership/staff/accounts/views.py`)."""

    setup = HiddenField(validators=[DataRequired()])
    code = _code_field(lazy_gettext("Code from your new authenticator app"))


class ConfirmPasswordForm(FlaskForm):
    """The staff member's own password, asked again before turning two-factor sign-in off, replacing the
    recovery codes or moving to a new authenticator app."""

    password = PasswordField(lazy_gettext("Your password"),
                             validators=[DataRequired(lazy_gettext("Enter your password."))])


class NewStaffForm(FlaskForm):
    email = EmailField(lazy_gettext("Email"), validators=[DataRequired(lazy_gettext("Enter an email address.")),
                                            Email(lazy_gettext("Enter a valid email address.")), Length(max=320)])
    name = StringField(lazy_gettext("Name"), validators=[Optional(), Length(max=120)])
    role = SelectField(lazy_gettext("Role"), choices=ROLE_CHOICES)


class EditStaffForm(FlaskForm):
    role = SelectField(lazy_gettext("Role"), choices=ROLE_CHOICES)
    active = BooleanField(lazy_gettext("Can sign in"))


class LanguageForm(FlaskForm):
    """The console's language: one of the offered languages, or (empty) the browser's."""

    locale = SelectField(lazy_gettext("Language of the staff console"), default="", validate_choice=False)

    def __init__(self, *args: Any, languages: Sequence[tuple[str, str]] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.locale.choices = [SelectChoice("", gettext("The language your browser asks for")),
                               *(SelectChoice(code, name) for code, name in languages)]

    def validate_locale(self, field: SelectField) -> None:
        if field.data not in {choice.value for choice in field.choices}:
            raise ValidationError(gettext("Choose one of the languages offered."))


class TwoFactorPolicyForm(FlaskForm):
    required = BooleanField(lazy_gettext("Require two-factor sign-in for every staff member"))


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter form changes nothing

    action = StringField(lazy_gettext("Action"), validators=[Optional(), Length(max=60)])
    actor = StringField(lazy_gettext("Who"), validators=[Optional(), Length(max=120)])
    date_from = DayField(lazy_gettext("From"), validators=[Optional()], invalid_value_message=DATE_MESSAGE)
    date_to = DayField(lazy_gettext("To"), validators=[Optional()], invalid_value_message=DATE_MESSAGE)
