"""The public supporter wall: who appears, what of them, in what order, and its pages."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership.db import db, utcnow
from membership.giving.models import Checkout, CheckoutStatus, Frequency, PaymentStatus, WallStatus
from membership.supporters.models import Supporter
from membership.wall.services import PAGE_SIZE
from stripe_double import DoubleServer
from tests.support.giving import pay, settle, start_gift
from tests.support.helpers import csrf_token, text
from tests.support.patrons import add_supporter, sign_in
from tests.support.servers import LiveServer
from tests.support.wall import add_gift

HOUR = timedelta(hours=1)


def names(page: str) -> list[str]:
    """The names on the wall, top to bottom."""
    return re.findall(r'<p class="wall-who"><strong>([^<]*)</strong>', page)


def test_a_paid_gift_through_stripe_appears_with_its_message_once_approved(
    app: Flask, client: FlaskClient, double: DoubleServer, live_app: LiveServer
) -> None:
    checkout = start_gift(client, name="Olena", message="Keep asking the hard questions.")
    assert "Olena" not in names(text(client.get("/supporters")))  # not paid yet
    pay(double, checkout)
    settle(double)
    page = text(client.get("/supporters"))
    assert names(page) == ["Olena"] and "Olena gave once" in re.sub(r"<[^>]+>", "", page)
    assert f"{utcnow().day} {utcnow():%B %Y}" in page
    assert "Keep asking the hard questions." not in page  # waits for an editor (SUPPORTER_WALL_REVIEW on)
    assert "Messages appear once our team has read them." in page
    thanks = re.sub(r"\s+", " ", text(client.get(f"/give/thanks?session_id={checkout.stripe_session_id}")))
    assert ("Your name is on our supporter wall, and your message joins it once our team has read it. "
            "You can take it off from your account at any time.") in re.sub(r"<[^>]+>", "", thanks)
    db.session.execute(sa.update(Checkout).values(wall_status=WallStatus.APPROVED))
    db.session.commit()
    assert "Keep asking the hard questions." in text(client.get("/supporters"))


def test_an_anonymous_gift_is_counted_but_not_named(app: Flask, client: FlaskClient, double: DoubleServer,
                                                   live_app: LiveServer) -> None:
    checkout = start_gift(client, name="Mykola", message="For Kharkiv", anonymous="y")
    pay(double, checkout)
    settle(double)
    assert db.session.get_one(Checkout, checkout.id).status is CheckoutStatus.COMPLETED
    page = text(client.get("/supporters"))
    assert names(page) == [] and "Mykola" not in page and "For Kharkiv" not in page
    assert "1 reader has given" in page
    assert "supporter wall" not in text(client.get(f"/give/thanks?session_id={checkout.stripe_session_id}"))


def test_who_is_left_off(app: Flask, client: FlaskClient) -> None:
    add_gift("Shown")
    add_gift("Anonymous", anonymous=True)
    add_gift("Hidden", wall_status=WallStatus.HIDDEN)
    add_gift("Refunded", payment_status=PaymentStatus.REFUNDED)
    add_gift("Disputed", payment_status=PaymentStatus.DISPUTED)
    add_gift("Partly refunded", payment_status=PaymentStatus.PARTIALLY_REFUNDED)
    erased = add_gift("Erased")
    db.session.execute(sa.update(Supporter).where(Supporter.id == erased.supporter_id)
                       .values(erased_at=utcnow(), email=None, name=""))
    unpaid = add_gift("Unpaid")
    db.session.execute(sa.update(Checkout).where(Checkout.id == unpaid.id).values(status=CheckoutStatus.OPEN))
    db.session.commit()
    page = text(client.get("/supporters"))
    assert sorted(names(page)) == ["Partly refunded", "Shown"]
    assert "8 readers have given" not in page and "7 readers have given" in page  # the open checkout isn't a gift


def test_newest_first_with_what_they_joined_as_and_nameless_readers(app: Flask, client: FlaskClient) -> None:
    add_gift("Oldest", ago=3 * HOUR)
    add_gift("", ago=2 * HOUR, frequency=Frequency.YEARLY)
    add_gift("Newest", ago=HOUR, frequency=Frequency.MONTHLY)
    page = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", text(client.get("/supporters"))))
    assert names(text(client.get("/supporters"))) == ["Newest", "A reader", "Oldest"]
    assert "Newest became a monthly patron" in page and "A reader became a yearly patron" in page
    assert "Oldest gave once" in page


def test_messages_without_review_and_never_as_html(app: Flask, client: FlaskClient) -> None:
    add_gift("Olena", message="<script>alert(1)</script> Thank you!")
    add_gift("Taras", message="Rude words", wall_status=WallStatus.HIDDEN)
    assert "Thank you!" not in text(client.get("/supporters"))
    app.config["SUPPORTER_WALL_REVIEW"] = False
    page = client.get("/supporters").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Thank you!" in page and "<script>alert" not in page
    assert "Rude words" not in page and "Taras" not in page
    assert "appear once our team has read them" not in page


def test_pages_of_the_wall(app: Flask, client: FlaskClient) -> None:
    for n in range(PAGE_SIZE + 5):
        add_gift(f"Reader {n}", ago=timedelta(minutes=PAGE_SIZE + 10 - n))
    first = text(client.get("/supporters"))
    assert names(first) == [f"Reader {n}" for n in range(PAGE_SIZE + 4, 4, -1)]
    more = re.search(r'href="/supporters\?before=(\d+)">Earlier supporters', first)
    assert more and "Newest</a>" not in first
    second = text(client.get(f"/supporters?before={more.group(1)}"))
    assert names(second) == ["Reader 4", "Reader 3", "Reader 2", "Reader 1", "Reader 0"]
    assert "Earlier supporters" not in second and 'href="/supporters">Newest</a>' in second
    assert f"{PAGE_SIZE + 5} readers have given" in first


@pytest.mark.parametrize("before", ["abc", "0", "-1", "1.5", "²", "9" * 30, "", "999999"])
def test_a_bad_page_is_refused(app: Flask, client: FlaskClient, before: str) -> None:
    add_gift("Olena")
    response = client.get(f"/supporters?before={before}")
    assert response.status_code == 400
    assert "That page of the supporter wall doesn't exist." in text(response)


def test_the_support_page_shows_the_newest_supporters(app: Flask, client: FlaskClient) -> None:
    assert "Readers who support us" not in text(client.get("/"))
    assert '<a href="/supporters">Supporters</a>' in text(client.get("/give"))  # in every public page's header
    for n in range(8):
        add_gift(f"Reader {n}", ago=timedelta(minutes=10 - n))
    page = text(client.get("/"))
    assert "Readers who support us" in page and 'href="/supporters">See all our supporters' in page
    assert names(page) == [f"Reader {n}" for n in range(7, 1, -1)]


def wall_checkbox(page: str) -> str:
    match = re.search(r'<input[^>]*name="on_wall"[^>]*>', page)
    assert match is not None, "no supporter-wall checkbox on the account page"
    return match.group(0)


def test_supporters_take_themselves_off_the_wall_and_back_from_their_account(app: Flask, client: FlaskClient) -> None:
    first = add_gift("Olena", message="Thank you", wall_status=WallStatus.APPROVED, ago=2 * HOUR)
    olena = db.session.get(Supporter, first.supporter_id)
    assert olena is not None
    add_gift("Olena", anonymous=True, supporter=olena, ago=HOUR)
    add_gift("Taras")
    sign_in(client, olena)
    account = text(client.get("/account"))
    assert "checked" in wall_checkbox(account) and account.count('href="/supporters">See the supporter wall') == 1
    response = client.post("/account/wall", data={"csrf_token": csrf_token(client, "/account")})
    assert response.status_code == 303 and response.headers["Location"] == "/account"
    page = text(client.get("/account"))
    assert "Your name and messages are off our supporter wall." in page and "checked" not in wall_checkbox(page)
    assert names(text(client.get("/supporters"))) == ["Taras"]
    client.post("/account/wall", data={"on_wall": "y", "csrf_token": csrf_token(client, "/account")})
    assert "Your name is on our supporter wall. Thank you!" in text(client.get("/account"))
    assert names(text(client.get("/supporters"))) == ["Taras", "Olena", "Olena"]
    assert "Thank you" in text(client.get("/supporters"))
    # Without a CSRF token nothing changes.
    assert client.post("/account/wall", data={}).status_code == 400
    assert names(text(client.get("/supporters"))) == ["Taras", "Olena", "Olena"]


def test_an_entry_an_editor_hid_stays_hidden_whatever_the_supporter_chooses(app: Flask, client: FlaskClient) -> None:
    hidden = add_gift("Olena", wall_status=WallStatus.HIDDEN)
    olena = db.session.get(Supporter, hidden.supporter_id)
    assert olena is not None
    sign_in(client, olena)
    client.post("/account/wall", data={"on_wall": "y", "csrf_token": csrf_token(client, "/account")})
    assert names(text(client.get("/supporters"))) == []


def test_without_a_paid_gift_the_account_has_no_wall_section(app: Flask, client: FlaskClient) -> None:
    sign_in(client, add_supporter("reader@example.org"))
    page = text(client.get("/account"))
    assert page.count("Supporter wall") == 0 and 'name="on_wall"' not in page
