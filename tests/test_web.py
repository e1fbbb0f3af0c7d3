"""Request plumbing every page shares: bad input refused with a clear 4xx, body limits, caching, HSTS."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from membership import create_app
from membership.db import db
from membership.giving.models import Checkout
from membership.staff.accounts import services as staff_services
from membership.staff.accounts.models import Role, StaffUser
from membership.supporters.models import Supporter
from membership.supporters.tokens import TokenPurpose, issue_token
from stripe_double import DoubleServer
from tests.support.ballots import add_ballot
from tests.support.giving import start_gift
from tests.support.helpers import count, csrf_token, sign, text
from tests.support.patrons import add_membership, add_supporter, sign_in
from tests.support.settings import WEBHOOK_SECRET, app_settings
from tests.support.staff import sign_in_as

GIFT = {"frequency": "once", "currency": "EUR", "amount": "10", "email": "olena@example.org", "name": "Olena"}
ARGUMENT = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


@pytest.fixture
def admin(app: Flask) -> StaffUser:
    user, _ = staff_services.create_staff(db.session(), "admin@newsroom.example", Role.ADMIN, name="Admin",
                                          password="correct horse battery staple")
    db.session.commit()
    return user


@pytest.fixture
def patron(app: Flask) -> Supporter:
    supporter = add_supporter()
    add_membership(supporter)
    return supporter


# Bad input: NUL bytes, ids and dates out of range ------------------------------------------------------


def test_a_nul_byte_in_a_form_field_is_refused_and_nothing_is_stored(client: FlaskClient,
                                                                     double: DoubleServer) -> None:
    for field in ("name", "message", "utm_source"):
        response = client.post("/give", data={**GIFT, field: "Ol\x00ena", "csrf_token": csrf_token(client)})
        assert response.status_code == 400
        assert "contained a character (NUL) that no page of ours sends" in text(response)
    assert count(Checkout) == count(Supporter) == 0
    assert not [r for r in double.requests if r["path"].startswith("/v1/checkout")]


@pytest.mark.parametrize("url", ["/give/thanks?session_id=cs_test_%00", "/supporters?q=a%00", "/give?a%00=1",
                                 "/account/sign-in/abc%00def", "/ballots%00"])
def test_a_nul_byte_in_the_address_is_a_400(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 400
    assert "(NUL)" in text(response)


def test_a_nul_byte_in_the_staff_sign_in_email_is_a_400(client: FlaskClient, admin: StaffUser) -> None:
    response = client.post("/staff/sign-in", data={"email": "admin@newsroom.example\x00",
                                                   "password": "correct horse battery staple",
                                                   "csrf_token": csrf_token(client, "/staff/sign-in")})
    assert response.status_code == 400
    assert client.get("/staff/").status_code == 302  # not signed in


@pytest.mark.parametrize("number", ["2147483648", "99999999999999999999"])
def test_an_id_too_large_for_the_database_is_a_404(client: FlaskClient, admin: StaffUser, number: str) -> None:
    add_ballot()
    assert client.get(f"/ballots/{number}").status_code == 404
    sign_in_as(client, admin)
    for path in (f"/staff/supporters/{number}", f"/staff/ballots/{number}/edit", f"/staff/users/{number}"):
        assert client.get(path).status_code == 404, path
    assert client.get("/ballots/2147483647").status_code == 404  # the largest id is still just a missing row


@pytest.mark.parametrize("url", ["/supporters?before=2147483648", "/staff/audit?before=2147483648",
                                 "/staff/audit?before=99999999999999999999", "/staff/supporters?after=2147483648"])
def test_a_page_cursor_too_large_for_the_database_is_a_400(client: FlaskClient, admin: StaffUser, url: str) -> None:
    sign_in_as(client, admin)
    response = client.get(url)
    assert response.status_code == 400
    assert "Start again from the first page" in text(response) or "That page link isn't valid." in text(response)


@pytest.mark.parametrize("url", ["/staff/dashboard?from=9999-01-01", "/staff/dashboard?to=9999-12-31",
                                 "/staff/dashboard?to=0001-01-01", "/staff/audit?date_to=9999-12-31",
                                 "/staff/supporters?first_to=9999-12-31"])
def test_a_date_out_of_range_is_refused_with_a_message(client: FlaskClient, admin: StaffUser, url: str) -> None:
    sign_in_as(client, admin)
    response = client.get(url)
    assert response.status_code == 400
    assert "Enter a date from 2000-01-01 to 2999-12-31." in text(response)


def test_an_export_of_dates_out_of_range_is_refused_with_a_message(client: FlaskClient, admin: StaffUser) -> None:
    sign_in_as(client, admin)
    response = client.post("/staff/reports/export", data={
        "kind": "payments", "format": "csv", "from": "2026-01-01", "to": "9999-12-31", "currency": "", "status": "",
        "csrf_token": csrf_token(client, "/staff/reports")})
    assert response.status_code == 400
    assert "Enter a date from 2000-01-01 to 2999-12-31." in text(response)


def test_a_ballot_option_with_a_description_but_no_title_is_refused(client: FlaskClient, admin: StaffUser) -> None:
    sign_in_as(client, admin)
    response = client.post("/staff/ballots/new", data={
        "title": "Next investigation", "opens_at": "2030-01-01T09:00", "closes_at": "2030-01-08T09:00",
        "method": "single", "results_visibility": "after_close", "weighting": "equal",
        "options-0-title": "Rivers", "options-1-title": "Forests", "options-2-description": "No title",
        "options-3-id": "99999999999999999999", "options-3-title": "Bad id",
        "csrf_token": csrf_token(client, "/staff/ballots/new")})
    assert response.status_code == 400
    assert "Enter the option's title, or clear its description." in text(response)
    assert "Not an option of this ballot." in text(response)


# Request body limits --------------------------------------------------------------------------------


def test_a_form_larger_than_the_limit_gets_a_clear_413_page(client: FlaskClient, app: Flask) -> None:
    token = csrf_token(client)
    too_much = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post("/give", data={**GIFT, "message": too_much, "csrf_token": token})
    assert response.status_code == 413
    assert "Too much sent at once" in text(response)
    assert "Nothing was changed" in text(response) or "nothing was changed" in text(response)
    assert count(Checkout) == 0


def test_the_largest_ballot_form_fits_under_the_limit(client: FlaskClient, admin: StaffUser) -> None:
    """Forty option rows (the most the form reads) of Cyrillic at their longest: the largest form there is."""
    sign_in_as(client, admin)
    data = {"title": "Д" * 200, "introduction": "Ж" * 5000, "opens_at": "2030-01-01T09:00",
            "closes_at": "2030-01-08T09:00", "method": "single", "results_visibility": "after_close",
            "weighting": "equal", "csrf_token": csrf_token(client, "/staff/ballots/new")}
    for n in range(40):
        data |= {f"options-{n}-title": "Щ" * 200, f"options-{n}-description": "Ї" * 500}
    response = client.post("/staff/ballots/new", data=data)
    assert response.status_code == 400  # refused for its 40 options (at most 20), not for its size
    assert "at most 20 options" in text(response)


def _signed_event(padding: int) -> tuple[bytes, str]:
    event = {"id": "evt_large", "object": "event", "type": "customer.created", "created": 1_767_225_600,
             "livemode": False, "api_version": "2026-10-28",
             "data": {"object": {"id": "cus_large", "object": "customer", "metadata": {"notes": "x" * padding}}}}
    body = json.dumps(event).encode()
    return body, sign(body, WEBHOOK_SECRET)


def test_the_webhook_takes_an_event_of_several_megabytes(client: FlaskClient, app: Flask) -> None:
    body, signature = _signed_event(3 * 1024 * 1024)
    assert len(body) > app.config["MAX_CONTENT_LENGTH"]
    response = client.post("/stripe/webhook", data=body, content_type="application/json",
                           headers={"Stripe-Signature": signature})
    assert response.status_code == 200, response.get_data(as_text=True)


def test_the_webhook_refuses_a_body_past_its_own_limit(client: FlaskClient, app: Flask) -> None:
    body, signature = _signed_event(app.config["STRIPE_WEBHOOK_MAX_BYTES"])
    response = client.post("/stripe/webhook", data=body, content_type="application/json",
                           headers={"Stripe-Signature": signature})
    assert response.status_code == 413


# Caching: no-store by default, and no cookie on a publicly cacheable page ---------------------------------


def _get_every_page(client: FlaskClient, app: Flask) -> Iterator[tuple[str, TestResponse]]:
    """Every GET route, with id 1 (or EUR, or a token) in its path."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in (rule.methods or set()):
            continue
        path = ARGUMENT.sub(lambda m: "1" if m.group(1) == "int" else "site.css" if m.group(1) == "path" else "EUR",
                            rule.rule)
        response = client.get(path)
        yield path, response
        response.close()  # a static file's handle, too


