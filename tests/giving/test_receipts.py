"""Receipts: a one-time gift's Checkout asks Stripe for an invoice (`invoice_creation`), and the gift's and each
membership payment's invoice (its hosted page and PDF) is linked from the thank-you email and the account."""

from __future__ import annotations

from email.message import EmailMessage

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership.db import db
from membership.giving.models import Payment, PaymentKind
from stripe_double import DoubleServer
from tests.support.giving import pay, settle, start_gift
from tests.support.helpers import text
from tests.support.patrons import sign_in
from tests.support.servers import LiveServer, SmtpSink

REGISTRATION = "Registered charity no. 1234567"


def body(message: EmailMessage, kind: str = "plain") -> str:
    part = message.get_body((kind,))
    assert part is not None, f"no {kind} part"
    return str(part.get_content())


def session_params(double: DoubleServer) -> dict[str, object]:
    [request] = [r for r in double.requests if r["method"] == "POST" and r["path"] == "/v1/checkout/sessions"]
    return dict(request["params"])


def test_a_gift_gets_stripes_invoice_linked_from_the_email_and_the_account(
        app: Flask, client: FlaskClient, double: DoubleServer, live_app: LiveServer, smtp_server: SmtpSink) -> None:
    app.config["NEWSROOM_REGISTRATION"] = REGISTRATION
    checkout = start_gift(client, amount="10")
    params = session_params(double)
    assert params["invoice_creation"] == {"enabled": "true", "invoice_data": {
        "description": params["line_items"][0]["price_data"]["product_data"]["name"],  # type: ignore[index]
        "footer": REGISTRATION,
        "metadata": {"checkout_id": str(checkout.id), "supporter_id": str(checkout.supporter_id)},
    }}
    pay(double, checkout)
    settle(double)

    payment = db.session.scalars(sa.select(Payment)).one()  # the invoice's own invoice.paid adds no payment
    invoice = double.state.get(payment.stripe_invoice_id or "", "invoice")
    assert invoice is not None and invoice["status"] == "paid" and invoice["footer"] == REGISTRATION
    assert (payment.kind, payment.receipt_url, payment.receipt_pdf_url) == (
        PaymentKind.GIFT, invoice["hosted_invoice_url"], invoice["invoice_pdf"])

    [thanks] = smtp_server.messages
    assert f"Your receipt: {invoice['hosted_invoice_url']}" in body(thanks)
    assert f"As a PDF: {invoice['invoice_pdf']}" in body(thanks)
    assert f'<a href="{invoice["hosted_invoice_url"]}">View your receipt</a>' in body(thanks, "html")

    sign_in(client, checkout.supporter)
    page = text(client.get("/account"))
    assert f'<a href="{invoice["hosted_invoice_url"]}">Receipt</a>' in page
    assert f'<a href="{invoice["invoice_pdf"]}">PDF</a>' in page


def test_a_membership_has_no_invoice_creation_and_links_its_own_invoices(
        client: FlaskClient, double: DoubleServer, live_app: LiveServer, smtp_server: SmtpSink) -> None:
    checkout = start_gift(client, frequency="monthly", amount="5")
    assert "invoice_creation" not in session_params(double)  # Stripe refuses it in subscription mode
    pay(double, checkout)
    settle(double)

    payment = db.session.scalars(sa.select(Payment)).one()
    invoice = double.state.get(payment.stripe_invoice_id or "", "invoice")
    assert invoice is not None and invoice["billing_reason"] == "subscription_create"
    assert payment.receipt_url == invoice["hosted_invoice_url"]
    [thanks] = smtp_server.messages
    assert f"Your receipt: {invoice['hosted_invoice_url']}" in body(thanks)

    sign_in(client, checkout.supporter)
    assert f'<a href="{invoice["hosted_invoice_url"]}">Receipt</a>' in text(client.get("/account"))
