"""Staff fixtures: accounts of each role, and a client signed in as one of them."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from membership.db import db
from membership.staff import services
from membership.staff.models import Role, StaffUser

PASSWORD = "correct horse battery staple"


@pytest.fixture
def make_staff(app: Flask) -> Callable[..., StaffUser]:
    def make(role: Role = Role.ADMIN, email: str | None = None, password: str = PASSWORD) -> StaffUser:
        user, _ = services.create_staff(db.session, email or f"{role.value}-{time.time_ns()}@newsroom.example",
                                        role, name=role.value.title(), password=password)
        db.session.commit()
        return user

    return make


def sign_in_as(client: FlaskClient, user: StaffUser) -> FlaskClient:
    """Put a valid staff session in the client's cookie (the sign-in form itself is tested separately)."""
    with client.session_transaction() as session:
        session["staff"] = {"id": user.id, "epoch": user.session_epoch, "at": int(time.time())}
    return client


@pytest.fixture
def staff_client(client: FlaskClient, make_staff: Callable[..., StaffUser]) -> Callable[[Role], FlaskClient]:
    """`staff_client(Role.ANALYST)`: the test client signed in as a new staff member of that role."""

    def signed_in(role: Role) -> FlaskClient:
        return sign_in_as(client, make_staff(role))

    return signed_in
