"""Retention (`jobs run`, in batches): stored Stripe events lose their payload after STRIPE_EVENT_RETENTION_DAYS,
sent emails their body after EMAIL_BODY_RETENTION_DAYS. And the erasure's lookup of stored events: by indexed
columns filled when each event is stored, never by reading payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from membership import create_app, jobs
from membership.db import db
from membership.email import EmailStatus, OutboundEmail
from membership.giving.events.pipeline import store_event
from membership.giving.models import EventStatus, StripeEvent
from membership.giving.stored_events import email_digest, event_subjects, events_naming
from membership.jobs import run_jobs
from tests.support.settings import app_settings

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def add_event(session: Session, event_id: str, received: datetime, status: EventStatus = EventStatus.PROCESSED,
              customer: str = "cus_1") -> None:
    store_event(session, {"id": event_id, "type": "invoice.paid", "created": int(received.timestamp()),
                          "livemode": False, "data": {"object": {"id": f"in_{event_id}", "object": "invoice",
                                                                 "customer": customer}}})
    session.execute(sa.update(StripeEvent).where(StripeEvent.id == event_id)
                    .values(received_at=received, status=status, processed_at=received))
    session.commit()


def test_old_finished_events_lose_their_payload_in_batches(app: Flask, db_session: Session,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "RETENTION_BATCH", 2)
    old = NOW - timedelta(days=91)
    for n in range(5):
        add_event(db_session, f"evt_old_{n}", old - timedelta(minutes=n))
    add_event(db_session, "evt_old_failed", old, EventStatus.FAILED)
    add_event(db_session, "evt_old_waiting", old, EventStatus.RECEIVED)  # not processed yet: kept to process
    add_event(db_session, "evt_recent", NOW - timedelta(days=89))

    report = run_jobs(db_session, NOW)
    db_session.commit()
    assert report.event_payloads_deleted == 6 and "Stripe event payloads deleted: 6;" in str(report)
    db_session.expire_all()
    events = {e.id: e for e in db_session.scalars(sa.select(StripeEvent))}
    for event_id in [*(f"evt_old_{n}" for n in range(5)), "evt_old_failed"]:
        event = events[event_id]
        assert event.payload == {} and event.payload_deleted_at is not None
        # What is kept: the id, type, status and dates (and whom it named, for an erasure).
        assert (event.type, event.received_at <= old) == ("invoice.paid", True)
        assert event.status in (EventStatus.PROCESSED, EventStatus.FAILED) and event.created is not None
        assert event.customer_id == "cus_1"
    for kept in ("evt_old_waiting", "evt_recent"):
        assert events[kept].payload["data"]["object"]["customer"] == "cus_1"
        assert events[kept].payload_deleted_at is None
    assert run_jobs(db_session, NOW).event_payloads_deleted == 0
    db_session.commit()


def test_retention_periods_come_from_the_settings(app: Flask, db_session: Session) -> None:
    add_event(db_session, "evt_a", NOW - timedelta(days=11))
    app.config["STRIPE_EVENT_RETENTION_DAYS"] = 12
    assert run_jobs(db_session, NOW).event_payloads_deleted == 0
    db_session.commit()
    app.config["STRIPE_EVENT_RETENTION_DAYS"] = 10
    assert run_jobs(db_session, NOW).event_payloads_deleted == 1
    db_session.commit()


def add_email(session: Session, status: EmailStatus, sent: datetime | None, to: str = "olena@example.org") -> int:
    email = OutboundEmail(message="receipt", to_address=to, subject="Thank you", body_text="Dear Olena",
                          body_html="<p>Dear Olena</p>", status=status.value, sent_at=sent)
    session.add(email)
    session.commit()
    return email.id


def test_sent_emails_lose_their_body_after_the_retention_period(app: Flask, db_session: Session,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "RETENTION_BATCH", 2)
    old = [add_email(db_session, EmailStatus.SENT, NOW - timedelta(days=31, hours=n)) for n in range(3)]
    recent = add_email(db_session, EmailStatus.SENT, NOW - timedelta(days=29))
    queued = add_email(db_session, EmailStatus.QUEUED, None)
    report = run_jobs(db_session, NOW)
    db_session.commit()
    assert report.email_bodies_deleted == 3 and "email bodies deleted: 3." in str(report)
    db_session.expire_all()
    for email_id in old:
        email = db_session.get(OutboundEmail, email_id)
        assert email is not None
        assert (email.body_text, email.body_html, email.subject) == ("", "", "Thank you")
        assert email.to_address == "olena@example.org" and email.body_deleted_at is not None
    for email_id in (recent, queued):
        email = db_session.get(OutboundEmail, email_id)
        assert email is not None and email.body_text == "Dear Olena" and email.body_deleted_at is None


def test_storing_an_event_fills_the_lookup_and_erasure_finds_it_by_index(app: Flask, db_session: Session) -> None:
    add_event(db_session, "evt_1", NOW, customer="cus_olena")
    add_event(db_session, "evt_2", NOW, customer="cus_other")
    # A customer event names itself; an event stored before payloads were trimmed may hold an address.
    store_event(db_session, {"id": "evt_3", "type": "customer.deleted", "created": 1, "livemode": False,
                             "data": {"object": {"id": "cus_olena", "object": "customer"}}})
    db_session.execute(sa.insert(StripeEvent).values(
        id="evt_legacy", type="checkout.session.completed", created=NOW, livemode=False, status="processed",
        received_at=NOW, attempts=1, last_error="", payload={"data": {"object": {"customer_details": {
            "email": "Olena@Example.org", "name": "Olena"}}}},
        email_hash=event_subjects({"data": {"object": {"customer_email": " Olena@Example.org"}}})[1]))
    db_session.commit()
    assert db_session.get(StripeEvent, "evt_1").customer_id == "cus_olena"  # type: ignore[union-attr]
    assert db_session.get(StripeEvent, "evt_3").customer_id == "cus_olena"  # type: ignore[union-attr]
    found = events_naming(db_session, "cus_olena", "olena@example.org")
    assert sorted(e.id for e in found) == ["evt_1", "evt_3", "evt_legacy"]
    assert events_naming(db_session, None, None) == []
    db_session.rollback()


def plan(session: Session, query: Any) -> str:
    """The database's plan for `query`, as text, with sequential scans discouraged where PostgreSQL allows."""
    compiled = query.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SET LOCAL enable_seqscan = off"))
        rows = session.execute(sa.text(f"EXPLAIN {compiled}")).scalars().all()
    else:
        rows = [row[-1] for row in session.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}")).all()]
    session.rollback()
    return "\n".join(str(r) for r in rows)


