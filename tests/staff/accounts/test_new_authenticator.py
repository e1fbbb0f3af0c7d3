"""Moving two-factor sign-in to a new authenticator app while it stays on: the password, a new secret to scan,
a code from the new app; the old app works until then and not after, the recovery codes stay, other sessions end."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
import segno
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous.timed import TimestampSigner
from werkzeug.test import TestResponse

from membership.db import db
from membership.staff.accounts import services, totp
from membership.staff.accounts.models import AuditEntry, Role, StaffUser
from membership.staff.accounts.views import NEW_APP_SECONDS
from tests.support.helpers import count, csrf_token, text
from tests.support.staff import (
    PASSWORD,
    audits,
    codes_on,
    sign_in,
    sign_in_as,
    sign_out,
    stored,
    turn_on_two_factor,
    use_code,
)

SETUP_RE = re.compile(r'name="setup" type="hidden" value="([^"]+)"')
EXPIRED = "The new app's set-up expired (after 10 minutes) or was already used. Enter your password to start again."


def start(client: FlaskClient, password: str = PASSWORD, csrf: bool = True) -> TestResponse:
    data = {"move-password": password}
    if csrf:
        data["move-csrf_token"] = csrf_token(client, "/staff/account/two-factor")
    return client.post("/staff/account/two-factor/new-app", data=data)


def shown(page: TestResponse) -> tuple[str, str]:
    """The new key on the page, and the form's signed set-up token."""
    body = page.get_data(as_text=True)
    match = SETUP_RE.search(body)
    assert match, "no set-up token on the page"
    return body.split("Key: <code>")[1].split("</code>")[0], match.group(1)


def confirm(client: FlaskClient, setup: str, code: str, csrf: bool = True) -> TestResponse:
    data = {"setup": setup, "code": code}
    if csrf:
        data["csrf_token"] = csrf_token(client, "/staff/account/two-factor")
    return client.post("/staff/account/two-factor/new-app/confirm", data=data)


def code_step(client: FlaskClient, code: str) -> TestResponse:
    return client.post("/staff/sign-in/code",
                       data={"code": code, "csrf_token": csrf_token(client, "/staff/sign-in/code")})


def fresh(user: StaffUser) -> StaffUser:
    db.session.rollback()
    return db.session.get_one(StaffUser, user.id)


@pytest.fixture
def with_app(client: FlaskClient, make_staff: Callable[..., StaffUser]) -> tuple[StaffUser, str, list[str]]:
    """An editor signed in on `client` with two-factor sign-in on: the account, its secret, its recovery codes."""
    user = make_staff(Role.EDITOR, email="new-phone@newsroom.example")
    sign_in_as(client, user)
    secret, page = turn_on_two_factor(client)
    return fresh(user), secret, codes_on(page)


def test_moving_to_a_new_app_while_two_factor_is_required(
    app: Flask, client: FlaskClient, with_app: tuple[StaffUser, str, list[str]]
) -> None:
    user, old_secret, recovery_codes = with_app
    services.set_setting(db.session(), services.REQUIRE_TWO_FACTOR, True)
    db.session.commit()
    step = int(time.time()) // totp.STEP_SECONDS  # the step that turned two-factor on: used
    laptop = sign_in_as(app.test_client(), user)  # another session of theirs

    page = " ".join(text(client.get("/staff/account/two-factor")).split())
    assert "Move to a new authenticator app" in page
    assert "it can't be turned off; to use a new phone, move to a new authenticator app above." in page

    started = start(client)
    assert started.status_code == 200 and started.headers["Cache-Control"] == "no-store"
    assert "Your current app keeps working until you enter a code from the new one" in text(started)
    assert "Your recovery codes keep working: they don't depend on the app." in text(started)
    new_secret, setup = shown(started)
    assert new_secret != old_secret and re.fullmatch(r"[A-Z2-7]{32}", new_secret)
    uri = totp.provisioning_uri(new_secret, "new-phone@newsroom.example", "Kyiv Independent Test")
    qr_code = segno.make(uri, error="m").svg_inline(scale=4, title="QR code for your authenticator app")
    assert qr_code in started.get_data(as_text=True)  # the new secret's QR code, drawn as at first set-up
    # Nothing is stored yet: the old app still signs in.
    assert fresh(user).totp_secret == old_secret
    phone = app.test_client()
    sign_in(phone, "new-phone@newsroom.example")
    assert code_step(phone, totp.code_at(old_secret, step + 1)).status_code == 302
    assert phone.get("/staff/").status_code == 200

    done = confirm(client, setup, totp.code_at(new_secret, step))
    assert done.status_code == 302 and done.headers["Location"] == "/staff/account/two-factor"
    flashed = text(client.get(done.headers["Location"]))
    assert ("Two-factor sign-in now uses your new authenticator app; codes from the old one no longer work. "
            "Your recovery codes still do. Other sessions were signed out.") in flashed
    moved = fresh(user)
    # The replay guard now follows the new secret: the confirming code's step.
    assert (moved.totp_enabled, moved.totp_secret, moved.totp_last_step) == (True, new_secret, step)
    assert client.get("/staff/").status_code == 200  # this session stays signed in
    assert laptop.get("/staff/").status_code == 302 and phone.get("/staff/").status_code == 302  # the others end
    [entry] = audits("staff.two_factor_replaced")
    assert (entry.staff_user_id, entry.target_id, entry.details) == (user.id, str(user.id), {})
    everything = str([(row.action, row.details) for row in db.session.scalars(sa.select(AuditEntry))])
    assert new_secret not in everything and old_secret not in everything
    assert len(stored(user)) == 10 and all(row.used_at is None for row in stored(user))
    reused = confirm(client, setup, totp.code_at(new_secret, step + 1))
    assert reused.status_code == 400 and EXPIRED in text(reused)  # a set-up works once

    sign_out(client)
    sign_in(client, "new-phone@newsroom.example")
    # Past the replay guard (step + 1 is newer than the confirming code), yet refused: the old app's secret is gone.
    old = code_step(client, totp.code_at(old_secret, step + 1))
    assert old.status_code == 401 and "That code isn't right, or was already used." in text(old)
    assert code_step(client, totp.code_at(new_secret, step)).status_code == 401  # the confirming code: used
    assert code_step(client, totp.code_at(new_secret, step + 1)).status_code == 302
    assert client.get("/staff/").status_code == 200
    sign_out(client)
    sign_in(client, "new-phone@newsroom.example")
    assert use_code(client, recovery_codes[0]).status_code == 302  # the recovery codes still work


