"""Webhooks with a queue (REDIS_URL): the request acknowledges (stores, enqueues, answers), the worker processes,
retries with back-off, marks what keeps failing, and what was lost (a push, a killed worker) is re-queued."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership import queue as queue_module
from membership.db import db, utcnow
from membership.email import OutboundEmail
from membership.giving import events
from membership.giving.events import checkout_sessions, worker
from membership.giving.models import CheckoutStatus, EventStatus, Payment, StripeEvent
from membership.giving.stripe_gateway import gateway
from membership.queue import STRIPE_EVENTS
from membership.staff.accounts.models import Role
from stripe_double import DoubleServer
from tests.support.giving import paid_gift, pay, settle, start_gift
from tests.support.helpers import count, post_event, queued_event_ids, refreshed, text
from tests.support.servers import LiveServer
from tests.support.settings import WEBHOOK_SECRET


def work_off(app: Flask) -> str:
    """`flask --app membership worker --drain`: process the queued events, then send the emails they queued."""
    result = app.test_cli_runner().invoke(args=["worker", "--drain"])
    assert result.exit_code == 0, result.output
    return str(result.output)


def jobs_run(app: Flask) -> str:
    result = app.test_cli_runner().invoke(args=["jobs", "run"])
    return str(result.output)


def stored(event_id: str) -> StripeEvent:
    db.session.rollback()
    return db.session.get_one(StripeEvent, event_id, populate_existing=True)


def make_due(event_id: str) -> None:
    """Let the time of the event's next attempt (a retry, a lease, a first take) come, as if it had passed."""
    db.session.execute(sa.update(StripeEvent).where(StripeEvent.id == event_id)
                       .values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()


def emails(message: str) -> int:
    db.session.rollback()
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(OutboundEmail)
                                 .where(OutboundEmail.message == message)) or 0)