def test_the_erasure_lookup_reads_indexes_not_payloads(app: Flask, db_session: Session) -> None:
    for column, index, value in ((StripeEvent.customer_id, "ix_stripe_events_customer_id", "cus_olena"),
                                 (StripeEvent.email_hash, "ix_stripe_events_email_hash",
                                  email_digest("olena@example.org"))):
        query = sa.select(StripeEvent.id).where(column == value)
        assert index in plan(db_session, query)


def test_the_migration_fills_the_lookup_from_stored_payloads(tmp_path: Path) -> None:
    from flask_migrate import upgrade

    uri = f"sqlite:///{tmp_path / 'backfill.db'}"
    app = create_app(app_settings(uri, api_base="", MEMBERSHIP_EXPORT_DIR=str(tmp_path / "exports")))
    with app.app_context():
        upgrade(revision="0020_refused_checkouts")
        legacy = {"data": {"object": {"object": "checkout.session", "customer": "cus_9",
                                      "customer_details": {"email": "Olena@Example.org"}}}}
        with db.engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO stripe_events (id, type, created, livemode, payload, status, received_at, attempts, "
                "last_error) VALUES (:id, 't', '2026-01-01', 0, :payload, 'processed', '2026-01-01', 1, '')"),
                [{"id": "evt_legacy", "payload": json.dumps(legacy)}, {"id": "evt_none", "payload": "{}"}])
        upgrade()
        rows = dict(db.session.execute(sa.select(StripeEvent.id, StripeEvent.customer_id)).all())
        hashes = dict(db.session.execute(sa.select(StripeEvent.id, StripeEvent.email_hash)).all())
        assert rows == {"evt_legacy": "cus_9", "evt_none": None}
        assert hashes == {"evt_legacy": email_digest("olena@example.org"), "evt_none": None}
        db.session.remove()
        db.engine.dispose()
