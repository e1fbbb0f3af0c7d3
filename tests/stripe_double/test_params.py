"""Every request is checked against the stripe SDK's typed params for its endpoint, and refused as Stripe does."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest
import stripe

from stripe_double import DoubleServer
from stripe_double.api import bp
from stripe_double.schema import ROUTE_PARAMS

from .conftest import payment_params, subscription_params


def _send(srv: DoubleServer, method: str, path: str, pairs: list[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
    """A raw form-encoded request, so the test controls every byte the double parses."""
    body = urllib.parse.urlencode(pairs)
    url = f"{srv.url}{path}" + (f"?{body}" if method == "GET" else "")
    request = urllib.request.Request(  # noqa: S310
        url,
        data=body.encode() if method != "GET" else None,
        method=method,
        headers={"Authorization": "Bearer sk_test_x"},
    )
    try:
        with urllib.request.urlopen(request) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def _gift(*extra: tuple[str, str]) -> list[tuple[str, str]]:
    return [
        ("mode", "payment"),
        ("line_items[0][quantity]", "1"),
        ("line_items[0][price_data][currency]", "eur"),
        ("line_items[0][price_data][unit_amount]", "1000"),
        ("line_items[0][price_data][product_data][name]", "Gift"),
        ("success_url", "https://news.example/thanks"),
        *extra,
    ]


def test_unknown_parameter_is_refused_with_stripes_error(srv: DoubleServer) -> None:
    status, body = _send(srv, "POST", "/v1/checkout/sessions", _gift(("colour", "blue")))
    assert status == 400
    assert body == {
        "error": {
            "type": "invalid_request_error",
            "code": "parameter_unknown",
            "param": "colour",
            "message": "Received unknown parameter: colour",
            "doc_url": "https://stripe.com/docs/error-codes/parameter-unknown",
        }
    }
    assert srv.state.find("checkout.session") == []


def test_nested_unknown_key_names_its_full_path(srv: DoubleServer) -> None:
    status, body = _send(
        srv, "POST", "/v1/checkout/sessions", _gift(("line_items[0][price_data][product_data][colour]", "blue"))
    )
    assert status == 400
    assert body["error"]["code"] == "parameter_unknown"
    assert body["error"]["param"] == "line_items[0][price_data][product_data][colour]"


@pytest.mark.parametrize(
    ("method", "path", "pairs", "param", "code", "message"),
    [
        (
            "POST",
            "/v1/checkout/sessions",
            _gift(("line_items[0][quantity]", "one")),
            "line_items[0][quantity]",
            "parameter_invalid_integer",
            "Invalid integer: one",
        ),
        ("GET", "/v1/events", [("limit", "ten")], "limit", "parameter_invalid_integer", "Invalid integer: ten"),
        (
            "GET",
            "/v1/events",
            [("created[gte]", "yesterday")],
            "created[gte]",
            "parameter_invalid_integer",
            "Invalid integer: yesterday",
        ),
        (
            "POST",
            "/v1/checkout/sessions",
            _gift(("customer_email", "")),
            "customer_email",
            "parameter_invalid_empty",
            "You passed an empty string for 'customer_email'. We assume empty values are an attempt to unset a "
            "parameter; however 'customer_email' cannot be unset. You should remove 'customer_email' from your "
            "request or supply a non-empty value.",
        ),
        (
            "POST",
            "/v1/checkout/sessions",
            [(k, v) for k, v in _gift() if k != "line_items[0][price_data][currency]"],
            "line_items[0][price_data][currency]",
            "parameter_missing",
            "Missing required param: line_items[0][price_data][currency].",
        ),
        ("POST", "/v1/checkout/sessions", _gift(("metadata", "x")), "metadata", None, "Invalid hash"),
        (
            "POST",
            "/v1/checkout/sessions",
            _gift(("customer_email[address]", "a@example.com")),
            "customer_email",
            None,
            "Invalid string: customer_email got a hash",
        ),
        (
            "POST",
            "/v1/checkout/sessions",
            _gift(("expand", "line_items")),
            "expand",
            None,
            "Invalid array",
        ),
        (
            "POST",
            "/v1/checkout/sessions",
            _gift(("allow_promotion_codes", "yes")),
            "allow_promotion_codes",
            None,
            "Invalid boolean: yes",
        ),
    ],
)
def test_mistyped_parameter_is_refused(
    srv: DoubleServer,
    method: str,
    path: str,
    pairs: list[tuple[str, str]],
    param: str,
    code: str | None,
    message: str,
) -> None:
    status, body = _send(srv, method, path, pairs)
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    assert (body["error"].get("code"), body["error"]["param"], body["error"]["message"]) == (code, param, message)


@pytest.mark.parametrize(
    ("pairs", "param", "message"),
    [
        (
            _gift(("submit_type", "gift")),
            "submit_type",
            "Invalid submit_type: must be one of auto, book, donate, pay, or subscribe",
        ),
        (
            _gift(("line_items[0][price_data][recurring][interval]", "fortnight")),
            "line_items[0][price_data][recurring][interval]",
            "Invalid line_items[0][price_data][recurring][interval]: must be one of day, month, week, or year",
        ),
        # "hosted" was right before the API named it hosted_page.
        (
            _gift(("ui_mode", "hosted")),
            "ui_mode",
            "Invalid ui_mode: must be one of elements, embedded_page, form, or hosted_page",
        ),
    ],
)
def test_value_outside_the_enum_is_refused(
    srv: DoubleServer, pairs: list[tuple[str, str]], param: str, message: str
) -> None:
    status, body = _send(srv, "POST", "/v1/checkout/sessions", pairs)
    assert status == 400
    assert (body["error"]["param"], body["error"]["message"]) == (param, message)


def test_only_unsettable_params_take_the_empty_string(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    customer = sdk.v1.customers.create(params={"email": "a@example.com", "metadata": {"k": "v", "j": "w"}})
    status, body = _send(srv, "POST", f"/v1/customers/{customer.id}", [("metadata[j]", "")])
    assert (status, body["metadata"]) == (200, {"k": "v"})
    status, body = _send(srv, "POST", f"/v1/customers/{customer.id}", [("metadata", "")])
    assert status == 200, body
    assert body["metadata"] == {}
    status, body = _send(srv, "POST", f"/v1/customers/{customer.id}", [("email", "")])
    assert (status, body["error"]["code"]) == (400, "parameter_invalid_empty")


def test_valid_requests_pass(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    # (Every request of the app's own tests passes through the same check; this covers a few more shapes.)
    gift = sdk.v1.checkout.sessions.create(params=payment_params(ui_mode="hosted_page", locale="fr"))  # type: ignore[arg-type]
    assert (gift.ui_mode, gift.submit_type) == ("hosted_page", "donate")
    member = sdk.v1.checkout.sessions.create(params=subscription_params(submit_type="subscribe"))  # type: ignore[arg-type]
    assert (member.ui_mode, member.submit_type) == ("hosted_page", "subscribe")
    sdk.v1.checkout.sessions.retrieve(gift.id, params={"expand": ["payment_intent.latest_charge"]})
    sdk.v1.events.list(params={"limit": 3, "created": {"gte": 0}, "types": ["checkout.session.expired"]})
    sdk.v1.checkout.sessions.expire(member.id)
    assert all(r["status"] == 200 for r in srv.requests)


def test_the_double_serves_only_hosted_checkout(sdk: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sdk.v1.checkout.sessions.create(params=payment_params(ui_mode="embedded_page"))  # type: ignore[arg-type]
    assert excinfo.value.param == "ui_mode"


def test_every_api_route_has_its_sdk_params_class() -> None:
    """A new route needs its row in schema.ROUTE_PARAMS (and a row needs its route)."""
    served = {
        (method, rule.rule)
        for rule in _rules()
        for method in rule.methods or ()
        if method in ("GET", "POST", "DELETE") and rule.rule != "/v1/<path:path>"
    }
    assert served == set(ROUTE_PARAMS)


def _rules() -> list[Any]:
    from flask import Flask

    app = Flask(__name__)
    app.register_blueprint(bp)
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/v1/")]
