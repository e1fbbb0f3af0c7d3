"""Webhook delivery: Stripe's signature (verified by the SDK itself), retries, ordering."""

from __future__ import annotations

import json
import socket
import threading

import pytest
import stripe
from flask.testing import FlaskClient

from stripe_double import DoubleServer

from .conftest import SECRET, Receiver


def test_signature_verifies_with_the_sdk(
    sdk: stripe.StripeClient, srv: DoubleServer, receiver: tuple[Receiver, str]
) -> None:
    sdk.v1.customers.create(params={"email": "w@example.com"})
    assert srv.wait_for_deliveries(5)
    delivery = receiver[0].delivered()[0]
    event = stripe.Webhook.construct_event(delivery["body"], delivery["signature"], SECRET)
    assert event.type == "customer.created"
    assert event.api_version == "2026-10-28.endive"
    assert event.data.object["email"] == "w@example.com"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery["body"], delivery["signature"], "whsec_wrong")


def test_failed_deliveries_are_retried_until_2xx(
    sdk: stripe.StripeClient, srv: DoubleServer, receiver: tuple[Receiver, str]
) -> None:
    app = receiver[0]
    app.statuses.extend([500, 500, 503])
    sdk.v1.customers.create(params={"email": "r@example.com"})
    assert srv.wait_for_deliveries(10)
    assert [r["status"] for r in app.received] == [500, 500, 503, 200]
    delivery = srv.state.deliveries[0]
    assert delivery["status"] == "succeeded" and len(delivery["attempts"]) == 4
    event = srv.state.events("customer.created")[0]
    assert event["pending_webhooks"] == 0


def test_deliveries_keep_creation_order(
    sdk: stripe.StripeClient, srv: DoubleServer, receiver: tuple[Receiver, str]
) -> None:
    for n in range(4):
        sdk.v1.customers.create(params={"email": f"o{n}@example.com"})
    assert srv.wait_for_deliveries(5)
    emails = [json.loads(r["body"])["data"]["object"]["email"] for r in receiver[0].delivered()]
    assert emails == [f"o{n}@example.com" for n in range(4)]


def test_endpoint_down_gives_up_after_max_attempts(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    srv.double.config.max_delivery_attempts = 2
    sdk.v1.webhook_endpoints.create(params={"url": "http://127.0.0.1:9/down", "enabled_events": ["*"]})
    sdk.v1.customers.create(params={"email": "d@example.com"})
    assert srv.wait_for_deliveries(5)
    down = [d for d in srv.state.deliveries if d["url"].endswith("/down")]
    assert [d["status"] for d in down] == ["failed"]
    assert down[0]["attempts"][0]["error"]


def test_an_endpoint_that_does_not_speak_http_is_a_failed_delivery(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    """Whatever answers at the address (here a server that greets like SMTP), the delivery fails and is retried,
    as Stripe's would be; the delivery thread carries on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def greet() -> None:
            for _ in range(2):
                connection, _ = listener.accept()
                with connection:
                    connection.sendall(b"220 localhost Python SMTP 1.4.6\r\n")

        greeter = threading.Thread(target=greet, daemon=True)
        greeter.start()
        srv.double.config.max_delivery_attempts = 2
        sdk.v1.webhook_endpoints.create(params={"url": f"http://127.0.0.1:{port}/smtp", "enabled_events": ["*"]})
        sdk.v1.customers.create(params={"email": "s@example.com"})
        assert srv.wait_for_deliveries(30)
        greeter.join(30)
    smtp = [d for d in srv.state.deliveries if d["url"].endswith("/smtp")]
    assert [d["status"] for d in smtp] == ["failed"]
    assert len(smtp[0]["attempts"]) == 2 and all(a["error"] for a in smtp[0]["attempts"])


def test_state_file_round_trip(tmp_path: object) -> None:
    from pathlib import Path

    from stripe_double import DoubleConfig

    path = Path(str(tmp_path)) / "state.json"
    with DoubleServer(DoubleConfig(state_file=str(path))) as first:
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": first.url})
        customer = client.v1.customers.create(params={"email": "s@example.com"})
    with DoubleServer(DoubleConfig(state_file=str(path))) as second:
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": second.url})
        assert client.v1.customers.retrieve(customer.id).email == "s@example.com"


def test_many_memberships_on_one_clock_renew_at_once_and_are_delivered_concurrently(
    sdk: stripe.StripeClient, srv: DoubleServer, receiver: tuple[Receiver, str], pages: FlaskClient
) -> None:
    """The load-test set-up (bench/burst.py): memberships made in bulk on one clock, one advance renews all, and
    the deliveries go out several at a time, each delivered once."""
    srv.config.delivery_concurrency = 8
    srv.double.dispatcher.stop()
    srv.double.dispatcher.start()
    clock = sdk.v1.test_helpers.test_clocks.create({"frozen_time": 1_800_000_000})
    made = pages.post(f"/_double/test_clocks/{clock.id}/memberships", json={"count": 40, "amount": 700})
    assert made.status_code == 200 and len(made.get_json()) == 40
    assert pages.post(f"/_double/test_clocks/{clock.id}/memberships", json={"count": 0}).status_code == 400
    assert srv.wait_for_deliveries(60)
    before = len(receiver[0].received)
    sdk.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": 1_800_000_000 + 31 * 86400})
    renewals = [e for e in srv.state.events("invoice.paid") if e["data"]["object"]["billing_reason"]
                == "subscription_cycle"]
    assert len(renewals) == 40 and {e["data"]["object"]["amount_paid"] for e in renewals} == {700}
    assert srv.wait_for_deliveries(60)
    bodies = [json.loads(r["body"]) for r in receiver[0].received[before:]]
    delivered = [b["id"] for b in bodies]
    assert len(delivered) == len(set(delivered))
    assert {e["id"] for e in renewals} <= set(delivered)
    assert all(d["status"] == "succeeded" for d in srv.state.deliveries)
