"""Fixtures for the Stripe double: a running double, the SDK pointed at it, and a webhook receiver."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import stripe
from flask.testing import FlaskClient
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from stripe_double import DoubleConfig, DoubleServer

SECRET = "whsec_double_tests"
CARD_FORM = {"email": "reader@example.com", "card_expiry": "12 / 34", "card_cvc": "123", "card_name": "Ada Reader"}


@dataclass
class Receiver:
    """A tiny webhook endpoint: records every delivery, answers with queued statuses (then 200)."""

    statuses: list[int] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self.lock:
            status = self.statuses.pop(0) if self.statuses else 200
            self.received.append(
                {
                    "body": request.get_data(as_text=True),
                    "status": status,
                    "signature": request.headers.get("Stripe-Signature"),
                }
            )
        return Response("ok", status=status)(environ, start_response)

    def delivered(self) -> list[dict[str, Any]]:
        """Deliveries that got a 2xx."""
        with self.lock:
            return [r for r in self.received if 200 <= r["status"] < 300]


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    app = Receiver()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=lambda: server.serve_forever(poll_interval=0.05), daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}/stripe/webhook"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def srv(receiver: tuple[Receiver, str]) -> Iterator[DoubleServer]:
    server = DoubleServer(
        DoubleConfig(
            webhook_url=receiver[1],
            webhook_secret=SECRET,
            retry_base_seconds=0.05,
            max_delivery_attempts=8,
            tick_seconds=0.2,
        )
    ).start()
    yield server
    server.stop()


@pytest.fixture
def sdk(srv: DoubleServer) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_double", base_addresses={"api": srv.url, "connect": srv.url, "files": srv.url, "meter_events": srv.url}
    )


@pytest.fixture
def pages(srv: DoubleServer) -> FlaskClient:
    """The hosted pages through Werkzeug's test client."""
    return srv.app.test_client()


def payment_params(**extra: Any) -> dict[str, Any]:
    """A one-time €10 donation session, as the gateway creates it."""
    params: dict[str, Any] = {
        "mode": "payment",
        "submit_type": "donate",
        "customer_creation": "always",
        "customer_email": "reader@example.com",
        "client_reference_id": "12",
        "metadata": {"checkout_id": "12"},
        "payment_intent_data": {"metadata": {"checkout_id": "12"}},
        "line_items": [
            {"quantity": 1, "price_data": {"currency": "eur", "unit_amount": 1000, "product_data": {"name": "Gift"}}}
        ],
        "success_url": "https://news.example/give/thanks?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://news.example/give",
    }
    params.update(extra)
    return params


def subscription_params(**extra: Any) -> dict[str, Any]:
    """A €5 monthly membership session."""
    params: dict[str, Any] = {
        "mode": "subscription",
        "customer_email": "patron@example.com",
        "client_reference_id": "7",
        "metadata": {"checkout_id": "7"},
        "subscription_data": {"metadata": {"checkout_id": "7"}},
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": "eur",
                    "unit_amount": 500,
                    "product_data": {"name": "Membership"},
                    "recurring": {"interval": "month"},
                },
            }
        ],
        "success_url": "https://news.example/give/thanks?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://news.example/give",
    }
    params.update(extra)
    return params
