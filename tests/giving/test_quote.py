"""GET /give/quote: the give form's live total, read and checked by the form's own rules, never a 5xx."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from membership.db import db
from membership.demo import seed_catalogue
from membership.giving.models import Checkout
from membership.supporters.models import Supporter
from tests.support.helpers import count, csrf_token, text


@pytest.fixture(autouse=True)
def catalogue(app: Flask) -> None:
    seed_catalogue(db.session())
    db.session.commit()


def quote(client: FlaskClient, **query: str) -> tuple[int, dict[str, Any]]:
    response = client.get("/give/quote", query_string=query)
    assert response.mimetype == "application/json"
    return response.status_code, response.get_json()


def form_error(client: FlaskClient, **fields: str) -> str:
    """The message the give form itself shows for these choices (the first error on the page)."""
    data = {"frequency": "once", "currency": "EUR", "email": "olena@example.org", "name": "Olena",
            "csrf_token": csrf_token(client), **fields}
    response = client.post("/give", data=data)
    assert response.status_code == 400
    return text(response)


def test_answers_the_total_for_a_good_choice(client: FlaskClient) -> None:
    status, answer = quote(client, amount="10", currency="EUR", frequency="once")

    assert status == 200
    assert answer == {"currency": "EUR", "amount_minor": 1000, "fee_cover_minor": 0, "total_minor": 1000,
                      "total": "€10.00", "summary": "Total: €10.00."}


def test_adds_the_card_fees_when_the_reader_covers_them(client: FlaskClient) -> None:
    status, answer = quote(client, amount="10", currency="EUR", frequency="once", cover_fees="y")

    assert status == 200
    assert (answer["amount_minor"], answer["fee_cover_minor"], answer["total_minor"]) == (1000, 41, 1041)
    assert answer["summary"] == "Total: €10.41 (€10.00 for the newsroom + €0.41 card fees)."


def test_reads_the_amount_as_the_form_does_with_the_frequency(client: FlaskClient) -> None:
    status, answer = quote(client, amount="₴1 000,50", currency="UAH", frequency="monthly", cover_fees="y")

    assert status == 200
    assert answer["amount_minor"] == 100050
    assert answer["summary"].startswith("Total: UAH\u00a01,")
    assert "/month (UAH\u00a01,000.50 for the newsroom + " in answer["summary"]
    assert quote(client, amount="50", currency="EUR", frequency="yearly")[1]["summary"] == "Total: €50.00/year."


# Each kind of input the form refuses, with the message the reader reads.
REFUSED = [
    ({"amount": ""}, "Choose an amount or enter your own."),
    ({"amount": "abc"}, "Enter the amount as a number, like 10 or 7.50."),
    ({"amount": "1,000"}, "Did you mean 1000 or 1,00? Type one of those, without a thousands separator."),
    ({"amount": "1,00.50"},
     "Check the separators: type the amount like 1000 or 1000.50, without thousands separators."),
    ({"amount": "5.1234"}, "Use at most two decimal places."),
    ({"amount": "\u0665"}, "Type the amount with the digits 0 to 9."),
    ({"amount": "-5"}, "The amount must be more than zero."),
    ({"amount": "0.50"}, "The smallest amount we can accept is €1.00."),
    ({"amount": "10000.01"},
     "The largest amount we can accept online is €10,000.00. For larger gifts, please write to us."),
    ({"amount": "1" * 21}, "Type at most 20 characters."),
    ({"amount": "10", "currency": "XYZ"}, "Choose one of the currencies listed."),
    ({"amount": "10", "currency": ""}, "Choose one of the currencies listed."),
    ({"amount": "10", "frequency": "weekly"}, "Choose once, monthly or yearly."),
]


@pytest.mark.parametrize(("changes", "message"), REFUSED, ids=[str(i) for i in range(len(REFUSED))])
def test_refuses_what_the_form_refuses_with_the_same_message(client: FlaskClient, changes: dict[str, str],
                                                             message: str) -> None:
    query = {"amount": "10", "currency": "EUR", "frequency": "once", **changes}

    status, answer = quote(client, **query)

    assert status == 400
    assert answer == {"error": message}
    assert message in form_error(client, **query)
    assert count(Checkout) == 0 and count(Supporter) == 0


def test_the_fee_covered_total_must_be_chargeable(client: FlaskClient) -> None:
    status, answer = quote(client, amount="10000", currency="EUR", frequency="once", cover_fees="y")

    assert status == 200  # within Stripe's maximum, fees and all
    assert answer["total_minor"] > 1_000_000


@pytest.mark.parametrize("query", [
    "", "amount=10", "currency=EUR", "amount=10&currency=EUR&frequency=%FF",
    "amount=10&amount=20&currency=EUR&currency=USD", "amount=" + "9" * 5000 + "&currency=EUR",
    "amount=10&currency=EUR&cover_fees=maybe", "amount=1e3&currency=eur", "amount=%E2%88%9210&currency=UAH",
    "amount=99999999999999&currency=EUR&cover_fees=y", "amount=\u00a0&currency=EUR", "preset=10&currency=EUR",
])
def test_no_input_makes_it_fail(client: FlaskClient, query: str) -> None:
    response = client.get(f"/give/quote?{query}")

    assert response.status_code in (200, 400)
    answer = json.loads(response.get_data(as_text=True))
    assert ("summary" in answer) == (response.status_code == 200)
    assert ("error" in answer) == (response.status_code == 400)


def test_a_nul_byte_is_refused_before_the_quote_is_read(client: FlaskClient) -> None:
    response = client.get("/give/quote?amount=%00&currency=EUR")

    assert response.status_code == 400  # the request-level guard (membership/web.py), as on every page


def test_the_page_carries_labels_and_hints_not_the_fee_formula(client: FlaskClient) -> None:
    page = text(client.get("/give"))

    def data(name: str) -> Any:
        match = re.search(rf"data-{name}='([^']*)'", page)
        assert match, name
        return json.loads(match.group(1))

    assert "data-fees=" not in page and "data-amount-rules=" not in page
    assert 'data-quote-url="/give/quote"' in page
    assert {"value": "5", "label": "€5.00/month", "most_chosen": False,
            "suggested": False, "impact": ""} in data("presets")["EUR"]["monthly"]
    # No preset marked "most chosen" in the seed: the middle one is the suggestion give.js picks.
    assert [p["value"] for p in data("presets")["EUR"]["monthly"] if p["suggested"]] == ["10"]
    assert data("presets")["UAH"]["monthly"][0] == {"value": "100", "label": "UAH\u00a0100.00/month",
                                                    "most_chosen": False, "suggested": False, "impact": ""}
    assert data("fee-hints")["UAH"] == ("Adds 2.9% + UAH\u00a010.00 to your payment; the exact total is shown "
                                        "before you pay.")
    assert "Adds 1.5% + €0.25 to your payment; the exact total is shown before you pay." in page
