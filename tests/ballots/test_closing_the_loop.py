"""Closing the loop: staff attach the article a topic became; the ballot page shows what the votes
commissioned; the patrons who chose the topic are emailed once (unless they switched it off in /account)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from membership.ballots import services
from membership.ballots.models import Ballot, BallotOption
from membership.db import db, utcnow
from membership.email import EmailStatus, OutboundEmail, retry_due_emails
from membership.staff.accounts.models import AuditEntry, Role
from membership.supporters.models import Supporter
from tests.support.ballots import add_ballot, add_patron, close_ballot, flat, option_ids
from tests.support.helpers import csrf_token
from tests.support.patrons import sign_in

GRACE = timedelta(days=7)
ARTICLE = "https://news.example/2026/reconstruction-money"


def _voted(ballot: Ballot, picks: dict[str, int], **supporter: object) -> dict[str, Supporter]:
    voters = {}
    for email, pick in picks.items():
        voter = add_patron(email)
        for name, value in supporter.items():
            setattr(voter, name, value)
        services.cast_vote(db.session(), ballot.id, voter.id, [option_ids(ballot)[pick]], utcnow(), GRACE)
        voters[email] = voter
    db.session.commit()
    return voters


def _attach(client: FlaskClient, ballot: Ballot, option_id: int, url: str) -> TestResponse:
    return client.post(f"/staff/ballots/{ballot.id}/options/{option_id}/article",
                       data={f"o{option_id}-article_url": url,
                             f"o{option_id}-csrf_token": csrf_token(client, f"/staff/ballots/{ballot.id}")})


def _article_url(option_id: int) -> str:
    db.session.rollback()
    return db.session.scalars(sa.select(BallotOption.article_url).where(BallotOption.id == option_id)).one()


def emails() -> list[OutboundEmail]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(OutboundEmail).where(OutboundEmail.message == "ballot_commissioned")
                                   .order_by(OutboundEmail.to_address)))


def test_attaching_the_article_shows_it_and_emails_the_voters_once(
        client: FlaskClient, staff_client: Callable[[Role], FlaskClient]) -> None:
    ballot = add_ballot()
    _voted(ballot, {"a@example.org": 0, "b@example.org": 0, "other@example.org": 1})
    _voted(ballot, {"off@example.org": 0}, ballot_emails=False)
    _voted(ballot, {"erased@example.org": 0})
    erased = db.session.scalars(sa.select(Supporter).where(Supporter.email == "erased@example.org")).one()
    erased.email, erased.erased_at = None, utcnow()
    db.session.commit()
    close_ballot(ballot)
    first = option_ids(ballot)[0]

    staff = staff_client(Role.EDITOR)
    response = _attach(staff, ballot, first, ARTICLE)
    assert response.status_code == 303
    assert "2 patrons who chose it will be emailed the link." in flat(staff.get(f"/staff/ballots/{ballot.id}"))

    queued = emails()
    assert [e.to_address for e in queued] == ["a@example.org", "b@example.org"]
    assert all(e.status == EmailStatus.QUEUED.value and e.transport == "" for e in queued)  # left to the email job
    assert queued[0].subject == "The topic you voted for is now an article: Topic 1"
    assert ARTICLE in queued[0].body_text and ARTICLE in queued[0].body_html
    assert f"/ballots/{ballot.id}" in queued[0].body_text and "untick" in queued[0].body_text
    assert "Kyiv Independent Test" in queued[0].body_text  # the footer

    assert retry_due_emails(db.session()) == (2, 0)
    assert {e.status for e in emails()} == {EmailStatus.SENT.value}

    page = flat(client.get(f"/ballots/{ballot.id}"))
    assert "What your votes commissioned" in page
    assert f'<strong>Topic 1</strong>: <a href="{ARTICLE}">read the article' in page

    # Correcting the link changes it on the page but emails nobody again.
    assert _attach(staff, ballot, first, ARTICLE + "-corrected").status_code == 303
    assert len(emails()) == 2
    assert f'href="{ARTICLE}-corrected"' in flat(client.get(f"/ballots/{ballot.id}"))
    entries = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "ballot.option_commissioned")).all()
    assert [e.details for e in entries] == [{"option_id": first, "fields": ["article_url"]}] * 2
    assert all(e.target_id == str(ballot.id) for e in entries)


def test_the_article_waits_for_the_ballot_to_close(staff_client: Callable[[Role], FlaskClient]) -> None:
    ballot = add_ballot()
    _voted(ballot, {"a@example.org": 0})
    client = staff_client(Role.EDITOR)
    response = _attach(client, ballot, option_ids(ballot)[0], ARTICLE)
    assert response.status_code == 400
    assert "Attach the article once the ballot has closed." in flat(response)
    assert emails() == [] and _article_url(option_ids(ballot)[0]) == ""


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://news.example/a", "news.example/a", "",
                                 "https://news.example/a b"])
def test_only_web_addresses_are_accepted(staff_client: Callable[[Role], FlaskClient], url: str) -> None:
    ballot = add_ballot()
    close_ballot(ballot)
    client = staff_client(Role.EDITOR)
    response = _attach(client, ballot, option_ids(ballot)[0], url)
    assert response.status_code == 400
    db.session.expire_all()
    assert _article_url(option_ids(ballot)[0]) == ""


def test_an_option_of_another_ballot_is_not_found(staff_client: Callable[[Role], FlaskClient]) -> None:
    ballot, other = add_ballot(), add_ballot(title="Other")
    close_ballot(ballot)
    client = staff_client(Role.EDITOR)
    assert _attach(client, ballot, option_ids(other)[0], ARTICLE).status_code == 404


# The switch in the account --------------------------------------------------------------------------------


def test_patrons_switch_ballot_emails_off_and_on_in_the_account(client: FlaskClient) -> None:
    patron = add_patron("olena@example.org")
    sign_in(client, patron)
    page = flat(client.get("/account"))
    assert "Email me when a topic I voted for is published" in page
    assert '<input aria-describedby="ballot_emails-hint" checked id="ballot_emails"' in page

    response = client.post("/account/ballot-emails", data={"csrf_token": csrf_token(client, "/account")})
    assert response.status_code == 303
    assert "We won't email you when a topic you voted for is published." in flat(client.get("/account"))
    db.session.refresh(patron)
    assert patron.ballot_emails is False
    assert '<input aria-describedby="ballot_emails-hint" id="ballot_emails"' in flat(client.get("/account"))

    client.post("/account/ballot-emails", data={"ballot_emails": "y", "csrf_token": csrf_token(client, "/account")})
    db.session.refresh(patron)
    assert patron.ballot_emails is True


def test_switching_needs_the_csrf_token(client: FlaskClient) -> None:
    patron = add_patron("olena@example.org")
    sign_in(client, patron)
    assert client.post("/account/ballot-emails", data={}).status_code == 400
    db.session.refresh(patron)
    assert patron.ballot_emails is True


def test_switched_off_patrons_are_not_emailed(client: FlaskClient,
                                              staff_client: Callable[[Role], FlaskClient]) -> None:
    ballot = add_ballot()
    voters = _voted(ballot, {"olena@example.org": 0, "taras@example.org": 0})
    sign_in(client, voters["olena@example.org"])
    client.post("/account/ballot-emails", data={"csrf_token": csrf_token(client, "/account")})
    close_ballot(ballot)
    staff = staff_client(Role.ADMIN)
    _attach(staff, ballot, option_ids(ballot)[0], ARTICLE)
    assert [e.to_address for e in emails()] == ["taras@example.org"]
