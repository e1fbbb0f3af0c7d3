"""Self-service through Stripe (the double): change the amount, cancel with a reason, resume, the Billing
Portal and the payment-failed email's fix-card link. Every change is confirmed by webhooks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership.db import db, utcnow
from membership.giving.models import Membership, MembershipStatus
from membership.giving.stripe_gateway import StripeGateway
from membership.installation import installation_id
from membership.patrons.models import ChangeKind, MembershipChange
from membership.supporters.models import Supporter
from membership.supporters.tokens import SignInToken, TokenPurpose, issue_token
from stripe_double import DoubleServer
from tests.support.giving import settle
from tests.support.helpers import count, csrf_token, text
from tests.support.patrons import add_membership, add_supporter, become_patron, sign_in, subscription_posts
from tests.support.servers import LiveServer
from tests.support.settings import STRIPE_KEY


@pytest.fixture
def patron(client: FlaskClient, double: DoubleServer, live_app: LiveServer) -> Iterator[Membership]:
    """Olena, a €5/month patron made through Checkout on the double, signed in on `client`."""
    membership = become_patron(client, double)
    sign_in(client, membership.supporter)
    yield membership
    # Let the webhooks a test's change caused finish before the live app and its database go away.
    settle(double)


def fresh(membership: Membership) -> Membership:
    db.session.rollback()
    found = db.session.get(Membership, membership.id, populate_existing=True)
    assert found is not None
    return found


def post(client: FlaskClient, path: str, **data: str) -> Any:
    return client.post(path, data={**data, "csrf_token": csrf_token(client, "/account")})


def test_change_amount_from_the_next_payment(client: FlaskClient, double: DoubleServer, patron: Membership) -> None:
    form = client.get("/account/amount")
    assert form.status_code == 200
    assert "You give €5.00/month" in text(form) and "between €1.00 and €10,000.00" in text(form)
    response = post(client, "/account/amount", amount="7", currency="EUR")
    assert response.status_code == 303 and response.headers["Location"] == "/account"

    change = db.session.scalars(sa.select(MembershipChange)).one()
    assert (change.kind, change.old_amount_minor, change.new_amount_minor) == (ChangeKind.AMOUNT, 500, 700)
    [update] = subscription_posts(double)
    assert update["path"] == f"/v1/subscriptions/{patron.stripe_subscription_id}"
    assert update["idempotency_key"] == f"{installation_id(db.session())}-membership-change-{change.id}"
    assert update["params"]["proration_behavior"] == "none"
    [item] = update["params"]["items"]
    assert item["price_data"]["unit_amount"] == "700" and item["price_data"]["currency"] == "eur"
    assert item["price_data"]["recurring"] == {"interval": "month"}

    settle(double)
    membership = fresh(patron)
    assert membership.amount_minor == 700 and membership.status is MembershipStatus.ACTIVE
    assert membership.current_period_end == patron.current_period_end
    page = text(client.get("/account"))
    day = f"{patron.current_period_end.day} {patron.current_period_end:%B %Y}"  # type: ignore[union-attr]
    assert f"Done. From {day} you'll give €7.00/month. Nothing is charged now." in page
    assert "€7.00/month" in page.split("Your membership")[1]


@pytest.mark.parametrize(("typed", "minor"), [("1 000", 100_000), ("1.000,50", 100_050), ("7,50", 750),
                                             ("\uff17", 700)])
def test_change_amount_reads_separators_as_the_give_form_does(client: FlaskClient, double: DoubleServer,
                                                               patron: Membership, typed: str, minor: int) -> None:
    response = post(client, "/account/amount", amount=typed, currency="EUR")
    assert response.status_code == 303
    [update] = subscription_posts(double)
    assert update["params"]["items"][0]["price_data"]["unit_amount"] == str(minor)


@pytest.mark.parametrize(("data", "message"), [
    ({"amount": "0"}, "The amount must be more than zero."),
    ({"amount": "-3"}, "The amount must be more than zero."),
    ({"amount": "seven"}, "Enter the amount as a number, like 10 or 7.50."),
    ({"amount": "7.555"}, "Use at most two decimal places. For 7555, type it without a thousands separator."),
    ({"amount": "1,000"}, "Did you mean 1000 or 1,00? Type one of those, without a thousands separator."),
    ({"amount": "2.000"}, "Did you mean 2000 or 2.00? Type one of those, without a thousands separator."),
    ({"amount": "\u0667"}, "Type the amount with the digits 0 to 9."),
    ({"amount": ""}, "Enter an amount."),
    ({"amount": "0.50"}, "The smallest amount we can accept is €1.00."),
    ({"amount": "10000.01"},
     "The largest amount we can accept online is €10,000.00. For larger gifts, please write to us."),
    ({"amount": "5"}, "You already give €5.00/month."),
    ({"amount": "7", "currency": "USD"}, "Your membership is in EUR; the amount can't move to another currency."),
])
def test_change_amount_bad_input(client: FlaskClient, double: DoubleServer, patron: Membership,
                                 data: dict[str, str], message: str) -> None:
    response = post(client, "/account/amount", **{"currency": "EUR", **data})
    assert response.status_code == 400
    body = text(response)
    assert f'<p class="field-error" id="amount-error">\n      <span>{message}</span>' in body
    assert 'aria-invalid="true"' in body and "Please check the form" in body
    assert subscription_posts(double) == [] and count(MembershipChange) == 0
    assert fresh(patron).amount_minor == 500


def test_change_amount_without_an_active_membership(client: FlaskClient, double: DoubleServer) -> None:
    olena = add_supporter()
    add_membership(olena, MembershipStatus.CANCELED, ended_at=utcnow())
    sign_in(client, olena)
    response = post(client, "/account/amount", amount="7", currency="EUR")
    assert response.status_code == 400
    assert "You have no active membership whose amount can change." in text(response)
    assert 'id="amount-error"' in text(response)
    assert subscription_posts(double) == [] and count(MembershipChange) == 0


def test_change_amount_in_a_currency_no_longer_offered(app: Flask, client: FlaskClient, double: DoubleServer) -> None:
    olena = add_supporter()
    add_membership(olena, currency="CHF")
    sign_in(client, olena)
    response = post(client, "/account/amount", amount="7", currency="CHF")
    assert response.status_code == 400
    assert "Amounts in CHF can't be changed online" in text(response)
    assert subscription_posts(double) == []


def test_cancel_with_a_reason_then_resume(client: FlaskClient, double: DoubleServer, patron: Membership) -> None:
    page = client.get("/account/cancel")
    assert "stays active until" in text(page) and "It's too expensive for me right now" in text(page)
    response = post(client, "/account/cancel", reason="too_expensive", comment="  Rent went up.  ")
    assert response.status_code == 303 and response.headers["Location"] == "/account"

    change = db.session.scalars(sa.select(MembershipChange)).one()
    assert (change.kind, change.reason, change.comment) == (ChangeKind.CANCEL, "too_expensive", "Rent went up.")
    [update] = subscription_posts(double)
    assert update["idempotency_key"] == f"{installation_id(db.session())}-membership-change-{change.id}"
    assert update["params"] == {"cancel_at_period_end": "true",
                                "cancellation_details": {"feedback": "too_expensive", "comment": "Rent went up."}}
    settle(double)
    membership = fresh(patron)
    assert membership.cancel_at_period_end is True and membership.status is MembershipStatus.ACTIVE
    assert (membership.cancel_reason, membership.cancel_comment) == ("too_expensive", "Rent went up.")
    subscription = double.state.get(patron.stripe_subscription_id, "subscription")
    assert subscription is not None and subscription["cancellation_details"]["feedback"] == "too_expensive"
    day = f"{patron.current_period_end.day} {patron.current_period_end:%B %Y}"  # type: ignore[union-attr]
    account = text(client.get("/account"))
    assert f"Cancels on {day}" in account and "Resume my membership" in account
    assert f"Your membership is cancelled: it stays active until {day}" in account

    again = post(client, "/account/cancel", reason="other")
    assert again.status_code == 400 and "no membership that can be cancelled" in text(again)

    response = post(client, "/account/resume")
    assert response.status_code == 303
    resume = db.session.scalars(sa.select(MembershipChange).where(MembershipChange.kind == ChangeKind.RESUME)).one()
    last = subscription_posts(double)[-1]
    assert last["params"] == {"cancel_at_period_end": "false"}
    assert last["idempotency_key"] == f"{installation_id(db.session())}-membership-change-{resume.id}"
    settle(double)
    membership = fresh(patron)
    assert membership.cancel_at_period_end is False and membership.cancel_reason == ""
    account = text(client.get("/account"))
    assert "Welcome back: your membership continues" in account and "Cancels on" not in account
    assert f"Next payment</dt><dd>{day}" in account


def test_cancel_without_a_reason(client: FlaskClient, double: DoubleServer, patron: Membership) -> None:
    assert post(client, "/account/cancel", reason="", comment="").status_code == 303
    [update] = subscription_posts(double)
    assert update["params"] == {"cancel_at_period_end": "true"}


def test_cancel_with_an_unknown_reason(client: FlaskClient, double: DoubleServer, patron: Membership) -> None:
    response = post(client, "/account/cancel", reason="bored")
    assert response.status_code == 400 and "Not a valid choice." in text(response)
    assert subscription_posts(double) == [] and count(MembershipChange) == 0


def test_resume_with_nothing_to_resume(client: FlaskClient, double: DoubleServer, patron: Membership) -> None:
    response = post(client, "/account/resume")
    assert response.status_code == 303
    assert "You have no cancelled membership that can be resumed." in text(client.get("/account"))
    assert subscription_posts(double) == []


def test_stripe_unavailable_changes_nothing(app: Flask, client: FlaskClient, double: DoubleServer,
                                           patron: Membership) -> None:
    app.extensions["stripe_gateway"] = StripeGateway(STRIPE_KEY, api_base="http://127.0.0.1:9", timeout_seconds=1)
    for path, data in (("/account/cancel", {"reason": "unused"}), ("/account/amount", {"amount": "9"}),
                       ("/account/portal", {})):
        response = post(client, path, currency="EUR", **data)
        assert response.status_code == 503, path
        assert "Nothing was changed and nothing was charged." in text(response)
    assert count(MembershipChange) == 0
    membership = fresh(patron)
    assert (membership.cancel_reason, membership.amount_minor, membership.cancel_at_period_end) == ("", 500, False)
    assert client.get("/account").status_code == 200


def test_portal_opens_stripe_and_returns_to_the_account(app: Flask, client: FlaskClient, double: DoubleServer,
                                                       patron: Membership) -> None:
    response = post(client, "/account/portal")
    assert response.status_code == 303
    assert response.headers["Location"].startswith(f"{double.portal_url}/p/session/bps_")
    [request] = [r for r in double.requests if r["path"] == "/v1/billing_portal/sessions"]
    assert request["params"] == {"customer": patron.supporter.stripe_customer_id, "locale": "en",
                                 "return_url": f"{app.config['PUBLIC_URL']}/account"}
    post(client, "/account/portal", update_card="1")
    card_request = [r for r in double.requests if r["path"] == "/v1/billing_portal/sessions"][-1]
    assert card_request["params"]["flow_data"] == {"type": "payment_method_update"}


def test_portal_without_any_payment(client: FlaskClient, double: DoubleServer) -> None:
    sign_in(client, add_supporter())
    response = post(client, "/account/portal")
    assert response.status_code == 303 and response.headers["Location"] == "/account"
    assert "nothing to manage at Stripe" in text(client.get("/account"))


def test_fix_card_link(app: Flask, client: FlaskClient, double: DoubleServer, live_app: LiveServer) -> None:
    membership = become_patron(client, double)
    supporter = db.session.get(Supporter, membership.supporter_id)
    assert supporter is not None
    token = issue_token(db.session(), supporter, TokenPurpose.FIX_CARD, timedelta(days=7))
    db.session.commit()
    reader = app.test_client()
    path = f"/account/fix-card/{token}"
    for _ in range(2):  # opening the link (or a scanner prefetching it) uses nothing up
        page = reader.get(path)
        assert page.status_code == 200 and "Update my card" in text(page) and "olena@example.org" in text(page)
    assert [r for r in double.requests if r["path"] == "/v1/billing_portal/sessions"] == []
    response = reader.post(path, data={"csrf_token": csrf_token(reader, path)})
    assert response.status_code == 303
    assert response.headers["Location"].startswith(f"{double.portal_url}/p/session/bps_")
    [request] = [r for r in double.requests if r["path"] == "/v1/billing_portal/sessions"]
    assert request["params"]["flow_data"] == {"type": "payment_method_update"}
    assert request["params"]["return_url"] == f"{app.config['PUBLIC_URL']}/account"
    assert reader.get("/account").status_code == 200  # signed in
    db.session.rollback()
    assert db.session.scalars(sa.select(SignInToken)).one().used_at is not None
    reused = app.test_client().get(path)
    assert reused.status_code == 400 and "already been used" in text(reused)
    assert app.url_map.bind("x").build("patrons.fix_card", {"token": "abc"}) == "/account/fix-card/abc"


def test_fix_card_link_keeps_working_while_stripe_is_down(app: Flask, client: FlaskClient,
                                                           double: DoubleServer) -> None:
    supporter = add_supporter(stripe_customer_id="cus_missing")
    token = issue_token(db.session(), supporter, TokenPurpose.FIX_CARD, timedelta(days=7))
    db.session.commit()
    path = f"/account/fix-card/{token}"
    app.extensions["stripe_gateway"] = StripeGateway(STRIPE_KEY, api_base="http://127.0.0.1:9", timeout_seconds=1)
    response = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert response.status_code == 503
    assert client.get("/account").status_code == 302
    db.session.rollback()
    assert db.session.scalars(sa.select(SignInToken)).one().used_at is None


def test_expired_fix_card_link(client: FlaskClient) -> None:
    supporter = add_supporter(stripe_customer_id="cus_olena")
    token = issue_token(db.session(), supporter, TokenPurpose.FIX_CARD, timedelta(days=7))
    db.session.execute(sa.update(SignInToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    response = client.get(f"/account/fix-card/{token}")
    assert response.status_code == 400 and "This link has expired" in text(response)


@pytest.mark.postgres_only
@pytest.mark.parametrize(("path", "data", "method"), [
    ("/account/cancel", {"reason": "too_expensive"}, "set_cancel_at_period_end"),
    ("/account/amount", {"amount": "7", "currency": "EUR"}, "change_subscription_amount"),
])
def test_the_supporter_is_locked_before_stripe_is_asked_for_a_change(
        client: FlaskClient, double: DoubleServer, patron: Membership, monkeypatch: pytest.MonkeyPatch,
        path: str, data: dict[str, str], method: str) -> None:
    """The webhook Stripe sends for the change locks the supporter, then the membership. The patron's request
    must hold the supporter's lock before it asks Stripe (and so before the webhook can take it), or the two
    deadlock: seen as PostgreSQL cancelling one of them when the double's webhook came fast."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's (SQLite locks the whole database)")
    seen: list[str] = []
    original = getattr(StripeGateway, method)
    other = sa.create_engine(db.engine.url)

    def asked(self: StripeGateway, *args: Any, **kwargs: Any) -> Any:
        with other.connect() as connection:
            try:
                connection.execute(sa.text("SELECT id FROM supporters WHERE id = :id FOR UPDATE NOWAIT"),
                                   {"id": patron.supporter_id})
                seen.append("free")
            except sa.exc.OperationalError:
                seen.append("locked")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(StripeGateway, method, asked)
    try:
        response = post(client, path, **data)
    finally:
        other.dispose()
    assert response.status_code == 303
    assert seen == ["locked"]
