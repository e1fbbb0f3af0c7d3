"""The /v1 wire protocol through the stripe SDK: sessions, errors, auth, idempotency, expand, events."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from typing import Any

import pytest
import stripe
from stripe._api_version import _ApiVersion

from stripe_double import API_VERSION, DoubleConfig, DoubleServer
from stripe_double.config import parse_exchange_rates

from .conftest import payment_params, subscription_params


def test_create_retrieve_and_expire_checkout_session(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    session = sdk.v1.checkout.sessions.create(params=payment_params())  # type: ignore[arg-type]
    assert session.object == "checkout.session"
    assert session.id.startswith("cs_test_")
    assert session.url == f"{srv.url}/c/pay/{session.id}"
    assert (session.status, session.payment_status) == ("open", "unpaid")
    assert (session.amount_total, session.currency, session.mode) == (1000, "eur", "payment")
    assert session.expires_at == session.created + 24 * 3600
    assert session.metadata is not None and session.metadata.to_dict() == {"checkout_id": "12"}
    assert session.livemode is False

    again = sdk.v1.checkout.sessions.retrieve(session.id)
    assert again.client_reference_id == "12"

    expired = sdk.v1.checkout.sessions.expire(session.id)
    assert (expired.status, expired.url) == ("expired", None)
    assert [e["type"] for e in srv.state.events("checkout.session.expired")] == ["checkout.session.expired"]
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sdk.v1.checkout.sessions.expire(session.id)
    assert excinfo.value.code == "checkout_session_not_open"


def test_request_log_has_nested_params_and_idempotency_key(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    sdk.v1.checkout.sessions.create(params=payment_params(), options={"idempotency_key": "checkout-12"})  # type: ignore[arg-type]
    logged = srv.requests[-1]
    assert (logged["method"], logged["path"], logged["idempotency_key"]) == (
        "POST",
        "/v1/checkout/sessions",
        "checkout-12",
    )
    assert logged["params"]["line_items"][0]["price_data"]["product_data"]["name"] == "Gift"
    assert logged["params"]["payment_intent_data"]["metadata"] == {"checkout_id": "12"}


def test_idempotent_replay_and_conflict(srv: DoubleServer) -> None:
    body = urllib.parse.urlencode({"email": "a@example.com", "metadata[supporter]": "3"}).encode()

    def post(data: bytes) -> tuple[int, dict[str, str], dict[str, object]]:
        request = urllib.request.Request(  # noqa: S310
            f"{srv.url}/v1/customers",
            data=data,
            method="POST",
            headers={"Authorization": "Bearer sk_test_x", "Idempotency-Key": "supporter-3"},
        )
        try:
            with urllib.request.urlopen(request) as response:  # noqa: S310
                return response.status, dict(response.headers), json.loads(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, dict(exc.headers), json.loads(exc.read())

    status, headers, first = post(body)
    assert status == 200 and "Idempotent-Replayed" not in headers and headers["Request-Id"].startswith("req_")
    status, headers, second = post(body)
    assert status == 200 and headers["Idempotent-Replayed"] == "true"
    assert second == first
    assert len(srv.state.find("customer")) == 1
    assert len(srv.state.events("customer.created")) == 1
    status, _, error = post(urllib.parse.urlencode({"email": "b@example.com"}).encode())
    assert status == 400
    assert error["error"]["type"] == "idempotency_error"  # type: ignore[index]


def test_sdk_replays_with_same_idempotency_key(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    first = sdk.v1.checkout.sessions.create(params=payment_params(), options={"idempotency_key": "k1"})  # type: ignore[arg-type]
    second = sdk.v1.checkout.sessions.create(params=payment_params(), options={"idempotency_key": "k1"})  # type: ignore[arg-type]
    assert first.id == second.id
    assert srv.requests[-1]["replayed"] is True
    with pytest.raises(stripe.IdempotencyError):
        sdk.v1.checkout.sessions.create(
            params=payment_params(client_reference_id="13"),  # type: ignore[arg-type]
            options={"idempotency_key": "k1"},
        )


def test_auth_failures(srv: DoubleServer) -> None:
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient("sk_live_nope", base_addresses={"api": srv.url}).v1.customers.list()
    request = urllib.request.Request(f"{srv.url}/v1/customers")  # noqa: S310
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request)  # noqa: S310
    with excinfo.value as error:
        assert error.code == 401
        assert "did not provide an API key" in json.loads(error.read())["error"]["message"]


def test_configured_api_key_is_the_only_one_accepted(receiver: tuple[object, str]) -> None:
    from stripe_double import DoubleConfig

    with DoubleServer(DoubleConfig(api_key="sk_test_exact")) as server:
        stripe.StripeClient("sk_test_exact", base_addresses={"api": server.url}).v1.customers.list()
        with pytest.raises(stripe.AuthenticationError):
            stripe.StripeClient("sk_test_other", base_addresses={"api": server.url}).v1.customers.list()


@pytest.mark.parametrize(
    ("changes", "param", "code"),
    [
        ({"mode": None}, "mode", "parameter_missing"),
        ({"line_items": None}, "line_items", "parameter_missing"),
        (
            {
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {"currency": "eur", "unit_amount": 0, "product_data": {"name": "Gift"}},
                    }
                ]
            },
            "line_items[0][price_data][unit_amount]",
            "parameter_invalid_integer",
        ),
        (
            {
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {"currency": "eur", "unit_amount": "ten", "product_data": {"name": "Gift"}},
                    }
                ]
            },
            "line_items[0][price_data][unit_amount]",
            "parameter_invalid_integer",
        ),
        (
            {"line_items": [{"price_data": {"currency": "eur", "unit_amount": 500, "product_data": {"name": "G"}}}]},
            "line_items[0][quantity]",
            "parameter_missing",
        ),
        ({"customer": "cus_missing", "customer_email": None}, "customer", "resource_missing"),
        ({"customer": "cus_x"}, "customer_email", "parameter_invalid"),
        ({"colour": "blue"}, "colour", "parameter_unknown"),
        (
            {
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {"currency": "eur", "unit_amount": 10, "product_data": {"name": "Gift"}},
                    }
                ]
            },
            "line_items[0][price_data][unit_amount]",
            "amount_too_small",
        ),
    ],
)
def test_create_session_validation(sdk: stripe.StripeClient, changes: dict[str, object], param: str, code: str) -> None:
    params = payment_params()
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sdk.v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]
    assert excinfo.value.param == param
    assert excinfo.value.code == code
    assert excinfo.value.http_status in (400, 404)


def test_subscription_mode_takes_submit_type_but_needs_a_recurring_price(sdk: stripe.StripeClient) -> None:
    # API 2026-10-28: "submit_type can only be specified on Checkout Sessions in payment or subscription mode".
    session = sdk.v1.checkout.sessions.create(params=subscription_params(submit_type="subscribe"))  # type: ignore[arg-type]
    assert session.submit_type == "subscribe"
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sdk.v1.checkout.sessions.create(
            params=subscription_params(  # type: ignore[arg-type]
                line_items=[
                    {
                        "quantity": 1,
                        "price_data": {"currency": "eur", "unit_amount": 500, "product_data": {"name": "M"}},
                    }
                ]
            )
        )
    assert excinfo.value.param == "line_items"


def test_missing_object_is_404_with_resource_missing(sdk: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sdk.v1.subscriptions.retrieve("sub_nope")
    assert (excinfo.value.http_status, excinfo.value.code, excinfo.value.param) == (404, "resource_missing", "id")
    body = excinfo.value.json_body
    assert isinstance(body, dict)
    assert body["error"]["type"] == "invalid_request_error"


def test_expand_payment_intent_chain(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    session = sdk.v1.checkout.sessions.create(params=payment_params())  # type: ignore[arg-type]
    assert srv.pay_checkout(session.id).ok
    paid = sdk.v1.checkout.sessions.retrieve(
        session.id, params={"expand": ["payment_intent.latest_charge.balance_transaction"]}
    )
    pi = paid.payment_intent
    assert isinstance(pi, stripe.PaymentIntent)
    assert pi.status == "succeeded" and pi.metadata.to_dict() == {"checkout_id": "12"}
    charge = pi.latest_charge
    assert isinstance(charge, stripe.Charge)
    assert charge.payment_method_details is not None and charge.payment_method_details.card is not None
    assert charge.payment_method_details.card.last4 == "4242"
    txn = charge.balance_transaction
    assert isinstance(txn, stripe.BalanceTransaction)
    # €10.00 at 1.5% + €0.25 = 15 + 25 cents.
    assert (txn.amount, txn.fee, txn.net) == (1000, 40, 960)
    assert txn.fee_details[0].type == "stripe_fee"
    assert paid.customer_details is not None and paid.customer_details.email == "reader@example.com"
    assert isinstance(paid.customer, str) and paid.customer.startswith("cus_")


def test_an_expansion_deeper_than_four_levels_is_refused_before_anything_changes(
    sdk: stripe.StripeClient, srv: DoubleServer
) -> None:
    customers = len(srv.state.all("customer"))
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sdk.v1.customers.create(params={"email": "deep@example.com", "expand": ["a.b.c.d.e"]})
    assert refused.value.param == "expand" and refused.value.code == "parameter_invalid"
    assert "more than 4 levels" in str(refused.value.user_message)
    assert len(srv.state.all("customer")) == customers


@pytest.mark.parametrize(
    ("currency", "amount", "fee"), [("eur", 500, 33), ("gbp", 300, 25), ("usd", 1000, 59), ("uah", 20000, 1580)]
)
def test_fees_follow_published_pricing(
    sdk: stripe.StripeClient, srv: DoubleServer, currency: str, amount: int, fee: int
) -> None:
    srv.config.settlement_currency = currency  # an account that settles in the charge currency: no conversion
    params = payment_params(
        line_items=[
            {
                "quantity": 1,
                "price_data": {"currency": currency, "unit_amount": amount, "product_data": {"name": "Gift"}},
            }
        ]
    )
    session = sdk.v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]
    assert srv.pay_checkout(session.id).ok
    charge = srv.state.find("charge")[-1]
    txn = sdk.v1.balance_transactions.retrieve(charge["balance_transaction"])
    assert (txn.amount, txn.currency, txn.fee, txn.net) == (amount, currency, fee, amount - fee)
    assert txn.exchange_rate is None


def gift_params(currency: str, amount: int) -> dict[str, Any]:
    price = {"currency": currency, "unit_amount": amount, "product_data": {"name": "Gift"}}
    line = {"quantity": 1, "price_data": price}
    return payment_params(line_items=[line])


def test_other_currencies_settle_in_the_account_currency(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    """A EUR account charging UAH 200.00: Stripe converts at its rate and adds its 2% conversion fee."""
    session = sdk.v1.checkout.sessions.create(params=gift_params("uah", 20000))  # type: ignore[arg-type]
    assert srv.pay_checkout(session.id).ok
    charge = sdk.v1.charges.retrieve(srv.state.find("charge")[-1]["id"], params={"expand": ["balance_transaction"]})
    assert (charge.amount, charge.currency) == (20000, "uah")  # the charge stays in the reader's currency
    txn = charge.balance_transaction
    assert isinstance(txn, stripe.BalanceTransaction)
    # 200.00 * 0.0226 = €4.52; fee 1.5% + 2% conversion = 15.82 → 16 cents, + €0.25.
    assert (txn.amount, txn.currency, txn.exchange_rate, txn.fee, txn.net) == (452, "eur", 0.0226, 41, 411)
    assert txn.fee_details[0].currency == "eur"
    refund = sdk.v1.refunds.create(params={"charge": charge.id, "amount": 5000})
    refund_txn = sdk.v1.balance_transactions.retrieve(str(refund.balance_transaction))
    assert (refund_txn.amount, refund_txn.currency, refund_txn.exchange_rate) == (-113, "eur", 0.0226)


def test_exchange_rates_and_settlement_currency_are_configurable(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    srv.config.settlement_currency = "usd"
    srv.config.exchange_rates = parse_exchange_rates("eur=1.10, jpy=0.0067")
    for currency, amount in (("eur", 1000), ("jpy", 1500), ("gbp", 1000)):
        session = sdk.v1.checkout.sessions.create(params=gift_params(currency, amount))  # type: ignore[arg-type]
        assert srv.pay_checkout(session.id).ok
    txns = [srv.state.get(c["balance_transaction"]) for c in srv.state.find("charge")]
    # €10.00 → $11.00; ¥1500 (no minor unit) → $10.05; GBP has no rate here, so it settles as pounds.
    assert [(t["amount"], t["currency"], t["exchange_rate"]) for t in txns if t] == [
        (1100, "usd", 1.1), (1005, "usd", 0.0067), (1000, "gbp", None)]
    with pytest.raises(ValueError, match="CODE=RATE"):
        parse_exchange_rates("usd:0.9")
    config = DoubleConfig.from_env({"STRIPE_DOUBLE_SETTLEMENT_CURRENCY": "GBP",
                                    "STRIPE_DOUBLE_EXCHANGE_RATES": "eur=0.85"})
    assert (config.settlement_currency, config.exchange_rates) == ("gbp", {"eur": Decimal("0.85")})


def test_adaptive_pricing_follows_the_request_or_the_account_setting(sdk: stripe.StripeClient,
                                                                     srv: DoubleServer) -> None:
    default = sdk.v1.checkout.sessions.create(params=payment_params())  # type: ignore[arg-type]
    off = sdk.v1.checkout.sessions.create(params=payment_params(adaptive_pricing={"enabled": False}))  # type: ignore[arg-type]
    assert default.adaptive_pricing is not None and default.adaptive_pricing.enabled is True  # new accounts: on
    assert off.adaptive_pricing is not None and off.adaptive_pricing.enabled is False
    assert srv.requests[-1]["params"]["adaptive_pricing"] == {"enabled": "false"}
    with pytest.raises(stripe.InvalidRequestError) as error:
        sdk.v1.checkout.sessions.create(params=payment_params(adaptive_pricing={"enabled": "maybe"}))  # type: ignore[arg-type]
    assert error.value.param == "adaptive_pricing[enabled]"


def test_the_double_speaks_the_sdks_api_version(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    assert API_VERSION == _ApiVersion.CURRENT
    sdk.v1.customers.create(params={"email": "v@example.com"})
    assert srv.requests[-1]["stripe_version"] == API_VERSION
    assert srv.state.events("customer.created")[0]["api_version"] == API_VERSION


def test_customers_crud_and_events(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    customer = sdk.v1.customers.create(params={"email": "c@example.com", "name": "C", "metadata": {"id": "4"}})
    assert customer.object == "customer" and customer.metadata is not None
    assert customer.metadata.to_dict() == {"id": "4"}
    updated = sdk.v1.customers.update(customer.id, params={"name": "Cee"})
    assert updated.name == "Cee"
    listed = sdk.v1.customers.list(params={"email": "c@example.com"})
    assert [c.id for c in listed.data] == [customer.id]
    deleted = sdk.v1.customers.delete(customer.id)
    assert deleted.deleted is True
    types = [e["type"] for e in srv.state.events() if e["type"].startswith("customer.")]
    assert types == ["customer.created", "customer.updated", "customer.deleted"]
    update_event = srv.state.events("customer.updated")[0]
    assert update_event["data"]["previous_attributes"] == {"name": "C"}
    assert update_event["request"]["id"].startswith("req_")


def test_events_list_pagination_and_filters(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    for n in range(5):
        sdk.v1.customers.create(params={"email": f"p{n}@example.com"})
    sdk.v1.test_helpers.test_clocks.create(params={"frozen_time": 1_767_225_600})
    first = sdk.v1.events.list(params={"limit": 2, "type": "customer.created"})
    assert len(first.data) == 2 and first.has_more
    emails = [e.data.object["email"] for e in first.data]
    assert emails == ["p4@example.com", "p3@example.com"]
    rest = sdk.v1.events.list(params={"limit": 10, "type": "customer.created", "starting_after": first.data[-1].id})
    assert [e.data.object["email"] for e in rest.data] == ["p2@example.com", "p1@example.com", "p0@example.com"]
    assert rest.has_more is False
    back = sdk.v1.events.list(params={"limit": 2, "type": "customer.created", "ending_before": rest.data[0].id})
    assert [e.id for e in back.data] == [e.id for e in first.data]
    many = sdk.v1.events.list(params={"types": ["customer.created", "test_helpers.test_clock.created"]})
    assert len(many.data) == 6
    wildcard = sdk.v1.events.list(params={"type": "test_helpers.*"})
    assert [e.type for e in wildcard.data] == ["test_helpers.test_clock.created"]
    newest = many.data[0]
    assert sdk.v1.events.retrieve(newest.id).type == newest.type
    assert len(sdk.v1.events.list(params={"created": {"gte": newest.created}}).data) >= 1
    assert sdk.v1.events.list(params={"created": {"gt": newest.created + 10}}).data == []
    assert newest.api_version == "2026-10-28.endive"


def test_portal_session(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    customer = sdk.v1.customers.create(params={"email": "p@example.com"})
    portal = sdk.v1.billing_portal.sessions.create(
        params={
            "customer": customer.id,
            "return_url": "https://news.example/account",
            "flow_data": {"type": "payment_method_update"},
        }
    )
    assert portal.object == "billing_portal.session"
    assert portal.url == f"{srv.portal_url}/p/session/{portal.id}"
    # The Portal has an origin of its own, as billing.stripe.com is apart from checkout.stripe.com.
    assert srv.url.startswith("http://127.0.0.1:") and srv.portal_url == srv.url.replace("127.0.0.1", "localhost")
    assert portal.flow is not None and portal.flow.type == "payment_method_update"
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sdk.v1.billing_portal.sessions.create(params={"customer": "cus_nope"})
    assert excinfo.value.param == "customer"


def test_webhook_endpoint_creation_returns_secret(sdk: stripe.StripeClient) -> None:
    endpoint = sdk.v1.webhook_endpoints.create(
        params={"url": "http://127.0.0.1:9/hook", "enabled_events": ["invoice.paid"]}
    )
    assert endpoint.secret is not None and endpoint.secret.startswith("whsec_")
    assert sdk.v1.webhook_endpoints.retrieve(endpoint.id).to_dict().get("secret") is None


def test_webhook_endpoint_update_and_api_version(sdk: stripe.StripeClient) -> None:
    endpoint = sdk.v1.webhook_endpoints.create(params={
        "url": "https://news.example/stripe/webhook", "enabled_events": ["invoice.paid"],
        "api_version": "2026-10-28.endive", "metadata": {"membership": "webhook"}})
    assert (endpoint.api_version, endpoint.metadata.to_dict()) == ("2026-10-28.endive", {"membership": "webhook"})
    updated = sdk.v1.webhook_endpoints.update(endpoint.id, params={
        "url": "https://news.example/hook", "enabled_events": ["charge.refunded", "invoice.paid"], "disabled": True})
    assert (updated.url, updated.enabled_events, updated.status) == (
        "https://news.example/hook", ["charge.refunded", "invoice.paid"], "disabled")
    assert [e.id for e in sdk.v1.webhook_endpoints.list().data if e.url.startswith("https://")] == [endpoint.id]


def test_portal_configurations(sdk: stripe.StripeClient) -> None:
    created = sdk.v1.billing_portal.configurations.create(params={
        "features": {"payment_method_update": {"enabled": True},
                     "subscription_cancel": {"enabled": True, "mode": "at_period_end",
                                             "cancellation_reason": {"enabled": True, "options": ["unused"]}}},
        "metadata": {"membership": "billing_portal"}})
    assert created.object == "billing_portal.configuration" and created.is_default is False
    assert created.features.payment_method_update.enabled is True
    assert created.features.subscription_cancel.cancellation_reason.options == ["unused"]
    assert created.features.subscription_update.enabled is False
    sdk.v1.billing_portal.configurations.update(created.id, params={"active": False})
    assert sdk.v1.billing_portal.configurations.list(params={"active": True}).data == []
    assert [c.id for c in sdk.v1.billing_portal.configurations.list().data] == [created.id]
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sdk.v1.billing_portal.configurations.create(params={
            "features": {"subscription_cancel": {"enabled": True, "cancellation_reason": {
                "enabled": True, "options": ["bored"]}}}})
    assert excinfo.value.param == "features[subscription_cancel][cancellation_reason][options][0]"
    customer = sdk.v1.customers.create(params={"email": "p@example.com"})
    with pytest.raises(stripe.InvalidRequestError):  # an inactive configuration can't open a session
        sdk.v1.billing_portal.sessions.create(params={"customer": customer.id, "configuration": created.id})


def test_account_and_country_spec(srv: DoubleServer, sdk: stripe.StripeClient) -> None:
    account = sdk.v1.accounts.retrieve_current()
    assert (account.country, account.default_currency) == ("IE", "eur")
    spec = sdk.v1.country_specs.retrieve("IE")
    assert {"eur", "usd", "gbp", "uah"} <= set(spec.supported_payment_currencies)
    srv.config.unsupported_currencies = frozenset({"uah"})
    assert "uah" not in sdk.v1.country_specs.retrieve("IE").supported_payment_currencies


def test_restricted_key_without_a_permission_gets_stripes_403(srv: DoubleServer) -> None:
    srv.config.restricted_keys = {"rk_test_reader": frozenset({"charge_read", "checkout_session_write"})}
    client = stripe.StripeClient("rk_test_reader", base_addresses={"api": srv.url})
    client.v1.charges.list()
    client.v1.checkout.sessions.list()  # write includes read
    with pytest.raises(stripe.PermissionError) as excinfo:
        client.v1.refunds.create(params={"charge": "ch_x"})
    assert excinfo.value.http_status == 403
    assert "Having the 'rak_refund_write' permission would allow this request to continue." in str(excinfo.value)


def test_unknown_route_is_json_404(srv: DoubleServer) -> None:
    request = urllib.request.Request(f"{srv.url}/v1/nonsense", headers={"Authorization": "Bearer sk_test_x"})  # noqa: S310
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request)  # noqa: S310
    with excinfo.value as error:
        assert error.code == 404
        assert "Unrecognized request URL" in json.loads(error.read())["error"]["message"]
