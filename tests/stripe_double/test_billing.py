"""Subscriptions on test clocks: renewals, failing cards, retries, the portal, cancellation; refunds."""

from __future__ import annotations

import pytest
import stripe
from flask.testing import FlaskClient

from stripe_double import DoubleServer

from .conftest import CARD_FORM, payment_params, subscription_params

DAY = 86400
START = 1_767_225_600  # 2026-01-01 00:00 UTC


def _member_on_clock(sdk: stripe.StripeClient, srv: DoubleServer, card: str) -> tuple[str, str, str]:
    """A €5 monthly member whose customer lives on a fresh test clock: (clock, customer, subscription)."""
    clock = sdk.v1.test_helpers.test_clocks.create(params={"frozen_time": START, "name": "renewals"})
    customer = sdk.v1.customers.create(params={"email": "patron@example.com", "test_clock": clock.id})
    params = subscription_params(customer=customer.id)
    params.pop("customer_email")
    session = sdk.v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]
    assert srv.pay_checkout(session.id, card=card).ok
    paid = sdk.v1.checkout.sessions.retrieve(session.id)
    assert isinstance(paid.subscription, str)
    return clock.id, customer.id, paid.subscription


def test_first_invoice_and_subscription_shape(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    _, customer, sub_id = _member_on_clock(sdk, srv, "4242424242424242")
    sub = sdk.v1.subscriptions.retrieve(sub_id)
    assert sub.status == "active" and sub.customer == customer
    item = sub["items"].data[0]
    assert (item.current_period_start, item.current_period_end) == (START, START + 31 * DAY)
    assert sub.metadata.to_dict() == {"checkout_id": "7"}
    invoice = sdk.v1.invoices.retrieve(str(sub.latest_invoice))
    assert invoice.billing_reason == "subscription_create" and invoice.status == "paid"
    assert invoice.parent is not None and invoice.parent.type == "subscription_details"
    assert invoice.parent.subscription_details is not None
    assert invoice.parent.subscription_details.subscription == sub_id
    line = invoice.lines.data[0]
    assert line.parent is not None and line.parent.subscription_item_details is not None
    assert line.parent.subscription_item_details.subscription_item == item.id
    payments = sdk.v1.invoice_payments.list(params={"invoice": invoice.id})
    assert payments.data[0].payment.type == "payment_intent"
    assert payments.data[0].status == "paid"
    pi = sdk.v1.payment_intents.retrieve(str(payments.data[0].payment.payment_intent))
    assert pi.status == "succeeded" and pi.amount == 500


def test_an_invoice_includes_its_payments_only_when_asked(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    """`payments` is includable: absent from an invoice (and from its events) unless `expand[]=payments` asks,
    when it lists the invoice payments `GET /v1/invoice_payments?invoice=` would."""
    clock, _, sub_id = _member_on_clock(sdk, srv, "4242424242424242")
    sdk.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": START + 32 * DAY})
    invoice_id = str(sdk.v1.subscriptions.retrieve(sub_id).latest_invoice)
    assert "payments" not in sdk.v1.invoices.retrieve(invoice_id)
    assert all("payments" not in e["data"]["object"] for e in srv.state.events("invoice.paid"))
    listed = sdk.v1.invoice_payments.list(params={"invoice": invoice_id})
    included = sdk.v1.invoices.retrieve(invoice_id, params={"expand": ["payments"]}).payments
    assert included is not None and included.has_more is False
    assert [p.id for p in included.data] == [p.id for p in listed.data] and len(included.data) == 1
    assert included.data[0].status == "paid" and included.data[0].invoice == invoice_id
    # Deeper, to Stripe's limit of four levels: the payment's PaymentIntent expanded in the same answer.
    deep = sdk.v1.invoices.retrieve(invoice_id, params={"expand": ["payments.data.payment.payment_intent"]})
    assert deep.payments is not None
    pi = deep.payments.data[0].payment.payment_intent
    assert isinstance(pi, stripe.PaymentIntent) and (pi.status, pi.amount) == ("succeeded", 500)
    # In a list too: each invoice of the subscription with its payments.
    invoices = sdk.v1.invoices.list(params={"subscription": sub_id, "expand": ["data.payments"]}).data
    assert len(invoices) == 2
    assert all(i.payments is not None and [p.status for p in i.payments.data] == ["paid"] for i in invoices)
    for refused_path in ("receipts", "data.payments.data.payment.payment_intent"):
        with pytest.raises(stripe.InvalidRequestError) as refused:
            sdk.v1.invoices.list(params={"subscription": sub_id, "expand": [refused_path]})
        assert refused.value.param == "expand"


def test_invoice_payments_are_listed_by_status(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    _, _, sub_id = _member_on_clock(sdk, srv, "4242424242424242")
    invoice_id = str(sdk.v1.subscriptions.retrieve(sub_id).latest_invoice)
    assert len(sdk.v1.invoice_payments.list(params={"invoice": invoice_id, "status": "paid"}).data) == 1
    assert sdk.v1.invoice_payments.list(params={"invoice": invoice_id, "status": "open"}).data == []


def test_renewal_pays_invoice_on_clock_advance(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    clock, _, sub_id = _member_on_clock(sdk, srv, "4242424242424242")
    advanced = sdk.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": START + 32 * DAY})
    assert advanced.status == "ready"
    invoices = sdk.v1.invoices.list(params={"subscription": sub_id})
    cycle = invoices.data[0]
    assert (cycle.billing_reason, cycle.status, cycle.amount_paid) == ("subscription_cycle", "paid", 500)
    assert cycle.parent is not None and cycle.parent.subscription_details is not None
    assert cycle.parent.subscription_details.subscription == sub_id
    sub = sdk.v1.subscriptions.retrieve(sub_id)
    assert sub["items"].data[0].current_period_start == START + 31 * DAY
    paid_events = [e for e in srv.state.events("invoice.paid") if e["data"]["object"]["id"] == cycle.id]
    assert len(paid_events) == 1
    types = [e["type"] for e in srv.state.events()]
    assert "test_helpers.test_clock.ready" in types


def test_0341_renewal_fails_then_portal_card_fixes_it(
    sdk: stripe.StripeClient, srv: DoubleServer, pages: FlaskClient
) -> None:
    clock, customer, sub_id = _member_on_clock(sdk, srv, "4000000000000341")
    sdk.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": START + 31 * DAY + 60})
    sub = sdk.v1.subscriptions.retrieve(sub_id)
    assert sub.status == "past_due"
    failed = srv.state.events("invoice.payment_failed")[-1]["data"]["object"]
    assert failed["attempt_count"] == 1
    assert failed["next_payment_attempt"] == START + 31 * DAY + 3 * DAY
    assert failed["parent"]["subscription_details"]["subscription"] == sub_id
    updated = srv.state.events("customer.subscription.updated")[-1]
    assert updated["data"]["object"]["status"] == "past_due"
    assert updated["data"]["previous_attributes"]["status"] == "active"

    portal = sdk.v1.billing_portal.sessions.create(
        params={
            "customer": customer,
            "return_url": "https://news.example/account",
            "flow_data": {"type": "payment_method_update"},
        }
    )
    page = pages.get(f"/p/session/{portal.id}").get_data(as_text=True)
    assert "past_due" in page and "Visa ending in 0341" in page and "Return to news.example" in page
    response = pages.post(f"/p/session/{portal.id}/card", data={**CARD_FORM, "card_number": "4242424242424242"})
    assert response.status_code == 303
    assert sdk.v1.subscriptions.retrieve(sub_id).status == "active"
    invoice = sdk.v1.invoices.retrieve(failed["id"])
    assert (invoice.status, invoice.attempt_count) == ("paid", 2)
    assert "Visa ending in 4242" in pages.get(f"/p/session/{portal.id}").get_data(as_text=True)


def test_failed_retries_end_in_cancellation(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    clock, _, sub_id = _member_on_clock(sdk, srv, "4000000000000341")
    sdk.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": START + 31 * DAY + 20 * DAY})
    attempts = [e["data"]["object"]["attempt_count"] for e in srv.state.events("invoice.payment_failed")]
    assert attempts == [1, 2, 3, 4]
    sub = sdk.v1.subscriptions.retrieve(sub_id)
    assert sub.status == "canceled"
    assert sub.cancellation_details is not None and sub.cancellation_details.reason == "payment_failed"
    assert srv.state.events("customer.subscription.deleted")


def test_cancel_at_period_end_resume_and_end(sdk: stripe.StripeClient, srv: DoubleServer, pages: FlaskClient) -> None:
    clock, customer, sub_id = _member_on_clock(sdk, srv, "4242424242424242")
    sub = sdk.v1.subscriptions.update(
        sub_id, params={"cancel_at_period_end": True, "cancellation_details": {"comment": "moving"}}
    )
    assert sub.cancel_at_period_end is True and sub.cancel_at == START + 31 * DAY
    assert sub.cancellation_details is not None and sub.cancellation_details.comment == "moving"
    portal = sdk.v1.billing_portal.sessions.create(params={"customer": customer})
    pages.post(f"/p/session/{portal.id}/subscriptions/{sub_id}/resume")
    assert sdk.v1.subscriptions.retrieve(sub_id).cancel_at_period_end is False
    pages.post(f"/p/session/{portal.id}/subscriptions/{sub_id}/cancel")
    sdk.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": START + 40 * DAY})
    ended = sdk.v1.subscriptions.retrieve(sub_id)
    assert (ended.status, ended.ended_at) == ("canceled", START + 31 * DAY)
    assert len(sdk.v1.invoices.list(params={"subscription": sub_id}).data) == 1


def test_cancellation_feedback_is_kept_and_checked(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    _, _, sub_id = _member_on_clock(sdk, srv, "4242424242424242")
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sdk.v1.subscriptions.update(
            sub_id, params={"cancel_at_period_end": True, "cancellation_details": {"feedback": "bored"}}
        )
    assert refused.value.param == "cancellation_details[feedback]"
    assert sdk.v1.subscriptions.retrieve(sub_id).cancel_at_period_end is False
    sub = sdk.v1.subscriptions.update(sub_id, params={
        "cancel_at_period_end": True, "cancellation_details": {"feedback": "too_expensive", "comment": "Rent went up"},
    })
    assert sub.cancellation_details is not None
    assert (sub.cancellation_details.feedback, sub.cancellation_details.comment) == ("too_expensive", "Rent went up")
    resumed = sdk.v1.subscriptions.update(sub_id, params={"cancel_at_period_end": False})
    assert resumed.cancellation_details is not None and resumed.cancellation_details.feedback is None


def test_price_change_applies_from_next_renewal(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    clock, _, sub_id = _member_on_clock(sdk, srv, "4242424242424242")
    sub = sdk.v1.subscriptions.retrieve(sub_id)
    item = sub["items"].data[0]
    sdk.v1.subscriptions.update(
        sub_id,
        params={
            "proration_behavior": "none",
            "items": [
                {
                    "id": item.id,
                    "price_data": {
                        "currency": "eur",
                        "product": str(item.price.product),
                        "unit_amount": 800,
                        "recurring": {"interval": "month"},
                    },
                }
            ],
        },
    )
    assert len(sdk.v1.invoices.list(params={"subscription": sub_id}).data) == 1
    sdk.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": START + 32 * DAY})
    assert sdk.v1.invoices.list(params={"subscription": sub_id}).data[0].amount_paid == 800


def test_delete_subscription_cancels_now(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    _, _, sub_id = _member_on_clock(sdk, srv, "4242424242424242")
    canceled = sdk.v1.subscriptions.cancel(sub_id)
    assert canceled.status == "canceled" and canceled.ended_at == START
    assert srv.state.events("customer.subscription.deleted")[0]["data"]["object"]["id"] == sub_id
    assert sdk.v1.subscriptions.list(params={"customer": str(canceled.customer)}).data == []


def test_refunds_partial_full_and_over_refund(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    session = sdk.v1.checkout.sessions.create(params=payment_params())  # type: ignore[arg-type]
    assert srv.pay_checkout(session.id).ok
    pi = str(sdk.v1.checkout.sessions.retrieve(session.id).payment_intent)
    partial = sdk.v1.refunds.create(params={"payment_intent": pi, "amount": 300, "reason": "requested_by_customer"})
    assert (partial.status, partial.amount) == ("succeeded", 300)
    charge = sdk.v1.charges.retrieve(str(partial.charge))
    assert (charge.amount_refunded, charge.refunded) == (300, False)
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sdk.v1.refunds.create(params={"charge": charge.id, "amount": 800})
    assert (excinfo.value.code, excinfo.value.param) == ("amount_too_large", "amount")
    sdk.v1.refunds.create(params={"charge": charge.id})
    charge = sdk.v1.charges.retrieve(charge.id)
    assert (charge.amount_refunded, charge.refunded) == (1000, True)
    with pytest.raises(stripe.InvalidRequestError) as excinfo:
        sdk.v1.refunds.create(params={"charge": charge.id})
    assert excinfo.value.code == "charge_already_refunded"
    refunded = srv.state.events("charge.refunded")
    assert [e["data"]["object"]["amount_refunded"] for e in refunded] == [300, 1000]
    assert refunded[0]["data"]["previous_attributes"]["amount_refunded"] == 0
    assert len(srv.state.events("refund.created")) == 2


def test_real_time_subscriptions_renew_on_the_tick(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    session = sdk.v1.checkout.sessions.create(params=subscription_params())  # type: ignore[arg-type]
    assert srv.pay_checkout(session.id).ok
    sub = srv.state.find("subscription")[0]
    sub["items"]["data"][0]["current_period_end"] = srv.double.now() - 1
    srv.tick()
    assert sub["status"] == "active"
    assert srv.state.events("invoice.paid")[-1]["data"]["object"]["billing_reason"] == "subscription_cycle"


def test_dashboard_invoice_page_and_clock_form(sdk: stripe.StripeClient, srv: DoubleServer, pages: FlaskClient) -> None:
    clock, _, sub_id = _member_on_clock(sdk, srv, "4242424242424242")
    dashboard = pages.get("/").get_data(as_text=True)
    assert sub_id in dashboard and "Advance 1 month" in dashboard
    assert pages.post(f"/_double/test_clocks/{clock}/advance", data={"months": "1"}).status_code == 303
    assert sdk.v1.test_helpers.test_clocks.retrieve(clock).frozen_time == START + 31 * DAY
    invoice = sdk.v1.invoices.list(params={"subscription": sub_id}).data[0]
    assert invoice.hosted_invoice_url is not None
    page = pages.get(invoice.hosted_invoice_url.removeprefix(srv.url)).get_data(as_text=True)
    assert "€5.00" in page and "paid" in page


def test_demo_clock_puts_checkout_customers_on_one_shared_clock() -> None:
    from stripe_double import DoubleConfig, DoubleServer

    with DoubleServer(DoubleConfig(demo_clock=True)) as srv:
        client = stripe.StripeClient("sk_test_demo", base_addresses={"api": srv.url})
        customers = []
        for email in ("a@example.org", "b@example.org"):
            session = client.v1.checkout.sessions.create({
                "mode": "subscription", "customer_email": email, "success_url": "https://x.example/ok",
                "line_items": [{"quantity": 1, "price_data": {"currency": "eur", "unit_amount": 500,
                                "product_data": {"name": "Membership"}, "recurring": {"interval": "month"}}}],
            })
            assert srv.pay_checkout(session.id, email=email).ok
            customers.append(client.v1.checkout.sessions.retrieve(session.id).customer)
        clocks = {client.v1.customers.retrieve(str(c)).test_clock for c in customers}
        assert len(clocks) == 1 and None not in clocks
        clock = client.v1.test_helpers.test_clocks.retrieve(str(clocks.pop()))
        srv.advance_clock(clock.id, clock.frozen_time + 32 * 86400)
        renewals = [i for i in srv.state.all("invoice") if i["billing_reason"] == "subscription_cycle"]
        assert len(renewals) == 2 and all(i["status"] == "paid" for i in renewals)


def test_an_open_invoice_paid_out_of_band_or_by_card(sdk: stripe.StripeClient, srv: DoubleServer) -> None:
    clock, _, sub_id = _member_on_clock(sdk, srv, "4000000000000341")
    sdk.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": START + 31 * DAY + 60})
    failed = srv.state.events("invoice.payment_failed")[-1]["data"]["object"]
    paid = sdk.v1.invoices.pay(failed["id"], params={"paid_out_of_band": True})
    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", 500, 0)
    assert sdk.v1.invoice_payments.list(params={"invoice": failed["id"]}).data == []  # no PaymentIntent
    assert [e["data"]["object"]["id"] for e in srv.state.events("invoice.paid")][-1] == failed["id"]
    assert not [e for e in srv.state.events("invoice.payment_succeeded") if e["data"]["object"]["id"] == failed["id"]]
    assert sdk.v1.subscriptions.retrieve(sub_id).status == "active"
    with pytest.raises(stripe.InvalidRequestError) as refused:
        sdk.v1.invoices.pay(failed["id"])
    assert refused.value.code == "invoice_not_open"
    # The next renewal fails again; paying it with the card on file (which fails later) is declined.
    sdk.v1.test_helpers.test_clocks.advance(clock, params={"frozen_time": START + 62 * DAY + 60})
    second = sdk.v1.invoices.retrieve(srv.state.events("invoice.payment_failed")[-1]["data"]["object"]["id"])
    with pytest.raises(stripe.CardError):
        sdk.v1.invoices.pay(second.id)
    assert sdk.v1.invoices.retrieve(second.id).attempt_count == second.attempt_count + 1
