"""Staff helpers: the test password, a signed-in session, the sign-in and two-factor steps, the audit log."""

from __future__ import annotations

import time

import sqlalchemy as sa
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from membership.db import db
from membership.staff.accounts import totp
from membership.staff.accounts.models import AuditEntry, RecoveryCode, StaffUser
from tests.support.helpers import csrf_token, text

PASSWORD = "correct horse battery staple"


def sign_in_as(client: FlaskClient, user: StaffUser) -> FlaskClient:
    """Put a valid staff session in the client's cookie (the sign-in form itself is tested separately)."""
    with client.session_transaction() as session:
        session["staff"] = {"id": user.id, "epoch": user.session_epoch, "at": int(time.time())}
    return client


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> TestResponse:
    return client.post(
        "/staff/sign-in",
        data={"email": email, "password": password, "csrf_token": csrf_token(client, "/staff/sign-in")},
    )


def turn_on_two_factor(client: FlaskClient) -> tuple[str, TestResponse]:
    """Set up two-factor sign-in as the signed-in staff member would; the secret, and the page of recovery codes."""
    setup = client.get("/staff/account/two-factor")
    assert setup.headers["Cache-Control"] == "no-store"  # it shows the secret
    page = setup.get_data(as_text=True)
    secret = page.split("Key: <code>")[1].split("</code>")[0]
    response = client.post(
        "/staff/account/two-factor",
        data={
            "secret": secret,
            "code": totp.code_at(secret, int(time.time()) // 30),
            "csrf_token": csrf_token(client, "/staff/account/two-factor"),
        },
    )
    assert response.status_code == 200 and "Two-factor sign-in is on" in text(response), text(response)
    return secret, response


def codes_on(page: TestResponse) -> list[str]:
    block = page.get_data(as_text=True).split('<pre class="recovery-codes" id="recovery-codes">')[1].split("</pre>")[0]
    return block.split()


def sign_out(client: FlaskClient) -> None:
    client.post("/staff/sign-out", data={"csrf_token": csrf_token(client, "/staff/")})


def use_code(client: FlaskClient, code: str) -> TestResponse:
    return client.post("/staff/sign-in/recovery",
                       data={"code": code, "csrf_token": csrf_token(client, "/staff/sign-in/recovery")})


def stored(user: StaffUser) -> list[RecoveryCode]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(RecoveryCode).where(RecoveryCode.staff_user_id == user.id)
                                   .order_by(RecoveryCode.id)))


def audits(action: str) -> list[AuditEntry]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))
