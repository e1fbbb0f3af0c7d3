"""Topic suggestions: patrons propose topics (up to 280 characters, at most 3 a day); editors accept one
into a draft ballot, where it becomes an option, or decline it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from membership.ballots.models import BallotOption, SuggestionStatus, TopicSuggestion
from membership.db import db, utcnow
from membership.staff.accounts.models import AuditEntry, Role
from tests.support.ballots import add_ballot, add_patron, flat
from tests.support.helpers import count, csrf_token
from tests.support.patrons import add_supporter, sign_in


def suggest(client: FlaskClient, topic: str, with_csrf: bool = True) -> TestResponse:
    data = {"topic": topic}
    if with_csrf:
        data["csrf_token"] = csrf_token(client)
    return client.post("/ballots/suggest", data=data)


@pytest.fixture
def patron_client(client: FlaskClient) -> FlaskClient:
    sign_in(client, add_patron("olena@example.org"))
    return client


def test_a_patron_suggests_a_topic(patron_client: FlaskClient) -> None:
    page = flat(patron_client.get("/ballots"))
    assert "Suggest a topic" in page and 'maxlength="280"' in page
    response = suggest(patron_client, "  How are school shelters funded?  ")
    assert response.status_code == 303
    assert "your topic is with the editors" in flat(patron_client.get("/ballots"))
    suggestion = db.session.scalars(sa.select(TopicSuggestion)).one()
    assert suggestion.text == "How are school shelters funded?" and suggestion.status is SuggestionStatus.PENDING


def test_at_most_three_a_day(patron_client: FlaskClient) -> None:
    for n in range(3):
        assert suggest(patron_client, f"Topic {n}").status_code == 303
    response = suggest(patron_client, "One too many")
    assert response.status_code == 429
    assert "You've suggested 3 topics in the last day" in flat(response)
    assert count(TopicSuggestion) == 3
    # A day later the patron may suggest again.
    db.session.execute(sa.update(TopicSuggestion).values(created_at=utcnow() - timedelta(days=1, minutes=1)))
    db.session.commit()
    assert suggest(patron_client, "Next day").status_code == 303


@pytest.mark.parametrize(("topic", "message"), [
    ("", "Write the topic you'd like us to cover."),
    ("   ", "Write the topic you'd like us to cover."),
    ("x" * 281, "Keep it to 280 characters."),
])
def test_bad_suggestions_are_refused(patron_client: FlaskClient, topic: str, message: str) -> None:
    response = suggest(patron_client, topic)
    assert response.status_code == 400
    assert message in flat(response)
    assert count(TopicSuggestion) == 0


def test_exactly_280_characters_are_fine(patron_client: FlaskClient) -> None:
    assert suggest(patron_client, "y" * 280).status_code == 303


def test_a_missing_csrf_token_records_nothing(patron_client: FlaskClient) -> None:
    assert suggest(patron_client, "Topic", with_csrf=False).status_code == 400
    assert count(TopicSuggestion) == 0


def test_only_patrons_suggest(client: FlaskClient) -> None:
    reader = add_supporter("reader@example.org")
    sign_in(client, reader)
    assert "Suggesting topics is for patrons." in flat(client.get("/ballots"))
    response = suggest(client, "Topic")
    assert response.status_code == 400
    assert "Suggesting topics is for patrons." in flat(response)
    assert count(TopicSuggestion) == 0


def test_signed_out_readers_are_sent_to_sign_in(client: FlaskClient) -> None:
    assert 'href="/account/sign-in?next=/ballots">Sign in</a>' in flat(client.get("/ballots"))
    response = suggest(client, "Topic")
    assert response.status_code == 302
    assert count(TopicSuggestion) == 0


# The review queue ---------------------------------------------------------------------------------------------


def _suggestion(text: str = "How are school shelters funded?") -> TopicSuggestion:
    patron = add_patron("suggester@example.org")
    suggestion = TopicSuggestion(supporter_id=patron.id, text=text, created_at=utcnow())
    db.session.add(suggestion)
    db.session.commit()
    return suggestion


def test_editors_accept_a_suggestion_into_a_draft_ballot(staff_client: Callable[[Role], FlaskClient]) -> None:
    suggestion = _suggestion()
    draft = add_ballot(published=False, title="Draft ballot")
    add_ballot(title="Published ballot")
    client = staff_client(Role.EDITOR)
    page = flat(client.get("/staff/ballots/suggestions"))
    assert "How are school shelters funded?" in page and "suggester@example.org" not in page
    assert '<option value="' + str(draft.id) + '">Draft ballot</option>' in page and "Published ballot" not in page
    response = client.post(f"/staff/ballots/suggestions/{suggestion.id}/accept",
                           data={"ballot": str(draft.id),
                                 "csrf_token": csrf_token(client, "/staff/ballots/suggestions")})
    assert response.status_code == 303
    db.session.expire_all()
    assert suggestion.status is SuggestionStatus.ACCEPTED
    option = db.session.get(BallotOption, suggestion.option_id)
    assert option is not None and option.ballot_id == draft.id and option.title == "How are school shelters funded?"
    assert [o.title for o in draft.options][-1] == "How are school shelters funded?"
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "suggestion.accepted")).one()
    assert entry.details == {"ballot_id": draft.id, "option_id": option.id}
    assert "No suggestions are waiting." in flat(client.get("/staff/ballots/suggestions"))


def test_a_long_suggestion_becomes_a_short_title_with_the_full_text(
        staff_client: Callable[[Role], FlaskClient]) -> None:
    suggestion = _suggestion("word " * 55)
    draft = add_ballot(published=False)
    client = staff_client(Role.EDITOR)
    client.post(f"/staff/ballots/suggestions/{suggestion.id}/accept",
                data={"ballot": str(draft.id),
                                 "csrf_token": csrf_token(client, "/staff/ballots/suggestions")})
    option = db.session.scalars(sa.select(BallotOption).order_by(BallotOption.id.desc())).first()
    assert option is not None and len(option.title) == 200 and option.title.endswith("…")
    assert option.description == ("word " * 55).strip()


def test_suggestions_go_into_drafts_only(staff_client: Callable[[Role], FlaskClient]) -> None:
    suggestion = _suggestion()
    published = add_ballot()
    client = staff_client(Role.EDITOR)
    response = client.post(f"/staff/ballots/suggestions/{suggestion.id}/accept",
                           data={"ballot": str(published.id),
                                 "csrf_token": csrf_token(client, "/staff/ballots/suggestions")})
    assert response.status_code == 400 and "Choose a draft ballot" in flat(response)
    db.session.expire_all()
    assert suggestion.status is SuggestionStatus.PENDING and len(published.options) == 3


def test_editors_decline_a_suggestion(staff_client: Callable[[Role], FlaskClient]) -> None:
    suggestion = _suggestion()
    client = staff_client(Role.ADMIN)
    response = client.post(f"/staff/ballots/suggestions/{suggestion.id}/decline",
                           data={"csrf_token": csrf_token(client, "/staff/ballots/suggestions")})
    assert response.status_code == 303
    db.session.expire_all()
    assert suggestion.status is SuggestionStatus.DECLINED and suggestion.reviewed_at is not None
    assert db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.target_type == "topic_suggestion")
                              ).all() == ["suggestion.declined"]
    again = client.post(f"/staff/ballots/suggestions/{suggestion.id}/decline",
                        data={"csrf_token": csrf_token(client, "/staff/ballots/suggestions")})
    assert again.status_code == 303 and "already reviewed" in flat(client.get("/staff/ballots/suggestions"))
