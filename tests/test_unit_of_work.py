"""One unit of work (membership.db.unit_of_work): commit, or roll back on an error, then send what committed."""

from __future__ import annotations

import pytest
import redis
from flask import Flask, abort
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from membership.db import db, unit_of_work
from membership.email import EmailStatus, OutboundEmail, queue_email
from membership.queue import EMAILS, EXPORTS, push_after_commit
from membership.supporters.models import Supporter
from tests.support.helpers import count, queued_ids, text
from tests.support.servers import SmtpSink


def write_and_queue(session: Session, address: str) -> None:
    """The work of a request or command: a row, and an email about it."""
    session.add(Supporter(email=address, name="Reader"))
    queue_email(session, "membership_ended", address, name="Olena", amount="€5.00/month", link="http://x.test/l",
                minutes=15)


def test_it_commits_then_sends_what_the_transaction_queued(app: Flask, smtp_server: SmtpSink) -> None:
    with unit_of_work(db.session()) as session:
        write_and_queue(session, "reader@example.org")
        assert smtp_server.messages == []  # nothing goes out before the commit
    assert [m["To"] for m in smtp_server.messages] == ["reader@example.org"]
    assert count(Supporter) == 1
    [email] = db.session.scalars(db.select(OutboundEmail)).all()
    assert email.status == EmailStatus.SENT


def test_an_error_rolls_back_sends_nothing_and_goes_on(app: Flask, smtp_server: SmtpSink) -> None:
    with pytest.raises(LookupError), unit_of_work(db.session()) as session:
        write_and_queue(session, "reader@example.org")
        session.flush()
        raise LookupError("the work failed half-way")
    assert smtp_server.messages == []
    assert (count(Supporter), count(OutboundEmail)) == (0, 0)


def test_what_a_rolled_back_transaction_queued_is_never_sent(app: Flask, smtp_server: SmtpSink) -> None:
    with pytest.raises(LookupError), unit_of_work(db.session()) as session:
        write_and_queue(session, "rolled-back@example.org")
        raise LookupError
    with unit_of_work(db.session()) as session:
        write_and_queue(session, "kept@example.org")
    assert [m["To"] for m in smtp_server.messages] == ["kept@example.org"]
    assert db.session.scalars(db.select(Supporter.email)).all() == ["kept@example.org"]


def test_queue_ids_are_pushed_after_the_commit_and_never_after_a_rollback(app: Flask, queue: redis.Redis) -> None:
    with pytest.raises(LookupError), unit_of_work(db.session()) as session:
        push_after_commit(session, EXPORTS, 8)
        raise LookupError
    with unit_of_work(db.session()) as session:
        write_and_queue(session, "reader@example.org")
        push_after_commit(session, EXPORTS, 7)
        assert queued_ids(queue, EXPORTS) == []
    [email_id] = db.session.scalars(db.select(OutboundEmail.id)).all()
    assert (queued_ids(queue, EXPORTS), queued_ids(queue, EMAILS)) == ([7], [email_id])


def test_a_request_commits_what_its_view_returns_and_rolls_back_what_it_raises(
        app: Flask, client: FlaskClient, smtp_server: SmtpSink) -> None:
    """The request is one unit of work: a returned page (a 4xx form too) commits and sends; an error rolls back
    before its page is rendered, and sends nothing."""

    def refused() -> tuple[str, int]:
        write_and_queue(db.session(), "refused@example.org")
        return "refused, but what was written stays", 400

    def broken() -> str:
        write_and_queue(db.session(), "broken@example.org")
        db.session.flush()
        abort(409)

    def crashing() -> str:
        write_and_queue(db.session(), "crashing@example.org")
        raise RuntimeError("a bug")

    for view in (refused, broken, crashing):
        app.add_url_rule(f"/test/{view.__name__}", view.__name__, view)

    assert client.get("/test/refused").status_code == 400
    assert client.get("/test/broken").status_code == 409
    crashed = client.get("/test/crashing")
    assert crashed.status_code == 500 and "Something went wrong" in text(crashed)
    assert [m["To"] for m in smtp_server.messages] == ["refused@example.org"]
    assert db.session.scalars(db.select(Supporter.email)).all() == ["refused@example.org"]
