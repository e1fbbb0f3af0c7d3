"""Rotating SECRET_KEY with SECRET_KEY_FALLBACKS signs nobody out and expires no open form (docs/operations.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from membership import create_app
from membership.config import ConfigError
from membership.staff.accounts.models import Role
from tests.support.helpers import csrf_token
from tests.support.settings import app_settings

NEW_KEY = "the-new-secret-key-after-rotation-0123456789"


def moved_to(app: Flask, client: FlaskClient) -> FlaskClient:
    """A client of `app` holding `client`'s session cookie: the same browser, after the deploy."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    moved = app.test_client()
    moved.set_cookie("session", cookie.value)
    return moved


def rotated(database_uri: str, **settings: Any) -> Flask:
    return create_app(app_settings(database_uri, api_base="", SECRET_KEY=NEW_KEY, **settings))


def test_staff_stay_signed_in_across_a_rotation_and_are_signed_out_once_the_old_key_is_dropped(
    app: Flask, database_uri: str, staff_client: Callable[[Role], FlaskClient]
) -> None:
    before = staff_client(Role.ADMIN)
    assert before.get("/staff/").status_code == 200
    old_key = app.config["SECRET_KEY"]
    after = moved_to(rotated(database_uri, SECRET_KEY_FALLBACKS=[old_key]), before)
    assert after.get("/staff/").status_code == 200  # still signed in
    dropped_too_soon = moved_to(rotated(database_uri), before)
    assert dropped_too_soon.get("/staff/").status_code == 302  # without the fallback: back to the sign-in page


def test_a_form_opened_before_the_rotation_still_sends(app: Flask, client: FlaskClient, database_uri: str) -> None:
    token = csrf_token(client, "/account/sign-in")  # signed with the old key
    rotated_app = rotated(database_uri, SECRET_KEY_FALLBACKS=[app.config["SECRET_KEY"]])
    sent = moved_to(rotated_app, client).post("/account/sign-in", data={"email": "olena@example.org",
                                                                        "csrf_token": token})
    assert sent.status_code in (200, 303) and "This form has expired" not in sent.get_data(as_text=True)
    expired = moved_to(rotated(database_uri), client).post("/account/sign-in", data={
        "email": "olena@example.org", "csrf_token": token})
    assert expired.status_code == 400 and "This form has expired" in expired.get_data(as_text=True)


def test_fallbacks_are_read_from_the_environment_and_checked_in_production() -> None:
    from membership.config import check_settings, load_settings

    settings = load_settings({"SECRET_KEY_FALLBACKS": "first-old-key second-old-key"})
    assert settings["SECRET_KEY_FALLBACKS"] == ["first-old-key", "second-old-key"]
    production = load_settings({"MEMBERSHIP_ENV": "production", "SECRET_KEY": NEW_KEY, "SECRET_KEY_FALLBACKS": "short",
                                "STRIPE_SECRET_KEY": "sk_test_x", "STRIPE_WEBHOOK_SECRET": "whsec_x",
                                "MAIL_URL": "smtp://mail.example:587"})
    with pytest.raises(ConfigError, match="SECRET_KEY_FALLBACKS"):
        check_settings(production)
