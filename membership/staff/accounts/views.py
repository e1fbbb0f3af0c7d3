"""The staff blueprint's account pages: sign-in, password, two-factor sign-in and recovery codes, staff users and
the audit log. The staff home page and menu join this blueprint in `membership/staff/views.py`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import segno
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from membership.config import signing_keys
from membership.db import current_session, parse_id, utcnow
from membership.errors import render_error
from membership.formatting import format_clock, format_minute
from membership.i18n import gettext as _
from membership.i18n import ngettext
from membership.staff.accounts import services, totp
from membership.staff.accounts.audit import AuditFilter, audit_page
from membership.staff.accounts.forms import (
    AuditFilterForm,
    CodeForm,
    ConfirmPasswordForm,
    EditStaffForm,
    EnableTwoFactorForm,
    NewAuthenticatorForm,
    NewStaffForm,
    PasswordForm,
    RecoveryCodeForm,
    SignInForm,
    TwoFactorPolicyForm,
)
from membership.staff.accounts.models import Role, StaffUser
from membership.staff.auth import (
    SESSION_KEY,
    Permission,
    client_ip,
    current_staff,
    sign_in_session,
    sign_out_session,
    signed_in_staff,
    staff_required,
)
from membership.staff.forms import ConfirmForm

log = logging.getLogger(__name__)
bp = Blueprint("staff", __name__, url_prefix="/staff")
PENDING_KEY = "staff_pending"
PENDING_SECONDS = 300
# With this many recovery codes left or fewer, the staff home and the two-factor page warn.
FEW_RECOVERY_CODES = 3
# How long the new secret shown when moving to a new authenticator app can be confirmed.
NEW_APP_SECONDS = 600


def _policy() -> services.Policy:
    config = current_app.config
    return services.Policy(
        lockout_attempts=int(config["STAFF_LOCKOUT_ATTEMPTS"]),
        lockout_minutes=int(config["STAFF_LOCKOUT_MINUTES"]),
        ip_limit=int(config["STAFF_SIGN_IN_LIMIT_PER_IP"]),
    )


def _safe_next(default: str) -> str:
    """Only same-site paths under /staff are followed after sign-in."""
    target = request.args.get("next", "")
    parts = urlsplit(target)
    if target.startswith("/staff") and not parts.scheme and not parts.netloc and "\\" not in target:
        return target
    return default


def _log_failure(step: str, result: services.SignInAttempt, staff_id: int | None = None) -> None:
    """An operator sees each failed staff sign-in (by account id and IP, never the address typed)."""
    if result.result in (services.SignInResult.OK, services.SignInResult.NEEDS_CODE):
        return
    log.warning("Staff sign-in failed at the %s step: %s", step, result.result.value,
                extra={"staff_id": staff_id or (result.staff.id if result.staff else None), "ip": client_ip()})


def _refused(result: services.SignInAttempt) -> tuple[str, int] | None:
    if result.result is services.SignInResult.RATE_LIMITED:
        return render_error(429, _("Too many sign-in attempts"),
                            _("Too many sign-in attempts came from your network. Please wait 15 minutes."))
    if result.result is services.SignInResult.LOCKED:
        message = (_("After repeated failed attempts this account is locked until %(time)s UTC.",
                     time=format_clock(result.locked_until)) if result.locked_until
                   else _("After repeated failed attempts this account is locked for now. Please try again later."))
        return render_error(429, _("Account locked for now"), message)
    return None


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> ResponseReturnValue:
    form = SignInForm()
    if not form.validate_on_submit():
        return render_template("staff/accounts/sign_in.html", form=form), 400 if request.method == "POST" else 200
    result = services.authenticate(current_session(), form.email.data, form.password.data, client_ip(), _policy())
    _log_failure("password", result)
    refused = _refused(result)
    if refused is not None:
        return refused
    if result.result is services.SignInResult.INVALID or result.staff is None:
        form.password.errors = [_("That email and password don't match a staff account.")]
        return render_template("staff/accounts/sign_in.html", form=form), 401
    if result.result is services.SignInResult.NEEDS_CODE:
        session.pop(SESSION_KEY, None)
        session[PENDING_KEY] = {"id": result.staff.id, "at": datetime.now(UTC).timestamp(),
                                "next": _safe_next(url_for("staff.home"))}
        return redirect(url_for("staff.sign_in_code"))
    sign_in_session(result.staff)
    return redirect(_safe_next(url_for("staff.home")))


@bp.route("/sign-in/code", methods=["GET", "POST"])
def sign_in_code() -> ResponseReturnValue:
    return _second_step(CodeForm(), "staff/accounts/sign_in_code.html", services.verify_code,
                        lambda: _("That code isn't right, or was already used. Try the newest code."))


@bp.route("/sign-in/recovery", methods=["GET", "POST"])
def sign_in_recovery() -> ResponseReturnValue:
    return _second_step(RecoveryCodeForm(), "staff/accounts/sign_in_recovery.html", services.use_recovery_code,
                        lambda: _("That recovery code isn't right, or was already used."))


SecondStepCheck = Callable[[Session, StaffUser, str, str, services.Policy], services.SignInAttempt]


def _second_step(form: CodeForm | RecoveryCodeForm, template: str, check: SecondStepCheck,
                 wrong: Callable[[], str]) -> ResponseReturnValue:
    """The step after the password, with two-factor sign-in on: a code from the app, or a recovery code."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or datetime.now(UTC).timestamp() - pending.get("at", 0) > PENDING_SECONDS:
        session.pop(PENDING_KEY, None)
        return redirect(url_for("staff.sign_in"))
    user = current_session().get(StaffUser, pending.get("id"))
    if user is None or not user.active or not user.totp_enabled:
        session.pop(PENDING_KEY, None)
        return redirect(url_for("staff.sign_in"))
    if not form.validate_on_submit():
        return render_template(template, form=form), 400 if request.method == "POST" else 200
    result = check(current_session(), user, form.code.data, client_ip(), _policy())
    _log_failure("second", result, user.id)
    refused = _refused(result)
    if refused is not None:
        session.pop(PENDING_KEY, None)
        return refused
    if result.result is not services.SignInResult.OK:
        form.code.errors = [wrong()]
        return render_template(template, form=form), 401
    target = str(pending.get("next") or url_for("staff.home"))
    sign_in_session(user)
    if result.recovery_codes_left is not None:
        flash(ngettext("You signed in with a recovery code; it won't work again. You have %(num)d recovery code left.",
                       "You signed in with a recovery code; it won't work again. You have %(num)d recovery codes left.",
                       result.recovery_codes_left))
    return redirect(target)


