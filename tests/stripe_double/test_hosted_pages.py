"""Paying through the hosted Checkout page (HTTP form posts) and through `pay_checkout`."""

from __future__ import annotations

import pytest
import stripe
from flask.testing import FlaskClient

from stripe_double import DoubleServer

from .conftest import CARD_FORM, payment_params, subscription_params


def _session(sdk: stripe.StripeClient, **extra: object) -> stripe.checkout.Session:
    return sdk.v1.checkout.sessions.create(params=payment_params(**extra))  # type: ignore[arg-type]


def test_page_shows_amount_email_and_donate_button(sdk: stripe.StripeClient, pages: FlaskClient) -> None:
    session = _session(sdk)
    page = pages.get(f"/c/pay/{session.id}").get_data(as_text=True)
    assert "€10.00" in page and ">Donate<" in page
    assert 'value="reader@example.com"' in page
    for label in ("Email", "Card number", "Expiry (MM / YY)", "CVC", "Name on card"):
        assert f">{label}</label>" in page
    assert 'href="https://news.example/give"' in page


def test_monthly_page_says_per_month(sdk: stripe.StripeClient, pages: FlaskClient) -> None:
    session = sdk.v1.checkout.sessions.create(params=subscription_params())  # type: ignore[arg-type]
    assert "€5.00 per month" in pages.get(f"/c/pay/{session.id}").get_data(as_text=True)


def test_paying_with_4242_redirects_to_success_url(
    sdk: stripe.StripeClient, pages: FlaskClient, srv: DoubleServer
) -> None:
    session = _session(sdk)
    response = pages.post(f"/c/pay/{session.id}", data={**CARD_FORM, "card_number": "4242 4242 4242 4242"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"https://news.example/give/thanks?session_id={session.id}"
    paid = sdk.v1.checkout.sessions.retrieve(session.id)
    assert (paid.status, paid.payment_status) == ("complete", "paid")
    types = [e["type"] for e in srv.state.events()]
    assert types == [
        "customer.created",
        "payment_method.attached",
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
    ]
    again = pages.get(f"/c/pay/{session.id}").get_data(as_text=True)
    assert "already been made" in again
    second = pages.post(f"/c/pay/{session.id}", data={**CARD_FORM, "card_number": "4242424242424242"})
    assert "already been made" in second.get_data(as_text=True)
    assert len(srv.state.find("charge")) == 1


@pytest.mark.parametrize(
    ("card", "message"),
    [
        ("4000000000000002", "Your card was declined."),
        ("4000000000009995", "Your card has insufficient funds."),
        ("4111111111111112", "Your card number is incorrect."),
    ],
)
def test_declines_rerender_the_form_and_nothing_is_paid(
    sdk: stripe.StripeClient, pages: FlaskClient, srv: DoubleServer, card: str, message: str
) -> None:
    session = _session(sdk)
    response = pages.post(f"/c/pay/{session.id}", data={**CARD_FORM, "card_number": card})
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert sdk.v1.checkout.sessions.retrieve(session.id).status == "open"
    assert srv.state.find("charge") == []
    retry = pages.post(f"/c/pay/{session.id}", data={**CARD_FORM, "card_number": "4242424242424242"})
    assert retry.status_code == 303


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"card_expiry": "13 / 30"}, "expiration date is invalid"),
        ({"card_expiry": "01 / 20"}, "expiration year is in the past"),
        ({"card_expiry": "1"}, "expiration date is incomplete"),
        ({"card_cvc": "12"}, "security code is incomplete"),
    ],
)
def test_expiry_and_cvc_are_validated(
    sdk: stripe.StripeClient, pages: FlaskClient, changes: dict[str, str], message: str
) -> None:
    session = _session(sdk)
    form = {**CARD_FORM, "card_number": "4242424242424242", **changes}
    assert message in pages.post(f"/c/pay/{session.id}", data=form).get_data(as_text=True)


def test_3ds_approve_and_fail_over_http(sdk: stripe.StripeClient, pages: FlaskClient) -> None:
    session = _session(sdk)
    page = pages.post(f"/c/pay/{session.id}", data={**CARD_FORM, "card_number": "4000002760003184"})
    text = page.get_data(as_text=True)
    assert "Complete authentication" in text and "Fail authentication" in text
    failed = pages.post(f"/c/pay/{session.id}/authenticate", data={"outcome": "fail"})
    assert "We are unable to authenticate your payment method" in failed.get_data(as_text=True)
    assert sdk.v1.checkout.sessions.retrieve(session.id).status == "open"
    pages.post(f"/c/pay/{session.id}", data={**CARD_FORM, "card_number": "4000002760003184"})
    approved = pages.post(f"/c/pay/{session.id}/authenticate", data={"outcome": "approve"})
    assert approved.status_code == 303
    assert sdk.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"


@pytest.mark.parametrize(
    ("card", "three_ds", "status"),
    [
        ("4242424242424242", None, "succeeded"),
        ("4000000000000002", None, "declined"),
        ("4000000000009995", None, "declined"),
        ("4000002760003184", "approve", "succeeded"),
        ("4000002760003184", "fail", "declined"),
        ("4000002760003184", None, "requires_action"),
        ("4000000000000341", None, "succeeded"),
    ],
)
def test_pay_checkout(
    sdk: stripe.StripeClient, srv: DoubleServer, card: str, three_ds: str | None, status: str
) -> None:
    session = _session(sdk)
    result = srv.pay_checkout(session.id, card=card, three_ds=three_ds)
    assert result.status == status
    assert result.ok == (status == "succeeded")


def test_expired_session_page_and_cannot_pay(sdk: stripe.StripeClient, pages: FlaskClient, srv: DoubleServer) -> None:
    session = _session(sdk)
    sdk.v1.checkout.sessions.expire(session.id)
    assert "expired" in pages.get(f"/c/pay/{session.id}").get_data(as_text=True)
    assert srv.pay_checkout(session.id).status == "closed"


def test_0259_opens_a_dispute_that_can_be_closed(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    session = _session(sdk)
    assert srv.pay_checkout(session.id, card="4000000000000259").ok
    types = [e["type"] for e in srv.state.events()]
    assert types.index("charge.dispute.created") > types.index("checkout.session.completed")
    dispute = srv.state.find("dispute")[0]
    assert sdk.v1.charges.retrieve(dispute["charge"]).disputed is True
    closed = sdk.v1.disputes.close(dispute["id"])
    assert closed.status == "lost"
    assert srv.state.events("charge.dispute.closed")[0]["data"]["object"]["status"] == "lost"


def test_control_endpoint_pays_from_scripts(sdk: stripe.StripeClient, pages: FlaskClient) -> None:
    session = _session(sdk)
    response = pages.post(f"/_double/checkout/{session.id}/pay", json={"card": "4242424242424242"})
    assert response.status_code == 200
    assert response.get_json()["session"]["payment_status"] == "paid"
    assert "Stripe double" in pages.get("/").get_data(as_text=True)
