"""Checkout's `invoice_creation`: a paid one-time session issues a paid invoice (the reader's receipt, with its hosted
page and PDF), and a malformed request is refused as Stripe refuses it."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest
import stripe

from stripe_double import DoubleServer

from .conftest import payment_params, subscription_params

INVOICE_CREATION = {
    "enabled": True,
    "invoice_data": {
        "description": "Gift to the newsroom",
        "footer": "Registered charity no. 1234567",
        "metadata": {"checkout_id": "12"},
        "custom_fields": [{"name": "Donor", "value": "Ada Reader"}],
    },
}


def _post(srv: DoubleServer, pairs: list[tuple[str, str]]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310
        f"{srv.url}/v1/checkout/sessions", data=urllib.parse.urlencode(pairs).encode(), method="POST",
        headers={"Authorization": "Bearer sk_test_x"},
    )
    try:
        with urllib.request.urlopen(request) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def _gift(*extra: tuple[str, str], mode: str = "payment") -> list[tuple[str, str]]:
    pairs = [("mode", mode), ("line_items[0][quantity]", "1"), ("line_items[0][price_data][currency]", "eur"),
             ("line_items[0][price_data][unit_amount]", "1000"),
             ("line_items[0][price_data][product_data][name]", "Gift"), ("success_url", "https://news.example/ok")]
    if mode == "subscription":
        pairs.append(("line_items[0][price_data][recurring][interval]", "month"))
    return [*pairs, *extra]


def _fetch(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
        return response.status, response.headers["Content-Type"], response.read().decode()


def test_a_paid_session_issues_a_paid_invoice_with_its_page_and_pdf(srv: DoubleServer,
                                                                    sdk: stripe.StripeClient) -> None:
    session = sdk.v1.checkout.sessions.create(payment_params(invoice_creation=INVOICE_CREATION))  # type: ignore[arg-type]
    assert session.invoice_creation is not None and session.invoice_creation.enabled is True
    assert session.invoice is None  # nothing is issued before the reader pays
    assert srv.pay_checkout(session.id).ok

    paid = sdk.v1.checkout.sessions.retrieve(session.id, {"expand": ["invoice"]})
    invoice = paid.invoice
    assert isinstance(invoice, stripe.Invoice)
    assert invoice.status == "paid" and invoice.amount_paid == 1000 and invoice.currency == "eur"
    assert invoice.customer == paid.customer and invoice.parent is None  # no subscription behind it
    assert invoice.footer == "Registered charity no. 1234567" and invoice.description == "Gift to the newsroom"
    assert invoice.metadata is not None and invoice.metadata.to_dict() == {"checkout_id": "12"}
    assert invoice.custom_fields is not None and invoice.custom_fields[0].value == "Ada Reader"
    assert invoice.hosted_invoice_url == f"{srv.url}/i/{invoice.id}"
    assert invoice.invoice_pdf == f"{srv.url}/i/{invoice.id}/pdf"
    [payment] = sdk.v1.invoice_payments.list({"invoice": invoice.id}).data
    assert payment.payment.payment_intent == paid.payment_intent

    status, _, page = _fetch(invoice.hosted_invoice_url)
    assert status == 200 and "€10.00" in page and "paid" in page
    status, kind, pdf = _fetch(invoice.invoice_pdf)
    assert status == 200 and kind.startswith("text/plain") and "Total €10.00" in pdf

    types = [e["type"] for e in srv.state.events() if e["data"]["object"].get("id") == invoice.id]
    assert types == ["invoice.created", "invoice.finalized", "invoice.paid", "invoice.payment_succeeded"]


def test_without_invoice_creation_no_invoice_is_issued(srv: DoubleServer, sdk: stripe.StripeClient) -> None:
    session = sdk.v1.checkout.sessions.create(payment_params())  # type: ignore[arg-type]
    assert session.invoice_creation is not None and session.invoice_creation.enabled is False
    assert srv.pay_checkout(session.id).ok
    assert sdk.v1.checkout.sessions.retrieve(session.id).invoice is None
    assert srv.state.find("invoice") == []


@pytest.mark.parametrize(
    ("pairs", "param", "code"),
    [
        (_gift(("invoice_creation[enabled]", "maybe")), "invoice_creation[enabled]", None),
        (_gift(("invoice_creation[invoice_data][footer]", "Charity")), "invoice_creation[enabled]",
         "parameter_missing"),
        (_gift(("invoice_creation[enabled]", "true"), ("invoice_creation[invoice_data][colour]", "blue")),
         "invoice_creation[invoice_data][colour]", "parameter_unknown"),
        (_gift(("invoice_creation[enabled]", "true"), ("invoice_creation[invoice_data][metadata]", "x")),
         "invoice_creation[invoice_data][metadata]", None),
        (_gift(("invoice_creation[enabled]", "true"), mode="subscription"), "invoice_creation", "parameter_invalid"),
        (_gift(("invoice_creation[enabled]", "true"),
               *[(f"invoice_creation[invoice_data][custom_fields][{i}][{key}]", "x")
                 for i in range(5) for key in ("name", "value")]),
         "invoice_creation[invoice_data][custom_fields]", "parameter_invalid"),
        (_gift(("invoice_creation[enabled]", "true"),
               ("invoice_creation[invoice_data][custom_fields][0][name]", "n" * 41),
               ("invoice_creation[invoice_data][custom_fields][0][value]", "v")),
         "invoice_creation[invoice_data][custom_fields][0][name]", "parameter_invalid_string"),
        (_gift(("invoice_creation[enabled]", "true"), ("invoice_creation[invoice_data][footer]", "f" * 5001)),
         "invoice_creation[invoice_data][footer]", "parameter_invalid_string"),
    ],
)
def test_a_malformed_invoice_creation_is_refused_as_stripe_refuses_it(
    srv: DoubleServer, pairs: list[tuple[str, str]], param: str, code: str | None
) -> None:
    status, body = _post(srv, pairs)
    assert status == 400, body
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["param"] == param
    if code is not None:
        assert body["error"]["code"] == code
    assert srv.state.find("checkout.session") == []


def test_a_subscription_session_takes_no_invoice_creation_from_the_sdk(sdk: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sdk.v1.checkout.sessions.create(
            subscription_params(invoice_creation={"enabled": True}))  # type: ignore[arg-type]
    assert refused.value.param == "invoice_creation"
