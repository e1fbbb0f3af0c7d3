"""Campaigns with a goal: progress counted from attributed, completed checkouts (refunds deducted, disputes left
out), shown on the support page, the give form and the appeal, and managed by editors at /staff/campaigns."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership.db import db, utcnow
from membership.giving.campaigns import Campaign, GoalKind, progress
from membership.giving.models import Checkout, CheckoutStatus, Frequency, PaymentKind, PaymentStatus
from membership.staff.accounts.models import Role
from stripe_double import DoubleServer
from tests.support.giving import pay, settle, start_gift
from tests.support.helpers import csrf_token, refreshed, text
from tests.support.reports import add_checkout, add_payment, add_supporter
from tests.support.servers import LiveServer


def _campaign(slug: str = "winter", *, goal_kind: GoalKind = GoalKind.AMOUNT, goal_minor: int | None = 100_000,
              days: int = 10, started: int = 1, on_support_page: bool = False) -> Campaign:
    now = utcnow()
    campaign = Campaign(slug=slug, title="Winter reporting fund", text="Keep our reporters on the road.",
                        goal_kind=goal_kind, goal_minor=goal_minor if goal_kind is GoalKind.AMOUNT else None,
                        goal_currency="EUR" if goal_kind is GoalKind.AMOUNT else None,
                        goal_patrons=50 if goal_kind is GoalKind.PATRONS else None,
                        starts_at=now - timedelta(days=started), ends_at=now + timedelta(days=days),
                        matching_text="Every gift is matched by the Kyiv Media Foundation.",
                        on_support_page=on_support_page)
    db.session.add(campaign)
    db.session.commit()
    return campaign


def _gift(email: str, amount: int, *, campaign: str | None = "winter", currency: str = "EUR",
          status: PaymentStatus = PaymentStatus.PAID, refunded: int = 0, completed: bool = True,
          frequency: Frequency = Frequency.ONCE) -> None:
    supporter = add_supporter(email)
    when = (utcnow() - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M")
    checkout = add_checkout(supporter, amount, currency=currency, completed=when if completed else None,
                            status=CheckoutStatus.COMPLETED if completed else CheckoutStatus.EXPIRED,
                            utm_campaign=campaign or "", frequency=frequency)
    if completed:
        add_payment(supporter, amount, when, currency=currency, status=status, refunded_minor=refunded,
                    checkout_id=checkout.id,
                    kind=PaymentKind.GIFT if frequency is Frequency.ONCE else PaymentKind.MEMBERSHIP)


def test_progress_counts_completed_attributed_gifts_with_refunds_deducted_and_disputes_left_out(app: Flask) -> None:
    campaign = _campaign()
    _gift("a@example.org", 5_000)
    _gift("b@example.org", 2_000, status=PaymentStatus.PARTIALLY_REFUNDED, refunded=500)
    _gift("c@example.org", 9_000, status=PaymentStatus.DISPUTED)
    _gift("d@example.org", 7_000, status=PaymentStatus.REFUNDED, refunded=7_000)
    _gift("e@example.org", 3_000, completed=False)  # abandoned
    _gift("f@example.org", 4_000, campaign="summer")  # another campaign
    _gift("g@example.org", 1_000, campaign=None)  # none
    _gift("h@example.org", 50_000, currency="UAH")  # counted apart
    _gift("i@example.org", 800, frequency=Frequency.MONTHLY)
    result = progress(db.session(), campaign)
    assert result.raised_minor == 5_000 + 1_500 + 800
    assert result.other_currencies == 1 and result.supporters == 4 and result.patrons == 1
    assert result.goal == 100_000 and result.percent == 7 and 9 <= result.days_left <= 10


def test_a_patrons_goal_counts_new_members(app: Flask) -> None:
    campaign = _campaign(goal_kind=GoalKind.PATRONS)
    _gift("a@example.org", 500, frequency=Frequency.MONTHLY)
    _gift("b@example.org", 5_000, frequency=Frequency.YEARLY)
    _gift("c@example.org", 500)  # a one-time gift is no patron
    result = progress(db.session(), campaign)
    assert (result.reached, result.goal, result.raised_minor) == (2, 50, 0)


def test_gifts_made_through_the_campaign_count_as_their_webhooks_arrive(
        app: Flask, client: FlaskClient, double: DoubleServer, live_app: LiveServer) -> None:
    campaign = _campaign()
    page = text(client.get("/give?campaign=winter"))
    assert "Winter reporting fund" in page and "€0.00 raised of €1,000.00" in page
    checkouts = [start_gift(client, amount=str(amount), email=f"reader{amount}@example.org",
                            utm_campaign="winter") for amount in (10, 20, 30, 40)]
    for checkout in checkouts:
        pay(double, checkout)
    settle(double)
    assert progress(db.session(), campaign).raised_minor == 10_000
    assert "€100.00 raised of €1,000.00" in text(client.get("/give?campaign=winter"))


def test_the_bar_shows_where_it_should(app: Flask, client: FlaskClient) -> None:
    _campaign(on_support_page=True)
    _campaign("ended", days=-1, started=5)
    assert "Winter reporting fund" in text(client.get("/"))
    appeal = text(client.get("/appeal?campaign=winter"))
    assert "Winter reporting fund" in appeal and "utm_campaign=winter" in appeal and "matched by" in appeal
    assert "Winter reporting fund" in text(client.get("/give?utm_campaign=winter"))
    for path in ("/give?campaign=ended", "/give?campaign=nope", "/give?campaign=%3Cscript%3E", "/appeal"):
        page = text(client.get(path))
        assert "raised of" not in page, path


def test_editors_create_and_change_campaigns_and_bad_input_changes_nothing(
        app: Flask, staff_client: Callable[[Role], FlaskClient]) -> None:
    client = staff_client(Role.EDITOR)
    form = {"title": "Frontline fund", "slug": "frontline", "text": "Why now.", "goal_kind": "amount",
            "goal_amount": "5,000", "goal_currency": "EUR", "starts_on": "2026-12-01", "ends_on": "2026-12-31"}
    for bad in ({"slug": "Front Line!"}, {"ends_on": "2026-11-30"}, {"goal_amount": ""},
                {"goal_kind": "patrons", "goal_amount": ""}, {"starts_on": "1st of December"}):
        response = client.post("/staff/campaigns/new", data={**form, **bad,
                                                             "csrf_token": csrf_token(client, "/staff/campaigns/new")})
        assert response.status_code == 422 and "error-summary" in text(response), bad
    assert db.session.scalars(sa.select(Campaign)).all() == []
    response = client.post("/staff/campaigns/new", data={**form, "goal_amount": "5000",
                                                         "csrf_token": csrf_token(client, "/staff/campaigns/new")})
    assert response.status_code == 303
    campaign = db.session.scalars(sa.select(Campaign)).one()
    assert campaign.goal_minor == 500_000 and campaign.ends_at.isoformat().startswith("2027-01-01T00:00")
    edit = f"/staff/campaigns/{campaign.id}"
    page = text(client.get(edit))
    assert 'value="2026-12-31"' in page and 'value="5000"' in page
    response = client.post(edit, data={**form, "goal_amount": "5000", "slug": "frontline", "goal_kind": "patrons",
                                       "goal_patrons": "200", "csrf_token": csrf_token(client, edit)})
    assert response.status_code == 303
    campaign = refreshed(campaign)
    assert campaign.goal_kind is GoalKind.PATRONS and campaign.goal_patrons == 200 and campaign.goal_minor is None
    other = _campaign("taken")
    response = client.post(edit, data={**form, "goal_amount": "5000", "slug": other.slug,
                                       "csrf_token": csrf_token(client, edit)})
    assert response.status_code == 422 and "Another campaign has this address name" in text(response)
    assert "campaign.created" in text(staff_client(Role.ADMIN).get("/staff/audit"))


def test_the_dashboard_shows_each_campaigns_result(app: Flask, staff_client: Callable[[Role], FlaskClient]) -> None:
    _campaign()
    _gift("a@example.org", 5_000)
    page = text(staff_client(Role.ADMIN).get("/staff/dashboard"))
    assert "Winter reporting fund" in page and "€50.00 (5%)" in page


def test_only_editors_and_admins_manage_campaigns(staff_client: Callable[[Role], FlaskClient]) -> None:
    assert staff_client(Role.ANALYST).get("/staff/campaigns").status_code == 403
    assert staff_client(Role.EDITOR).get("/staff/campaigns").status_code == 200


def test_no_campaign_is_shown_for_a_checkout_row_that_is_not_completed(app: Flask) -> None:
    campaign = _campaign()
    _gift("a@example.org", 5_000, completed=False)
    checkout = db.session.scalars(sa.select(Checkout)).one()
    assert checkout.status is not CheckoutStatus.COMPLETED and progress(db.session(), campaign).raised_minor == 0


def test_a_campaign_reads_in_the_readers_language_falling_back_to_the_default(
        client: FlaskClient, staff_client: Callable[[Role], FlaskClient]) -> None:
    campaign = _campaign(on_support_page=True)
    editor = staff_client(Role.EDITOR)
    edit = f"/staff/campaigns/{campaign.id}"
    assert "Title (Українська)" in text(editor.get(edit))
    form = {"title": campaign.title, "slug": "winter", "text": campaign.text, "goal_kind": "amount",
            "goal_amount": "1000", "goal_currency": "EUR", "matching_text": campaign.matching_text,
            "starts_on": campaign.starts_at.date().isoformat(), "ends_on": campaign.ends_at.date().isoformat(),
            "on_support_page": "y", "title_uk": "Фонд зимових репортажів",
            "text_uk": "Тримайте наших репортерів в дорозі.", "matching_text_uk": "",
            "csrf_token": csrf_token(editor, edit)}
    assert editor.post(edit, data=form).status_code == 303
    assert refreshed(campaign).translations == {"uk": {"title": "Фонд зимових репортажів",
                                                       "text": "Тримайте наших репортерів в дорозі."}}
    assert "Фонд зимових репортажів" in text(editor.get(edit))  # kept in the form

    for path in ("/?lang=uk", "/give?campaign=winter&lang=uk", "/appeal?campaign=winter&lang=uk"):
        page = text(client.get(path))
        assert "Фонд зимових репортажів" in page and "Winter reporting fund" not in page, path
        assert "matched by the Kyiv Media Foundation" in page, path  # not given in Ukrainian: the default's
    assert "Тримайте наших репортерів в дорозі." in text(client.get("/?lang=uk"))
    for path in ("/?lang=en", "/give?campaign=winter&lang=en", "/appeal?campaign=winter&lang=en"):
        assert "Winter reporting fund" in text(client.get(path)), path
