"""The email core: rendering, queueing in the transaction, sending after commit, failures and retries,
the periodic jobs, and the development outbox."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient

from membership import ROOT, create_app
from membership import email as email_module
from membership.db import committed, db, utcnow
from membership.email import (
    AFTER_COMMIT_NAME,
    EmailStatus,
    OutboundEmail,
    flush_committed_emails,
    queue_email,
    send_emails,
)
from membership.giving.models import CheckoutStatus, Membership, MembershipStatus, Payment
from membership.ratelimit import RateLimitHit
from membership.supporters.models import Supporter
from stripe_double import DoubleServer
from tests.support.giving import pay, settle, start_gift
from tests.support.helpers import SAMPLE, count, parts, text
from tests.support.servers import LiveServer, SmtpSink, free_port

MESSAGES = sorted(path.name for path in (ROOT / "templates" / "email").iterdir() if path.is_dir())


def only_email() -> OutboundEmail:
    db.session.rollback()
    return db.session.scalars(sa.select(OutboundEmail)).one()


def test_every_message_directory_is_complete() -> None:
    assert {"thank_you", "renewal_receipt", "payment_failed", "payment_failed_reminder", "membership_cancelled",
            "membership_ended"} <= set(MESSAGES)
    for message in MESSAGES:
        folder = ROOT / "templates" / "email" / message
        assert {p.name for p in folder.iterdir()} >= {"subject.txt", "body.txt", "body.html"}, message
        assert Path(folder / "body.txt").read_text().rstrip().endswith('{% include "email/footer.txt" %}'), message
        assert '{% extends "email/layout.html" %}' in Path(folder / "body.html").read_text(), message


@pytest.mark.parametrize("message", MESSAGES)
def test_each_message_has_text_and_html_parts_with_the_newsroom(app: Flask, smtp_server: SmtpSink,
                                                                message: str) -> None:
    queue_email(db.session(), message, "reader@example.org", **SAMPLE)
    db.session.commit()
    flush_committed_emails(db.session())
    [sent] = smtp_server.messages
    assert sent["To"] == "reader@example.org"
    assert sent["From"] == app.config["MAIL_FROM"]
    assert sent["Subject"] and "\n" not in sent["Subject"] and "{" not in sent["Subject"]
    assert sent.get_content_type() == "multipart/alternative"
    bodies = parts(sent)
    assert set(bodies) == {"text/plain", "text/html"}
    for content in bodies.values():
        assert app.config["NEWSROOM_NAME"] in content
        assert app.config["NEWSROOM_ADDRESS"] in content
    assert f"<title>{sent['Subject']}</title>" in bodies["text/html"].replace("&#39;", "'")
    assert only_email().status == EmailStatus.SENT and only_email().transport == "smtp"


def test_an_email_queued_in_a_rolled_back_transaction_is_never_sent(app: Flask, smtp_server: SmtpSink) -> None:
    queue_email(db.session(), "membership_ended", "kept@example.org", **SAMPLE)
    db.session.commit()
    queue_email(db.session(), "membership_ended", "rolled-back@example.org", **SAMPLE)
    db.session.rollback()
    flush_committed_emails(db.session())
    db.session.commit()
    flush_committed_emails(db.session())
    assert [m["To"] for m in smtp_server.messages] == ["kept@example.org"]
    assert count(OutboundEmail) == 1


def test_nothing_is_sent_before_the_commit(app: Flask, smtp_server: SmtpSink) -> None:
    queue_email(db.session(), "membership_ended", "reader@example.org", **SAMPLE)
    flush_committed_emails(db.session())
    assert smtp_server.messages == []
    db.session.commit()
    flush_committed_emails(db.session())
    assert len(smtp_server.messages) == 1


def test_a_failed_send_keeps_the_payment_and_email_retry_sends_it_later(
    app: Flask, client: FlaskClient, double: DoubleServer, live_app: LiveServer, smtp_server: SmtpSink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    working = app.config["MAIL_URL"]
    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{free_port()}"  # nothing listens there: the server is down
    caplog.set_level(logging.WARNING, logger="membership.email")
    checkout = start_gift(client, amount="10")
    pay(double, checkout)
    settle(double)
    assert count(Payment) == 1
    db.session.refresh(checkout)
    assert checkout.status is CheckoutStatus.COMPLETED
    queued = only_email()
    assert (queued.message, queued.status, queued.attempts) == ("thank_you", EmailStatus.QUEUED, 1)
    assert "ConnectionRefusedError" in queued.last_error
    assert queued.next_attempt_at > utcnow()
    assert "Sending thank_you to olena@example.org failed (attempt 1)" in caplog.text

    app.config["MAIL_URL"] = working
    runner = app.test_cli_runner()
    not_yet = runner.invoke(args=["email", "retry"])
    assert not_yet.exit_code == 0 and "Emails sent: 0" in not_yet.output  # backing off: not due for a minute
    queued.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    retried = runner.invoke(args=["email", "retry"])
    assert retried.exit_code == 0 and "Emails sent: 1; failed (left queued for a later retry): 0" in retried.output
    [message] = smtp_server.messages
    assert message["Subject"] == "Thank you for your gift to Kyiv Independent Test"
    sent = only_email()
    assert (sent.status, sent.attempts, sent.last_error, sent.transport) == (EmailStatus.SENT, 2, "", "smtp")
    assert runner.invoke(args=["email", "retry"]).output.startswith("Emails sent: 0")


def test_two_senders_at_once_send_a_message_once(app: Flask, smtp_server: SmtpSink,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Two `email retry` / `jobs run` senders can reach the same queued message together: one of them sends it."""
    queue_email(db.session(), "membership_ended", "reader@example.org", send_after_commit=False, **SAMPLE)
    db.session.commit()
    email_id = only_email().id
    slow = email_module.Mailer.send

    def slow_deliver(mailer: email_module.Mailer, email: email_module.Claimed) -> str:
        time.sleep(0.3)  # both senders are inside send_emails before either finishes
        return slow(mailer, email)

    monkeypatch.setattr(email_module.Mailer, "send", slow_deliver)
    barrier = threading.Barrier(2)

    def sender() -> None:
        with app.app_context():
            barrier.wait()
            send_emails(db.session(), [email_id])
            db.session.remove()

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(smtp_server.messages) == 1
    assert only_email().status == EmailStatus.SENT and only_email().attempts == 1