@pytest.mark.parametrize("who", ["anonymous", "patron", "admin"])
def test_only_public_pages_may_be_cached_and_they_never_set_a_cookie(
        app: Flask, client: FlaskClient, patron: Supporter, admin: StaffUser, who: str) -> None:
    add_ballot()
    if who == "patron":
        sign_in(client, patron)
    elif who == "admin":
        sign_in_as(client, admin)
    public = []
    for path, response in _get_every_page(client, app):
        cache = response.cache_control
        if cache.public:
            public.append(path)
            assert "Set-Cookie" not in response.headers, path
        elif path.startswith("/static/"):
            assert cache.no_cache, path  # revalidated each time, never stored for others
        else:
            assert cache.no_store, f"{path} {response.status_code} {response.headers.get('Cache-Control')}"
    assert public == ["/appeal", "/brand.css"]


def test_the_appeal_sets_no_cookie_for_a_signed_in_patron_but_the_account_keeps_its_cookie_fresh(
        client: FlaskClient, patron: Supporter) -> None:
    sign_in(client, patron)
    appeal = client.get("/appeal")
    assert appeal.headers["Cache-Control"] == "public, max-age=300"
    assert "Set-Cookie" not in appeal.headers
    account = client.get("/account")
    assert "Set-Cookie" in account.headers  # the permanent session slides on pages that aren't cached
    assert account.headers["Cache-Control"] == "no-store"


