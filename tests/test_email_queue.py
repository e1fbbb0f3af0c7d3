"""The Redis email queue (REDIS_URL): requests hand committed emails to `email worker` instead of sending."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership import email as email_module
from membership.config import ConfigError, check_settings, load_settings
from membership.db import db, utcnow
from membership.email import (
    SEND_LEASE,
    EmailStatus,
    OutboundEmail,
    flush_committed_emails,
    queue_email,
    retry_due_emails,
)
from membership.queue import EMAILS, init_queue, queue_key
from membership.supporters.models import Supporter
from tests.support.helpers import SAMPLE, csrf_token, queued_ids
from tests.support.servers import SmtpSink, free_port


def only_email() -> OutboundEmail:
    db.session.rollback()
    return db.session.scalars(sa.select(OutboundEmail)).one()


def test_a_request_hands_its_email_to_the_worker(app: Flask, client: FlaskClient, smtp_server: SmtpSink,
                                                 queue: redis.Redis) -> None:
    """A patron asks for a sign-in link: the page answers without sending; the worker sends it."""
    db.session.add(Supporter(email="olena@example.org", name="Olena"))
    db.session.commit()
    response = client.post("/account/sign-in", data={"email": "olena@example.org",
                                                     "csrf_token": csrf_token(client, "/account/sign-in")})
    assert response.status_code in (200, 302, 303)
    assert smtp_server.messages == []  # not sent by the request
    email = only_email()
    assert (email.status, email.attempts) == (EmailStatus.QUEUED, 0)  # unclaimed: the worker claims it
    assert queued_ids(queue, EMAILS) == [email.id]
    result = app.test_cli_runner().invoke(args=["email", "worker", "--drain"])
    assert result.exit_code == 0, result.output
    assert "Emails sent: 1; failed (left queued for a later retry): 0." in result.output
    [message] = smtp_server.messages
    assert message["To"] == "olena@example.org"
    assert only_email().status == EmailStatus.SENT and queued_ids(queue, EMAILS) == []


def test_the_worker_skips_what_was_sent_meanwhile_and_junk(app: Flask, smtp_server: SmtpSink,
                                                          queue: redis.Redis) -> None:
    queue_email(db.session(), "membership_ended", "reader@example.org", **SAMPLE)
    db.session.commit()
    flush_committed_emails(db.session())
    email = only_email()
    email.status = EmailStatus.SENT.value  # `email retry` got there first, after the lease ran out
    db.session.commit()
    queue.rpush(queue_key(EMAILS), "not-an-id", 999999)
    result = app.test_cli_runner().invoke(args=["email", "worker", "--drain"])
    assert result.exit_code == 0 and "Emails sent: 0; failed (left queued for a later retry): 0." in result.output
    assert smtp_server.messages == []


@pytest.mark.parametrize("first", ["worker", "email retry"])
def test_a_worker_a_lease_behind_and_email_retry_send_a_message_once(
        app: Flask, smtp_server: SmtpSink, queue: redis.Redis, monkeypatch: pytest.MonkeyPatch, first: str) -> None:
    """The worker gets to a message more than a lease after the request handed it over, just as `jobs run`
    (`email retry`) does: both claim it with the same conditional update, so the reader gets it once."""
    queue_email(db.session(), "membership_ended", "reader@example.org", **SAMPLE)
    db.session.commit()
    flush_committed_emails(db.session())
    email = only_email()
    email.created_at = email.next_attempt_at = utcnow() - SEND_LEASE - timedelta(minutes=1)
    db.session.commit()
    deliver = email_module.Mailer.send
    in_smtp = threading.Event()

    def slow_deliver(mailer: email_module.Mailer, message: email_module.Claimed) -> str:
        in_smtp.set()
        time.sleep(0.3)  # the other sender reaches the message while this one is handing it over
        return deliver(mailer, message)

    monkeypatch.setattr(email_module.Mailer, "send", slow_deliver)
    outcomes: list[object] = []

    def worker() -> None:
        with app.app_context():
            outcomes.append(app.test_cli_runner().invoke(args=["email", "worker", "--drain"]).output)
            db.session.remove()

    def email_retry() -> None:
        with app.app_context():
            outcomes.append(retry_due_emails(db.session()))
            db.session.remove()

    senders = {"worker": worker, "email retry": email_retry}
    leader = threading.Thread(target=senders[first])
    leader.start()
    assert in_smtp.wait(10), "the first sender never reached the mail server"
    follower = threading.Thread(target=senders["email retry" if first == "worker" else "worker"])
    follower.start()
    leader.join()
    follower.join()
    assert [m["To"] for m in smtp_server.messages] == ["reader@example.org"]
    sent = only_email()
    assert (sent.status, sent.attempts) == (EmailStatus.SENT, 1)
    assert queued_ids(queue, EMAILS) == []


def test_a_failed_send_stays_queued_for_retry(app: Flask, smtp_server: SmtpSink, queue: redis.Redis) -> None:
    queue_email(db.session(), "membership_ended", "reader@example.org", **SAMPLE)
    db.session.commit()
    flush_committed_emails(db.session())
    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{free_port()}"  # the mail server is down
    result = app.test_cli_runner().invoke(args=["email", "worker", "--drain"])
    assert "Emails sent: 0; failed (left queued for a later retry): 1." in result.output
    email = only_email()
    assert email.status == EmailStatus.QUEUED and "ConnectionRefusedError" in email.last_error


def test_an_unreachable_queue_means_the_request_sends(app: Flask, smtp_server: SmtpSink,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    app.config.update(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens there
    init_queue(app)
    try:
        caplog.set_level(logging.WARNING, logger="membership.email")
        queue_email(db.session(), "membership_ended", "reader@example.org", **SAMPLE)
        db.session.commit()
        flush_committed_emails(db.session())
    finally:
        app.config["REDIS_URL"] = ""
        init_queue(app)
    assert [m["To"] for m in smtp_server.messages] == ["reader@example.org"]
    assert only_email().status == EmailStatus.SENT
    assert "The email queue is unreachable" in caplog.text


def test_the_worker_needs_redis(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["email", "worker", "--drain"])
    assert result.exit_code == 2 and "REDIS_URL is not set" in result.output


def test_redis_url_is_checked_at_start_up() -> None:
    settings = load_settings({"REDIS_URL": "http://127.0.0.1:6379"}, instance_path="/tmp/membership-instance")
    with pytest.raises(ConfigError, match="REDIS_URL must look like redis://"):
        check_settings(settings)
