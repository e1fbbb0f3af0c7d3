"""Staff accounts, sign-in, two-factor sign-in, recovery codes and settings. Plain values in; the caller commits."""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from membership import ratelimit
from membership.config import STAFF_PASSWORD_HASH
from membership.db import rows_affected, utcnow
from membership.i18n import gettext as _
from membership.staff.accounts import recovery, totp
from membership.staff.accounts.audit import record_audit
from membership.staff.accounts.models import RecoveryCode, Role, Setting, StaffUser

MIN_PASSWORD_LENGTH = 12
REQUIRE_TWO_FACTOR = "staff.require_two_factor"


def _password_method() -> str:
    """Werkzeug's hash method from STAFF_PASSWORD_HASH (tests choose a cheap one); the default outside an app."""
    return str(current_app.config["STAFF_PASSWORD_HASH"]) if has_app_context() else STAFF_PASSWORD_HASH


def _hash_password(password: str) -> str:
    # The method and its cost are stored in the hash, so hashes made at another cost keep verifying.
    return generate_password_hash(password, method=_password_method())


@cache
def _dummy_hash(method: str) -> str:
    """Checked when the address is unknown, so a wrong address takes as long as a wrong password."""
    return generate_password_hash("not-a-real-password-but-the-same-cost", method=method)


class StaffError(ValueError):
    """A staff action that can't be done; the message is for the person who tried."""


@dataclass(frozen=True)
class Policy:
    """Sign-in limits, from settings."""

    lockout_attempts: int = 5
    lockout_minutes: int = 15
    ip_limit: int = 20
    ip_window_minutes: int = 15


class SignInResult(enum.StrEnum):
    OK = "ok"
    NEEDS_CODE = "needs_code"
    INVALID = "invalid"
    LOCKED = "locked"
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True)
class SignInAttempt:
    result: SignInResult
    staff: StaffUser | None = None
    locked_until: datetime | None = None
    recovery_codes_left: int | None = None  # after signing in with a recovery code


# Settings -------------------------------------------------------------------------------------------


def get_setting(session: Session, key: str, default: Any = None) -> Any:
    row = session.get(Setting, key)
    return default if row is None else row.value


def set_setting(session: Session, key: str, value: Any) -> None:
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=value))
    else:
        row.value = value
    session.flush()


def two_factor_required(session: Session) -> bool:
    return bool(get_setting(session, REQUIRE_TWO_FACTOR, False))


# Accounts -------------------------------------------------------------------------------------------


def find_staff(session: Session, email: str) -> StaffUser | None:
    """The account with this address, in any case."""
    return session.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))


def list_staff(session: Session) -> list[StaffUser]:
    """Every staff account, active or not, by email address."""
    return list(session.scalars(select(StaffUser).order_by(StaffUser.email)))


def normalise_staff_email(email: str) -> str:
    email = email.strip().lower()
    if "@" not in email or len(email) > 320 or " " in email:
        raise StaffError(_("Enter a valid email address."))
    return email


def check_password_strength(password: str, email: str = "") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(_("Use at least %(count)s characters.", count=MIN_PASSWORD_LENGTH))
    if email and email.split("@")[0].lower() in password.lower():
        raise StaffError(_("Don't use your email address in your password."))
    if len(set(password)) < 5:
        raise StaffError(_("Use a less repetitive password."))


def one_time_password() -> str:
    """A password to hand over once; the staff member must change it at first sign-in."""
    return secrets.token_urlsafe(12)


def create_staff(session: Session, email: str, role: Role, name: str = "", password: str | None = None,
                 actor: StaffUser | None = None, ip: str = "") -> tuple[StaffUser, str | None]:
    """A new staff account. Without a password, returns a one-time one (shown once, never stored in clear)."""
    address = normalise_staff_email(email)
    if session.scalar(select(StaffUser.id).where(StaffUser.email == address)) is not None:
        raise StaffError(_("A staff account with this email already exists."))
    generated = None
    if password is None:
        generated = password = one_time_password()
    else:
        check_password_strength(password, address)
    user = StaffUser(email=address, name=name.strip(), role=role, password_hash=_hash_password(password),
                     must_change_password=generated is not None)
    session.add(user)
    session.flush()
    record_audit(session, actor, "staff.created", target_type="staff_user", target_id=user.id, ip=ip,
                 actor_label="command line" if actor is None else "", role=role.value)
    return user, generated


