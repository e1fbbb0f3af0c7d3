"""Staff console forms."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, SelectField, StringField
from wtforms.fields import DateField, EmailField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, Regexp, ValidationError

from membership.staff import recovery
from membership.staff.models import Role

# The days staff may filter and export by: wider than any gift this service can hold, and narrow enough that the
# day after the last, or the months around it, are still dates Python and the database can hold.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2999, 12, 31)


class DayField(DateField):
    """A YYYY-MM-DD date from FIRST_DAY to LAST_DAY; any other date is refused with a message, like a typo."""

    data: date | None

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        if self.data is not None and not FIRST_DAY <= self.data <= LAST_DAY:
            self.data = None
            raise ValueError(f"Enter a date from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}.")


ROLE_CHOICES = [
    SelectChoice(Role.ANALYST.value, "Analyst: dashboard, supporters (read only), reports and exports"),
    SelectChoice(Role.EDITOR.value, "Editor: ballots and topic suggestions"),
    SelectChoice(Role.ADMIN.value, "Admin: everything"),
]


class SignInForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email address."), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired("Enter your password."), Length(max=200)])


def _code_field(label: str = "Code from your authenticator app") -> StringField:
    return StringField(label,
                       validators=[DataRequired("Enter the 6-digit code."),
                                   Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message="Enter the 6-digit code.")])


class CodeForm(FlaskForm):
    code = _code_field()


class RecoveryCodeForm(FlaskForm):
    code = StringField("Recovery code", validators=[DataRequired("Enter a recovery code.")])

    def validate_code(self, field: StringField) -> None:
        if recovery.normalise(field.data) is None:
            raise ValidationError("Enter a recovery code: ten letters and digits, like 7k2m9-x4qrt.")


class PasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired("Enter your current password.")])
    new = PasswordField("New password (at least 12 characters)",
                        validators=[DataRequired("Choose a new password."), Length(max=200)])
    confirm = PasswordField("New password again",
                            validators=[DataRequired("Repeat the new password."),
                                        EqualTo("new", "The two new passwords don't match.")])


class EnableTwoFactorForm(FlaskForm):
    secret = StringField(validators=[DataRequired(), Regexp(r"^[A-Z2-7]{16,64}$")])
    code = _code_field()


class NewAuthenticatorForm(FlaskForm):
    """A code from the new authenticator app. `setup` carries the new secret in a signed token that is made only
    once the password was right (see `new_authenticator` in `membership/staff/views.py`)."""

    setup = HiddenField(validators=[DataRequired()])
    code = _code_field("Code from your new authenticator app")


class ConfirmPasswordForm(FlaskForm):
    """The staff member's own password, asked again before turning two-factor sign-in off, replacing the
    recovery codes or moving to a new authenticator app."""

    password = PasswordField("Your password", validators=[DataRequired("Enter your password.")])


class NewStaffForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter an email address."),
                                            Email("Enter a valid email address."), Length(max=320)])
    name = StringField("Name", validators=[Optional(), Length(max=120)])
    role = SelectField("Role", choices=ROLE_CHOICES)


class EditStaffForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)
    active = BooleanField("Can sign in")


class ConfirmForm(FlaskForm):
    """A POST with nothing but its CSRF token: a confirmed button."""


class TwoFactorPolicyForm(FlaskForm):
    required = BooleanField("Require two-factor sign-in for every staff member")


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter form changes nothing

    action = StringField("Action", validators=[Optional(), Length(max=60)])
    actor = StringField("Who", validators=[Optional(), Length(max=120)])
    date_from = DayField("From", validators=[Optional()])
    date_to = DayField("To", validators=[Optional()])