@bp.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    user = current_staff()
    if user is not None:
        services.sign_out(current_session(), user, client_ip())
    sign_out_session()
    flash(_("You are signed out on every device."))
    return redirect(url_for("staff.sign_in"))


@bp.route("/account/password", methods=["GET", "POST"])
@staff_required()
def password() -> ResponseReturnValue:
    user = signed_in_staff()
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            services.change_password(current_session(), user, form.current.data, form.new.data, ip=client_ip())
        except services.StaffError as exc:
            form.new.errors = [str(exc)]
        else:
            sign_in_session(user)  # the epoch moved on: keep this session, end all others
            flash(_("Your password is changed. Other sessions were signed out."))
            return redirect(url_for("staff.home"))
    status = 400 if request.method == "POST" else 200
    return render_template("staff/accounts/password.html", form=form, user=user), status


@bp.route("/account/two-factor", methods=["GET", "POST"])
@staff_required()
def two_factor() -> ResponseReturnValue:
    user = signed_in_staff()
    db = current_session()
    if user.totp_enabled:
        disable = ConfirmPasswordForm()
        if disable.validate_on_submit():
            try:
                services.disable_two_factor(db, user, disable.password.data, ip=client_ip())
            except services.StaffError as exc:
                disable.password.errors = [str(exc)]
            else:
                flash(_("Two-factor sign-in is off, and your recovery codes are deleted."))
                return redirect(url_for("staff.home"))
        return _two_factor_on_page(user, disable=disable)
    form = EnableTwoFactorForm()
    if form.validate_on_submit():
        try:
            codes = services.enable_two_factor(db, user, form.secret.data, form.code.data, ip=client_ip())
        except services.StaffError as exc:
            form.code.errors = [str(exc)]
        else:
            return _recovery_codes_page(user, codes, replaced=False)
    secret = form.secret.data if form.secret.data and not form.secret.errors else services.start_two_factor_setup(user)
    form.secret.data = secret
    page = render_template("staff/accounts/two_factor.html", user=user, form=form,
                           required=services.two_factor_required(db), **_authenticator_key(user, secret))
    return page, 400 if form.errors else 200, {"Cache-Control": "no-store"}  # the page shows the new secret


