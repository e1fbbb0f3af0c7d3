"""Who counts as a patron: the one rule (`patron_condition`) that the account page, ballots and reports use."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from membership.config import patron_grace
from membership.db import db, utcnow
from membership.giving.models import Membership, MembershipStatus
from membership.patrons.services import is_patron, patron_condition, patron_membership
from tests.support.helpers import text
from tests.support.patrons import add_membership, add_supporter, sign_in

DAY = timedelta(days=1)

# (case, status, extra columns relative to now, expected)
CASES: list[tuple[str, MembershipStatus, dict[str, Any], bool]] = [
    ("active", MembershipStatus.ACTIVE, {}, True),
    ("trialing", MembershipStatus.TRIALING, {}, True),
    ("past due for 2 days", MembershipStatus.PAST_DUE, {"past_due_since": -2 * DAY}, True),
    ("past due for 6 days 23 hours", MembershipStatus.PAST_DUE, {"past_due_since": -7 * DAY + timedelta(hours=1)},
     True),
    ("past due for 7 days 1 hour", MembershipStatus.PAST_DUE, {"past_due_since": -7 * DAY - timedelta(hours=1)},
     False),
    ("past due for 30 days", MembershipStatus.PAST_DUE, {"past_due_since": -30 * DAY}, False),
    ("cancelling, period not over", MembershipStatus.ACTIVE,
     {"cancel_at_period_end": True, "current_period_end": 3 * DAY}, True),
    ("cancelling, period over (webhook late)", MembershipStatus.ACTIVE,
     {"cancel_at_period_end": True, "current_period_end": -DAY}, False),
    ("canceled", MembershipStatus.CANCELED, {"ended_at": -DAY, "canceled_at": -DAY}, False),
    ("incomplete", MembershipStatus.INCOMPLETE, {}, False),
    ("incomplete_expired", MembershipStatus.INCOMPLETE_EXPIRED, {}, False),
    ("unpaid", MembershipStatus.UNPAID, {}, False),
    ("paused", MembershipStatus.PAUSED, {}, False),
]


@pytest.mark.parametrize(("status", "relative", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_patron_condition(app: Flask, status: MembershipStatus, relative: dict[str, Any], expected: bool) -> None:
    now = utcnow()
    values = {key: now + value if isinstance(value, timedelta) else value for key, value in relative.items()}
    supporter = add_supporter()
    membership = add_membership(supporter, status, **values)
    grace = timedelta(days=app.config["PATRON_GRACE_DAYS"])
    assert app.config["PATRON_GRACE_DAYS"] == 7
    matched = db.session.scalars(sa.select(Membership.id).where(patron_condition(now, grace))).all()
    assert matched == ([membership.id] if expected else [])
    assert is_patron(db.session(), supporter.id, grace, now) is expected
    assert patron_membership(db.session(), supporter.id, grace, now) == (membership if expected else None)


def test_grace_period_follows_the_setting(app: Flask) -> None:
    supporter = add_supporter()
    add_membership(supporter, MembershipStatus.PAST_DUE, past_due_since=utcnow() - 4 * DAY)
    assert is_patron(db.session(), supporter.id, timedelta(days=7))
    assert not is_patron(db.session(), supporter.id, timedelta(days=3))


def test_every_page_reads_the_grace_setting(app: Flask) -> None:
    """The account page and the ballots (and the staff pages, the exports) take PATRON_GRACE_DAYS from one place."""
    supporter = add_supporter()
    add_membership(supporter, MembershipStatus.PAST_DUE, past_due_since=utcnow() - 4 * DAY)
    client = app.test_client()
    sign_in(client, supporter)
    assert "You're a patron" in text(client.get("/account"))
    assert 'action="/ballots/suggest"' in text(client.get("/ballots"))
    app.config["PATRON_GRACE_DAYS"] = 3
    with app.test_request_context():
        assert patron_grace() == 3 * DAY
    assert "You're a patron" not in text(client.get("/account"))
    assert 'action="/ballots/suggest"' not in text(client.get("/ballots"))


def test_the_running_membership_wins_over_an_ended_one(app: Flask) -> None:
    supporter = add_supporter()
    current = add_membership(supporter, MembershipStatus.ACTIVE)
    add_membership(supporter, MembershipStatus.CANCELED, ended_at=utcnow() - DAY)
    assert patron_membership(db.session(), supporter.id, timedelta(days=7)) == current


def test_another_supporters_membership_does_not_count(app: Flask) -> None:
    patron = add_supporter("patron@example.org")
    add_membership(patron)
    reader = add_supporter("reader@example.org")
    assert not is_patron(db.session(), reader.id, timedelta(days=7))
