"""A second membership only on purpose: giving monthly or yearly with an address that already has a running
membership asks first, and the account then lists and manages every membership on its own."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership.db import db, utcnow
from membership.email import OutboundEmail
from membership.giving.models import Checkout, Membership, MembershipStatus
from membership.patrons.models import MembershipChange
from stripe_double import DoubleServer
from tests.support.giving import pay, settle, start_gift
from tests.support.helpers import count, csrf_token, mentions, text
from tests.support.patrons import add_membership, add_supporter, become_patron, sign_in, subscription_posts
from tests.support.servers import LiveServer

EMAIL = "olena@example.org"
FORM_RE = re.compile(r'<form method="post" action="([^"]+)">(.*?)</form>', re.S)
HIDDEN_RE = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def give(client: FlaskClient, **fields: str) -> Any:
    data = {"frequency": "monthly", "currency": "EUR", "amount": "8", "email": EMAIL, "name": "Olena",
            "message": "Again!", "csrf_token": csrf_token(client), **fields}
    return client.post("/give", data=data)


def forms_on(page: str) -> dict[str, dict[str, str]]:
    """The page's forms: action → its hidden fields, as a browser would send them."""
    return {action: dict(HIDDEN_RE.findall(body)) for action, body in FORM_RE.findall(page)}


def checkout_posts(double: DoubleServer) -> list[dict[str, Any]]:
    return [r for r in double.requests if r["method"].upper() == "POST" and r["path"] == "/v1/checkout/sessions"]


@pytest.fixture
def patron(client: FlaskClient, double: DoubleServer, live_app: LiveServer) -> Iterator[Membership]:
    membership = become_patron(client, double)  # €5.00/month
    yield membership
    settle(double)


def test_a_running_membership_is_named_before_checkout(client: FlaskClient, double: DoubleServer,
                                                       patron: Membership) -> None:
    stranger = client.application.test_client()  # not signed in: only typed the address
    response = give(stranger, email="  OLENA@example.org ", name="Someone")
    assert response.status_code == 200
    page = text(response)
    assert "This email address already has a membership" in page
    assert "Email me a link to change my amount" in page and "Add a second membership" in page
    # Nothing about the membership itself: whoever typed the address learns only that it has one.
    shown = page.split("<main")[1]
    for detail in ("€5.00", "Visa", "Member since", "Next payment", "Olena"):
        assert detail not in shown, detail
    assert not mentions(shown, "4242")  # the card's last four (a token in the form may hold the digits)
    assert count(Checkout) == 1 and len(checkout_posts(double)) == 1  # only the first membership's


def test_adding_a_second_membership_on_purpose(client: FlaskClient, double: DoubleServer,
                                               patron: Membership) -> None:
    page = text(give(client, amount="8", cover_fees="y", utm_campaign="winter", email_consent="y"))
    confirm = forms_on(page)["/give"]
    assert confirm["second_membership"] == "1" and confirm["csrf_token"]
    assert (confirm["amount"], confirm["frequency"], confirm["message"]) == ("8", "monthly", "Again!")
    assert (confirm["cover_fees"], confirm["email_consent"], confirm["utm_campaign"]) == ("y", "y", "winter")
    response = client.post("/give", data=confirm)
    assert response.status_code == 303 and response.headers["Location"].startswith(double.url)
    db.session.rollback()
    second = db.session.scalars(sa.select(Checkout).order_by(Checkout.id.desc())).first()
    assert second is not None and second.id != patron.checkout_id
    assert (second.amount_minor, second.cover_fees, second.message, second.utm_campaign, second.email_consent) == (
        800, True, "Again!", "winter", True)
    assert checkout_posts(double)[-1]["params"]["mode"] == "subscription"


def test_the_confirmation_needs_its_csrf_token(client: FlaskClient, double: DoubleServer,
                                              patron: Membership) -> None:
    confirm = forms_on(text(give(client)))["/give"]
    del confirm["csrf_token"]
    assert client.post("/give", data=confirm).status_code == 400
    assert count(Checkout) == 1 and len(checkout_posts(double)) == 1