def failing_payments(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise sa.exc.OperationalError("INSERT INTO payments", {}, Exception("database is down"))

    monkeypatch.setattr(checkout_sessions, "record_payment", broken)


def test_the_webhook_acknowledges_and_the_worker_processes(app: Flask, client: FlaskClient, double: DoubleServer,
                                                           queue: redis.Redis, live_app: LiveServer) -> None:
    checkout = start_gift(client)
    pay(double, checkout)
    settle(double)  # every event delivered by the double and answered 2xx, none processed yet
    assert {delivery["status"] for delivery in double.state.deliveries} == {"succeeded"}
    queued = queued_event_ids(queue)
    assert len(queued) == len(double.state.events()) and count(Payment) == 0
    assert {stored(event_id).status for event_id in queued} == {EventStatus.RECEIVED}

    output = work_off(app)
    assert f"Stripe events processed: {len(queued)}; failed attempts (retried later): 0." in output
    payment = db.session.scalars(sa.select(Payment)).one()
    assert (payment.amount_minor, payment.currency, payment.checkout_id) == (1000, "EUR", checkout.id)
    assert refreshed(checkout).status is CheckoutStatus.COMPLETED
    assert emails("thank_you") == 1 and "Emails sent: 1;" in output
    assert {stored(event_id).status for event_id in queued} <= {EventStatus.PROCESSED, EventStatus.IGNORED}
    assert all(stored(event_id).attempts == 1 for event_id in queued)
    # Everything done: another worker run (or every event delivered again) changes nothing.
    for event in double.state.events():
        again = post_event(client, event, WEBHOOK_SECRET)
        assert again.status_code == 200 and again.get_json()["result"] == "duplicate"
    assert queued_event_ids(queue) == []
    work_off(app)
    assert count(Payment) == 1 and emails("thank_you") == 1


def test_a_duplicate_delivery_is_stored_and_queued_once(app: Flask, client: FlaskClient, double: DoubleServer,
                                                        queue: redis.Redis) -> None:
    _, completed = paid_gift(client, double)
    first = post_event(client, completed, WEBHOOK_SECRET)
    second = post_event(client, completed, WEBHOOK_SECRET)
    assert (first.status_code, first.get_json()["result"]) == (200, "queued")
    assert (second.status_code, second.get_json()["result"]) == (200, "duplicate")
    assert queued_event_ids(queue) == [completed["id"]] and count(StripeEvent) == 1
    assert "name" not in str(stored(completed["id"]).payload)  # stored trimmed, as inline
    work_off(app)
    assert count(Payment) == 1


def test_a_failing_event_is_retried_with_back_off_then_marked_failed_and_shown(
    app: Flask, client: FlaskClient, double: DoubleServer, queue: redis.Redis, monkeypatch: pytest.MonkeyPatch,
    staff_client: Callable[[Role], FlaskClient],
) -> None:
    app.config.update(STRIPE_EVENT_MAX_ATTEMPTS=2, STRIPE_EVENT_RETRY_SECONDS=600)
    _, completed = paid_gift(client, double)
    event_id = completed["id"]
    assert post_event(client, completed, WEBHOOK_SECRET).get_json()["result"] == "queued"
    failing_payments(monkeypatch)

    assert "failed attempts (retried later): 1." in work_off(app)
    first = stored(event_id)
    assert (first.status, first.attempts) == (EventStatus.RECEIVED, 1)
    assert "database is down" in first.last_error and count(Payment) == 0
    assert first.next_attempt_at is not None
    wait = first.next_attempt_at - utcnow()
    assert timedelta(seconds=590) < wait <= timedelta(seconds=600)  # the first retry, not at once
    # Not due yet: neither the worker nor `jobs run` takes it again.
    assert events.process_queued_event(db.session(), gateway(), event_id, events.retry_policy()) is None
    assert "Stripe events due again (re-queued, or processed without a queue): 0." in jobs_run(app)
    assert queued_event_ids(queue) == []

    make_due(event_id)
    assert "Stripe events due again (re-queued, or processed without a queue): 1." in jobs_run(app)
    work_off(app)
    failed = stored(event_id)
    assert (failed.status, failed.attempts) == (EventStatus.FAILED, 2) and "database is down" in failed.last_error
    assert count(Payment) == 0

    page = text(staff_client(Role.ANALYST).get("/staff/dashboard"))
    assert "Stripe events needing attention" in page
    assert event_id in page and "checkout.session.completed" in page and "database is down" in page
    reconcile = app.test_cli_runner().invoke(args=["stripe", "reconcile"])
    assert "Stripe events needing attention (failed after every attempt): 1." in reconcile.output
    assert event_id in reconcile.output and "database is down" in reconcile.output

    monkeypatch.undo()  # the cause fixed: reconcile processes it, and it needs attention no more
    fixed = app.test_cli_runner().invoke(args=["stripe", "reconcile"])
    assert fixed.exit_code == 0 and "needing attention" not in fixed.output
    assert count(Payment) == 1 and stored(event_id).status is EventStatus.PROCESSED
    assert "Stripe events needing attention" not in text(staff_client(Role.ANALYST).get("/staff/dashboard"))


def test_a_killed_workers_event_is_requeued_after_its_lease_and_processed_once(
    app: Flask, client: FlaskClient, double: DoubleServer, queue: redis.Redis
) -> None:
    _, completed = paid_gift(client, double)
    event_id = completed["id"]
    post_event(client, completed, WEBHOOK_SECRET)
    # A worker takes the event off the queue, claims it, and is killed (SIGKILL) before it has done anything else.
    assert queue.lpop(queue_module.queue_key(STRIPE_EVENTS)) == event_id.encode()
    session = db.session()
    assert worker._claim(session, event_id, timedelta(minutes=5)) is not None
    session.commit()
    # While its lease runs, nobody else takes it, and nothing re-queues it.
    assert events.process_queued_event(session, gateway(), event_id, events.retry_policy()) is None
    assert "Stripe events due again (re-queued, or processed without a queue): 0." in jobs_run(app)

    make_due(event_id)  # the lease has run out
    assert "Stripe events due again (re-queued, or processed without a queue): 1." in jobs_run(app)
    assert queued_event_ids(queue) == [event_id]
    work_off(app)
    done = stored(event_id)
    assert (done.status, done.attempts) == (EventStatus.PROCESSED, 2)
    assert count(Payment) == 1 and emails("thank_you") == 1
    make_due(event_id)
    jobs_run(app)
    work_off(app)
    assert count(Payment) == 1 and emails("thank_you") == 1


def test_an_event_whose_push_was_lost_is_requeued_by_jobs_run(
    app: Flask, client: FlaskClient, double: DoubleServer, queue: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, completed = paid_gift(client, double)
    event_id = completed["id"]

    def redis_down(*args: Any, **kwargs: Any) -> None:
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(worker, "push", redis_down)
    answer = post_event(client, completed, WEBHOOK_SECRET)
    monkeypatch.undo()
    assert answer.status_code == 200  # stored durably: Stripe needn't retry
    assert queued_event_ids(queue) == [] and stored(event_id).status is EventStatus.RECEIVED
    # Until it should have been taken, it may still be on its way: `jobs run` leaves it.
    assert "Stripe events due again (re-queued, or processed without a queue): 0." in jobs_run(app)
    make_due(event_id)
    # Not while other events wait on the queue (it may be among them)…
    queue.rpush(queue_module.queue_key(STRIPE_EVENTS), "evt_not_stored")
    assert "Stripe events due again (re-queued, or processed without a queue): 0." in jobs_run(app)
    work_off(app)
    # …but once it is empty.
    assert "Stripe events due again (re-queued, or processed without a queue): 1." in jobs_run(app)
    work_off(app)
    assert count(Payment) == 1 and stored(event_id).status is EventStatus.PROCESSED


def test_without_redis_jobs_run_processes_an_event_a_request_stored_but_never_processed(
    app: Flask, client: FlaskClient, double: DoubleServer
) -> None:
    _, completed = paid_gift(client, double)
    session = db.session()
    assert events.pipeline.store_event(session, completed)  # stored, and the request died before processing
    session.commit()
    make_due(completed["id"])
    assert "Stripe events due again (re-queued, or processed without a queue): 1." in jobs_run(app)
    assert count(Payment) == 1 and stored(completed["id"]).status is EventStatus.PROCESSED
