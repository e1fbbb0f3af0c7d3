"""Layout checks in the browser: realistic, awkward data (long emails, titles, URLs and amounts, many payments)
and a page's horizontal overflow, with the elements that stick out named."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask.testing import FlaskClient
from playwright.sync_api import Page, ViewportSize

from membership.db import db, utcnow
from membership.giving.campaigns import Campaign, GoalKind
from membership.giving.models import PaymentKind, PaymentStatus, WallStatus
from membership.supporters.models import Supporter
from membership.webhooks_out import EventType, WebhookEndpoint, new_secret
from stripe_double import DoubleServer
from tests.support.ballots import add_ballot
from tests.support.giving import pay, settle, start_gift
from tests.support.patrons import add_membership, add_payment, add_supporter
from tests.support.wall import add_gift

PHONE = ViewportSize(width=390, height=844)
DESKTOP = ViewportSize(width=1366, height=900)
LONG_EMAIL = "oleksandra.kovalenko-shevchenko.newsletters+membership-2026@long-subdomain.example-university.org"
LONG_TITLE = ("Our independent investigations into the reconstruction contracts of the Kyiv, Kharkiv and Odesa "
              "regions: help us fund a year of reporting")
LONG_URL = ("https://crm.example.org/integrations/membership/webhooks/receive-everything"
            "?token=abcdefghijklmnopqrstuvwxyz0123456789")
CAMPAIGN_SLUG = "reconstruction-contracts"


@dataclass(frozen=True)
class Site:
    """What the realistic data made: the ids the page paths need."""
    patron: Supporter
    ballot_id: int
    campaign_id: int
    endpoint_id: int
    payment_id: int
    membership_id: int
    thanks_path: str


def realistic_site(client: FlaskClient, double: DoubleServer) -> Site:
    """A patron with a long email, 36 payments (some in hryvnias of seven figures, some refunded), a ballot, a
    campaign with a long title, a webhook with a long URL, wall messages, and a gift paid through the double."""
    now = utcnow()
    patron = add_supporter(LONG_EMAIL, name="Oleksandra Kovalenko-Shevchenko")
    membership = add_membership(patron, amount_minor=123_456_789, currency="UAH", started_at=now - timedelta(days=1100))
    payment = None
    for month in range(36):
        paid_at = now - timedelta(days=30 * month + 1)
        if month % 3:
            payment = add_payment(patron, 123_456_789, paid_at, currency="UAH", membership=membership)
        else:
            add_payment(patron, 2_500, paid_at, kind=PaymentKind.GIFT, status=PaymentStatus.PARTIALLY_REFUNDED
                        if month % 2 else PaymentStatus.PAID, refunded_minor=1_000 if month % 2 else 0)
    assert payment is not None
    ballot = add_ballot(title=LONG_TITLE)
    add_gift("Mykola Oleksandrovych Hrushevskyi-Zaporizhzhia", wall_status=WallStatus.APPROVED,
             message="Keep going! " + "Дякуємо" * 12 + " https://www.example.org/a/very/long/link/to/an/article")
    campaign = Campaign(slug=CAMPAIGN_SLUG, title=LONG_TITLE, text="Help us.", goal_kind=GoalKind.AMOUNT,
                        goal_minor=500_000_000, goal_currency="UAH", starts_at=now - timedelta(days=1),
                        ends_at=now + timedelta(days=20), on_support_page=True,
                        matching_text="Every gift is matched by the Foundation for Independent Regional Journalism")
    endpoint = WebhookEndpoint(url=LONG_URL, description="CRM", secret=new_secret(),
                               event_types=[EventType.SUPPORTER_CREATED.value])
    db.session.add_all([campaign, endpoint])
    db.session.commit()
    checkout = start_gift(client, amount="50000", currency="UAH", email="reader@example.org",
                          name="Oleksandra Kovalenko-Shevchenko", message="For the reconstruction reporting")
    pay(double, checkout)
    settle(double)
    return Site(patron=patron, ballot_id=ballot.id, campaign_id=campaign.id, endpoint_id=endpoint.id,
                payment_id=payment.id, membership_id=membership.id,
                thanks_path=f"/give/thanks?session_id={checkout.stripe_session_id}")


def public_paths(site: Site) -> list[str]:
    return ["/", "/give", f"/give?campaign={CAMPAIGN_SLUG}", f"/give?utm_campaign={CAMPAIGN_SLUG}", "/appeal",
            f"/appeal?campaign={CAMPAIGN_SLUG}", "/supporters", "/ballots", f"/ballots/{site.ballot_id}",
            "/account/sign-in", "/staff/sign-in", site.thanks_path, "/give/thanks?session_id=cs_no_such",
            "/no-such-page", "/?lang=uk", "/give?lang=uk", f"/ballots/{site.ballot_id}?lang=uk"]


def patron_paths() -> list[str]:
    return ["/account", "/account/amount", "/account/cancel", "/account?lang=uk", "/ballots"]


def staff_paths(site: Site) -> list[str]:
    supporter = f"/staff/supporters/{site.patron.id}"
    return [
        "/staff/", "/staff/dashboard", "/staff/supporters", f"/staff/supporters?q={LONG_EMAIL[:12]}", supporter,
        f"{supporter}/export", f"{supporter}/payments/{site.payment_id}/refund",
        f"{supporter}/memberships/{site.membership_id}/cancel", "/staff/reports", "/staff/tiers", "/staff/tiers/new",
        "/staff/ballots", "/staff/ballots/new", f"/staff/ballots/{site.ballot_id}",
        f"/staff/ballots/{site.ballot_id}/edit", "/staff/ballots/suggestions", "/staff/wall", "/staff/campaigns",
        "/staff/campaigns/new", f"/staff/campaigns/{site.campaign_id}", "/staff/webhooks", "/staff/webhooks/new",
        f"/staff/webhooks/{site.endpoint_id}", "/staff/audit", "/staff/users", "/staff/account",
        "/staff/account/password", "/staff/appeal", "/staff/no-such-page", "/staff/dashboard?lang=uk",
        "/staff/supporters?lang=uk",
    ]


# The page's width against the viewport's, and the elements that stick out past its right edge: the innermost
# ones (whose children all fit), which are the cause; content inside a scrolling box is not counted.
OVERFLOW = """() => {
  const width = window.innerWidth;
  const scrolls = (el) => { for (let a = el.parentElement; a; a = a.parentElement) {
    if (getComputedStyle(a).overflowX !== "visible") return true; } return false; };
  const sticksOut = (el) => el.getBoundingClientRect().right > width + 0.5 && !scrolls(el);
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
    + Array.from(el.classList).map((c) => "." + c).join("");
  const path = (el) => { const parts = []; for (let e = el; e && e !== document.body; e = e.parentElement) {
    parts.unshift(name(e)); } return parts.slice(-4).join(" > "); };
  const culprits = Array.from(document.querySelectorAll("body *")).filter(
    (el) => sticksOut(el) && !Array.from(el.children).some(sticksOut));
  return {scrollWidth: document.documentElement.scrollWidth, width,
          culprits: culprits.slice(0, 8).map((el) => path(el) + " (right "
            + Math.round(el.getBoundingClientRect().right) + "px): " + (el.textContent || "").trim().slice(0, 50))};
}"""


def sideways_scroll(page: Page, paths: list[str]) -> list[str]:
    """Visit each path; for each page wider than the viewport, a line naming it and what sticks out."""
    found = []
    for path in paths:
        response = page.goto(path)
        assert response is not None and response.status < 500, f"{path} answered {response and response.status}"
        result = page.evaluate(OVERFLOW)
        if result["scrollWidth"] > result["width"]:
            found.append(f"{path}: {result['scrollWidth']}px wide on a {result['width']}px screen; "
                         + "; ".join(result["culprits"]))
    return found
