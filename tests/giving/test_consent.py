"""The give form's "email me news": it belongs to whoever pays. Typing someone's address changes nothing
until the checkout completes, and never overrules a choice the supporter made since."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask.testing import FlaskClient

from membership.db import db
from membership.giving.models import Checkout
from membership.patrons.services import update_consent
from membership.supporters.models import ConsentEvent, Supporter
from stripe_double import DoubleServer
from tests.support.giving import pay, settle, start_gift
from tests.support.helpers import text
from tests.support.patrons import add_supporter
from tests.support.servers import LiveServer

EMAIL = "olena@example.org"


def olena() -> Supporter:
    db.session.rollback()
    return db.session.scalars(sa.select(Supporter).where(Supporter.email == EMAIL)).one()


def consent_history() -> list[tuple[bool, str]]:
    db.session.rollback()
    return [(e.consented, e.source) for e in db.session.scalars(sa.select(ConsentEvent).order_by(ConsentEvent.id))]


def consent_box(page: str) -> str:
    match = re.search(r'<input[^>]*name="email_consent"[^>]*>', page)
    assert match is not None
    return match.group(0)


def test_a_stranger_ticking_consent_without_paying_changes_nothing(client: FlaskClient, double: DoubleServer) -> None:
    add_supporter(EMAIL)
    checkout = start_gift(client, email=EMAIL, email_consent="y")
    assert checkout.email_consent is True  # kept with the checkout, for when it is paid
    supporter = olena()
    assert (supporter.email_consent, supporter.email_consent_at) == (False, None)
    assert consent_history() == []


def test_the_cancelled_page_shows_the_readers_choice_not_the_supporters(client: FlaskClient, double: DoubleServer,
                                                                        live_app: LiveServer) -> None:
    add_supporter(EMAIL, email_consent=True)
    start_gift(client, email=EMAIL)  # someone who knows the address, consent left unticked
    cancel_url = [r for r in double.requests if r["path"] == "/v1/checkout/sessions"][-1]["params"]["cancel_url"]
    page = text(client.get(cancel_url.replace(live_app.url, "")))
    assert "Your payment was cancelled" in page and "checked" not in consent_box(page)
    settle(double)


def test_consent_counts_once_the_checkout_is_paid(client: FlaskClient, double: DoubleServer,
                                                  live_app: LiveServer) -> None:
    checkout = start_gift(client, email=EMAIL, email_consent="y")
    assert olena().email_consent is False
    pay(double, checkout)
    settle(double)
    supporter = olena()
    assert supporter.email_consent is True and supporter.email_consent_at is not None
    assert supporter.email_consent_at >= checkout.created_at
    assert consent_history() == [(True, "give_form")]


def test_a_later_choice_at_the_account_stands(client: FlaskClient, double: DoubleServer,
                                              live_app: LiveServer) -> None:
    checkout = start_gift(client, email=EMAIL, email_consent="y")
    # Before paying in the tab left open, Olena says "no news" on her account.
    update_consent(db.session(), checkout.supporter_id, False)
    db.session.commit()
    pay(double, checkout)
    settle(double)
    assert olena().email_consent is False
    assert consent_history() == [(False, "account")]
    assert db.session.get_one(Checkout, checkout.id).status.value == "completed"


def test_an_earlier_choice_at_the_account_gives_way_to_the_paid_checkout(client: FlaskClient, double: DoubleServer,
                                                                         live_app: LiveServer) -> None:
    supporter = add_supporter(EMAIL)
    update_consent(db.session(), supporter.id, False)
    db.session.commit()
    checkout = start_gift(client, email=EMAIL, email_consent="y")
    pay(double, checkout)
    settle(double)
    assert olena().email_consent is True
    assert consent_history() == [(False, "account"), (True, "give_form")]