def test_a_wrong_password_shows_no_new_key(client: FlaskClient, with_app: tuple[StaffUser, str, list[str]]) -> None:
    user, secret, _ = with_app
    wrong = start(client, "not my password")
    assert wrong.status_code == 400 and "Your password is not right." in text(wrong)
    empty = start(client, "")
    assert empty.status_code == 400 and "Enter your password." in text(empty)
    for page in (wrong, empty):
        assert "Key: <code>" not in page.get_data(as_text=True) and not SETUP_RE.search(page.get_data(as_text=True))
    assert fresh(user).totp_secret == secret and audits("staff.two_factor_replaced") == []


def test_a_wrong_code_from_the_new_app_changes_nothing(
    client: FlaskClient, with_app: tuple[StaffUser, str, list[str]]
) -> None:
    user, old_secret, _ = with_app
    before = (user.totp_secret, user.totp_last_step, user.session_epoch)
    new_secret, setup = shown(start(client))
    step = int(time.time()) // totp.STEP_SECONDS

    wrong = confirm(client, setup, totp.code_at(old_secret, step + 1))  # the old app's code, by mistake
    assert wrong.status_code == 400
    assert re.search(r'<p class="field-error" id="code-error">\s*<span>That code doesn\'t match. Check the time on '
                     r"your phone and try the newest code.</span>", text(wrong))
    assert shown(wrong)[0] == new_secret  # the same key, to try again
    malformed = confirm(client, setup, "12345")
    assert malformed.status_code == 400 and "Enter the 6-digit code." in text(malformed)
    moved = fresh(user)
    assert (moved.totp_secret, moved.totp_last_step, moved.session_epoch) == before
    # As when turning two-factor on, the code checked against a secret just shown doesn't count toward the lock-out.
    assert moved.failed_attempts == 0 and moved.locked_until is None
    assert audits("staff.two_factor_replaced") == []

    assert confirm(client, setup, totp.code_at(new_secret, step)).status_code == 302
    assert fresh(user).totp_secret == new_secret


def test_missing_csrf_is_refused_and_changes_nothing(
    client: FlaskClient, with_app: tuple[StaffUser, str, list[str]]
) -> None:
    user, secret, _ = with_app
    forged_start = start(client, csrf=False)
    assert forged_start.status_code == 400 and "Key: <code>" not in forged_start.get_data(as_text=True)
    new_secret, setup = shown(start(client))
    forged = confirm(client, setup, totp.code_at(new_secret, int(time.time()) // totp.STEP_SECONDS), csrf=False)
    assert forged.status_code == 400
    assert fresh(user).totp_secret == secret and audits("staff.two_factor_replaced") == []


def test_only_a_set_up_made_after_the_password_for_this_account_and_recently_is_confirmed(
    app: Flask, client: FlaskClient, make_staff: Callable[..., StaffUser], with_app: tuple[StaffUser, str, list[str]],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    user, secret, _ = with_app
    step = int(time.time()) // totp.STEP_SECONDS
    chosen = totp.new_secret()  # a secret of someone's choosing, posted without the password step
    refused = confirm(client, chosen, totp.code_at(chosen, step))
    assert refused.status_code == 400 and EXPIRED in text(refused)

    other = app.test_client()
    colleague = make_staff(Role.ADMIN)
    sign_in_as(other, colleague)
    turn_on_two_factor(other)
    _, theirs = shown(start(other))
    assert EXPIRED in text(confirm(client, theirs, "123456"))  # another account's set-up

    new_secret, setup = shown(start(client))
    later = int(time.time()) + NEW_APP_SECONDS + 1
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: later)
    expired = confirm(client, setup, totp.code_at(new_secret, step))
    assert expired.status_code == 400 and EXPIRED in text(expired)
    assert fresh(user).totp_secret == secret and audits("staff.two_factor_replaced") == []


def test_not_offered_while_two_factor_is_off(client: FlaskClient, make_staff: Callable[..., StaffUser]) -> None:
    user = make_staff(Role.ANALYST)
    sign_in_as(client, user)
    assert "Move to a new authenticator app" not in text(client.get("/staff/account/two-factor"))
    entries = count(AuditEntry)
    started = start(client)
    assert started.status_code == 302 and started.headers["Location"] == "/staff/account/two-factor"
    secret = totp.new_secret()
    confirmed = confirm(client, secret, totp.code_at(secret, int(time.time()) // totp.STEP_SECONDS))
    assert confirmed.status_code == 302 and confirmed.headers["Location"] == "/staff/account/two-factor"
    off = fresh(user)
    assert (off.totp_enabled, off.totp_secret) == (False, "") and count(AuditEntry) == entries
