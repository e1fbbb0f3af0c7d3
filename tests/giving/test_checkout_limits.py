"""Limits against card testing: new checkouts per IP and per email address, a clear 429 past either, and the
refusals counted on the staff dashboard."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from membership.db import db
from membership.giving.models import Checkout, RefusedCheckoutReason, RefusedCheckouts
from membership.staff.accounts.models import Role
from membership.staff.accounts.services import create_staff
from stripe_double import DoubleServer
from tests.support.helpers import count, csrf_token, post_together, text
from tests.support.servers import LiveServer
from tests.support.staff import sign_in_as

AT_ONCE = 40
GIFT = {"frequency": "once", "currency": "EUR", "amount": "1", "name": "Card Tester"}


def give(client: FlaskClient, email: str) -> TestResponse:
    return client.post("/give", data={**GIFT, "email": email, "csrf_token": csrf_token(client)})


def checkout_requests(double: DoubleServer) -> int:
    return sum(1 for r in double.requests if r["method"] == "POST" and r["path"] == "/v1/checkout/sessions")


def refused() -> dict[str, int]:
    db.session.rollback()
    return {row.reason.value: row.attempts for row in db.session.scalars(db.select(RefusedCheckouts))}


def test_defaults_a_newsroom_can_live_with(app: Flask) -> None:
    assert (app.config["CHECKOUT_LIMIT_PER_IP"], app.config["CHECKOUT_LIMIT_PER_ADDRESS"]) == (10, 5)


def test_past_the_ip_limit_a_checkout_gets_a_clear_429_and_nothing_is_recorded(
        app: Flask, client: FlaskClient, double: DoubleServer) -> None:
    app.config["CHECKOUT_LIMIT_PER_IP"] = 3
    for n in range(3):
        assert give(client, f"reader{n}@example.org").status_code == 303
    response = give(client, "another@example.org")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3600"
    page = text(response)
    assert "Too many payment attempts" in page and "Nothing was charged." in page
    assert "Please try again in an hour." in page
    assert count(Checkout) == 3 and checkout_requests(double) == 3
    assert refused() == {"ip": 1}


def test_past_the_address_limit_only_that_address_is_refused(app: Flask, client: FlaskClient,
                                                            double: DoubleServer) -> None:
    app.config["CHECKOUT_LIMIT_PER_ADDRESS"] = 2
    assert [give(client, "Olena@Example.org").status_code for _ in range(3)] == [303, 303, 429]
    assert give(client, "taras@example.org").status_code == 303
    assert count(Checkout) == 3 and checkout_requests(double) == 3
    assert refused() == {"address": 1}


def test_an_invalid_form_counts_against_nothing(app: Flask, client: FlaskClient) -> None:
    app.config["CHECKOUT_LIMIT_PER_IP"] = 1
    bad = client.post("/give", data={**GIFT, "email": "not an address", "csrf_token": csrf_token(client)})
    assert bad.status_code == 400
    assert give(client, "reader@example.org").status_code == 303


def test_the_dashboard_shows_refused_attempts(app: Flask, client: FlaskClient) -> None:
    app.config["CHECKOUT_LIMIT_PER_IP"] = 1
    give(client, "reader@example.org")
    for _ in range(3):
        give(client, "tester@example.org")
    app.config["CHECKOUT_LIMIT_PER_IP"] = 100
    app.config["CHECKOUT_LIMIT_PER_ADDRESS"] = 1
    give(client, "reader@example.org")
    assert refused() == {RefusedCheckoutReason.IP.value: 3, RefusedCheckoutReason.ADDRESS.value: 1}
    analyst, _ = create_staff(db.session(), "analyst@newsroom.example", Role.ANALYST, name="Analyst",
                              password="correct horse battery staple")
    db.session.commit()
    page = text(sign_in_as(client, analyst).get("/staff/dashboard"))
    assert "Refused payment attempts" in page
    assert ("New checkouts refused in this period by the limits against card testing (someone trying stolen card "
            "numbers through the give form): 4, of which 3 past a network's limit of 100 an hour and 1 past an "
            "email address's limit of 1 an hour.") in " ".join(page.split())


def test_40_checkouts_from_one_ip_at_once_open_10(app: Flask, live_app: LiveServer, double: DoubleServer,
                                                  limits_in: str) -> None:
    """Card testing as reported: 40 one-euro checkouts from one IP within a second. The default limit holds."""
    statuses = post_together(live_app.url, "/give",
                             [{**GIFT, "email": f"card{n}@example.org"} for n in range(AT_ONCE)])
    assert sorted(statuses) == [303] * 10 + [429] * (AT_ONCE - 10)
    assert count(Checkout) == 10 and checkout_requests(double) == 10
    assert refused() == {"ip": AT_ONCE - 10}


def test_40_checkouts_for_one_address_at_once_open_5(app: Flask, live_app: LiveServer, double: DoubleServer,
                                                     limits_in: str) -> None:
    app.config["CHECKOUT_LIMIT_PER_IP"] = 100  # only the address's limit is in play
    statuses = post_together(live_app.url, "/give", [{**GIFT, "email": "card@example.org"}] * AT_ONCE)
    assert sorted(statuses) == [303] * 5 + [429] * (AT_ONCE - 5)
    assert count(Checkout) == 5 and checkout_requests(double) == 5
    assert refused() == {"address": AT_ONCE - 5}
