"""Editors moderate the supporter wall: approve messages, hide entries, put them back; every change audited."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership.db import db
from membership.giving.models import Checkout, WallStatus
from membership.staff.accounts.models import Role
from tests.support.helpers import csrf_token, text
from tests.support.staff import audits
from tests.support.wall import add_gift

WALL = "/staff/wall"


def public_wall(client: FlaskClient) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text(client.get("/supporters"))))


def moderate(staff: FlaskClient, checkout: Checkout, action: str) -> str:
    response = staff.post(f"{WALL}/{checkout.id}/{action}", data={"csrf_token": csrf_token(staff, WALL)})
    assert response.status_code == 303 and response.headers["Location"] == WALL
    return text(staff.get(WALL))


def status_of(checkout: Checkout) -> WallStatus:
    db.session.rollback()
    return db.session.scalar(sa.select(Checkout.wall_status).where(Checkout.id == checkout.id))  # type: ignore[return-value]


def test_an_editor_approves_a_message_and_it_goes_up(app: Flask, client: FlaskClient,
                                                     staff_client: Callable[[Role], FlaskClient]) -> None:
    olena = add_gift("Olena", message="Thank you for the flood reporting", ago=timedelta(hours=2))
    add_gift("Taras", ago=timedelta(hours=1))  # no message: nothing to review
    editor = staff_client(Role.EDITOR)
    page = text(editor.get(WALL))
    waiting = page.split('id="waiting-heading"')[1].split('id="shown-heading"')[0]
    assert "Messages waiting for review (1)" in page and "Thank you for the flood reporting" in waiting
    assert "Taras" not in waiting and "@example.org" not in page  # editors see no email address
    assert "Thank you for the flood reporting" not in public_wall(client)
    after = moderate(editor, olena, "approve")
    assert "Approved: the entry and its message are on the wall." in after and "No message is waiting." in after
    assert status_of(olena) is WallStatus.APPROVED
    assert "Thank you for the flood reporting" in public_wall(client)
    [entry] = audits("wall.approved")
    assert (entry.target_type, entry.target_id, entry.details) == ("checkout", str(olena.id), {})
    assert "already approved" in moderate(editor, olena, "approve") and len(audits("wall.approved")) == 1


def test_hiding_takes_the_entry_off_and_putting_back_restores_it(app: Flask, client: FlaskClient,
                                                                  staff_client: Callable[[Role], FlaskClient]) -> None:
    spam = add_gift("Buy cheap watches", message="www.spam.example")
    editor = staff_client(Role.EDITOR)
    assert "Buy cheap watches" in public_wall(client)
    page = moderate(editor, spam, "hide")
    assert "Hidden: the entry is off the wall." in page
    assert "Buy cheap watches" in page.split('id="hidden-heading"')[1]
    assert "Buy cheap watches" not in public_wall(client) and status_of(spam) is WallStatus.HIDDEN
    moderate(editor, spam, "approve")  # "Put back"
    assert status_of(spam) is WallStatus.APPROVED and "www.spam.example" in public_wall(client)
    assert [e.target_id for e in audits("wall.hidden")] == [str(spam.id)]
    assert [e.target_id for e in audits("wall.approved")] == [str(spam.id)]


def test_what_the_wall_never_shows_cant_be_moderated(app: Flask, staff_client: Callable[[Role], FlaskClient]) -> None:
    anonymous = add_gift("Anon", message="Secret", anonymous=True)
    editor = staff_client(Role.EDITOR)
    assert "Secret" not in text(editor.get(WALL))
    for path in (f"{WALL}/{anonymous.id}/approve", f"{WALL}/{anonymous.id}/hide", f"{WALL}/999999/hide"):
        response = editor.post(path, data={"csrf_token": csrf_token(editor, WALL)})
        assert response.status_code == 404
    assert status_of(anonymous) is WallStatus.PENDING and audits("wall.approved") == audits("wall.hidden") == []


def test_without_a_csrf_token_nothing_changes(app: Flask, staff_client: Callable[[Role], FlaskClient]) -> None:
    olena = add_gift("Olena", message="Hello")
    editor = staff_client(Role.EDITOR)
    response = editor.post(f"{WALL}/{olena.id}/approve", data={})
    assert response.status_code == 400
    assert status_of(olena) is WallStatus.PENDING and audits("wall.approved") == []


def test_without_review_the_page_says_messages_are_shown_at_once(
    app: Flask, staff_client: Callable[[Role], FlaskClient]
) -> None:
    add_gift("Olena", message="Hello")
    app.config["SUPPORTER_WALL_REVIEW"] = False
    page = text(staff_client(Role.EDITOR).get(WALL))
    assert "Messages appear at once" in page


def test_moderation_pages_through_every_entry(app: Flask, staff_client: Callable[[Role], FlaskClient]) -> None:
    from membership.staff.wall.services import LISTED

    for n in range(LISTED + 5):
        add_gift(f"Reader {n}", message=f"Message number {n}", ago=timedelta(hours=LISTED + 10 - n))
    staff = staff_client(Role.EDITOR)
    def waiting(path: str) -> str:
        return text(staff.get(path)).split('id="shown-heading"', 1)[0]

    first = waiting("/staff/wall")
    assert f"Messages waiting for review ({LISTED + 5})" in first
    assert "Message number 0<" in first and f"Message number {LISTED + 4}<" not in first
    assert "/staff/wall?waiting=2#waiting-heading" in first
    second = waiting("/staff/wall?waiting=2")
    assert f"Message number {LISTED + 4}<" in second and "Message number 0<" not in second
    assert "Previous page" in second and "/staff/wall?waiting=1#waiting-heading" in second
    assert "Message number 0<" in waiting("/staff/wall?waiting=abc")  # bad input: the first page
