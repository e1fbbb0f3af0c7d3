"""A reader gives through the browser: our give form → the double's hosted checkout → our thanks page."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from membership.db import db
from membership.giving.models import (
    CheckoutStatus,
    Membership,
    MembershipStatus,
    Payment,
    PaymentKind,
    PaymentStatus,
)
from stripe_double import DoubleServer
from tests.support.browser import (
    CARD_3DS,
    CARD_DECLINED,
    CARD_FAILS_LATER,
    CARD_OK,
    EMAIL,
    NAME,
    choose_gift,
    continue_to_payment,
    expect_thanks,
    latest_checkout,
    pay_with_card,
)
from tests.support.giving import MONTH, advance, clock_customer, settle
from tests.support.helpers import count
from tests.support.servers import LiveServer

pytestmark = pytest.mark.browser

AUTH_FAILED = (
    "We are unable to authenticate your payment method. Please choose a different payment method and try again."
)


def only_payment() -> Payment:
    db.session.rollback()
    return db.session.scalars(sa.select(Payment)).one()


def test_ten_euros_once_with_a_card_that_works(page: Page, double: DoubleServer, live_app: LiveServer) -> None:
    page.goto("/give")
    choose_gift(page, frequency="Once", amount="10")
    continue_to_payment(page, double)
    checkout = latest_checkout()
    assert page.url == f"{double.url}/c/pay/{checkout.stripe_session_id}"
    expect(page.get_by_text("€10.00", exact=True)).to_be_visible()
    expect(page.get_by_label("Email")).to_have_value(EMAIL)

    pay_with_card(page, CARD_OK)

    expect_thanks(page, live_app, f"Thank you, {NAME}: €10.00")
    assert page.url == f"{live_app.url}/give/thanks?session_id={checkout.stripe_session_id}"
    expect(page.get_by_text("Your gift is confirmed.")).to_be_visible()
    settle(double)
    payment = only_payment()
    assert (payment.kind, payment.amount_minor, payment.currency) == (PaymentKind.GIFT, 1000, "EUR")
    assert (payment.fee_minor, payment.net_minor) == (40, 960)
    assert payment.status is PaymentStatus.PAID and payment.checkout_id == checkout.id
    assert latest_checkout().status is CheckoutStatus.COMPLETED


def start_monthly_membership(page: Page, double: DoubleServer, live_app: LiveServer, card: str) -> str:
    """€5 a month for a supporter whose Stripe customer sits on a test clock; returns the clock's id."""
    clock_id, customer_id = clock_customer(double, email=EMAIL)
    page.goto("/give")
    choose_gift(page, frequency="Monthly", preset="€5.00/month")
    continue_to_payment(page, double)
    session_request = [r for r in double.requests if r["path"] == "/v1/checkout/sessions"][-1]
    assert session_request["params"]["customer"] == customer_id
    expect(page.get_by_text("€5.00 per month", exact=True)).to_be_visible()
    # The customer's email is Stripe's to show; the reader can't change it here.
    expect(page.get_by_label("Email")).to_have_value(EMAIL)
    expect(page.get_by_label("Email")).not_to_be_editable()
    pay_with_card(page, card)
    expect_thanks(page, live_app, f"Thank you, {NAME}: €5.00/month")
    expect(page.get_by_text("Your membership is active.")).to_be_visible()
    settle(double)
    return clock_id


def only_membership() -> Membership:
    db.session.rollback()
    return db.session.scalars(sa.select(Membership)).one()


def test_five_euros_monthly_renews_a_month_later(page: Page, double: DoubleServer, live_app: LiveServer) -> None:
    clock_id = start_monthly_membership(page, double, live_app, CARD_OK)
    membership = only_membership()
    assert membership.status is MembershipStatus.ACTIVE
    assert (membership.amount_minor, membership.currency, membership.interval) == (500, "EUR", "month")
    first_period_end = membership.current_period_end
    assert first_period_end is not None
    assert count(Payment) == 1

    advance(double, clock_id, MONTH)
    settle(double)

    payments = db.session.scalars(sa.select(Payment).order_by(Payment.id)).all()
    assert [(p.kind, p.amount_minor, p.status) for p in payments] == [
        (PaymentKind.MEMBERSHIP, 500, PaymentStatus.PAID),
        (PaymentKind.MEMBERSHIP, 500, PaymentStatus.PAID),
    ]
    assert {p.membership_id for p in payments} == {membership.id}
    assert payments[0].stripe_invoice_id != payments[1].stripe_invoice_id
    membership = only_membership()
    assert membership.status is MembershipStatus.ACTIVE
    assert membership.current_period_end is not None and membership.current_period_end > first_period_end


