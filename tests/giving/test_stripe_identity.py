"""What every request to Stripe carries: an idempotency key no other installation can send, and our API version."""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa
import stripe
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from stripe._api_version import _ApiVersion

import stripe_double
from membership.db import db
from membership.giving.stripe_gateway import API_VERSION
from membership.installation import Installation, installation_id
from stripe_double import DoubleServer
from tests.support.database import empty_tables
from tests.support.giving import pay, settle, start_gift
from tests.support.servers import LiveServer


def session_posts(double: DoubleServer) -> list[dict[str, Any]]:
    return [r for r in double.requests if r["method"] == "POST" and r["path"] == "/v1/checkout/sessions"]


def test_a_reset_database_is_a_new_installation_whose_keys_never_meet_the_old_ones(
        client: FlaskClient, double: DoubleServer, database_uri: str) -> None:
    first = start_gift(client, amount="10")
    first_installation = installation_id(db.session())
    [first_post] = session_posts(double)
    assert first_post["idempotency_key"] == f"{first_installation}-checkout-{first.id}-session"

    # The database is reset (or a second installation shares the Stripe test account): the same row ids come
    # back, and a key built from them alone would be the first one's, which Stripe refuses for other parameters.
    db.session.remove()
    empty_tables(database_uri)
    second = start_gift(client, amount="20")
    assert second.id == first.id
    second_installation = installation_id(db.session())
    assert second_installation != first_installation
    _, second_post = session_posts(double)
    assert second_post["idempotency_key"] == f"{second_installation}-checkout-{second.id}-session"
    assert (second_post["status"], second_post["replayed"]) == (200, False)
    assert second.stripe_session_id != first.stripe_session_id


def test_two_transactions_creating_the_installation_id_at_once_agree(app: Flask) -> None:
    with Session(db.engine) as first, Session(db.engine) as second:
        created = installation_id(first)  # inserted, not yet committed: the other transaction has to wait
        seen: list[str] = []
        other = threading.Thread(target=lambda: seen.append(installation_id(second)))
        other.start()
        first.commit()
        other.join(timeout=30)
        second.commit()
    assert seen == [created]
    assert db.session.scalars(sa.select(Installation.installation_id)).all() == [created]


def test_gateway_and_double_speak_the_sdks_api_version(client: FlaskClient, double: DoubleServer,
                                                        live_app: LiveServer) -> None:
    assert API_VERSION == stripe_double.API_VERSION == _ApiVersion.CURRENT == stripe.api_version
    checkout = start_gift(client)
    pay(double, checkout)
    settle(double)
    assert checkout.status.value == "completed"
    # Every call the app made (creating the session, reading the outcome) asked for that version.
    paths = {r["path"] for r in double.requests}
    assert paths >= {"/v1/checkout/sessions", f"/v1/checkout/sessions/{checkout.stripe_session_id}"}
    assert {r["stripe_version"] for r in double.requests} == {API_VERSION}
    assert {e["api_version"] for e in double.state.events()} == {API_VERSION}
