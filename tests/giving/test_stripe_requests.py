"""What the gateway sends is what Stripe takes: the double checks every request against the stripe SDK's
typed params (stripe_double/schema.py), so a request real Stripe would refuse fails the app's tests."""

from __future__ import annotations

import logging

import pytest

from membership.giving.stripe_gateway import CheckoutRequest, StripeGateway, StripeRejected
from membership.patrons.forms import CANCEL_REASONS as PATRON_CANCEL_REASONS
from membership.staff.supporters.forms import CANCEL_REASONS as STAFF_CANCEL_REASONS
from membership.staff.supporters.forms import REFUND_REASONS
from stripe_double import DoubleServer, schema
from stripe_double.wire import StripeError


def _membership_request(checkout_id: int, interval: str) -> CheckoutRequest:
    return CheckoutRequest(
        checkout_id=checkout_id,
        supporter_id=3,
        mode="subscription",
        interval=interval,
        amount_minor=500,
        currency="EUR",
        product_name="Membership",
        customer_id=None,
        customer_email="reader@example.com",
        success_url="https://news.example/give/thanks?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="https://news.example/give",
        metadata={"checkout_id": str(checkout_id)},
    )


def test_a_request_stripe_would_refuse_reaches_the_app_as_stripe_rejected(double: DoubleServer) -> None:
    gateway = StripeGateway("sk_test_x", api_base=double.url, timeout_seconds=5)
    assert gateway.create_checkout_session(_membership_request(41, "month")).url.startswith(double.url)
    with pytest.raises(StripeRejected) as excinfo:
        gateway.create_checkout_session(_membership_request(42, "fortnight"))
    assert excinfo.value.param == "line_items[0][price_data][recurring][interval]"
    assert "must be one of day, month, week, or year" in str(excinfo.value)


@pytest.mark.parametrize("reason", [c.value for c in REFUND_REASONS if c.value])
def test_every_refund_reason_staff_can_pick_is_one_stripe_takes(reason: str) -> None:
    schema.check("POST", "/v1/refunds", {"charge": "ch_1", "amount": "100", "reason": reason})


@pytest.mark.parametrize(
    "feedback", sorted({c.value for c in [*PATRON_CANCEL_REASONS, *STAFF_CANCEL_REASONS] if c.value})
)
def test_every_cancellation_reason_is_feedback_stripe_takes(feedback: str) -> None:
    details = {"feedback": feedback, "comment": "Moving abroad"}
    update = {"cancel_at_period_end": "true", "cancellation_details": details}
    schema.check("POST", "/v1/subscriptions/<sub_id>", update)
    schema.check("DELETE", "/v1/subscriptions/<sub_id>", {"cancellation_details": details})


def test_feedback_stripe_does_not_know_is_refused() -> None:
    with pytest.raises(StripeError) as excinfo:
        schema.check("DELETE", "/v1/subscriptions/<sub_id>", {"cancellation_details": {"feedback": "bored"}})
    assert excinfo.value.param == "cancellation_details[feedback]"


def test_the_sdks_request_lines_are_still_logged_when_its_logger_is_turned_up(
    double: DoubleServer, caplog: pytest.LogCaptureFixture
) -> None:
    # The gateway skips the SDK's formatting of lines its logger would drop; turned up, they come as before.
    gateway = StripeGateway("sk_test_x", api_base=double.url, timeout_seconds=5)
    with caplog.at_level(logging.WARNING, logger="stripe"):
        gateway.create_checkout_session(_membership_request(43, "month"))
    assert not [record for record in caplog.records if record.name == "stripe"]
    with caplog.at_level(logging.INFO, logger="stripe"):
        gateway.create_checkout_session(_membership_request(44, "month"))
    lines = [record.getMessage() for record in caplog.records if record.name == "stripe"]
    assert any("Request to Stripe api" in line and "/v1/checkout/sessions" in line for line in lines)
    assert any("Stripe API response" in line and "response_code=200" in line for line in lines)