def change_password(session: Session, user: StaffUser, current: str, new: str, ip: str = "") -> None:
    if not check_password_hash(user.password_hash, current):
        raise StaffError(_("Your current password is not right."))
    if current == new:
        raise StaffError(_("Choose a password different from the current one."))
    check_password_strength(new, user.email)
    user.password_hash = _hash_password(new)
    user.must_change_password = False
    user.session_epoch += 1
    record_audit(session, user, "staff.password_changed", target_type="staff_user", target_id=user.id, ip=ip)


def update_staff(session: Session, admin: StaffUser, user: StaffUser, *, role: Role, active: bool,
                 ip: str = "") -> None:
    """Change a staff member's role or access; their open sessions end."""
    if user.id == admin.id and (role is not Role.ADMIN or not active):
        raise StaffError(_("You can't remove your own admin access; ask another admin."))
    if user.role is Role.ADMIN and (role is not Role.ADMIN or not active) and _other_active_admins(session, user) == 0:
        raise StaffError(_("There must always be at least one active admin."))
    changes: dict[str, Any] = {}
    if user.role is not role:
        changes["role"] = [user.role.value, role.value]
    if user.active != active:
        changes["active"] = [user.active, active]
    if not changes:
        return
    user.role, user.active = role, active
    user.session_epoch += 1
    record_audit(session, admin, "staff.updated", target_type="staff_user", target_id=user.id, ip=ip, **changes)


def _other_active_admins(session: Session, user: StaffUser) -> int:
    return int(session.scalar(
        select(func.count()).select_from(StaffUser)
        .where(StaffUser.role == Role.ADMIN, StaffUser.active.is_(True), StaffUser.id != user.id)
    ) or 0)


def reset_password(session: Session, admin: StaffUser | None, user: StaffUser, ip: str = "") -> str:
    """A new one-time password for `user`; lifts a lock-out and ends their sessions. `admin` None: the command line."""
    password = one_time_password()
    user.password_hash = _hash_password(password)
    user.must_change_password = True
    user.failed_attempts = 0
    user.locked_until = None
    user.session_epoch += 1
    record_audit(session, admin, "staff.password_reset", target_type="staff_user", target_id=user.id, ip=ip,
                 actor_label="command line" if admin is None else "")
    return password


def reset_two_factor(session: Session, admin: StaffUser | None, user: StaffUser, ip: str = "") -> None:
    """Turn `user`'s two-factor sign-in off, delete their recovery codes and end their sessions, for when they
    lost their phone. `admin` None: the command line (when no admin can sign in)."""
    _turn_two_factor_off(session, user)
    user.session_epoch += 1
    record_audit(session, admin, "staff.two_factor_reset", target_type="staff_user", target_id=user.id, ip=ip,
                 actor_label="command line" if admin is None else "")


def set_two_factor_policy(session: Session, admin: StaffUser, required: bool, ip: str = "") -> None:
    if two_factor_required(session) == required:
        return
    set_setting(session, REQUIRE_TWO_FACTOR, required)
    record_audit(session, admin, "settings.changed", target_type="setting", target_id=REQUIRE_TWO_FACTOR,
                 ip=ip, value=required)


# Sign-in --------------------------------------------------------------------------------------------