def _authenticator_key(user: StaffUser, secret: str) -> dict[str, str]:
    """What `staff/accounts/authenticator_key.html` shows for a new secret: the QR code of its otpauth:// URI, and
    the key."""
    uri = totp.provisioning_uri(secret, user.email, current_app.config["NEWSROOM_NAME"])
    qr_svg = segno.make(uri, error="m").svg_inline(scale=4, title=_("QR code for your authenticator app"))
    return {"secret": secret, "qr_svg": qr_svg}


@bp.post("/account/recovery-codes")
@staff_required()
def recovery_codes() -> ResponseReturnValue:
    user = signed_in_staff()
    if not user.totp_enabled:
        return redirect(url_for("staff.two_factor"))  # codes come with turning two-factor sign-in on
    form = ConfirmPasswordForm(prefix="codes")
    if form.validate_on_submit():
        try:
            codes = services.generate_recovery_codes(current_session(), user, form.password.data, ip=client_ip())
        except services.StaffError as exc:
            form.password.errors = [str(exc)]
        else:
            return _recovery_codes_page(user, codes, replaced=True)
    return _two_factor_on_page(user, regenerate=form)


@bp.post("/account/two-factor/new-app")
@staff_required()
def new_authenticator() -> ResponseReturnValue:
    """Moving two-factor sign-in to a new authenticator app, first step: the password, then a new secret to add to
    the app. The secret goes back and forth in the form, as when turning two-factor on, but signed with the account
    and its session epoch, so the next step accepts only a secret this step made after the right password."""
    user = signed_in_staff()
    if not user.totp_enabled:
        return redirect(url_for("staff.two_factor"))
    form = ConfirmPasswordForm(prefix="move")
    if form.validate_on_submit():
        try:
            secret = services.start_new_authenticator(user, form.password.data)
        except services.StaffError as exc:
            form.password.errors = [str(exc)]
        else:
            setup = _new_app_serializer().dumps({"id": user.id, "epoch": user.session_epoch, "secret": secret})
            return _new_authenticator_page(user, NewAuthenticatorForm(formdata=None, setup=setup), secret)
    return _two_factor_on_page(user, move=form)


