"""Sign-in by emailed link: the same answer for every address, single-use expiring links, rate limits,
a 30-day session, sign-out on every device, and CSRF on every form."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership.db import db, utcnow
from membership.email import OutboundEmail
from membership.patrons.auth import EPOCH_KEY, SIGNED_IN_AT_KEY
from membership.ratelimit import RateLimitHit
from membership.supporters.tokens import SignInToken, TokenPurpose, issue_token
from tests.support.helpers import count, csrf_token, text
from tests.support.patrons import LINK_RE, add_supporter, sign_in
from tests.support.servers import SmtpSink


def ask_for_link(client: FlaskClient, email: str, **environ: str) -> tuple[int, str]:
    token = csrf_token(client, "/account/sign-in")
    response = client.post("/account/sign-in", data={"email": email, "csrf_token": token},
                           environ_base=environ)
    return response.status_code, response.get_data(as_text=True)


def link_in(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    match = LINK_RE.search(body.get_content())
    assert match, body.get_content()
    return match.group(1)


def token_of(link: str) -> str:
    return link.rsplit("/", 1)[1]


def test_sign_in_page_asks_for_an_email(client: FlaskClient) -> None:
    page = client.get("/account/sign-in")
    assert page.status_code == 200
    assert "Email me a sign-in link" in text(page)
    home = text(client.get("/"))
    assert 'href="/account/sign-in"' in home and "Sign in" in home


def test_known_and_unknown_addresses_get_the_same_answer(app: Flask, smtp_server: SmtpSink) -> None:
    add_supporter("olena@example.org")
    known = ask_for_link(app.test_client(), "olena@example.org")
    unknown = ask_for_link(app.test_client(), "nobody@example.org")
    assert known == unknown
    assert known[0] == 200 and "Check your email" in known[1]
    assert [m["To"] for m in smtp_server.messages] == ["olena@example.org"]
    db.session.rollback()
    buckets = db.session.execute(
        sa.select(RateLimitHit.bucket, sa.func.count()).group_by(RateLimitHit.bucket).order_by(RateLimitHit.bucket)
    ).all()
    # Both addresses were counted the same way: one hit per address, two for the shared IP.
    assert [tuple(row) for row in buckets] == [("sign_in_address", 2), ("sign_in_ip", 2)]


def test_the_email_carries_a_link_that_works_once(app: Flask, client: FlaskClient, smtp_server: SmtpSink) -> None:
    add_supporter("olena@example.org", name="Olena")
    status, _ = ask_for_link(client, "  Olena@Example.ORG ")
    assert status == 200
    [message] = smtp_server.messages
    assert message["To"] == "olena@example.org"
    assert message["Subject"] == "Your sign-in link for Kyiv Independent Test"
    link = link_in(message)
    assert link.startswith(f"{app.config['PUBLIC_URL']}/account/sign-in/")
    html_part = message.get_body(("html",))
    assert html_part is not None and link in html_part.get_content()
    assert "within 15 minutes" in message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    token = token_of(link)
    db.session.rollback()
    row = db.session.scalars(sa.select(SignInToken)).one()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in row.token_hash
    assert row.purpose is TokenPurpose.SIGN_IN
    assert timedelta(minutes=14) < row.expires_at - row.created_at <= timedelta(minutes=15)

    path = link.removeprefix(app.config["PUBLIC_URL"])
    confirm = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert confirm.status_code == 303 and confirm.headers["Location"] == "/account"
    assert "Signed in as <strong>olena@example.org</strong>" in text(client.get("/account"))
    again = app.test_client()
    reused = again.post(path, data={"csrf_token": csrf_token(again)})
    assert reused.status_code == 400 and "already been used" in text(reused)


def test_opening_the_link_uses_nothing_up(app: Flask, client: FlaskClient) -> None:
    supporter = add_supporter()
    token = issue_token(db.session(), supporter, TokenPurpose.SIGN_IN, timedelta(minutes=15))
    db.session.commit()
    scanner = app.test_client()
    for _ in range(3):  # a mail scanner prefetching the link, perhaps more than once
        page = scanner.get(f"/account/sign-in/{token}")
        assert page.status_code == 200 and "Sign in" in text(page) and "olena@example.org" in text(page)
        assert page.headers["Cache-Control"] == "no-store"
    assert scanner.get("/account").status_code == 302  # nobody was signed in by opening it
    db.session.rollback()
    assert db.session.scalars(sa.select(SignInToken)).one().used_at is None
    path = f"/account/sign-in/{token}"
    assert client.post(path, data={"csrf_token": csrf_token(client, path)}).status_code == 303


def bad_link(client: FlaskClient, token: str) -> str:
    page = client.get(f"/account/sign-in/{token}")
    assert page.status_code == 400
    body = text(page)
    assert 'href="/account/sign-in"' in body and "Email me a new sign-in link" in body
    post = client.post(f"/account/sign-in/{token}", data={"csrf_token": csrf_token(client)})
    assert post.status_code == 400
    assert client.get("/account").status_code == 302
    return body


def test_expired_link(client: FlaskClient) -> None:
    supporter = add_supporter()
    token = issue_token(db.session(), supporter, TokenPurpose.SIGN_IN, timedelta(minutes=15))
    db.session.execute(sa.update(SignInToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert "This link has expired" in bad_link(client, token)


def test_reused_link(app: Flask, client: FlaskClient) -> None:
    supporter = add_supporter()
    token = issue_token(db.session(), supporter, TokenPurpose.SIGN_IN, timedelta(minutes=15))
    db.session.commit()
    path = f"/account/sign-in/{token}"
    assert client.post(path, data={"csrf_token": csrf_token(client, path)}).status_code == 303
    assert "already been used" in bad_link(app.test_client(), token)


def test_tampered_token(client: FlaskClient) -> None:
    supporter = add_supporter()
    token = issue_token(db.session(), supporter, TokenPurpose.SIGN_IN, timedelta(minutes=15))
    db.session.commit()
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert "not valid" in bad_link(client, tampered)
    assert "not valid" in bad_link(client, "x" * 200)


def test_fix_card_token_is_not_a_sign_in_link(client: FlaskClient) -> None:
    supporter = add_supporter()
    token = issue_token(db.session(), supporter, TokenPurpose.FIX_CARD, timedelta(days=7))
    db.session.commit()
    assert "not valid" in bad_link(client, token)


def test_link_of_an_erased_supporter(client: FlaskClient) -> None:
    supporter = add_supporter()
    token = issue_token(db.session(), supporter, TokenPurpose.SIGN_IN, timedelta(minutes=15))
    supporter.erased_at = utcnow()
    supporter.email = None
    db.session.commit()
    assert "no longer exists" in bad_link(client, token)


def test_erased_supporter_is_signed_out(client: FlaskClient) -> None:
    supporter = add_supporter()
    sign_in(client, supporter)
    supporter.erased_at = utcnow()
    supporter.email = None
    db.session.commit()
    assert client.get("/account").status_code == 302


def test_erased_supporter_gets_no_email(app: Flask, client: FlaskClient, smtp_server: SmtpSink) -> None:
    add_supporter("olena@example.org", erased_at=utcnow())
    assert ask_for_link(client, "olena@example.org")[0] == 200
    assert smtp_server.messages == []


@pytest.mark.parametrize("email", ["", "not-an-address", "a@b", "x" * 250 + "@example.org"])
def test_invalid_address_is_explained(client: FlaskClient, smtp_server: SmtpSink, email: str) -> None:
    add_supporter()
    status, body = ask_for_link(client, email)
    assert status == 400
    assert "Enter" in body and "email address" in body and 'class="field-error"' in body
    assert count(RateLimitHit) == 0 and count(SignInToken) == 0 and smtp_server.messages == []


def test_limit_per_address(app: Flask, smtp_server: SmtpSink) -> None:
    add_supporter("olena@example.org")
    for n in range(3):
        assert ask_for_link(app.test_client(), "olena@example.org", REMOTE_ADDR=f"10.0.0.{n}")[0] == 200
    status, body = ask_for_link(app.test_client(), "OLENA@example.org", REMOTE_ADDR="10.0.0.9")
    assert status == 429
    assert "Too many sign-in requests" in body and "try again in an hour" in body
    assert len(smtp_server.messages) == 3 and count(SignInToken) == 3 and count(OutboundEmail) == 3
    # Unknown addresses are limited exactly the same way.
    for n in range(3):
        assert ask_for_link(app.test_client(), "nobody@example.org", REMOTE_ADDR=f"10.0.1.{n}")[0] == 200
    assert ask_for_link(app.test_client(), "nobody@example.org", REMOTE_ADDR="10.0.1.9")[0] == 429


def test_limit_per_ip(app: Flask, smtp_server: SmtpSink) -> None:
    app.config["SIGN_IN_LIMIT_PER_IP"] = 2
    add_supporter("olena@example.org")
    client = app.test_client()
    assert ask_for_link(client, "someone@example.org", REMOTE_ADDR="192.0.2.7")[0] == 200
    assert ask_for_link(client, "another@example.org", REMOTE_ADDR="192.0.2.7")[0] == 200
    status, body = ask_for_link(client, "olena@example.org", REMOTE_ADDR="192.0.2.7")
    assert status == 429 and "Too many sign-in requests" in body
    assert smtp_server.messages == [] and count(SignInToken) == 0
    # The address lost nothing to the refused request: from elsewhere it still gets its link.
    assert ask_for_link(client, "olena@example.org", REMOTE_ADDR="198.51.100.1")[0] == 200
    assert [m["To"] for m in smtp_server.messages] == ["olena@example.org"]


def test_session_cookie_lasts_thirty_days(client: FlaskClient) -> None:
    supporter = add_supporter()
    token = issue_token(db.session(), supporter, TokenPurpose.SIGN_IN, timedelta(minutes=15))
    db.session.commit()
    path = f"/account/sign-in/{token}"
    response = client.post(path, data={"csrf_token": csrf_token(client, path)})
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    expires = parsedate_to_datetime(cookie.split("Expires=")[1].split(";")[0])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=1)
    assert client.get("/account").status_code == 200


def test_session_ends_after_thirty_days(client: FlaskClient) -> None:
    supporter = add_supporter()
    sign_in(client, supporter)
    with client.session_transaction() as session:
        session[SIGNED_IN_AT_KEY] = int(time.time()) - 30 * 86400 - 1
    response = client.get("/account")
    assert response.status_code == 302 and response.headers["Location"].startswith("/account/sign-in")


def test_signing_in_starts_a_fresh_session(client: FlaskClient) -> None:
    supporter = add_supporter()
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    sign_in(client, supporter)
    with client.session_transaction() as session:
        assert "planted" not in session and session["supporter_id"] == supporter.id


def test_sign_out(client: FlaskClient) -> None:
    supporter = add_supporter()
    sign_in(client, supporter)
    account = text(client.get("/account"))
    assert "Sign out" in account and "Your account" in account
    response = client.post("/account/sign-out", data={"csrf_token": csrf_token(client, "/account")})
    assert response.status_code == 303 and response.headers["Location"] == "/account/sign-in"
    assert "You're signed out on all your devices." in text(client.get("/account/sign-in"))
    assert client.get("/account").status_code == 302


def test_sign_out_ends_the_session_on_every_device(app: Flask, client: FlaskClient) -> None:
    supporter = add_supporter()
    sign_in(client, supporter)
    cookie = client.get_cookie("session")
    assert cookie is not None
    copied = app.test_client()  # the same cookie, as a thief who copied it would hold it
    copied.set_cookie("session", cookie.value)
    phone = app.test_client()  # a session of its own, from another sign-in link
    sign_in(phone, supporter)
    assert "Sign out of all devices" in text(client.get("/account"))
    assert copied.get("/account").status_code == phone.get("/account").status_code == 200
    client.post("/account/sign-out", data={"csrf_token": csrf_token(client, "/account")})
    for other in (copied, phone):
        response = other.get("/account")
        assert response.status_code == 302 and response.headers["Location"] == "/account/sign-in?next=/account"
    # A new link signs in again, on any device.
    sign_in(phone, supporter)
    assert phone.get("/account").status_code == 200


@pytest.mark.parametrize("epoch", [None, -1, 1, "0"])
def test_session_of_another_epoch_is_refused(client: FlaskClient, epoch: object) -> None:
    """Cookies from before sign-out-everywhere carry no epoch; they sign in again like any other."""
    supporter = add_supporter()
    sign_in(client, supporter)
    with client.session_transaction() as session:
        assert session[EPOCH_KEY] == 0
        if epoch is None:
            del session[EPOCH_KEY]
        else:
            session[EPOCH_KEY] = epoch
    response = client.get("/account")
    assert response.status_code == 302 and response.headers["Location"].startswith("/account/sign-in")
    with client.session_transaction() as session:
        assert EPOCH_KEY not in session and "supporter_id" not in session


def test_account_redirects_to_sign_in_when_signed_out(client: FlaskClient) -> None:
    response = client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"] == "/account/sign-in?next=/account"
    assert client.get("/account/amount").headers["Location"] == "/account/sign-in?next=/account/amount"


def test_next_path_travels_in_the_link(app: Flask, client: FlaskClient, smtp_server: SmtpSink) -> None:
    add_supporter("olena@example.org")
    form = client.get("/account/sign-in?next=/account/cancel")
    assert 'value="/account/cancel"' in text(form)
    client.post("/account/sign-in", data={"email": "olena@example.org", "next": "/account/cancel",
                                          "csrf_token": csrf_token(client, "/account/sign-in")})
    link = link_in(smtp_server.messages[-1])
    path = link.removeprefix(app.config["PUBLIC_URL"])
    assert path.endswith("?next=%2Faccount%2Fcancel")
    response = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert response.headers["Location"] == "/account/cancel"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"])
def test_next_never_leaves_the_site(client: FlaskClient, target: str) -> None:
    supporter = add_supporter()
    token = issue_token(db.session(), supporter, TokenPurpose.SIGN_IN, timedelta(minutes=15))
    db.session.commit()
    path = f"/account/sign-in/{token}"
    response = client.post(path, query_string={"next": target}, data={"csrf_token": csrf_token(client, path)})
    assert response.headers["Location"] == "/account"


def test_every_form_needs_its_csrf_token(client: FlaskClient) -> None:
    supporter = add_supporter()
    sign_in_token = issue_token(db.session(), supporter, TokenPurpose.SIGN_IN, timedelta(minutes=15))
    fix_token = issue_token(db.session(), supporter, TokenPurpose.FIX_CARD, timedelta(days=7))
    db.session.commit()
    assert client.post("/account/sign-in", data={"email": "olena@example.org"}).status_code == 400
    for path in (f"/account/sign-in/{sign_in_token}", f"/account/fix-card/{fix_token}"):
        refused = client.post(path)
        assert refused.status_code == 400 and "This form has expired" in text(refused)
    assert client.get("/account").status_code == 302  # the links signed nobody in …
    db.session.rollback()
    assert all(row.used_at is None for row in db.session.scalars(sa.select(SignInToken)))  # … and stay usable
    sign_in(client, supporter)
    for path in ("/account/sign-out", "/account/consent", "/account/portal", "/account/amount",
                 "/account/cancel", "/account/resume"):
        refused = client.post(path, data={"amount": "7", "email_consent": "y"})
        assert refused.status_code == 400, path
        assert "This form has expired" in text(refused)
    assert client.get("/account").status_code == 200  # still signed in: the sign-out was refused too
    assert count(RateLimitHit) == 0
