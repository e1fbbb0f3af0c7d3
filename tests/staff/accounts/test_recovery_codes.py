"""Recovery codes: shown once and stored hashed, a code signs in once, wrong ones lock out like wrong TOTP codes,
new codes void the old ones, turning two-factor off or resetting it deletes them, and the command line's
break-glass resets."""

from __future__ import annotations

import hashlib
import html
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from membership.db import db
from membership.staff.accounts import recovery, services, totp
from membership.staff.accounts.models import AuditEntry, Role, StaffUser
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

CODE_RE = re.compile(r"^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$")  # no i, l, o or u


def with_two_factor(client: FlaskClient, user: StaffUser) -> list[str]:
    """`user` signs in, turns two-factor sign-in on and signs out again; the recovery codes they were shown."""
    sign_in_as(client, user)
    _, page = turn_on_two_factor(client)
    sign_out(client)
    return codes_on(page)


def test_turning_two_factor_on_shows_ten_codes_once_and_keeps_only_their_hashes(
    client: FlaskClient, make_staff: Callable[..., StaffUser]
) -> None:
    user = make_staff(Role.EDITOR, email="keeper@newsroom.example")
    sign_in_as(client, user)
    _, page = turn_on_two_factor(client)
    assert page.headers["Cache-Control"] == "no-store"
    assert "They are shown only now." in text(page)
    codes = codes_on(page)
    assert len(codes) == len(set(codes)) == 10 and all(CODE_RE.match(code) for code in codes)

    link = re.search(r'download="recovery-codes.txt"\s+href="data:text/plain;charset=utf-8,([^"]+)"',
                     page.get_data(as_text=True))
    assert link, "no download link"
    download = unquote(html.unescape(link.group(1)))
    assert download.startswith("Recovery codes for keeper@newsroom.example, Kyiv Independent Test staff sign-in")
    assert download.split("\n\n")[1].split() == codes

    rows = stored(user)
    assert sorted(row.code_hash for row in rows) == sorted(
        hashlib.sha256(code.replace("-", "").encode()).hexdigest() for code in codes)
    assert all(row.used_at is None for row in rows)
    [enabled] = audits("staff.two_factor_enabled")
    assert enabled.details == {"recovery_codes": 10}

    again = client.get("/staff/account/two-factor")
    assert "You have 10 recovery codes left." in text(again)
    assert not any(code in again.get_data(as_text=True) for code in codes)  # never shown again


def test_a_recovery_code_signs_in_once(client: FlaskClient, make_staff: Callable[..., StaffUser]) -> None:
    user = make_staff(Role.ANALYST, email="lost-phone@newsroom.example")
    codes = with_two_factor(client, user)
    sign_in(client, "lost-phone@newsroom.example")
    code_page = client.get("/staff/sign-in/code")
    assert '<a href="/staff/sign-in/recovery">Use a recovery code</a>' in code_page.get_data(as_text=True)
    assert client.get("/staff/sign-in/recovery").status_code == 200

    typed = codes[0].upper().replace("-", " ")  # as someone reads it off paper
    ok = use_code(client, typed)
    assert ok.status_code == 302 and ok.headers["Location"] == "/staff/"
    home = client.get("/staff/")
    assert home.status_code == 200
    assert "You signed in with a recovery code; it won't work again. You have 9 recovery codes left." in text(home)
    assert "Two-factor sign-in (on, 9 recovery codes left)" in text(home)
    [used] = audits("staff.recovery_code_used")
    assert used.details == {"remaining": 9} and used.staff_user_id == user.id
    assert audits("staff.signed_in")[-1].id > used.id
    assert [row.used_at is not None for row in stored(user)].count(True) == 1

    sign_out(client)
    sign_in(client, "lost-phone@newsroom.example")
    replay = use_code(client, codes[0])
    assert replay.status_code == 401 and "That recovery code isn't right, or was already used." in text(replay)
    assert client.get("/staff/").status_code == 302
    assert audits("staff.sign_in_failed")[-1].details == {"reason": "recovery_code", "failed_attempts": 1}
    assert use_code(client, codes[1]).status_code == 302
    assert audits("staff.recovery_code_used")[-1].details == {"remaining": 8}
    everything = str([(entry.actor, entry.details) for entry in db.session.scalars(sa.select(AuditEntry))])
    assert not any(code in everything or code.replace("-", "") in everything for code in codes)


def test_the_recovery_page_needs_the_password_first(client: FlaskClient, make_staff: Callable[..., StaffUser]) -> None:
    codes = with_two_factor(client, make_staff(Role.ADMIN))
    posted = client.post("/staff/sign-in/recovery",
                         data={"code": codes[0], "csrf_token": csrf_token(client, "/staff/sign-in")})
    for response in (client.get("/staff/sign-in/recovery"), posted):
        assert response.status_code == 302 and response.headers["Location"] == "/staff/sign-in"