def authenticate(session: Session, email: str, password: str, ip: str, policy: Policy,
                 now: datetime | None = None) -> SignInAttempt:
    """Check a password sign-in, counting failures toward the account's lockout and the IP's limit."""
    now = now or utcnow()
    if not ratelimit.allow(session, "staff_sign_in_ip", ip, policy.ip_limit,
                           timedelta(minutes=policy.ip_window_minutes)):
        record_audit(session, None, "staff.sign_in_failed", ip=ip, actor_label=email[:320], reason="rate_limited")
        return SignInAttempt(SignInResult.RATE_LIMITED)
    address = email.strip().lower()
    user = session.scalar(select(StaffUser).where(StaffUser.email == address).with_for_update())
    if user is None or not user.active:
        check_password_hash(_dummy_hash(_password_method()), password)
        return _unknown_address(session, address, ip, policy)
    if user.locked_until is not None and user.locked_until > now:
        record_audit(session, user, "staff.sign_in_failed", target_type="staff_user", target_id=user.id, ip=ip,
                     reason="locked")
        return SignInAttempt(SignInResult.LOCKED, locked_until=user.locked_until)
    if not check_password_hash(user.password_hash, password):
        return _failed(session, user, ip, policy, now, "password")
    if user.totp_enabled:
        # Failures count until the code is right too: entering the password again doesn't reset the count,
        # so the lockout also bounds guessing the six-digit code.
        return SignInAttempt(SignInResult.NEEDS_CODE, user)
    user.failed_attempts = 0
    user.locked_until = None
    _signed_in(session, user, ip, now)
    return SignInAttempt(SignInResult.OK, user)


def verify_code(session: Session, user: StaffUser, code: str, ip: str, policy: Policy,
                now: datetime | None = None) -> SignInAttempt:
    """The second step: a TOTP code, not reused, counting failures toward the lockout."""
    now = now or utcnow()
    refused = _second_step_refused(session, user, ip, policy, now)
    if refused is not None:
        return refused
    step = totp.matching_step(user.totp_secret, code, now=now.timestamp())
    if step is None or step <= user.totp_last_step:
        return _failed(session, user, ip, policy, now, "code")
    user.totp_last_step = step
    return _second_step_passed(session, user, ip, now)


def use_recovery_code(session: Session, user: StaffUser, code: str, ip: str, policy: Policy,
                      now: datetime | None = None) -> SignInAttempt:
    """The second step with a recovery code instead of a TOTP code: it works once, and a wrong or used one counts
    toward the lockout and the IP's limit exactly as a wrong TOTP code does. Audited with the codes left."""
    now = now or utcnow()
    refused = _second_step_refused(session, user, ip, policy, now)
    if refused is not None:
        return refused
    if not _burn_recovery_code(session, user, code, now):
        return _failed(session, user, ip, policy, now, "recovery_code")
    left = recovery_codes_left(session, user)
    record_audit(session, user, "staff.recovery_code_used", target_type="staff_user", target_id=user.id, ip=ip,
                 remaining=left)
    return replace(_second_step_passed(session, user, ip, now), recovery_codes_left=left)


def _second_step_refused(session: Session, user: StaffUser, ip: str, policy: Policy,
                         now: datetime) -> SignInAttempt | None:
    """Count the attempt toward the IP's limit and lock the account's row, so simultaneous codes for one account
    are checked one after another (a TOTP code can't be used twice at once, nor a failure go uncounted)."""
    if not ratelimit.allow(session, "staff_sign_in_ip", ip, policy.ip_limit,
                           timedelta(minutes=policy.ip_window_minutes)):
        record_audit(session, user, "staff.sign_in_failed", target_type="staff_user", target_id=user.id, ip=ip,
                     reason="rate_limited")
        return SignInAttempt(SignInResult.RATE_LIMITED)
    session.refresh(user, with_for_update=True)
    if user.locked_until is not None and user.locked_until > now:
        return SignInAttempt(SignInResult.LOCKED, locked_until=user.locked_until)
    return None


def _second_step_passed(session: Session, user: StaffUser, ip: str, now: datetime) -> SignInAttempt:
    user.failed_attempts = 0
    user.locked_until = None
    _signed_in(session, user, ip, now)
    return SignInAttempt(SignInResult.OK, user)


