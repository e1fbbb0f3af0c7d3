"""Email at burst scale: links go before bulk mail, one SMTP connection carries a batch, and the messages a
reader may opt out of carry List-Unsubscribe with a one-click link that works without signing in."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership import email as email_module
from membership.db import db
from membership.email import (
    EmailStatus,
    Mailer,
    OutboundEmail,
    flush_committed_emails,
    queue_email,
    retry_due_emails,
    send_queued,
    unsubscribe_url,
)
from membership.queue import EMAILS, push, run_worker
from membership.supporters.models import Supporter
from tests.support.helpers import SAMPLE, csrf_token, queued_ids, text
from tests.support.servers import SmtpSink


def bulk_receipts(count: int) -> list[int]:
    """`count` renewal receipts, committed and queued (unsent), as a renewal burst leaves them: rendered once,
    copied, so the test spends its time sending, not rendering."""
    queue_email(db.session(), "renewal_receipt", "patron-0@example.org", send_after_commit=False, **SAMPLE)
    db.session.flush()
    first = db.session.scalars(sa.select(OutboundEmail)).one()
    columns = {"message": first.message, "subject": first.subject, "body_text": first.body_text,
               "body_html": first.body_html, "status": EmailStatus.QUEUED.value, "attempts": 0}
    db.session.execute(sa.insert(OutboundEmail), [{**columns, "to_address": f"patron-{n}@example.org"}
                                                   for n in range(1, count)])
    db.session.commit()
    return list(db.session.scalars(sa.select(OutboundEmail.id).order_by(OutboundEmail.id)))


def ask_for_sign_in_link(client: FlaskClient, address: str = "olena@example.org") -> None:
    db.session.add(Supporter(email=address, name="Olena"))
    db.session.commit()
    response = client.post("/account/sign-in", data={"email": address,
                                                     "csrf_token": csrf_token(client, "/account/sign-in")})
    assert response.status_code in (200, 303)


def drain(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["email", "worker", "--drain"])
    assert result.exit_code == 0, result.output


# Links before bulk mail --------------------------------------------------------------------------------------


class Worker:
    """`email worker` in a thread, stopped when the test says."""

    def __init__(self, app: Flask) -> None:
        self.mailer, self.stop = Mailer(), threading.Event()
        self.thread = threading.Thread(target=self._run, args=(app,))
        self.thread.start()

    def _run(self, app: Flask) -> None:
        with app.app_context():
            run_worker({EMAILS: lambda email_id: send_queued(db.session(), int(email_id), self.mailer)},
                       idle={EMAILS: self.mailer.close}, stop=self.stop, wait_seconds=0.2)
            db.session.remove()

    def wait_for(self, condition: Callable[[], bool]) -> None:
        while not condition():
            assert self.thread.is_alive(), "the worker stopped"
            self.thread.join(0.05)

    def finish(self) -> None:
        self.stop.set()
        self.thread.join()


def _link_sent(sink: SmtpSink) -> Callable[[], bool]:
    return lambda: any(m["To"] == "olena@example.org" for m in sink.messages)


def test_a_sign_in_link_queued_behind_thousands_of_receipts_goes_first(app: Flask, client: FlaskClient,
                                                                      smtp_server: SmtpSink,
                                                                      queue: redis.Redis) -> None:
    push(EMAILS, bulk_receipts(3000))
    ask_for_sign_in_link(client)
    assert len(queued_ids(queue, EMAILS)) == 3001
    worker = Worker(app)
    try:
        worker.wait_for(_link_sent(smtp_server))
    finally:
        worker.finish()
    assert smtp_server.messages[0]["To"] == "olena@example.org"
    assert "sign-in link" in smtp_server.messages[0]["Subject"]
    assert len(queued_ids(queue, EMAILS)) >= 2900  # the receipts wait their turn, still queued


def test_a_sign_in_link_asked_for_during_a_burst_is_the_next_message_sent(app: Flask, client: FlaskClient,
                                                                         smtp_server: SmtpSink,
                                                                         queue: redis.Redis) -> None:
    receipts = bulk_receipts(2000)
    push(EMAILS, receipts)
    worker = Worker(app)
    try:
        worker.wait_for(lambda: len(smtp_server.messages) >= 3)  # the burst is being sent
        ask_for_sign_in_link(client)
        sent_before = len(smtp_server.messages)  # the link is queued now, the receipts still going out
        worker.wait_for(_link_sent(smtp_server))
    finally:
        worker.finish()
    position = next(i for i, m in enumerate(smtp_server.messages) if m["To"] == "olena@example.org")
    # At most the one receipt in hand went out between the link's queueing and the link.
    assert position <= sent_before + 1
    assert position < len(receipts) - 100


def test_email_retry_sends_links_before_bulk_mail(app: Flask, smtp_server: SmtpSink) -> None:
    bulk_receipts(20)
    queue_email(db.session(), "sign_in_link", "olena@example.org", send_after_commit=False, **SAMPLE)
    db.session.commit()
    assert retry_due_emails(db.session()) == (21, 0)
    assert smtp_server.messages[0]["To"] == "olena@example.org"


# One connection a batch ---------------------------------------------------------------------------------------


def test_a_worker_sends_a_run_of_messages_over_one_connection(app: Flask, smtp_server: SmtpSink,
                                                             queue: redis.Redis) -> None:
    push(EMAILS, bulk_receipts(30))
    drain(app)
    assert len(smtp_server.messages) == 30 and smtp_server.connections == 1


def test_a_new_connection_after_the_queue_ran_empty_and_every_hundred_messages(
        app: Flask, smtp_server: SmtpSink, queue: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(email_module, "MESSAGES_PER_CONNECTION", 4)
    ids = bulk_receipts(10)
    push(EMAILS, ids[:6])
    drain(app)  # 4 + 2, then the queue is empty: the connection is closed
    push(EMAILS, ids[6:])
    drain(app)
    assert len(smtp_server.messages) == 10
    assert smtp_server.connection_of == [0, 0, 0, 0, 1, 1, 2, 2, 2, 2]


def test_email_retry_sends_its_batch_over_one_connection(app: Flask, smtp_server: SmtpSink) -> None:
    bulk_receipts(12)
    assert retry_due_emails(db.session()) == (12, 0)
    assert smtp_server.connections == 1


def test_a_connection_the_server_dropped_is_opened_again(app: Flask, smtp_server: SmtpSink,
                                                        queue: redis.Redis) -> None:
    ids = bulk_receipts(2)
    mailer = Mailer()
    assert send_queued(db.session(), ids[0], mailer)
    assert mailer._smtp is not None
    mailer._smtp.close()  # as when the server timed the kept connection out
    assert send_queued(db.session(), ids[1], mailer)
    mailer.close()
    assert len(smtp_server.messages) == 2 and smtp_server.connections == 2


# List-Unsubscribe ---------------------------------------------------------------------------------------------


@pytest.fixture
def voter(app: Flask) -> Supporter:
    supporter = Supporter(email="voter@example.org", name="Vira")
    db.session.add(supporter)
    db.session.commit()
    return supporter


def test_a_ballot_email_carries_one_click_unsubscribe(app: Flask, smtp_server: SmtpSink, voter: Supporter) -> None:
    queue_email(db.session(), "ballot_commissioned", "voter@example.org", voter.id, topic="Courts",
                ballot_title="Next?", article_url="http://x.test/a", ballot_url="http://x.test/b", name="Vira")
    db.session.commit()
    flush_committed_emails(db.session())
    [message] = smtp_server.messages
    link = unsubscribe_url("ballot_commissioned", voter.id)
    assert link is not None and link.startswith(f"{app.config['PUBLIC_URL']}/account/unsubscribe/")
    assert message["List-Unsubscribe"] == f"<{link}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    body = message.get_body(("plain",))
    assert body is not None and link in body.get_content()


@pytest.mark.parametrize("message", ["sign_in_link", "renewal_receipt", "payment_failed", "thank_you"])
def test_transactional_messages_carry_no_unsubscribe(app: Flask, smtp_server: SmtpSink, voter: Supporter,
                                                     message: str) -> None:
    queue_email(db.session(), message, "voter@example.org", voter.id, **SAMPLE)
    db.session.commit()
    flush_committed_emails(db.session())
    [sent] = smtp_server.messages
    assert sent["List-Unsubscribe"] is None and sent["List-Unsubscribe-Post"] is None


def test_a_mail_clients_one_click_post_unsubscribes_without_signing_in(app: Flask, voter: Supporter) -> None:
    link = unsubscribe_url("ballot_commissioned", voter.id)
    assert link is not None
    path = link.removeprefix(app.config["PUBLIC_URL"])
    fresh = app.test_client()  # no session, no CSRF token: as a mail provider posts it (RFC 8058)
    response = fresh.post(path, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and "You're unsubscribed" in text(response)
    db.session.rollback()
    assert db.session.get(Supporter, voter.id).ballot_emails is False  # type: ignore[union-attr]
    assert fresh.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200  # again: still fine


def test_opening_the_link_only_asks(app: Flask, client: FlaskClient, voter: Supporter) -> None:
    link = unsubscribe_url("ballot_commissioned", voter.id)
    assert link is not None
    response = client.get(link.removeprefix(app.config["PUBLIC_URL"]))
    assert response.status_code == 200 and "Stop these emails?" in text(response)
    assert response.headers["Cache-Control"] == "no-store"
    db.session.rollback()
    assert db.session.get(Supporter, voter.id).ballot_emails is True  # type: ignore[union-attr]


@pytest.mark.parametrize("token", ["nonsense", "WzEsImJhbGxvdF9lbWFpbHMiXQ.forged"])
def test_a_bad_unsubscribe_link_changes_nothing(app: Flask, voter: Supporter, token: str) -> None:
    response = app.test_client().post(f"/account/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 400 and "not valid" in text(response)
    db.session.rollback()
    assert db.session.get(Supporter, voter.id).ballot_emails is True  # type: ignore[union-attr]