def test_change_my_amount_emails_a_sign_in_link(client: FlaskClient, double: DoubleServer,
                                                patron: Membership) -> None:
    sign_in_form = forms_on(text(give(client)))["/account/sign-in"]
    assert sign_in_form["email"] == EMAIL and sign_in_form["next"] == "/account"
    response = client.post("/account/sign-in", data=sign_in_form)
    assert response.status_code == 200 and "Check your email" in text(response)
    db.session.rollback()
    link = db.session.scalars(sa.select(OutboundEmail).where(OutboundEmail.message == "sign_in_link")).one()
    assert link.to_address == EMAIL and "?next=%2Faccount" in link.body_text


@pytest.mark.parametrize("fields", [{"frequency": "once"}, {"email": "taras@example.org"}])
def test_no_question_for_a_gift_or_another_address(client: FlaskClient, double: DoubleServer, patron: Membership,
                                                   fields: dict[str, str]) -> None:
    assert give(client, **fields).status_code == 303


def test_no_question_once_the_membership_has_ended(client: FlaskClient, double: DoubleServer) -> None:
    olena = add_supporter(EMAIL)
    add_membership(olena, MembershipStatus.CANCELED, ended_at=utcnow())
    assert give(client).status_code == 303


def test_the_account_lists_and_manages_each_membership(app: Flask, client: FlaskClient, double: DoubleServer,
                                                       patron: Membership) -> None:
    second_checkout = start_gift(client, frequency="yearly", amount="60", second_membership="1")
    pay(double, second_checkout)
    settle(double)
    first = patron
    second = db.session.scalars(sa.select(Membership).where(Membership.checkout_id == second_checkout.id)).one()
    sign_in(client, first.supporter)
    page = text(client.get("/account"))
    assert "Your memberships" in page and "You have 2 memberships" in page
    assert "€5.00/month" in page and "€60.00/year" in page
    for membership in (first, second):
        assert f'href="/account/memberships/{membership.id}/amount"' in page
        assert f'href="/account/memberships/{membership.id}/cancel"' in page

    token = csrf_token(client, "/account")
    response = client.post(f"/account/memberships/{second.id}/cancel", data={"csrf_token": token})
    assert response.status_code == 303
    [cancel] = subscription_posts(double)
    assert cancel["path"] == f"/v1/subscriptions/{second.stripe_subscription_id}"
    response = client.post(f"/account/memberships/{first.id}/amount",
                           data={"amount": "6", "currency": "EUR", "csrf_token": token})
    assert response.status_code == 303
    change = subscription_posts(double)[-1]
    assert change["path"] == f"/v1/subscriptions/{first.stripe_subscription_id}"
    page = text(client.get("/account"))
    assert f'action="/account/memberships/{second.id}/resume"' in page
    assert f'action="/account/memberships/{first.id}/resume"' not in page
    assert "€6.00/month" in page
    response = client.post(f"/account/memberships/{second.id}/resume", data={"csrf_token": token})
    assert response.status_code == 303 and subscription_posts(double)[-1]["params"] == {"cancel_at_period_end": "false"}
    assert subscription_posts(double)[-1]["path"] == f"/v1/subscriptions/{second.stripe_subscription_id}"


def test_someone_elses_membership_is_not_found(client: FlaskClient, double: DoubleServer,
                                               patron: Membership) -> None:
    taras = add_supporter("taras@example.org", "Taras")
    sign_in(client, taras)
    token = csrf_token(client, "/account")
    base = f"/account/memberships/{patron.id}"
    for path, data in ((f"{base}/amount", {"amount": "9", "currency": "EUR"}), (f"{base}/cancel", {}),
                       (f"{base}/resume", {})):
        assert client.get(path).status_code in (404, 405), path
        assert client.post(path, data={**data, "csrf_token": token}).status_code == 404, path
    assert client.get("/account/memberships/99999999/amount").status_code == 404
    assert subscription_posts(double) == [] and count(MembershipChange) == 0
