"""Staff sign-in: passwords, lockout, rate limits, one-time passwords, TOTP, sessions, the CLI."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership.db import db
from membership.staff.accounts import totp
from membership.staff.accounts.models import AuditEntry, Role, StaffUser
from tests.support.helpers import CSRF_RE, csrf_token, text
from tests.support.staff import PASSWORD, sign_in, sign_in_as, turn_on_two_factor


def actions() -> list[str]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)))


def test_password_sign_in_and_out(client: FlaskClient, make_staff: Callable[..., StaffUser]) -> None:
    user = make_staff(Role.ANALYST, email="ana@newsroom.example")
    response = sign_in(client, "Ana@Newsroom.example")
    assert response.status_code == 302 and response.headers["Location"] == "/staff/"
    home = client.get("/staff/")
    assert home.status_code == 200 and "Signed in as Analyst <ana@newsroom.example> (analyst)" in text(home)
    assert actions()[-1] == "staff.signed_in"
    db.session.refresh(user)
    assert user.last_sign_in_at is not None
    out = client.post("/staff/sign-out", data={"csrf_token": csrf_token(client, "/staff/")})
    assert out.status_code == 302
    assert client.get("/staff/").status_code == 302
    assert actions()[-1] == "staff.signed_out"


def test_sign_out_ends_the_session_on_every_device(app: Flask, client: FlaskClient,
                                                   make_staff: Callable[..., StaffUser]) -> None:
    user = make_staff(Role.ADMIN, email="two-browsers@newsroom.example")
    sign_in(client, "two-browsers@newsroom.example")
    laptop = app.test_client()
    sign_in(laptop, "two-browsers@newsroom.example")
    with client.session_transaction() as cookie:
        copied = dict(cookie["staff"])  # what someone copying the cookie would hold
    assert laptop.get("/staff/").status_code == 200
    out = client.post("/staff/sign-out", data={"csrf_token": csrf_token(client, "/staff/")})
    assert "You are signed out on every device." in text(client.get(out.headers["Location"]))
    assert laptop.get("/staff/").status_code == 302
    thief = app.test_client()
    with thief.session_transaction() as cookie:
        cookie["staff"] = copied
    assert thief.get("/staff/").status_code == 302
    db.session.refresh(user)
    assert user.session_epoch == 1


def test_codes_count_toward_the_network_limit(app: Flask, client: FlaskClient,
                                             make_staff: Callable[..., StaffUser]) -> None:
    user = make_staff(Role.ADMIN, email="limit@newsroom.example")
    sign_in_as(client, user)
    secret = enable_totp(client)
    client.post("/staff/sign-out", data={"csrf_token": csrf_token(client, "/staff/")})
    app.config["STAFF_SIGN_IN_LIMIT_PER_IP"] = 2
    sign_in(client, "limit@newsroom.example")  # one attempt from this address
    client.post("/staff/sign-in/code", data={"code": "000000", "csrf_token": csrf_token(client, "/staff/sign-in/code")})
    code = totp.code_at(secret, int(time.time()) // 30 + 1)
    refused = client.post("/staff/sign-in/code",
                          data={"code": code, "csrf_token": csrf_token(client, "/staff/sign-in/code")})
    assert refused.status_code == 429 and "Too many sign-in attempts" in text(refused)
    assert client.get("/staff/").status_code == 302
    assert actions()[-1] == "staff.sign_in_failed"


def test_guessing_the_code_locks_the_account_even_if_the_password_is_entered_again(
    app: Flask, client: FlaskClient, make_staff: Callable[..., StaffUser]
) -> None:
    """Someone who has the password can't guess codes forever: every wrong code counts toward the lockout."""
    user = make_staff(Role.ADMIN, email="guess@newsroom.example")
    sign_in_as(client, user)
    enable_totp(client)
    client.post("/staff/sign-out", data={"csrf_token": csrf_token(client, "/staff/")})
    attempts = app.config["STAFF_LOCKOUT_ATTEMPTS"]
    answers = []
    for _ in range(attempts):
        assert sign_in(client, "guess@newsroom.example").headers["Location"] == "/staff/sign-in/code"
        wrong = client.post("/staff/sign-in/code",
                            data={"code": "000000", "csrf_token": csrf_token(client, "/staff/sign-in/code")})
        answers.append(wrong.status_code)
    assert answers == [401] * (attempts - 1) + [429]
    locked = sign_in(client, "guess@newsroom.example")  # the right password, but the account is locked
    assert locked.status_code == 429
    db.session.refresh(user)
    assert user.locked_until is not None