def test_card_that_fails_later_signs_up_then_goes_past_due(page: Page, double: DoubleServer,
                                                           live_app: LiveServer) -> None:
    clock_id = start_monthly_membership(page, double, live_app, CARD_FAILS_LATER)
    assert only_membership().status is MembershipStatus.ACTIVE
    assert count(Payment) == 1

    advance(double, clock_id, MONTH)
    settle(double)

    membership = only_membership()
    assert membership.status is MembershipStatus.PAST_DUE and membership.past_due_since is not None
    assert count(Payment) == 1  # the failed renewal is not a payment


def test_declined_card_shows_the_decline_then_another_card_pays(page: Page, double: DoubleServer,
                                                                live_app: LiveServer) -> None:
    page.goto("/give")
    choose_gift(page, amount="10")
    continue_to_payment(page, double)
    checkout_url = page.url

    pay_with_card(page, CARD_DECLINED)

    expect(page.get_by_role("alert")).to_have_text("Your card was declined.")
    expect(page.get_by_label("Card number")).to_have_attribute("aria-invalid", "true")
    assert page.url == checkout_url
    settle(double)
    assert count(Payment) == 0
    assert latest_checkout().status is CheckoutStatus.OPEN

    pay_with_card(page, CARD_OK)

    expect_thanks(page, live_app, f"Thank you, {NAME}: €10.00")
    settle(double)
    assert only_payment().amount_minor == 1000
    assert latest_checkout().status is CheckoutStatus.COMPLETED


def test_back_link_returns_to_the_form_with_choices_kept(page: Page, double: DoubleServer,
                                                         live_app: LiveServer) -> None:
    page.goto("/give")
    choose_gift(page, frequency="Monthly", amount="7.50")
    continue_to_payment(page, double)
    checkout_url = page.url

    page.get_by_role("link", name="Back").click()

    expect(page).to_have_url(re.compile(re.escape(f"{live_app.url}/give/cancelled?ref=")))
    notice = page.get_by_role("status").filter(has_text="Your payment was cancelled")
    expect(notice).to_have_text("Your payment was cancelled and nothing was charged. Your choices are kept below.")
    expect(page.get_by_label("Monthly", exact=True)).to_be_checked()
    expect(page.get_by_label("Other amount")).to_have_value("7.50")
    expect(page.get_by_label("Email", exact=True)).to_have_value(EMAIL)
    expect(page.get_by_label("Your name")).to_have_value(NAME)
    settle(double)
    assert latest_checkout().status is CheckoutStatus.EXPIRED
    assert count(Payment) == 0

    page.goto(checkout_url)  # the abandoned Stripe page can no longer take a payment
    expect(page.get_by_role("heading", level=1)).to_have_text("This checkout has expired")


def test_three_d_secure_failure_then_success(page: Page, double: DoubleServer, live_app: LiveServer) -> None:
    page.goto("/give")
    choose_gift(page, amount="25")
    continue_to_payment(page, double)

    pay_with_card(page, CARD_3DS)
    expect(page.get_by_role("heading", level=1)).to_have_text("3D Secure authentication")
    page.get_by_role("button", name="Fail authentication").click()

    expect(page.get_by_role("alert")).to_have_text(AUTH_FAILED)
    settle(double)
    assert count(Payment) == 0
    assert latest_checkout().status is CheckoutStatus.OPEN

    pay_with_card(page, CARD_3DS)
    page.get_by_role("button", name="Complete authentication").click()

    expect_thanks(page, live_app, f"Thank you, {NAME}: €25.00")
    settle(double)
    payment = only_payment()
    assert (payment.amount_minor, payment.status) == (2500, PaymentStatus.PAID)


def test_thanks_page_refreshes_until_the_payment_is_confirmed(page: Page, double: DoubleServer,
                                                              live_app: LiveServer) -> None:
    page.goto("/give")
    choose_gift(page, amount="10")
    continue_to_payment(page, double)
    checkout = latest_checkout()
    # The reader is back on our site before Stripe has taken the payment (a slow bank, a second tab).
    page.goto(f"/give/thanks?session_id={checkout.stripe_session_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your payment is being confirmed")
    assert count(Payment) == 0

    assert double.pay_checkout(str(checkout.stripe_session_id), card=CARD_OK, email=EMAIL).ok

    expect_thanks(page, live_app, f"Thank you, {NAME}: €10.00")  # by the page's own refresh, not ours
    settle(double)
    assert only_payment().amount_minor == 1000
