"""`flask stripe setup` makes what the app needs on the Stripe account; `flask stripe check` finds what is
missing or wrong. Both run against the double, configured right and wrong in each way check looks for."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from click.testing import Result
from flask import Flask

from membership.giving.events import HANDLERS
from membership.giving.stripe_account import CANCELLATION_REASONS
from membership.giving.stripe_gateway import API_VERSION, StripeGateway
from stripe_double import DoubleServer
from tests.support.settings import STRIPE_KEY

PUBLIC_URL = "https://news.example"
ENDPOINT_URL = f"{PUBLIC_URL}/stripe/webhook"


@pytest.fixture
def newsroom(app: Flask) -> Iterator[Flask]:
    """The app at a public address, as in production (Stripe can reach its webhook)."""
    app.config["PUBLIC_URL"] = PUBLIC_URL
    yield app


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["stripe", *args])


def api(double: DoubleServer, method: str, path: str, key: str = STRIPE_KEY, /, **data: Any) -> dict[str, Any]:
    """A request to the double as another Stripe client (the Dashboard, a colleague's script) would make it."""
    response = requests.request(method, f"{double.url}{path}", data=data, timeout=10,
                                headers={"Authorization": f"Bearer {key}"})
    assert response.ok, response.text
    body: dict[str, Any] = response.json()
    return body


def posts(double: DoubleServer) -> list[tuple[str, dict[str, Any]]]:
    return [(r["path"], r["params"]) for r in double.requests if r["method"] == "POST"]


def of_type(double: DoubleServer, object_type: str) -> list[dict[str, Any]]:
    return double.state.all(object_type)


def our_endpoint(double: DoubleServer) -> dict[str, Any]:
    [endpoint] = [e for e in of_type(double, "webhook_endpoint") if e["url"] == ENDPOINT_URL]
    return endpoint


def use_key(app: Flask, double: DoubleServer, key: str) -> None:
    app.extensions["stripe_gateway"] = StripeGateway(key, api_base=double.url, timeout_seconds=5)
    app.config["STRIPE_SECRET_KEY"] = key


def problems(result: Result) -> list[str]:
    return [line.removeprefix("PROBLEM  ") for line in result.output.splitlines() if line.startswith("PROBLEM")]


# -- setup ------------------------------------------------------------------------------------------------


def test_setup_creates_the_portal_configuration_and_the_endpoint_then_changes_nothing(
        newsroom: Flask, double: DoubleServer) -> None:
    first = run(newsroom, "setup")

    assert first.exit_code == 0, first.output
    [configuration] = of_type(double, "billing_portal.configuration")
    endpoint = our_endpoint(double)
    assert f"Billing Portal configuration {configuration['id']}: created." in first.output
    assert f"Webhook endpoint {endpoint['id']} for {ENDPOINT_URL}: created." in first.output
    assert f"Signing secret (shown once; set STRIPE_WEBHOOK_SECRET to it): {endpoint['_secret']}" in first.output
    assert posts(double) == [
        ("/v1/billing_portal/configurations", {
            "features": {
                "customer_update": {"enabled": "false"},
                "invoice_history": {"enabled": "true"},
                "payment_method_update": {"enabled": "true"},
                "subscription_cancel": {"enabled": "true", "mode": "at_period_end", "proration_behavior": "none",
                                        "cancellation_reason": {"enabled": "true",
                                                                "options": list(CANCELLATION_REASONS)}},
                "subscription_update": {"enabled": "false"},
            },
            "default_return_url": f"{PUBLIC_URL}/account",
            "metadata": {"membership": "billing_portal"},
        }),
        ("/v1/webhook_endpoints", {
            "url": ENDPOINT_URL,
            "enabled_events": sorted(HANDLERS),
            "api_version": API_VERSION,
            "description": "Reader-support membership (flask stripe setup)",
            "metadata": {"membership": "webhook"},
        }),
    ]
    assert endpoint["api_version"] == API_VERSION and endpoint["enabled_events"] == sorted(HANDLERS)

    double.state.requests.clear()
    second = run(newsroom, "setup")

    assert second.exit_code == 0, second.output
    assert "Nothing to change: the account was already set up." in second.output
    assert "Signing secret" not in second.output and "whsec_" not in second.output
    assert posts(double) == []
    assert len(of_type(double, "billing_portal.configuration")) == 1 and our_endpoint(double) == endpoint

    checked = run(newsroom, "check")
    assert checked.exit_code == 0, checked.output
    assert "No problems found." in checked.output


def test_setup_puts_right_what_someone_changed(newsroom: Flask, double: DoubleServer) -> None:
    run(newsroom, "setup")
    [configuration] = of_type(double, "billing_portal.configuration")
    old = our_endpoint(double)
    api(double, "POST", f"/v1/billing_portal/configurations/{configuration['id']}", active="false",
        **{"features[invoice_history][enabled]": "false"})
    api(double, "DELETE", f"/v1/webhook_endpoints/{old['id']}")
    stale = api(double, "POST", "/v1/webhook_endpoints", url=ENDPOINT_URL, api_version="2025-03-31.basil",
                **{"enabled_events[]": "*"})

    result = run(newsroom, "setup")

    assert result.exit_code == 0, result.output
    assert (f"Billing Portal configuration {configuration['id']}: updated (it is inactive; invoice history is off)."
            in result.output)
    new = our_endpoint(double)
    assert new["id"] != stale["id"] and new["api_version"] == API_VERSION
    assert f"in place of {stale['id']} (deleted), whose API version 2025-03-31.basil can't be changed" in result.output
    assert f"Signing secret (shown once; set STRIPE_WEBHOOK_SECRET to it): {new['_secret']}" in result.output
    assert configuration["active"] is True and configuration["features"]["invoice_history"]["enabled"] is True
    assert run(newsroom, "check").exit_code == 0


def test_setup_updates_an_endpoint_sending_the_wrong_events(newsroom: Flask, double: DoubleServer) -> None:
    endpoint = api(double, "POST", "/v1/webhook_endpoints", url=ENDPOINT_URL, api_version=API_VERSION,
                   **{"enabled_events[]": ["charge.refunded", "customer.created"]})

    result = run(newsroom, "setup")

    assert f"Webhook endpoint {endpoint['id']}: updated (it doesn't send " in result.output
    assert "it also sends customer.created, which the app doesn't handle" in result.output
    assert "Signing secret" not in result.output  # the same endpoint, the same secret
    assert our_endpoint(double)["enabled_events"] == sorted(HANDLERS)


def test_setup_on_this_machine_makes_no_endpoint(app: Flask, double: DoubleServer) -> None:
    result = run(app, "setup")  # PUBLIC_URL is http://127.0.0.1:<port>

    assert result.exit_code == 0, result.output
    assert "Webhook endpoint: none made" in result.output and "`stripe listen --latest --forward-to" in result.output
    assert [path for path, _ in posts(double)] == ["/v1/billing_portal/configurations"]
    assert "ok       Webhook endpoint: not needed" in run(app, "check").output


def test_setup_refuses_a_live_key(newsroom: Flask, double: DoubleServer) -> None:
    use_key(newsroom, double, "sk_live_membership_tests")

    result = run(newsroom, "setup")

    assert result.exit_code == 2
    assert "STRIPE_SECRET_KEY is a live key: set MEMBERSHIP_ALLOW_LIVE_KEYS=1" in result.output
    assert double.requests == []


def test_portal_sessions_use_the_configuration_setup_made(newsroom: Flask, double: DoubleServer) -> None:
    customer = api(double, "POST", "/v1/customers", email="olena@example.org")
    gateway: StripeGateway = newsroom.extensions["stripe_gateway"]
    gateway.create_portal_session(customer["id"], f"{PUBLIC_URL}/account")
    run(newsroom, "setup")
    [configuration] = of_type(double, "billing_portal.configuration")
    fresh = StripeGateway(STRIPE_KEY, api_base=double.url, timeout_seconds=5)  # a new process

    fresh.create_portal_session(customer["id"], f"{PUBLIC_URL}/account")
    fresh.create_portal_session(customer["id"], f"{PUBLIC_URL}/account")

    sessions = [p for path, p in posts(double) if path == "/v1/billing_portal/sessions"]
    assert [s.get("configuration") for s in sessions] == [None, configuration["id"], configuration["id"]]
    lookups = [r for r in double.requests if r["path"] == "/v1/billing_portal/configurations" and r["method"] == "GET"]
    assert len(lookups) == 3  # the first gateway found none; setup looked once; the new one looked once


# -- check ------------------------------------------------------------------------------------------------


@pytest.fixture
def set_up(newsroom: Flask, double: DoubleServer) -> Flask:
    result = run(newsroom, "setup")
    assert result.exit_code == 0, result.output
    return newsroom


def test_check_reports_a_restricted_keys_missing_permissions(set_up: Flask, double: DoubleServer,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    everything = {f"{r}_write" for r in ("checkout_session", "customer", "subscription", "invoice", "payment_intent",
                                         "payment_method", "charge", "refund", "dispute", "balance", "event",
                                         "customer_portal", "webhook_endpoint", "account")}
    granted = frozenset(everything - {"refund_write", "customer_portal_write"} | {"customer_portal_read"})
    monkeypatch.setattr(double.config, "restricted_keys", {"rk_test_membership": granted})
    use_key(set_up, double, "rk_test_membership")

    result = run(set_up, "check")

    assert result.exit_code == 1
    assert problems(result) == [
        "The restricted key lacks Refunds: Write.",
        "The restricted key lacks Customer portal: Write.",
    ]
    assert "Fix: In the Dashboard (Developers → API keys), edit the key and set Refunds: Write." in result.output
    assert "ok       Key: test mode, restricted key." in result.output

    monkeypatch.setattr(double.config, "restricted_keys", {"rk_test_membership": frozenset(everything)})
    assert run(set_up, "check").exit_code == 0


def test_check_reports_a_live_key(set_up: Flask, double: DoubleServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(double.config, "api_key", "sk_live_membership_tests")
    use_key(set_up, double, "sk_live_membership_tests")
    set_up.config["MEMBERSHIP_ALLOW_LIVE_KEYS"] = True

    result = run(set_up, "check")

    assert result.exit_code == 1
    assert problems(result) == ["STRIPE_SECRET_KEY is a live-mode key, but this check expects test mode."]
    assert run(set_up, "check", "--live").exit_code == 0


def test_check_reports_a_missing_endpoint(set_up: Flask, double: DoubleServer) -> None:
    api(double, "DELETE", f"/v1/webhook_endpoints/{our_endpoint(double)['id']}")

    result = run(set_up, "check")

    assert result.exit_code == 1
    assert problems(result) == [f"No webhook endpoint sends events to {ENDPOINT_URL}."]
    assert "Fix: Run `flask --app membership stripe setup` and set STRIPE_WEBHOOK_SECRET" in result.output


@pytest.mark.parametrize(("change", "problem"), [
    ({"url": "https://old.news.example/stripe/webhook"},
     f"it points at https://old.news.example/stripe/webhook, not {ENDPOINT_URL}"),
    ({"enabled_events[]": "*"}, "it doesn't send charge.dispute.closed"),
    ({"enabled_events[]": [*sorted(HANDLERS), "customer.created"]},
     "it also sends customer.created, which the app doesn't handle"),
    ({"disabled": "true"}, "it is disabled"),
])
def test_check_reports_a_wrong_endpoint(set_up: Flask, double: DoubleServer, change: dict[str, Any],
                                        problem: str) -> None:
    endpoint = our_endpoint(double)
    api(double, "POST", f"/v1/webhook_endpoints/{endpoint['id']}", **change)

    result = run(set_up, "check")

    assert result.exit_code == 1
    [found] = problems(result)
    assert found.startswith(f"Webhook endpoint {endpoint['id']}: ") and problem in found


def test_check_reports_an_endpoint_at_another_api_version(set_up: Flask, double: DoubleServer) -> None:
    api(double, "DELETE", f"/v1/webhook_endpoints/{our_endpoint(double)['id']}")
    old = api(double, "POST", "/v1/webhook_endpoints", url=ENDPOINT_URL, api_version="2025-03-31.basil",
              **{"enabled_events[]": sorted(HANDLERS)})

    result = run(set_up, "check")

    assert result.exit_code == 1
    assert problems(result) == [
        f"Webhook endpoint {old['id']}: its API version is 2025-03-31.basil, not {API_VERSION}."]


def test_check_reports_no_portal_configuration(set_up: Flask, double: DoubleServer) -> None:
    [configuration] = of_type(double, "billing_portal.configuration")
    api(double, "POST", f"/v1/billing_portal/configurations/{configuration['id']}", **{"metadata[membership]": ""})

    result = run(set_up, "check")

    assert result.exit_code == 1
    assert problems(result) == ["No Billing Portal configuration made by `stripe setup`: Portal sessions would use "
                                "the account default, if there is one."]


def test_check_reports_a_portal_configuration_with_plan_switching(set_up: Flask, double: DoubleServer) -> None:
    [configuration] = of_type(double, "billing_portal.configuration")
    api(double, "POST", f"/v1/billing_portal/configurations/{configuration['id']}",
        **{"features[subscription_update][enabled]": "true", "features[subscription_cancel][mode]": "immediately"})

    result = run(set_up, "check")

    assert problems(result) == [f"Billing Portal configuration {configuration['id']}: it cancels at once instead of "
                                "at the period's end; plan switching is on."]


def test_check_reports_a_currency_the_account_cannot_charge(set_up: Flask, double: DoubleServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(double.config, "unsupported_currencies", frozenset({"uah"}))

    result = run(set_up, "check")

    assert result.exit_code == 1
    assert problems(result) == ["The account (IE) can't charge UAH, which the give form offers."]
    assert "Fix: Remove UAH from MEMBERSHIP_CURRENCIES." in result.output


def test_check_reports_adaptive_pricing(set_up: Flask, double: DoubleServer, monkeypatch: pytest.MonkeyPatch) -> None:
    session = {"mode": "payment", "success_url": f"{PUBLIC_URL}/give/thanks", "line_items[0][quantity]": "1",
               "line_items[0][price_data][currency]": "eur", "line_items[0][price_data][unit_amount]": "500",
               "line_items[0][price_data][product_data][name]": "A gift"}
    monkeypatch.setattr(double.config, "adaptive_pricing", False)  # off in the Dashboard
    api(double, "POST", "/v1/checkout/sessions", **session)
    assert run(set_up, "check").exit_code == 0
    monkeypatch.setattr(double.config, "adaptive_pricing", True)  # turned on in the Dashboard
    adaptive = api(double, "POST", "/v1/checkout/sessions", **session)

    result = run(set_up, "check")

    assert result.exit_code == 1
    assert problems(result) == [f"Adaptive Pricing is on: recent Checkout Sessions ({adaptive['id']}) let readers "
                                "pay in another currency than the one they chose."]


def test_check_with_a_key_stripe_refuses(set_up: Flask, double: DoubleServer) -> None:
    use_key(set_up, double, "sk_test_revoked")
    double.config.api_key = STRIPE_KEY
    try:
        result = run(set_up, "check")
    finally:
        double.config.api_key = None

    assert result.exit_code == 1
    assert "Error: Stripe can't be reached or refused the key: Invalid API Key provided" in result.output