def test_wrong_password_and_unknown_email_get_the_same_answer(
    client: FlaskClient, make_staff: Callable[..., StaffUser]
) -> None:
    make_staff(Role.ADMIN, email="boss@newsroom.example")
    wrong = sign_in(client, "boss@newsroom.example", "not the password")
    unknown = sign_in(client, "nobody@newsroom.example", "not the password")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "That email and password don't match a staff account." in text(response)
    assert actions().count("staff.sign_in_failed") == 2
    assert client.get("/staff/").status_code == 302


def test_an_unknown_address_locks_like_an_account_so_the_lock_reveals_nothing(
    app: Flask, make_staff: Callable[..., StaffUser]
) -> None:
    make_staff(Role.ADMIN, email="real@newsroom.example")
    answers: dict[str, list[tuple[int, str]]] = {}
    for address in ("real@newsroom.example", "made-up@newsroom.example"):
        browser = app.test_client()
        seen = []
        for _ in range(app.config["STAFF_LOCKOUT_ATTEMPTS"] + 2):
            response = sign_in(browser, address, "guess guess guess")
            page = re.sub(r"\d\d:\d\d UTC", "HH:MM UTC", text(response))
            page = CSRF_RE.sub("", page.replace(address, "ADDRESS"))  # the form keeps what was typed
            seen.append((response.status_code, page))
        answers[address] = seen
    real, made_up = answers.values()
    assert [status for status, _ in real] == [401] * 4 + [429] * 3
    assert real == made_up
    assert "locked until HH:MM UTC" in real[-1][1]


def test_account_locks_after_repeated_failures(
    app: Flask, client: FlaskClient, make_staff: Callable[..., StaffUser]
) -> None:
    user = make_staff(Role.ADMIN, email="lock@newsroom.example")
    for _ in range(app.config["STAFF_LOCKOUT_ATTEMPTS"]):
        sign_in(client, "lock@newsroom.example", "guess guess guess")
    locked = sign_in(client, "lock@newsroom.example", PASSWORD)
    assert locked.status_code == 429 and "locked until" in text(locked)
    db.session.refresh(user)
    assert user.locked_until is not None
    assert client.get("/staff/").status_code == 302


def test_sign_in_is_rate_limited_per_ip(app: Flask, client: FlaskClient) -> None:
    app.config["STAFF_SIGN_IN_LIMIT_PER_IP"] = 3
    for n in range(3):
        assert sign_in(client, f"x{n}@newsroom.example", "nope nope nope").status_code == 401
    limited = sign_in(client, "x9@newsroom.example", "nope nope nope")
    assert limited.status_code == 429 and "Too many sign-in attempts" in text(limited)


def test_missing_csrf_is_refused(client: FlaskClient, make_staff: Callable[..., StaffUser]) -> None:
    make_staff(Role.ADMIN, email="csrf@newsroom.example")
    response = client.post("/staff/sign-in", data={"email": "csrf@newsroom.example", "password": PASSWORD})
    assert response.status_code == 400 and "This form has expired" in text(response)
    assert "staff.signed_in" not in actions()


def test_open_redirects_are_not_followed(client: FlaskClient, make_staff: Callable[..., StaffUser]) -> None:
    make_staff(Role.ADMIN, email="next@newsroom.example")
    response = client.post(
        "/staff/sign-in?next=https://evil.example/staff",
        data={"email": "next@newsroom.example", "password": PASSWORD,
              "csrf_token": csrf_token(client, "/staff/sign-in")},
    )
    assert response.headers["Location"] == "/staff/"


def test_one_time_password_must_be_changed_first(app: Flask, client: FlaskClient) -> None:
    result = app.test_cli_runner().invoke(
        args=["staff", "create", "--email", "new@newsroom.example", "--role", "editor", "--one-time-password"]
    )
    assert result.exit_code == 0, result.output
    one_time = result.output.strip().rsplit(" ", 1)[-1]
    assert sign_in(client, "new@newsroom.example", one_time).status_code == 302
    forced = client.get("/staff/")
    assert forced.status_code == 302 and forced.headers["Location"] == "/staff/account/password"
    weak = client.post(
        "/staff/account/password",
        data={
            "current": one_time,
            "new": "short",
            "confirm": "short",
            "csrf_token": csrf_token(client, "/staff/account/password"),
        },
    )
    assert weak.status_code == 400 and "Use at least 12 characters." in text(weak)
    ok = client.post(
        "/staff/account/password",
        data={
            "current": one_time,
            "new": "a much longer passphrase",
            "confirm": "a much longer passphrase",
            "csrf_token": csrf_token(client, "/staff/account/password"),
        },
    )
    assert ok.status_code == 302
    assert client.get("/staff/").status_code == 200
    assert "staff.password_changed" in actions()


