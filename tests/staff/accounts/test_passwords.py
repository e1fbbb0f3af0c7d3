"""Staff password hashes: the cost is a setting (tests lower it), and every hash keeps verifying at any cost."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from membership.config import load_settings
from membership.db import db
from membership.staff.accounts import services
from membership.staff.accounts.models import Role, StaffUser
from tests.support.staff import PASSWORD

PRODUCTION_COST = "scrypt:32768:8:1"


def test_production_keeps_werkzeugs_scrypt_cost() -> None:
    assert load_settings({}, instance_path="/tmp/membership-instance")["STAFF_PASSWORD_HASH"] == PRODUCTION_COST


def test_hashes_use_the_configured_method(app: Flask, make_staff: Callable[..., StaffUser]) -> None:
    user = make_staff(Role.ANALYST)
    assert user.password_hash.startswith(f"{app.config['STAFF_PASSWORD_HASH']}$")
    assert app.config["STAFF_PASSWORD_HASH"] != PRODUCTION_COST


def test_a_hash_made_at_another_cost_still_signs_in(app: Flask, make_staff: Callable[..., StaffUser]) -> None:
    user = make_staff(Role.ADMIN, email="cost@newsroom.example")
    cheap_hash = user.password_hash
    app.config["STAFF_PASSWORD_HASH"] = PRODUCTION_COST

    attempt = services.authenticate(db.session(), "cost@newsroom.example", PASSWORD, "192.0.2.1", services.Policy())
    assert attempt.result is services.SignInResult.OK and attempt.staff is user
    wrong = services.authenticate(db.session(), "cost@newsroom.example", "not the password", "192.0.2.1",
                                  services.Policy())
    assert wrong.result is services.SignInResult.INVALID

    services.change_password(db.session(), user, PASSWORD, "another long passphrase here")
    assert user.password_hash != cheap_hash and user.password_hash.startswith(f"{PRODUCTION_COST}$")
    db.session.commit()
    again = services.authenticate(db.session(), "cost@newsroom.example", "another long passphrase here", "192.0.2.1",
                                  services.Policy())
    assert again.result is services.SignInResult.OK
