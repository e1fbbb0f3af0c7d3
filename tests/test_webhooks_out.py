"""Webhooks out: what the newsroom's tools receive, signed so a Standard Webhooks library verifies it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from membership.db import db, unit_of_work, utcnow
from membership.giving.models import MembershipStatus
from membership.jobs import run_jobs
from membership.queue import WEBHOOKS
from membership.staff.accounts.models import Role
from membership.supporters.services import record_consent
from membership.webhooks_out import (
    RETRY_FOR,
    DeliveryStatus,
    EventType,
    WebhookDelivery,
    WebhookEndpoint,
    deliver,
    deliver_due,
    emit,
    new_secret,
)
from stripe_double import DoubleServer
from tests.support.ballots import add_ballot, add_patron, close_ballot, option_ids, post_vote
from tests.support.helpers import csrf_token, queued_ids, refreshed
from tests.support.patrons import add_supporter, become_patron, sign_in
from tests.support.servers import LiveServer, WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    yield server
    server.stop()


def _endpoint(url: str, events: list[EventType] | None = None, include_email: bool = False) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(url=url, description="CRM", secret=new_secret(), include_email=include_email,
                               event_types=[event.value for event in (events or list(EventType))])
    db.session.add(endpoint)
    db.session.commit()
    return endpoint


def _deliveries() -> list[WebhookDelivery]:
    return list(db.session.scalars(sa.select(WebhookDelivery).order_by(WebhookDelivery.id)))


def _verified(receiver: WebhookReceiver, endpoint: WebhookEndpoint) -> list[dict[str, Any]]:
    """Every request the receiver got, checked with the standardwebhooks library as the tool would."""
    verifier = Webhook(endpoint.secret)
    return [verifier.verify(request["body"], request["headers"]) for request in receiver.requests]


def _send_all(app: Flask) -> tuple[int, int]:
    with app.app_context():
        return deliver_due(db.session(), utcnow() + timedelta(seconds=1))


def test_a_delivery_verifies_with_the_standard_webhooks_library(app: Flask, receiver: WebhookReceiver) -> None:
    endpoint = _endpoint(receiver.url)
    supporter = add_supporter()
    with unit_of_work(db.session()) as session:
        record_consent(session, supporter, True, "account")
    assert _send_all(app) == (1, 0)
    (message,) = _verified(receiver, endpoint)
    assert message["type"] == "consent.changed"
    assert message["data"] == {"supporter_id": supporter.id, "email_consent": True, "source": "account",
                               "changed_at": message["data"]["changed_at"]}
    assert "email" not in message["data"]  # the endpoint didn't ask for it
    headers = receiver.requests[0]["headers"]
    assert headers["webhook-id"].startswith("msg_") and headers["webhook-signature"].startswith("v1,")
    (delivery,) = _deliveries()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.last_status_code == 200


def test_a_wrong_secret_or_a_changed_body_fails_verification(app: Flask, receiver: WebhookReceiver) -> None:
    endpoint = _endpoint(receiver.url)
    with unit_of_work(db.session()) as session:
        emit(session, EventType.SUPPORTER_ERASED, {"supporter_id": 7})
    _send_all(app)
    request = receiver.requests[0]
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(request["body"], request["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(request["body"].replace(b"7", b"8"), request["headers"])


def test_only_subscribed_active_endpoints_get_an_event_and_email_only_when_asked(
        app: Flask, receiver: WebhookReceiver) -> None:
    crm = _endpoint(receiver.url, [EventType.CONSENT_CHANGED], include_email=True)
    _endpoint(receiver.url, [EventType.PAYMENT_SUCCEEDED])  # not this event
    paused = _endpoint(receiver.url, [EventType.CONSENT_CHANGED])
    paused.active = False
    db.session.commit()
    supporter = add_supporter(email="olena@example.org")
    with unit_of_work(db.session()) as session:
        record_consent(session, supporter, True, "give_form")
    _send_all(app)
    (message,) = _verified(receiver, crm)
    assert message["data"]["email"] == "olena@example.org"
    assert "name" not in message["data"] and "Olena" not in receiver.requests[0]["body"].decode()


def test_nothing_is_sent_when_the_transaction_rolls_back(app: Flask, receiver: WebhookReceiver) -> None:
    _endpoint(receiver.url)
    with pytest.raises(RuntimeError), unit_of_work(db.session()) as session:
        emit(session, EventType.SUPPORTER_ERASED, {"supporter_id": 1})
        raise RuntimeError("the work failed")
    assert _deliveries() == [] and _send_all(app) == (0, 0) and receiver.requests == []


def test_a_failed_delivery_is_retried_with_growing_waits_then_given_up(app: Flask, receiver: WebhookReceiver) -> None:
    _endpoint(receiver.url)
    receiver.status = 503
    with unit_of_work(db.session()) as session:
        emit(session, EventType.SUPPORTER_ERASED, {"supporter_id": 1})
    now = utcnow()
    (delivery,) = _deliveries()
    waits = []
    while delivery.status == DeliveryStatus.PENDING:
        result = deliver(db.session(), delivery.id, delivery.next_attempt_at)
        delivery = refreshed(delivery)
        assert result is False
        if delivery.status == DeliveryStatus.PENDING:
            waits.append(delivery.next_attempt_at - now)
        assert delivery.attempts < 30
    assert waits == sorted(waits) and waits[0] <= timedelta(seconds=10)
    assert delivery.status == DeliveryStatus.FAILED and "HTTP 503" in delivery.last_error
    assert delivery.created_at + RETRY_FOR <= delivery.next_attempt_at + timedelta(hours=10)
    assert len(receiver.requests) == delivery.attempts
    # Not due yet: a delivery waiting for its retry time isn't sent early.
    receiver.status = 200
    with unit_of_work(db.session()) as session:
        emit(session, EventType.SUPPORTER_ERASED, {"supporter_id": 2})
    second = _deliveries()[-1]
    receiver.status = 500
    assert deliver(db.session(), second.id) is False
    assert deliver(db.session(), second.id) is None  # its next attempt is later


def test_a_payment_through_the_double_tells_the_tools_in_order(
        app: Flask, client: FlaskClient, double: DoubleServer, live_app: LiveServer,
        receiver: WebhookReceiver) -> None:
    endpoint = _endpoint(receiver.url, include_email=True)
    membership = become_patron(client, double, email="patron@example.org")
    _send_all(app)
    messages = _verified(receiver, endpoint)
    types = [message["type"] for message in messages]
    assert set(types) >= {"supporter.created", "payment.succeeded", "membership.started"}
    assert types.count("supporter.created") == 1 and types.count("membership.started") == 1
    payment = next(m for m in messages if m["type"] == "payment.succeeded")["data"]
    assert payment["amount_minor"] == 500 and payment["currency"] == "EUR" and payment["kind"] == "membership"
    started = next(m for m in messages if m["type"] == "membership.started")["data"]
    assert started["membership_id"] == membership.id and started["email"] == "patron@example.org"


def test_a_membership_ending_is_told_once(app: Flask, receiver: WebhookReceiver) -> None:
    from membership.giving.events.subscriptions import _tell_integrations
    from tests.support.patrons import add_membership

    endpoint = _endpoint(receiver.url, [EventType.MEMBERSHIP_ENDED, EventType.MEMBERSHIP_CHANGED])
    supporter = add_supporter()
    membership = add_membership(supporter)
    from membership.giving.integrations import membership_data

    before = membership_data(membership)
    membership.status = MembershipStatus.CANCELED
    with unit_of_work(db.session()) as session:
        _tell_integrations(session, supporter, membership, before)
        _tell_integrations(session, supporter, membership, membership_data(membership))  # a duplicate event
    _send_all(app)
    assert [message["type"] for message in _verified(receiver, endpoint)] == ["membership.ended"]


def test_a_closed_ballot_is_announced_once_with_its_results(app: Flask, client: FlaskClient,
                                                             receiver: WebhookReceiver) -> None:
    endpoint = _endpoint(receiver.url, [EventType.BALLOT_CLOSED])
    ballot = add_ballot()
    patron = add_patron("voter@example.org")
    sign_in(client, patron)
    assert post_vote(client, ballot.id, [option_ids(ballot)[1]]).status_code == 303
    close_ballot(ballot)
    for _ in range(2):
        with unit_of_work(db.session()) as session:
            run_jobs(session, utcnow())
    (message,) = _verified(receiver, endpoint)
    assert message["data"]["ballot_id"] == ballot.id and message["data"]["voters"] == 1
    chosen = [option for option in message["data"]["options"] if option["voters"]]
    assert [option["option_id"] for option in chosen] == [option_ids(ballot)[1]]
    assert "voter@example.org" not in receiver.requests[0]["body"].decode()


def test_erasure_sends_supporter_erased_and_forgets_the_email_in_kept_deliveries(
        app: Flask, receiver: WebhookReceiver, staff_client: Callable[[Role], FlaskClient]) -> None:
    endpoint = _endpoint(receiver.url, include_email=True)
    supporter = add_supporter(email="forget-me@example.org")
    with unit_of_work(db.session()) as session:
        record_consent(session, supporter, True, "give_form")
    client = staff_client(Role.ADMIN)
    path = f"/staff/supporters/{supporter.id}/erase"
    response = client.post(path, data={"csrf_token": csrf_token(client, path), "email": "forget-me@example.org"})
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    assert all("forget-me" not in delivery.body for delivery in _deliveries())
    _send_all(app)
    messages = _verified(receiver, endpoint)
    assert [m["type"] for m in messages] == ["consent.changed", "supporter.erased"]
    assert messages[1]["data"]["supporter_id"] == supporter.id


def test_with_redis_deliveries_go_to_the_worker_queue(app: Flask, queue: redis.Redis,
                                                      receiver: WebhookReceiver) -> None:
    _endpoint(receiver.url)
    with unit_of_work(db.session()) as session:
        emit(session, EventType.SUPPORTER_ERASED, {"supporter_id": 3})
    (delivery,) = _deliveries()
    assert queued_ids(queue, WEBHOOKS) == [delivery.id]
    from membership.queue import run_worker

    run_worker({WEBHOOKS: lambda delivery_id: deliver(db.session(), int(delivery_id))}, drain=True)
    assert refreshed(delivery).status == DeliveryStatus.DELIVERED and len(receiver.requests) == 1


def test_staff_register_an_endpoint_see_deliveries_and_send_one_again(
        app: Flask, receiver: WebhookReceiver, staff_client: Callable[[Role], FlaskClient]) -> None:
    client = staff_client(Role.ADMIN)
    page = client.get("/staff/webhooks")
    assert page.status_code == 200 and "No endpoints yet" in page.get_data(as_text=True)
    response = client.post("/staff/webhooks/new", data={
        "csrf_token": csrf_token(client, "/staff/webhooks/new"), "url": receiver.url, "description": "Our CRM",
        "event_types": ["supporter.erased", "consent.changed"], "active": "y"})
    assert response.status_code == 303
    endpoint = db.session.scalars(sa.select(WebhookEndpoint)).one()
    assert endpoint.event_types == ["consent.changed", "supporter.erased"] and endpoint.secret.startswith("whsec_")
    receiver.status = 500
    with unit_of_work(db.session()) as session:
        emit(session, EventType.SUPPORTER_ERASED, {"supporter_id": 9})
    _send_all(app)
    (delivery,) = _deliveries()
    detail = client.get(f"/staff/webhooks/{endpoint.id}").get_data(as_text=True)
    assert delivery.message_id in detail and "HTTP 500" in detail
    delivery.status = DeliveryStatus.FAILED.value
    db.session.commit()
    receiver.status = 200
    path = f"/staff/webhooks/{endpoint.id}/deliveries/{delivery.id}/resend"
    assert client.post(path, data={"csrf_token": csrf_token(client, f"/staff/webhooks/{endpoint.id}")}
                       ).status_code == 303
    _send_all(app)
    assert refreshed(delivery).status == DeliveryStatus.DELIVERED
    ids = [request["headers"]["webhook-id"] for request in receiver.requests]
    assert ids == [delivery.message_id, delivery.message_id]  # the same message, so the tool can de-duplicate
    audit = client.get("/staff/audit").get_data(as_text=True)
    assert "webhook.endpoint_created" in audit and "webhook.delivery_resent" in audit


def test_bad_endpoint_input_is_refused_and_changes_nothing(
        app: Flask, staff_client: Callable[[Role], FlaskClient]) -> None:
    client = staff_client(Role.ADMIN)
    for data in ({"url": "not a url", "event_types": ["supporter.erased"]},
                 {"url": "ftp://example.org/x", "event_types": ["supporter.erased"]},
                 {"url": "https://crm.example/hook", "event_types": []},
                 {"url": "https://crm.example/hook", "event_types": ["no.such.event"]}):
        response = client.post("/staff/webhooks/new",
                               data={"csrf_token": csrf_token(client, "/staff/webhooks/new"), **data})
        assert response.status_code == 422 and "error-summary" in response.get_data(as_text=True)
    assert db.session.scalars(sa.select(WebhookEndpoint)).all() == []


@pytest.mark.parametrize("role", [Role.EDITOR, Role.ANALYST])
def test_only_admins_manage_webhooks(role: Role, staff_client: Callable[[Role], FlaskClient]) -> None:
    assert staff_client(role).get("/staff/webhooks").status_code == 403


def test_payload_is_compact_json_with_type_timestamp_and_data(app: Flask, receiver: WebhookReceiver) -> None:
    _endpoint(receiver.url)
    with unit_of_work(db.session()) as session:
        emit(session, EventType.SUPPORTER_ERASED, {"supporter_id": 5})
    (delivery,) = _deliveries()
    body = json.loads(delivery.body)
    assert set(body) == {"type", "timestamp", "data"} and body["timestamp"].endswith("Z")