def test_cli_rejects_bad_input(app: Flask) -> None:
    runner = app.test_cli_runner()
    bad_role = runner.invoke(args=["staff", "create", "--email", "a@newsroom.example", "--role", "owner"])
    assert bad_role.exit_code == 2 and "owner" in bad_role.output
    runner.invoke(args=["staff", "create", "--email", "a@newsroom.example", "--role", "admin", "--one-time-password"])
    duplicate = runner.invoke(
        args=["staff", "create", "--email", "A@newsroom.example", "--role", "admin", "--one-time-password"]
    )
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StaffUser)) == 1


def enable_totp(client: FlaskClient) -> str:
    return turn_on_two_factor(client)[0]


def test_two_factor_sign_in(client: FlaskClient, make_staff: Callable[..., StaffUser]) -> None:
    user = make_staff(Role.ADMIN, email="totp@newsroom.example")
    sign_in_as(client, user)
    secret = enable_totp(client)
    client.post("/staff/sign-out", data={"csrf_token": csrf_token(client, "/staff/")})
    step_one = sign_in(client, "totp@newsroom.example")
    assert step_one.headers["Location"] == "/staff/sign-in/code"
    assert client.get("/staff/").status_code == 302  # not signed in yet
    wrong = client.post(
        "/staff/sign-in/code", data={"code": "000000", "csrf_token": csrf_token(client, "/staff/sign-in/code")}
    )
    assert wrong.status_code == 401
    code = totp.code_at(secret, int(time.time()) // 30 + 1)  # the next code: the current one set 2FA up
    ok = client.post("/staff/sign-in/code",
                     data={"code": code, "csrf_token": csrf_token(client, "/staff/sign-in/code")})
    assert ok.status_code == 302 and client.get("/staff/").status_code == 200
    # The same code can't be used again, even inside its 30 seconds.
    client.post("/staff/sign-out", data={"csrf_token": csrf_token(client, "/staff/")})
    sign_in(client, "totp@newsroom.example")
    replay = client.post("/staff/sign-in/code",
                         data={"code": code, "csrf_token": csrf_token(client, "/staff/sign-in/code")})
    assert replay.status_code == 401


def test_admin_can_require_two_factor(client: FlaskClient, app: Flask, make_staff: Callable[..., StaffUser]) -> None:
    admin = make_staff(Role.ADMIN)
    sign_in_as(client, admin)
    response = client.post(
        "/staff/users/two-factor-policy",
        data={"policy-required": "y", "policy-csrf_token": csrf_token(client, "/staff/users")},
    )
    assert response.status_code == 302
    assert client.get("/staff/users").headers["Location"] == "/staff/account/two-factor"
    enable_totp(client)
    assert client.get("/staff/users").status_code == 200
    assert "settings.changed" in actions()


def test_sessions_end_when_an_admin_deactivates_the_account(
    client: FlaskClient, app: Flask, make_staff: Callable[..., StaffUser]
) -> None:
    analyst = make_staff(Role.ANALYST)
    other = app.test_client()
    sign_in_as(other, analyst)
    assert other.get("/staff/").status_code == 200
    sign_in_as(client, make_staff(Role.ADMIN))
    response = client.post(
        f"/staff/users/{analyst.id}",
        data={"role": "analyst", "csrf_token": csrf_token(client, f"/staff/users/{analyst.id}")},
    )
    assert response.status_code == 302
    assert other.get("/staff/").status_code == 302


def test_staff_sessions_expire(client: FlaskClient, app: Flask, make_staff: Callable[..., StaffUser]) -> None:
    user = make_staff(Role.ADMIN)
    with client.session_transaction() as session:
        session["staff"] = {
            "id": user.id,
            "epoch": user.session_epoch,
            "at": int(time.time()) - app.config["STAFF_SESSION_HOURS"] * 3600 - 1,
        }
    assert client.get("/staff/").status_code == 302


@pytest.mark.parametrize("code", ["", "12345", "abcdef", "1234567"])
def test_code_form_rejects_malformed_codes(
    client: FlaskClient, make_staff: Callable[..., StaffUser], code: str
) -> None:
    user = make_staff(Role.ADMIN, email="codes@newsroom.example")
    sign_in_as(client, user)
    enable_totp(client)
    client.post("/staff/sign-out", data={"csrf_token": csrf_token(client, "/staff/")})
    sign_in(client, "codes@newsroom.example")
    response = client.post(
        "/staff/sign-in/code", data={"code": code, "csrf_token": csrf_token(client, "/staff/sign-in/code")}
    )
    assert response.status_code == 400 and "Enter the 6-digit code." in text(response)