def _burn_recovery_code(session: Session, user: StaffUser, code: str, now: datetime) -> bool:
    """Mark the code used if it is one of the user's unused codes. One conditional UPDATE: of two requests
    with the same code at once, only one finds it unused."""
    typed = recovery.normalise(code)
    if typed is None:
        return False
    burnt = session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.staff_user_id == user.id, RecoveryCode.code_hash == recovery.code_hash(typed),
               RecoveryCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return rows_affected(burnt) == 1


def _unknown_address(session: Session, address: str, ip: str, policy: Policy) -> SignInAttempt:
    """A wrong address locks as an account does (the same count, the same answer, for as long), so the
    lock-out message doesn't tell whether an account exists. Counted (hashed) with `ratelimit.strike`, one
    try at a time however many arrive together."""
    label = address[:320]
    # An account's failures count until it signs in, with no time limit; a day is long enough here.
    result = ratelimit.strike(session, "staff_sign_in_unknown", address, policy.lockout_attempts, timedelta(days=1),
                              timedelta(minutes=policy.lockout_minutes))
    if result.locked_until is None:
        record_audit(session, None, "staff.sign_in_failed", ip=ip, actor_label=label, reason="unknown")
        return SignInAttempt(SignInResult.INVALID)
    if not result.locked_now:
        record_audit(session, None, "staff.sign_in_failed", ip=ip, actor_label=label, reason="unknown_locked")
        return SignInAttempt(SignInResult.LOCKED, locked_until=result.locked_until)
    record_audit(session, None, "staff.sign_in_failed", ip=ip, actor_label=label, reason="unknown",
                 locked_until=result.locked_until.isoformat())
    return SignInAttempt(SignInResult.LOCKED, locked_until=result.locked_until)


def _failed(session: Session, user: StaffUser, ip: str, policy: Policy, now: datetime, reason: str) -> SignInAttempt:
    user.failed_attempts += 1
    details: dict[str, Any] = {"reason": reason, "failed_attempts": user.failed_attempts}
    if user.failed_attempts >= policy.lockout_attempts:
        user.locked_until = now + timedelta(minutes=policy.lockout_minutes)
        user.failed_attempts = 0
        details["locked_until"] = user.locked_until.isoformat()
    record_audit(session, user, "staff.sign_in_failed", target_type="staff_user", target_id=user.id, ip=ip,
                 **details)
    if user.locked_until is not None and user.locked_until > now:
        return SignInAttempt(SignInResult.LOCKED, locked_until=user.locked_until)
    return SignInAttempt(SignInResult.INVALID)


def _signed_in(session: Session, user: StaffUser, ip: str, now: datetime) -> None:
    user.last_sign_in_at = now
    record_audit(session, user, "staff.signed_in", target_type="staff_user", target_id=user.id, ip=ip)


def sign_out(session: Session, user: StaffUser, ip: str = "") -> None:
    """End the member's sessions on every device (a copied cookie stops working too), and record it."""
    user.session_epoch = StaffUser.session_epoch + 1
    record_audit(session, user, "staff.signed_out", target_type="staff_user", target_id=user.id, ip=ip)


def set_staff_locale(session: Session, user: StaffUser, locale: str | None) -> None:
    """Save the console's language the staff member chose (None: their browser's)."""
    user.locale = locale or None
    session.flush()


def start_two_factor_setup(user: StaffUser) -> str:
    """A fresh secret for the user to scan; stored only once they confirm a code from it."""
    return totp.new_secret()


def enable_two_factor(session: Session, user: StaffUser, secret: str, code: str, ip: str = "") -> list[str]:
    """Turn two-factor sign-in on once a code from `secret` matches. Returns the new recovery codes, to be shown
    once: only their hashes are kept."""
    step = _confirmed_step(secret, code)
    user.totp_secret = secret
    user.totp_enabled = True
    user.totp_last_step = step
    codes = _replace_recovery_codes(session, user)
    record_audit(session, user, "staff.two_factor_enabled", target_type="staff_user", target_id=user.id, ip=ip,
                 recovery_codes=len(codes))
    return codes