@bp.post("/account/two-factor/new-app/confirm")
@staff_required()
def confirm_new_authenticator() -> ResponseReturnValue:
    """Moving to a new authenticator app, second step: a code from the new app replaces the stored secret."""
    user = signed_in_staff()
    if not user.totp_enabled:
        return redirect(url_for("staff.two_factor"))
    form = NewAuthenticatorForm()
    secret = _new_app_secret(user, form.setup.data or "")
    if secret is None:
        restart = ConfirmPasswordForm(prefix="move", formdata=None)
        restart.password.errors = [_("The new app's set-up expired (after %(minutes)s minutes) or was already used. "
                                     "Enter your password to start again.", minutes=NEW_APP_SECONDS // 60)]
        return _two_factor_on_page(user, move=restart)
    if form.validate_on_submit():
        try:
            services.replace_authenticator(current_session(), user, secret, form.code.data, ip=client_ip())
        except services.StaffError as exc:
            form.code.errors = [str(exc)]
        else:
            sign_in_session(user)  # the epoch moved on: keep this session, end all others
            flash(_("Two-factor sign-in now uses your new authenticator app; codes from the old one no longer "
                    "work. Your recovery codes still do. Other sessions were signed out."))
            return redirect(url_for("staff.two_factor"))
    return _new_authenticator_page(user, form, secret)


def _new_app_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(signing_keys(current_app.config), salt="staff-new-authenticator")


def _new_app_secret(user: StaffUser, setup: str) -> str | None:
    """The new secret in a set-up token, if this step made it for this account, since its sessions last changed
    (a confirmed move changes them, so a token works once) and within NEW_APP_SECONDS."""
    try:
        data = _new_app_serializer().loads(setup, max_age=NEW_APP_SECONDS)
    except BadSignature:  # expired too
        return None
    if not isinstance(data, dict) or data.get("id") != user.id or data.get("epoch") != user.session_epoch:
        return None
    secret = data.get("secret")
    return secret if isinstance(secret, str) else None


def _new_authenticator_page(user: StaffUser, form: NewAuthenticatorForm, secret: str) -> ResponseReturnValue:
    page = render_template("staff/accounts/two_factor_new_app.html", user=user, form=form,
                           **_authenticator_key(user, secret))
    return page, 400 if form.errors else 200, {"Cache-Control": "no-store"}


def _two_factor_on_page(user: StaffUser, *, disable: ConfirmPasswordForm | None = None,
                        regenerate: ConfirmPasswordForm | None = None,
                        move: ConfirmPasswordForm | None = None) -> ResponseReturnValue:
    """The two-factor page while it is on: the recovery codes left, new codes, a new app, turning it off."""
    disable = ConfirmPasswordForm() if disable is None else disable
    regenerate = ConfirmPasswordForm(prefix="codes") if regenerate is None else regenerate
    move = ConfirmPasswordForm(prefix="move") if move is None else move
    page = render_template("staff/accounts/two_factor.html", user=user, disable=disable, regenerate=regenerate,
                           move=move, required=services.two_factor_required(current_session()),
                           **recovery_codes_status(user))
    return page, 400 if disable.errors or regenerate.errors or move.errors else 200


def _recovery_codes_page(user: StaffUser, codes: list[str], *, replaced: bool) -> ResponseReturnValue:
    """The new codes, shown this once and never cached: on the page, and as a text file to download (a data:
    link, so no JavaScript and nothing kept on the server)."""
    text_file = "\n".join([
        _("Recovery codes for %(email)s, %(newsroom)s staff sign-in", email=user.email,
          newsroom=current_app.config["NEWSROOM_NAME"]),
        _("Made %(moment)s UTC. Each code works once, instead of the code from your authenticator app:",
          moment=format_minute(utcnow())),
        f"{current_app.config['PUBLIC_URL']}{url_for('staff.sign_in_recovery')}",
        _("Generating new codes makes all of these stop working."),
        "",
        *codes,
        "",
    ])
    page = render_template("staff/accounts/recovery_codes.html", user=user, codes=codes, replaced=replaced,
                           text_file=text_file)
    return page, 200, {"Cache-Control": "no-store"}


def recovery_codes_status(user: StaffUser) -> dict[str, object]:
    """What the staff home and the two-factor page say about the recovery codes left (with two-factor on)."""
    if not user.totp_enabled:
        return {"recovery_codes_left": None, "recovery_codes_warning": None}
    left = services.recovery_codes_left(current_session(), user)
    warning = None
    if left == 0:
        warning = _("You have no recovery codes left: if you lose your phone, you can't sign in until an admin "
                    "resets your two-factor sign-in.")
    elif left <= FEW_RECOVERY_CODES:
        warning = ngettext("Only %(num)d recovery code left: when they run out, losing your phone locks you out.",
                           "Only %(num)d recovery codes left: when they run out, losing your phone locks you out.",
                           left)
    return {"recovery_codes_left": left, "recovery_codes_warning": warning}


# Staff users (admin) ---------------------------------------------------------------------------------


@bp.route("/users", methods=["GET", "POST"])
@staff_required(Permission.STAFF)
def users() -> ResponseReturnValue:
    admin = signed_in_staff()
    db = current_session()
    form = NewStaffForm(prefix="new")
    policy = TwoFactorPolicyForm(prefix="policy", required=services.two_factor_required(db))
    if form.validate_on_submit():
        try:
            user, one_time = services.create_staff(db, form.email.data, Role(form.role.data), form.name.data or "",
                                                   actor=admin, ip=client_ip())
        except services.StaffError as exc:
            form.email.errors = [str(exc)]
        else:
            return render_template("staff/accounts/one_time_password.html", user=user, password=one_time)
    status = 400 if form.errors else 200
    return render_template("staff/accounts/users.html", staff=services.list_staff(db), form=form, policy=policy), status


@bp.post("/users/two-factor-policy")
@staff_required(Permission.STAFF)
def two_factor_policy() -> ResponseReturnValue:
    admin = signed_in_staff()
    form = TwoFactorPolicyForm(prefix="policy")
    if not form.validate_on_submit():
        abort(400)
    services.set_two_factor_policy(current_session(), admin, bool(form.required.data), ip=client_ip())
    flash(_("Two-factor sign-in is now required for all staff.") if form.required.data
          else _("Two-factor sign-in is now optional."))
    return redirect(url_for("staff.users"))


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@staff_required(Permission.STAFF)
def edit_user(user_id: int) -> ResponseReturnValue:
    admin = signed_in_staff()
    db = current_session()
    user = db.get(StaffUser, user_id)
    if user is None:
        abort(404)
    form = EditStaffForm(role=user.role.value, active=user.active)
    if form.validate_on_submit():
        try:
            services.update_staff(db, admin, user, role=Role(form.role.data), active=bool(form.active.data),
                                  ip=client_ip())
        except services.StaffError as exc:
            form.role.errors = [str(exc)]
        else:
            flash(_("Saved %(email)s.", email=user.email))
            return redirect(url_for("staff.users"))
    return render_template("staff/accounts/edit_user.html", user=user, form=form, confirm=ConfirmForm()), \
        400 if form.errors else 200


@bp.post("/users/<int:user_id>/reset-password")
@staff_required(Permission.STAFF)
def reset_password(user_id: int) -> ResponseReturnValue:
    admin, user = _admin_and_target(user_id)
    password = services.reset_password(current_session(), admin, user, ip=client_ip())
    return render_template("staff/accounts/one_time_password.html", user=user, password=password)


@bp.post("/users/<int:user_id>/reset-two-factor")
@staff_required(Permission.STAFF)
def reset_two_factor(user_id: int) -> ResponseReturnValue:
    admin, user = _admin_and_target(user_id)
    services.reset_two_factor(current_session(), admin, user, ip=client_ip())
    flash(_("Two-factor sign-in was reset for %(email)s and their recovery codes deleted; they set it up again "
            "at their next sign-in.", email=user.email))
    return redirect(url_for("staff.edit_user", user_id=user.id))


def _admin_and_target(user_id: int) -> tuple[StaffUser, StaffUser]:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    user = current_session().get(StaffUser, user_id)
    if user is None:
        abort(404)
    return signed_in_staff(), user


# Audit log (admin) -----------------------------------------------------------------------------------


@bp.get("/audit")
@staff_required(Permission.AUDIT)
def audit() -> ResponseReturnValue:
    form = AuditFilterForm(request.args)
    if request.args and not form.validate():
        return render_template("staff/accounts/audit.html", form=form, entries=[], next_before=None), 400
    raw_before = request.args.get("before", "")
    before = parse_id(raw_before)
    if raw_before and before is None:
        return render_template("staff/accounts/audit.html", form=form, entries=[], next_before=None,
                               error=_("That page link isn't valid.")), 400
    if form.date_from.data and form.date_to.data and form.date_from.data > form.date_to.data:
        form.date_to.errors = [_("The end date is before the start date.")]
        return render_template("staff/accounts/audit.html", form=form, entries=[], next_before=None), 400
    filters = AuditFilter(action=form.action.data or "", actor=form.actor.data or "", date_from=form.date_from.data,
                          date_to=form.date_to.data)
    page = audit_page(current_session(), filters, before)
    next_url = None
    if page.next_before is not None:
        args: dict[str, object] = {k: v for k, v in request.args.items() if k != "before"}
        next_url = url_for("staff.audit", before=page.next_before, **args)  # type: ignore[arg-type]
    return render_template("staff/accounts/audit.html", form=form, entries=page.entries, next_before=next_url,
                           next_url=next_url)
