"""The reader pages' states the crawler of test_marked.py never reaches (a form with errors, the pages a POST
answers, the thanks page, every error page) mark every string they show, checked in the same pseudo-locale."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, render_template
from flask.testing import FlaskClient

from membership.db import db, utcnow
from membership.errors import MESSAGES, render_error
from membership.giving.models import CheckoutStatus, Frequency
from stripe_double import DoubleServer
from tests.support.helpers import csrf_token
from tests.support.i18n import PSEUDO, unmarked_html
from tests.support.i18n import pseudo_app as make_pseudo_app
from tests.support.patrons import add_membership, add_supporter


@pytest.fixture
def pseudo_app(database_uri: str, double: DoubleServer, live_port: int, tmp_path: Path) -> Iterator[Flask]:
    with make_pseudo_app(database_uri, double.url, live_port, tmp_path) as app:
        yield app


NEWSROOM_WORDS = ["Olena", "olena@example.org", "Stripe", "English", "Українська", "Esperanto"]


def problems(app: Flask, page: str, typed: tuple[str, ...] = ()) -> list[str]:
    """Unmarked text on the page, besides the newsroom's and what the reader typed (shown back to them)."""
    return unmarked_html(page, [app.config["NEWSROOM_NAME"], app.config["NEWSROOM_ADDRESS"], *NEWSROOM_WORDS,
                                *typed])


def give(client: FlaskClient, **changes: str) -> str:
    data = {"frequency": "monthly", "currency": "EUR", "amount": "5", "email": "olena@example.org",
            "name": "Olena", "csrf_token": csrf_token(client, f"/give?lang={PSEUDO}"), **changes}
    return client.post(f"/give?lang={PSEUDO}", data=data).get_data(as_text=True)


@pytest.mark.parametrize("changes", [
    {"amount": "1.000", "email": "not an address", "name": ""},
    {"amount": "abc", "frequency": "weekly", "currency": "XYZ"},
    {"amount": "0,001", "name": "x" * 200, "message": "x" * 600},
    {"amount": "", "preset": ""},
    {"amount": "99999999"},
])
def test_the_give_form_with_errors(pseudo_app: Flask, changes: dict[str, str]) -> None:
    page = give(pseudo_app.test_client(), **changes)
    assert "error-summary" in page
    assert problems(pseudo_app, page, tuple(changes.values())) == []


def test_already_a_member_and_too_many_attempts(pseudo_app: Flask) -> None:
    add_membership(add_supporter())
    client = pseudo_app.test_client()
    assert problems(pseudo_app, give(client)) == []
    pseudo_app.config["CHECKOUT_LIMIT_PER_IP"] = 0
    page = give(client, second_membership="1")
    assert "⟦" in page and problems(pseudo_app, page) == []


def test_thanks_while_confirming_and_once_confirmed(pseudo_app: Flask) -> None:
    from tests.support.giving import start_gift

    client = pseudo_app.test_client()
    client.get(f"/give?lang={PSEUDO}")
    for frequency, cover in (("monthly", "y"), ("once", "y"), ("yearly", "")):
        checkout = start_gift(client, frequency=frequency, amount="5", cover_fees=cover, message="Hi" if cover else "")
        url = f"/give/thanks?session_id={checkout.stripe_session_id}&lang={PSEUDO}"
        assert problems(pseudo_app, client.get(url).get_data(as_text=True)) == []
        checkout.status, checkout.completed_at = CheckoutStatus.COMPLETED, utcnow()
        db.session.commit()
        page = client.get(url).get_data(as_text=True)
        assert checkout.frequency is Frequency(frequency) and problems(pseudo_app, page) == []


def test_every_error_page_and_the_pages_payments_fall_back_to(pseudo_app: Flask) -> None:
    with pseudo_app.test_request_context(f"/?lang={PSEUDO}"):
        pages = [render_error(status)[0] for status in MESSAGES]
        pages += [render_template("giving/unavailable.html"), render_template("giving/too_many.html")]
    client = pseudo_app.test_client()
    pages += [client.post(f"/?lang={PSEUDO}").get_data(as_text=True),  # 405
              client.post(f"/give?lang={PSEUDO}", data={"frequency": "once"}).get_data(as_text=True),  # CSRF
              client.get(f"/give/thanks?lang={PSEUDO}").get_data(as_text=True),
              client.get(f"/give/thanks?session_id=cs_nothing&lang={PSEUDO}").get_data(as_text=True),
              client.get(f"/give/cancelled?ref=bad&lang={PSEUDO}").get_data(as_text=True),
              client.get(f"/supporters?before=999999&lang={PSEUDO}").get_data(as_text=True),
              client.get(f"/give?lang={PSEUDO}&currency=XYZ&frequency=weekly&amount=abc").get_data(as_text=True)]
    for page in pages:
        assert "⟦" in page
        assert problems(pseudo_app, page) == []