def test_a_message_queued_by_a_request_is_its_own_until_its_lease_runs_out(app: Flask, smtp_server: SmtpSink) -> None:
    """The request that queued a message sends it; if it died first, `email retry` takes it after the lease."""
    queue_email(db.session(), "membership_ended", "reader@example.org", **SAMPLE)
    db.session.commit()
    assert len(committed(db.session(), AFTER_COMMIT_NAME)) == 1  # the request dies before it sends it
    runner = app.test_cli_runner()
    assert runner.invoke(args=["email", "retry"]).output.startswith("Emails sent: 0")  # leased to that request
    assert smtp_server.messages == []
    leased = only_email()
    assert (leased.status, leased.attempts) == (EmailStatus.QUEUED, 1)
    leased.next_attempt_at = utcnow() - timedelta(seconds=1)  # the lease has run out
    db.session.commit()
    assert runner.invoke(args=["email", "retry"]).output.startswith("Emails sent: 1")
    assert [m["To"] for m in smtp_server.messages] == ["reader@example.org"]
    assert (only_email().status, only_email().attempts) == (EmailStatus.SENT, 2)


class Refusing:
    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        return "550 5.1.1 Mailbox unavailable"


@pytest.fixture
def refusing_smtp(app: Flask) -> Iterator[None]:
    port = free_port()
    controller = Controller(Refusing(), hostname="127.0.0.1", port=port)
    controller.start()
    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{port}"
    yield
    controller.stop()


def test_a_refused_send_is_logged_and_stays_queued(app: Flask, refusing_smtp: None,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    db.session.add(Supporter(email="reader@example.org", name="Reader"))
    queue_email(db.session(), "membership_ended", "reader@example.org", **SAMPLE)
    db.session.commit()
    flush_committed_emails(db.session())
    assert count(Supporter) == 1  # the work that queued it stays committed
    email = only_email()
    assert email.status == EmailStatus.QUEUED and email.attempts == 1
    assert "SMTPRecipientsRefused" in email.last_error and "Mailbox unavailable" in email.last_error
    assert "failed (attempt 1)" in caplog.text
    email.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["email", "retry"])
    assert result.exit_code == 1 and "failed (left queued for a later retry): 1" in result.output
    assert only_email().attempts == 2


def test_gives_up_after_the_last_attempt(app: Flask, refusing_smtp: None) -> None:
    queue_email(db.session(), "membership_ended", "reader@example.org", send_after_commit=False, **SAMPLE)
    db.session.commit()
    email = only_email()
    email.attempts = 7  # seven retries have failed already
    db.session.commit()
    assert send_emails(db.session(), [email.id]) == (0, 1)
    assert only_email().status == EmailStatus.FAILED and only_email().attempts == 8


