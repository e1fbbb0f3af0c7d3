"""Rate limits under concurrency: 40 requests sent together through the live app, from one IP, get exactly the
limit through, whether the limits are counted in the database (SQLite or PostgreSQL) or in Redis (REDIS_URL)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from membership.db import db
from membership.email import OutboundEmail
from membership.queue import init_queue
from membership.ratelimit import RateLimitHit, allow
from membership.staff.accounts.models import AuditEntry
from membership.supporters.models import Supporter
from membership.supporters.tokens import SignInToken
from tests.support.helpers import count, post_together
from tests.support.servers import LiveServer

AT_ONCE = 40


def failures(reason: str) -> int:
    db.session.rollback()
    entries = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "staff.sign_in_failed"))
    return sum(1 for entry in entries if (entry.details or {}).get("reason") == reason)


def test_40_sign_in_links_for_one_address_at_once_send_3(app: Flask, live_app: LiveServer, limits_in: str) -> None:
    app.config["SIGN_IN_LIMIT_PER_IP"] = 100  # only the address's limit (3) is in play
    db.session.add(Supporter(email="olena@example.org", name="Olena"))
    db.session.commit()
    statuses = post_together(live_app.url, "/account/sign-in", [{"email": "olena@example.org"}] * AT_ONCE)
    assert sorted(statuses) == [200] * 3 + [429] * (AT_ONCE - 3)
    assert count(SignInToken) == 3 and count(OutboundEmail) == 3


def test_40_sign_in_requests_from_one_ip_at_once_get_20_through(app: Flask, live_app: LiveServer,
                                                               limits_in: str) -> None:
    statuses = post_together(live_app.url, "/account/sign-in",
                             [{"email": f"reader{n}@example.org"} for n in range(AT_ONCE)])
    assert sorted(statuses) == [200] * 20 + [429] * (AT_ONCE - 20)


def test_40_staff_passwords_from_one_ip_at_once_check_20(app: Flask, live_app: LiveServer, limits_in: str) -> None:
    statuses = post_together(live_app.url, "/staff/sign-in", [
        {"email": f"guess{n}@newsroom.example", "password": "guess guess guess"} for n in range(AT_ONCE)])
    assert sorted(statuses) == [401] * 20 + [429] * (AT_ONCE - 20)
    assert (failures("unknown"), failures("rate_limited")) == (20, AT_ONCE - 20)


def test_40_tries_of_an_unknown_staff_address_at_once_lock_it_after_5(app: Flask, live_app: LiveServer,
                                                                     limits_in: str) -> None:
    """As an account would: four wrong tries answered, the fifth locks, and every later one is refused."""
    app.config["STAFF_SIGN_IN_LIMIT_PER_IP"] = 100  # only the lock-out is in play
    statuses = post_together(live_app.url, "/staff/sign-in",
                             [{"email": "nobody@newsroom.example", "password": "guess guess guess"}] * AT_ONCE)
    assert sorted(statuses) == [401] * 4 + [429] * (AT_ONCE - 4)
    assert (failures("unknown"), failures("unknown_locked")) == (5, AT_ONCE - 5)


def test_an_unreachable_redis_counts_in_the_database(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="membership.ratelimit")
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    init_queue(app)
    try:
        assert [allow(db.session(), "test", "1.2.3.4", 2, timedelta(hours=1)) for _ in range(3)] == [True, True, False]
    finally:
        app.config["REDIS_URL"] = ""
        init_queue(app)
    db.session.commit()
    assert count(RateLimitHit) == 2
    assert "Redis is unreachable for the test rate limit" in caplog.text