@pytest.mark.parametrize("typed", ["", "7k2m9-x4qr", "7k2m9-x4qrt5", "7k2m9-x4qru", "123456"])
def test_malformed_recovery_codes_are_refused_with_a_message(
    client: FlaskClient, make_staff: Callable[..., StaffUser], typed: str
) -> None:
    user = make_staff(Role.ADMIN, email="typo@newsroom.example")
    with_two_factor(client, user)
    sign_in(client, "typo@newsroom.example")
    response = use_code(client, typed)
    assert response.status_code == 400
    assert ("Enter a recovery code." if not typed else "ten letters and digits, like 7k2m9-x4qrt") in text(response)
    db.session.refresh(user)
    assert user.failed_attempts == 0


def test_codes_are_read_as_people_type_them() -> None:
    assert recovery.normalise(" 7K2M9 - X4QRT ") == "7k2m9x4qrt"
    assert recovery.normalise("OIL23-45678") == "01123" + "45678"  # o, i and l are read as 0, 1 and 1
    assert recovery.normalise("7k2m9-x4qru") is None  # u is not in the alphabet
    codes = recovery.new_codes()
    assert len(set(codes)) == 10 and all(recovery.normalise(code) == code for code in codes)
    assert recovery.formatted("7k2m9x4qrt") == "7k2m9-x4qrt"


def test_wrong_recovery_codes_lock_the_account_as_wrong_totp_codes_do(
    app: Flask, client: FlaskClient, make_staff: Callable[..., StaffUser]
) -> None:
    """Wrong TOTP codes and wrong recovery codes count together toward the one lock-out."""
    user = make_staff(Role.ADMIN, email="guesser@newsroom.example")
    codes = with_two_factor(client, user)
    attempts = app.config["STAFF_LOCKOUT_ATTEMPTS"]
    answers = []
    for n in range(attempts):
        sign_in(client, "guesser@newsroom.example")
        if n % 2:
            wrong = client.post("/staff/sign-in/code",
                                data={"code": "000000", "csrf_token": csrf_token(client, "/staff/sign-in/code")})
        else:
            wrong = use_code(client, "22222-22222")
        answers.append(wrong.status_code)
    assert answers == [401] * (attempts - 1) + [429]
    assert "locked until" in text(wrong)
    assert sign_in(client, "guesser@newsroom.example").status_code == 429
    reasons = [entry.details["reason"] for entry in audits("staff.sign_in_failed")]
    assert reasons == ["recovery_code", "code", "recovery_code", "code", "recovery_code", "locked"]

    db.session.refresh(user)
    locked = services.use_recovery_code(db.session(), user, codes[0], "192.0.2.7", services.Policy())
    assert locked.result is services.SignInResult.LOCKED  # even a right code, while locked
    assert all(row.used_at is None for row in stored(user))


def test_recovery_codes_count_toward_the_network_limit(
    app: Flask, client: FlaskClient, make_staff: Callable[..., StaffUser]
) -> None:
    user = make_staff(Role.ADMIN, email="network@newsroom.example")
    codes = with_two_factor(client, user)
    app.config["STAFF_SIGN_IN_LIMIT_PER_IP"] = 2
    sign_in(client, "network@newsroom.example")
    assert use_code(client, "22222-22222").status_code == 401
    refused = use_code(client, codes[0])
    assert refused.status_code == 429 and "Too many sign-in attempts" in text(refused)
    assert client.get("/staff/").status_code == 302
    assert all(row.used_at is None for row in stored(user))


def generate(client: FlaskClient, password: str) -> TestResponse:
    csrf = csrf_token(client, "/staff/account/two-factor")
    return client.post("/staff/account/recovery-codes", data={"codes-password": password, "codes-csrf_token": csrf})


def test_new_codes_need_the_password_and_void_the_old_ones(
    client: FlaskClient, make_staff: Callable[..., StaffUser]
) -> None:
    user = make_staff(Role.EDITOR, email="renew@newsroom.example")
    old = with_two_factor(client, user)
    sign_in_as(client, user)
    before = [row.code_hash for row in stored(user)]

    wrong = generate(client, "not my password")
    assert wrong.status_code == 400 and "Your password is not right." in text(wrong)
    empty = generate(client, "")
    assert empty.status_code == 400 and "Enter your password." in text(empty)
    forged = client.post("/staff/account/recovery-codes", data={"codes-password": PASSWORD})
    assert forged.status_code == 400
    assert [row.code_hash for row in stored(user)] == before
    assert audits("staff.recovery_codes_generated") == []

    page = generate(client, PASSWORD)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "Your new recovery codes" in text(page) and "Your earlier recovery codes no longer work." in text(page)
    new = codes_on(page)
    assert len(new) == 10 and not set(new) & set(old)
    assert len(stored(user)) == 10
    [generated] = audits("staff.recovery_codes_generated")
    assert generated.details == {"recovery_codes": 10} and generated.staff_user_id == user.id

    sign_out(client)
    sign_in(client, "renew@newsroom.example")
    assert use_code(client, old[0]).status_code == 401
    assert use_code(client, new[0]).status_code == 302


