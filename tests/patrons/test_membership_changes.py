"""What a patron sees right after changing a membership, and the emails each change sends: the state Stripe
answers with is applied at once, its webhook later confirms it without sending anything twice, and a read of
Stripe made before a change never puts the old state back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from babel.dates import format_date
from flask.testing import FlaskClient

from membership.db import db
from membership.email import OutboundEmail
from membership.giving import events
from membership.giving.models import Membership, MembershipStatus
from membership.giving.stripe_gateway import StripeGateway, gateway
from stripe_double import DoubleServer
from tests.support.giving import events_of, settle
from tests.support.helpers import csrf_token, post_event, text
from tests.support.patrons import become_patron, sign_in
from tests.support.servers import LiveServer
from tests.support.settings import STRIPE_KEY, WEBHOOK_SECRET


@pytest.fixture
def patron(client: FlaskClient, double: DoubleServer, live_app: LiveServer) -> Iterator[Membership]:
    """Olena, a €5/month patron made through Checkout on the double, signed in on `client`."""
    membership = become_patron(client, double)
    sign_in(client, membership.supporter)
    yield membership
    settle(double)


@contextmanager
def webhooks_paused(double: DoubleServer) -> Iterator[None]:
    """Stripe's webhooks wait (at the double) until the block ends, as when they are slow to arrive."""
    double.double.dispatcher.stop()
    try:
        yield
    finally:
        double.double.dispatcher.start()


def post(client: FlaskClient, path: str, **data: str) -> Any:
    return client.post(path, data={**data, "csrf_token": csrf_token(client, "/account")})


def fresh(membership: Membership) -> Membership:
    db.session.rollback()
    found = db.session.get(Membership, membership.id, populate_existing=True)
    assert found is not None
    return found


def emails_sent() -> list[str]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(OutboundEmail.message).order_by(OutboundEmail.id)))


def day(membership: Membership) -> str:
    end = membership.current_period_end
    assert end is not None
    return f"{end.day} {end:%B %Y}"


def test_the_account_shows_each_change_at_once(client: FlaskClient, double: DoubleServer,
                                               patron: Membership) -> None:
    ends = day(patron)
    with webhooks_paused(double):
        assert post(client, "/account/cancel", reason="unused").status_code == 303
        page = text(client.get("/account"))
        assert "Your membership is cancelled" in page
        assert f"Cancels on {ends}" in page and "Resume my membership" in page and "Cancel membership" not in page
        assert fresh(patron).cancel_at_period_end is True

        assert post(client, "/account/resume").status_code == 303
        page = text(client.get("/account"))
        assert "Welcome back" in page
        assert f"Next payment</dt><dd>{ends}" in page and "Cancels on" not in page
        assert "Cancel membership" in page and "Resume my membership" not in page

        assert post(client, "/account/amount", amount="7", currency="EUR").status_code == 303
        page = text(client.get("/account"))
        assert "you'll give €7.00/month" in page
        membership_panel = page.split("Your membership")[1]
        assert "€7.00/month" in membership_panel and "€5.00/month" not in membership_panel
        assert emails_sent() == ["thank_you", "membership_cancelled", "membership_resumed"]
    settle(double)
    # The webhooks confirm what the page showed, and send nothing again.
    membership = fresh(patron)
    assert (membership.amount_minor, membership.cancel_at_period_end, membership.status) == (
        700, False, MembershipStatus.ACTIVE)
    assert emails_sent() == ["thank_you", "membership_cancelled", "membership_resumed"]


def test_a_repeated_webhook_changes_nothing(client: FlaskClient, double: DoubleServer, patron: Membership) -> None:
    assert post(client, "/account/cancel").status_code == 303
    settle(double)
    before = emails_sent()
    for event in events_of(double, "customer.subscription.updated"):
        again = dict(event, id=f"{event['id']}_again")
        assert post_event(client, again, WEBHOOK_SECRET).status_code == 200
    assert fresh(patron).cancel_at_period_end is True
    assert emails_sent() == before == ["thank_you", "membership_cancelled"]


def test_a_read_from_before_a_change_never_undoes_it(client: FlaskClient, double: DoubleServer,
                                                    patron: Membership) -> None:
    # A webhook asked Stripe for the subscription just before the patron cancelled, and writes just after.
    with webhooks_paused(double):
        stale = events.read_subscription(gateway(), patron.stripe_subscription_id)
        assert stale.subscription["cancel_at_period_end"] is False
        assert post(client, "/account/cancel").status_code == 303
        db.session.rollback()
        events.apply_subscription(db.session(), stale.subscription, read_at=stale.read_at)
        db.session.commit()
        assert fresh(patron).cancel_at_period_end is True
        assert f"Cancels on {day(patron)}" in text(client.get("/account"))
        # A read made after the change is applied as usual.
        later = events.read_subscription(gateway(), patron.stripe_subscription_id)
        events.apply_subscription(db.session(), later.subscription, read_at=later.read_at)
        db.session.commit()
        assert fresh(patron).stripe_read_at == later.read_at
    assert emails_sent() == ["thank_you", "membership_cancelled"]


def test_resuming_sends_an_email(client: FlaskClient, double: DoubleServer, patron: Membership) -> None:
    post(client, "/account/cancel")
    post(client, "/account/resume")
    settle(double)
    db.session.rollback()
    resumed = db.session.scalars(sa.select(OutboundEmail).where(OutboundEmail.message == "membership_resumed")).one()
    assert resumed.to_address == "olena@example.org" and resumed.status == "sent"
    assert resumed.subject == "Your membership of Kyiv Independent Test continues"
    assert "Your €5.00/month membership of Kyiv Independent Test continues" in resumed.body_text
    renews_on = format_date(fresh(patron).current_period_end, format="long", locale="en")
    assert f"It renews on {renews_on}, and then as before until you cancel it." in resumed.body_text
    assert emails_sent() == ["thank_you", "membership_cancelled", "membership_resumed"]


def test_a_failed_change_sends_nothing(client: FlaskClient, double: DoubleServer, patron: Membership) -> None:
    post(client, "/account/cancel")
    settle(double)
    client.application.extensions["stripe_gateway"] = StripeGateway(STRIPE_KEY, api_base="http://127.0.0.1:9",
                                                                    timeout_seconds=1)
    assert post(client, "/account/resume").status_code == 503
    assert fresh(patron).cancel_at_period_end is True
    assert emails_sent() == ["thank_you", "membership_cancelled"]