def start_new_authenticator(user: StaffUser, password: str) -> str:
    """A fresh secret for the user's new authenticator app, after their password. Nothing is stored: the current
    app keeps working until `replace_authenticator` confirms a code from the new secret."""
    if not user.totp_enabled:
        raise StaffError(_("Two-factor sign-in is off: turn it on instead."))
    _confirm_password(user, password)
    return totp.new_secret()


def replace_authenticator(session: Session, user: StaffUser, secret: str, code: str, ip: str = "") -> None:
    """Move the user's two-factor sign-in to a new authenticator app once a code from its `secret` matches: the old
    app's codes stop working, the recovery codes stay (they don't depend on the app) and the user's sessions end
    (the caller keeps the current one). A wrong code changes nothing and, as when turning two-factor on, doesn't
    count toward the lock-out: whoever sends it was just shown the secret it is checked against."""
    if not user.totp_enabled:
        raise StaffError(_("Two-factor sign-in is off: turn it on instead."))
    step = _confirmed_step(secret, code)
    user.totp_secret = secret
    # The replay guard follows the new secret: the code just confirmed, and any older one, won't sign in.
    user.totp_last_step = step
    user.session_epoch += 1
    record_audit(session, user, "staff.two_factor_replaced", target_type="staff_user", target_id=user.id, ip=ip)


def _confirm_password(user: StaffUser, password: str) -> None:
    """The signed-in user's password, asked again before a change to how they sign in; StaffError if wrong."""
    if not check_password_hash(user.password_hash, password):
        raise StaffError(_("Your password is not right."))


def _confirmed_step(secret: str, code: str) -> int:
    """The time step of a code from a secret being set up, or StaffError if the code doesn't match."""
    step = totp.matching_step(secret, code)
    if step is None:
        raise StaffError(_("That code doesn't match. Check the time on your phone and try the newest code."))
    return step


def disable_two_factor(session: Session, user: StaffUser, password: str, ip: str = "") -> None:
    """Turn the user's own two-factor sign-in off (and delete their recovery codes), after their password."""
    if two_factor_required(session):
        raise StaffError(_("Two-factor sign-in is required for all staff; it can't be turned off."))
    _confirm_password(user, password)
    _turn_two_factor_off(session, user)
    record_audit(session, user, "staff.two_factor_disabled", target_type="staff_user", target_id=user.id, ip=ip)


def _turn_two_factor_off(session: Session, user: StaffUser) -> None:
    user.totp_enabled = False
    user.totp_secret = ""
    _delete_recovery_codes(session, user)


def generate_recovery_codes(session: Session, user: StaffUser, password: str, ip: str = "") -> list[str]:
    """A new set of recovery codes, after the user's password; the previous set stops working. Returns the codes,
    to be shown once."""
    _confirm_password(user, password)
    codes = _replace_recovery_codes(session, user)
    record_audit(session, user, "staff.recovery_codes_generated", target_type="staff_user", target_id=user.id,
                 ip=ip, recovery_codes=len(codes))
    return codes


def recovery_codes_left(session: Session, user: StaffUser) -> int:
    """How many of the user's recovery codes are still unused."""
    return int(session.scalar(
        select(func.count()).select_from(RecoveryCode)
        .where(RecoveryCode.staff_user_id == user.id, RecoveryCode.used_at.is_(None))
    ) or 0)


def _replace_recovery_codes(session: Session, user: StaffUser) -> list[str]:
    _delete_recovery_codes(session, user)
    codes = recovery.new_codes()
    session.add_all(RecoveryCode(staff_user_id=user.id, code_hash=recovery.code_hash(code)) for code in codes)
    session.flush()
    return [recovery.formatted(code) for code in codes]


def _delete_recovery_codes(session: Session, user: StaffUser) -> None:
    session.execute(delete(RecoveryCode).where(RecoveryCode.staff_user_id == user.id))