def past_due_membership(emailed_days_ago: float) -> Membership:
    supporter = Supporter(email="patron@example.org", name="Petro")
    db.session.add(supporter)
    db.session.flush()
    membership = Membership(
        supporter_id=supporter.id, stripe_subscription_id="sub_past_due", status=MembershipStatus.PAST_DUE,
        amount_minor=700, currency="EUR", interval="month", past_due_since=utcnow() - timedelta(days=4),
        dunning_emailed_at=utcnow() - timedelta(days=emailed_days_ago),
    )
    db.session.add(membership)
    db.session.commit()
    return membership


def test_jobs_run_sends_the_due_reminder_once_and_prunes(app: Flask, smtp_server: SmtpSink) -> None:
    membership = past_due_membership(emailed_days_ago=3.01)
    db.session.add(RateLimitHit(bucket="sign_in_ip", key_hash="0" * 64, created_at=utcnow() - timedelta(days=3)))
    db.session.add(RateLimitHit(bucket="sign_in_ip", key_hash="1" * 64))
    db.session.commit()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["jobs", "run"])
    assert first.exit_code == 0, first.output
    assert "Payment reminders queued: 1" in first.output and "rate-limit records removed: 1" in first.output
    [reminder] = smtp_server.messages
    assert reminder["To"] == "patron@example.org"
    assert reminder["Subject"] == "Reminder: your membership of Kyiv Independent Test needs a new card"
    assert "€7.00/month" in parts(reminder)["text/plain"] and "/account/fix-card/" in parts(reminder)["text/plain"]
    db.session.refresh(membership)
    assert membership.dunning_reminded_at is not None
    assert count(RateLimitHit) == 1
    again = runner.invoke(args=["jobs", "run"])
    assert "Payment reminders queued: 0" in again.output and len(smtp_server.messages) == 1
    quiet = runner.invoke(args=["jobs", "run", "--quiet"])
    assert quiet.exit_code == 0 and quiet.output == ""


def test_no_reminder_before_it_is_due(app: Flask, smtp_server: SmtpSink) -> None:
    past_due_membership(emailed_days_ago=2.9)
    assert "Payment reminders queued: 0" in app.test_cli_runner().invoke(args=["jobs", "run"]).output
    assert smtp_server.messages == []


def test_jobs_run_exits_1_when_a_send_fails(app: Flask, refusing_smtp: None) -> None:
    past_due_membership(emailed_days_ago=4)
    result = app.test_cli_runner().invoke(args=["jobs", "run"])
    assert "Payment reminders queued: 1" in result.output
    email = only_email()
    assert email.status == EmailStatus.QUEUED and email.attempts == 1
    email.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    retried = app.test_cli_runner().invoke(args=["jobs", "run"])
    assert retried.exit_code == 1 and "failed: 1" in retried.output


def test_development_outbox_lists_messages_when_mail_url_is_unset(app: Flask, client: FlaskClient) -> None:
    app.config["MAIL_URL"] = ""
    queue_email(db.session(), "membership_ended", "reader@example.org", **SAMPLE)
    db.session.commit()
    flush_committed_emails(db.session())
    email = only_email()
    assert (email.status, email.transport) == (EmailStatus.SENT, "outbox")
    listing = client.get("/dev/outbox/")
    assert listing.status_code == 200
    assert "reader@example.org" in text(listing) and email.subject in text(listing)
    shown = client.get(f"/dev/outbox/{email.id}")
    assert shown.status_code == 200 and "Hello Olena," in text(shown)
    html = client.get(f"/dev/outbox/{email.id}/html")
    assert html.status_code == 200 and "<!doctype html>" in text(html)
    assert client.get("/dev/outbox/999999").status_code == 404


def test_development_outbox_does_not_exist_in_production(database_uri: str) -> None:
    production = create_app({
        "MEMBERSHIP_ENV": "production",
        "SQLALCHEMY_DATABASE_URI": database_uri,
        "SECRET_KEY": "a-production-secret-key-of-at-least-32-chars",
        "STRIPE_SECRET_KEY": "sk_test_production_like",
        "STRIPE_WEBHOOK_SECRET": "whsec_production_like",
        "MAIL_URL": "smtp://mail.example.org:587?starttls=1",
    })
    client = production.test_client()
    assert client.get("/dev/outbox/").status_code == 404
    assert client.get("/dev/outbox/1").status_code == 404
    assert "outbox" not in production.blueprints