def test_pages_with_personal_data_are_no_store(app: Flask, client: FlaskClient, patron: Supporter,
                                               admin: StaffUser, double: DoubleServer) -> None:
    checkout = start_gift(client)
    token = issue_token(db.session(), patron, TokenPurpose.SIGN_IN, timedelta(minutes=15))
    db.session.commit()
    for path in (f"/give/thanks?session_id={checkout.stripe_session_id}", f"/account/sign-in/{token}"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path
    sign_in(client, patron)
    assert client.get("/account").headers["Cache-Control"] == "no-store"
    sign_in_as(client, admin)
    for path in ("/staff/supporters/1", "/staff/supporters/1/export", "/staff/dashboard", "/staff/audit"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Cache-Control"] == "no-store", path


# HSTS ---------------------------------------------------------------------------------------------------


def _production_app(database_uri: str, tmp_path: Path, **settings: object) -> Flask:
    production: dict[str, object] = {"MEMBERSHIP_ENV": "production", "MAIL_URL": "smtp://localhost",
                                     "MEMBERSHIP_EXPORT_DIR": str(tmp_path)}
    return create_app(app_settings(database_uri, api_base="", **(production | settings)))


@pytest.mark.parametrize(("settings", "expected"), [
    ({"PUBLIC_URL": "https://support.news.example"}, "max-age=31536000"),
    ({"PUBLIC_URL": "https://support.news.example", "HSTS_MAX_AGE": 600}, "max-age=600"),
    ({"PUBLIC_URL": "https://support.news.example", "HSTS_MAX_AGE": 0}, None),  # the proxy sends it instead
    ({"PUBLIC_URL": "http://support.news.example"}, None),
    ({"PUBLIC_URL": "https://support.news.example", "MEMBERSHIP_ENV": "development"}, None),
])
def test_hsts_is_sent_in_production_over_https(database_uri: str, tmp_path: Path, settings: dict[str, object],
                                               expected: str | None) -> None:
    app = _production_app(database_uri, tmp_path, **settings)
    with app.app_context():
        response = app.test_client().get("/appeal")
        db.session.remove()
        db.engine.dispose()
    assert response.status_code == 200
    assert response.headers.get("Strict-Transport-Security") == expected