def test_without_two_factor_there_are_no_codes_to_renew(
    client: FlaskClient, make_staff: Callable[..., StaffUser]
) -> None:
    user = make_staff(Role.ANALYST)
    sign_in_as(client, user)
    response = generate(client, PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/staff/account/two-factor"
    assert stored(user) == []


def test_turning_two_factor_off_deletes_the_codes(client: FlaskClient, make_staff: Callable[..., StaffUser]) -> None:
    user = make_staff(Role.ANALYST)
    with_two_factor(client, user)
    sign_in_as(client, user)
    off = client.post("/staff/account/two-factor",
                      data={"password": PASSWORD, "csrf_token": csrf_token(client, "/staff/account/two-factor")})
    assert off.status_code == 302
    assert "Two-factor sign-in is off, and your recovery codes are deleted." in text(client.get("/staff/"))
    assert stored(user) == []


def test_an_admin_reset_deletes_the_codes(app: Flask, client: FlaskClient,
                                          make_staff: Callable[..., StaffUser]) -> None:
    user = make_staff(Role.EDITOR, email="reset-me@newsroom.example")
    with_two_factor(client, user)
    sign_in(client, "reset-me@newsroom.example")  # half-way through signing in when the admin resets it
    admin = app.test_client()
    sign_in_as(admin, make_staff(Role.ADMIN))
    reset = admin.post(f"/staff/users/{user.id}/reset-two-factor",
                       data={"csrf_token": csrf_token(admin, f"/staff/users/{user.id}")})
    assert reset.status_code == 302
    assert "their recovery codes deleted" in text(admin.get(reset.headers["Location"]))
    assert stored(user) == []
    db.session.refresh(user)
    assert not user.totp_enabled
    # The code step no longer applies to them: back to the sign-in.
    assert client.get("/staff/sign-in/recovery").headers["Location"] == "/staff/sign-in"


@pytest.mark.parametrize(("used", "home_says", "page_says"), [
    (0, None, "You have 10 recovery codes left."),
    (6, None, "You have 4 recovery codes left."),
    (7, "Only 3 recovery codes left: when they run out, losing your phone locks you out.",
     "Only 3 recovery codes left"),
    (9, "Only 1 recovery code left", "Only 1 recovery code left"),
    (10, "You have no recovery codes left: if you lose your phone, you can't sign in until an admin resets your "
         "two-factor sign-in.", "You have no recovery codes left"),
])
def test_the_account_pages_warn_when_few_codes_are_left(
    client: FlaskClient, make_staff: Callable[..., StaffUser], used: int, home_says: str | None, page_says: str
) -> None:
    user = make_staff(Role.ANALYST)
    codes = with_two_factor(client, user)
    db.session.refresh(user)
    for code in codes[:used]:
        outcome = services.use_recovery_code(db.session(), user, code, "192.0.2.1", services.Policy(ip_limit=100))
        assert outcome.result is services.SignInResult.OK
    db.session.commit()
    sign_in_as(client, user)
    home = text(client.get("/staff/"))
    warnings = re.findall(r'<p class="warning">(.*?)</p>', home, re.S)
    if home_says is None:
        assert warnings == []
    else:
        [warning] = warnings
        assert home_says in warning and 'href="/staff/account/two-factor#recovery-codes"' in warning
    page = text(client.get("/staff/account/two-factor"))
    assert page_says in page
    assert ('<p class="warning">' in page) == (home_says is not None)


# The command line's break-glass ----------------------------------------------------------------------------


def test_cli_resets_two_factor_when_no_admin_can_sign_in(
    app: Flask, client: FlaskClient, make_staff: Callable[..., StaffUser]
) -> None:
    user = make_staff(Role.ADMIN, email="only-admin@newsroom.example")
    with_two_factor(client, user)
    sign_in_as(client, user)
    result = app.test_cli_runner().invoke(args=["staff", "reset-two-factor", "Only-Admin@Newsroom.example"])
    assert result.exit_code == 0, result.output
    assert "Two-factor sign-in is off for only-admin@newsroom.example" in result.output
    db.session.refresh(user)
    assert not user.totp_enabled and user.totp_secret == "" and stored(user) == []
    assert client.get("/staff/").status_code == 302  # their sessions ended
    [entry] = audits("staff.two_factor_reset")
    assert (entry.actor, entry.staff_user_id, entry.target_id) == ("command line", None, str(user.id))
    assert sign_in(client, "only-admin@newsroom.example").headers["Location"] == "/staff/"


def test_cli_refuses_an_unknown_address_and_changes_nothing(
    app: Flask, client: FlaskClient, make_staff: Callable[..., StaffUser]
) -> None:
    user = make_staff(Role.ADMIN, email="known@newsroom.example")
    with_two_factor(client, user)
    entries, epoch = count(AuditEntry), db.session.get_one(StaffUser, user.id).session_epoch
    runner = app.test_cli_runner()
    for command in ("reset-two-factor", "reset-password"):
        result = runner.invoke(args=["staff", command, "unknown@newsroom.example"])
        assert result.exit_code == 2
        assert "no staff account has the address 'unknown@newsroom.example'; nothing was changed." in result.output
    make_staff(Role.EDITOR, email="no2fa@newsroom.example")
    off = runner.invoke(args=["staff", "reset-two-factor", "no2fa@newsroom.example"])
    assert off.exit_code == 1 and "already off for no2fa@newsroom.example" in off.output
    assert count(AuditEntry) == entries + 1  # the editor's creation only
    db.session.refresh(user)
    assert user.totp_enabled and len(stored(user)) == 10 and user.session_epoch == epoch


def test_cli_resets_a_password(app: Flask, client: FlaskClient, make_staff: Callable[..., StaffUser]) -> None:
    user = make_staff(Role.ADMIN, email="forgetful@newsroom.example")
    for _ in range(app.config["STAFF_LOCKOUT_ATTEMPTS"]):
        sign_in(client, "forgetful@newsroom.example", "a wrong guess here")
    result = app.test_cli_runner().invoke(args=["staff", "reset-password", "forgetful@newsroom.example"])
    assert result.exit_code == 0, result.output
    one_time = result.output.strip().rsplit(" ", 1)[-1]
    assert sign_in(client, "forgetful@newsroom.example", one_time).status_code == 302
    assert client.get("/staff/").headers["Location"] == "/staff/account/password"  # to be changed first
    [entry] = audits("staff.password_reset")
    assert (entry.actor, entry.staff_user_id, entry.target_id) == ("command line", None, str(user.id))


# Concurrency (PostgreSQL) ----------------------------------------------------------------------------------


@pytest.mark.postgres_only
@pytest.mark.parametrize("kind", ["recovery code", "TOTP code"])
def test_one_code_sent_eight_times_at_once_signs_in_once(app: Flask, make_staff: Callable[..., StaffUser],
                                                         kind: str) -> None:
    """Each attempt in its own transaction on its own connection, released together: one of them signs in, the
    others count as failures (a recovery code is burnt by a conditional UPDATE; the account's row is locked while
    a code is checked, so a TOTP code can't be used twice at once either)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent sign-ins are tested on PostgreSQL only (SQLite serialises writers): "
                    "run with TEST_DATABASE_URL=postgresql://… (make test-postgres)")
    user = make_staff(Role.ADMIN)
    secret, step = totp.new_secret(), int(time.time()) // totp.STEP_SECONDS
    recovery_codes = services.enable_two_factor(db.session(), user, secret, totp.code_at(secret, step))
    db.session.commit()
    check = services.use_recovery_code if kind == "recovery code" else services.verify_code
    code = recovery_codes[0] if kind == "recovery code" else totp.code_at(secret, step + 1)
    user_id, attempts = user.id, 8
    engine = sa.create_engine(db.engine.url, pool_size=attempts, max_overflow=0)
    barrier = threading.Barrier(attempts)

    def attempt(n: int) -> services.SignInResult:
        with app.app_context(), Session(engine) as session:
            staff = session.get_one(StaffUser, user_id)
            barrier.wait()
            policy = services.Policy(ip_limit=100, lockout_attempts=100)  # every attempt reaches the code
            outcome = check(session, staff, code, f"192.0.2.{n}", policy)
            session.commit()
            return outcome.result

    try:
        with ThreadPoolExecutor(max_workers=attempts) as pool:
            results = list(pool.map(attempt, range(attempts)))
    finally:
        engine.dispose()
    assert sorted(results) == sorted([services.SignInResult.OK] + [services.SignInResult.INVALID] * (attempts - 1))
    assert len(audits("staff.signed_in")) == 1
    assert len(audits("staff.sign_in_failed")) == attempts - 1
    if kind == "recovery code":
        assert [entry.details for entry in audits("staff.recovery_code_used")] == [{"remaining": 9}]
