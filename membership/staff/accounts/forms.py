"""Forms of the staff accounts: sign-in, two-factor sign-in, passwords, staff users and the audit log filter."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, PasswordField, SelectField, StringField
from wtforms.fields import EmailField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, Regexp, ValidationError

from membership.staff.accounts import recovery
from membership.staff.accounts.models import Role
from membership.staff.forms import DayField

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
    once the password was right (see `new_authenticator` in `membership/staff/accounts/views.py`)."""

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


class TwoFactorPolicyForm(FlaskForm):
    required = BooleanField("Require two-factor sign-in for every staff member")


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter form changes nothing

    action = StringField("Action", validators=[Optional(), Length(max=60)])
    actor = StringField("Who", validators=[Optional(), Length(max=120)])
    date_from = DayField("From", validators=[Optional()])
    date_to = DayField("To", validators=[Optional()])
