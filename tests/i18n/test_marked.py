"""Every string a person reads is marked for translation.

The pages are rendered in a pseudo-locale (tests/support/i18n.py) whose catalog wraps each marked string in
⟦…⟧; any word left outside the brackets is text no translator will ever see. Values the database holds
(names, titles, messages, the newsroom's name) and what formats produce (amounts, dates) may stand unwrapped.

Every GET route of the app is visited, as a reader, a signed-in patron and an admin, so a new page is covered
the day it is added (a route this test can't fill in fails it until it learns how).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership.db import db, utcnow
from membership.demo import seed_demo
from membership.giving.campaigns import Campaign, GoalKind
from membership.giving.models import Membership, PaymentKind, Tier
from membership.giving.services import currency_rules
from membership.money import FeeRule
from membership.staff.accounts.models import Role
from membership.staff.accounts.services import create_staff
from membership.supporters.models import Supporter
from membership.supporters.tokens import TokenPurpose, issue_token
from membership.webhooks_out import WebhookEndpoint, new_secret
from stripe_double import DoubleServer
from tests.support.i18n import PSEUDO, unmarked_html
from tests.support.i18n import pseudo_app as make_pseudo_app
from tests.support.patrons import add_membership, add_payment, sign_in
from tests.support.staff import PASSWORD, sign_in_as

# Routes that are not pages a person reads (files, machine endpoints) or are development-only tools.
NOT_PAGES = {"static", "giving.quote", "outbox.index", "outbox.show", "outbox.html_part",
             "staff_reports.download", "staff_supporters.export"}
URL_VALUE = re.compile(r"<(?:\w+:)?(\w+)>")


@pytest.fixture
def pseudo_app(database_uri: str, double: DoubleServer, live_port: int, tmp_path: Path) -> Iterator[Flask]:
    with make_pseudo_app(database_uri, double.url, live_port, tmp_path) as app:
        yield app


class World:
    """One of everything a page can show, and the values the database holds (allowed to stand unwrapped)."""

    def __init__(self, app: Flask) -> None:
        session = db.session()
        seed_demo(session, utcnow(), {code: FeeRule(140, 25) for code in currency_rules()})
        self.staff, _ = create_staff(session, "admin@example.org", Role.ADMIN, name="Ada Admin", password=PASSWORD)
        session.commit()
        self.patron = db.session.scalars(sa.select(Supporter).join(Membership).where(
            Membership.status == "active").limit(1)).first() or Supporter(email="x@example.org")
        self.patron.locale = PSEUDO
        db.session.commit()
        self.membership = db.session.scalars(
            sa.select(Membership).where(Membership.supporter_id == self.patron.id)).first() or add_membership(
            self.patron)
        self.payment = add_payment(self.patron, 500, utcnow() - timedelta(days=3), kind=PaymentKind.MEMBERSHIP,
                                   membership=self.membership)
        hook = WebhookEndpoint(url="https://crm.example/hooks", description="CRM", secret=new_secret(),
                               event_types=["supporter.created"])
        campaign = Campaign(slug="winter", title="Winter fund", goal_kind=GoalKind.AMOUNT, goal_minor=100_000,
                            goal_currency="EUR", starts_at=utcnow() - timedelta(days=1),
                            ends_at=utcnow() + timedelta(days=9), on_support_page=True)
        session.add_all([hook, campaign])
        self.fix_card = issue_token(session, self.patron, TokenPurpose.FIX_CARD, timedelta(days=3))
        self.sign_in = issue_token(session, self.patron, TokenPurpose.SIGN_IN, timedelta(minutes=15))
        session.commit()
        self.values = {
            "supporter_id": self.patron.id, "membership_id": self.membership.id, "payment_id": self.payment.id,
            "ballot_id": _first(sa.select(sa.text("id")).select_from(sa.table("ballots"))),
            "tier_id": _first(sa.select(Tier.id)), "user_id": self.staff.id,
            "job_id": 0, "endpoint_id": hook.id, "campaign_id": campaign.id, "year": utcnow().year,
        }
        self.allowed = _database_text()

    def url(self, rule: str, endpoint: str) -> str | None:
        path = rule
        for name in URL_VALUE.findall(rule):
            if name == "token":
                value: Any = self.fix_card if endpoint == "patrons.fix_card" else self.sign_in
            elif name in self.values:
                value = self.values[name]
            else:
                return None
            path = URL_VALUE.sub(str(value), path, count=1)
        return path


def _first(query: Any) -> int:
    return int(db.session.scalar(query.limit(1)) or 0)


def _database_text() -> list[str]:
    """Every short text the database holds: names, emails, titles, messages, slugs."""
    values: list[str] = []
    for table in db.metadata.sorted_tables:
        columns = [column for column in table.columns if isinstance(column.type, sa.String | sa.Text)]
        if columns:
            for row in db.session.execute(sa.select(*columns)):
                values += [str(value) for value in row if value]
    return values


def _routes(app: Flask) -> list[tuple[str, str]]:
    return sorted((rule.rule, rule.endpoint) for rule in app.url_map.iter_rules()
                  if "GET" in (rule.methods or ()) and rule.endpoint not in NOT_PAGES)


def _visit(client: FlaskClient, path: str, world: World, newsroom: list[str]) -> list[str]:
    response = client.get(f"{path}{'&' if '?' in path else '?'}lang={PSEUDO}", follow_redirects=True)
    if response.mimetype != "text/html":
        return []
    return [f"{path}: {text}" for text in unmarked_html(response.get_data(as_text=True),
                                                          [*world.allowed, *newsroom])]


def test_every_page_marks_every_string_it_shows(pseudo_app: Flask) -> None:
    world = World(pseudo_app)
    newsroom = [pseudo_app.config["NEWSROOM_NAME"], pseudo_app.config["NEWSROOM_ADDRESS"], "English",
                "Українська", "Esperanto", "Stripe"]
    reader, patron, staff = (pseudo_app.test_client() for _ in range(3))
    sign_in(patron, world.patron)
    sign_in_as(staff, world.staff)
    problems: list[str] = []
    unknown = []
    for rule, endpoint in _routes(pseudo_app):
        path = world.url(rule, endpoint)
        if path is None:
            unknown.append(rule)
            continue
        client = staff if rule.startswith("/staff") else patron if rule.startswith("/account") else reader
        problems += _visit(client, path, world, newsroom)
        if client is patron:
            problems += _visit(reader, path, world, newsroom)  # the signed-out version (the sign-in page)
    # Error pages, and pages whose state a plain GET doesn't reach.
    for path in ("/no-such-page", "/give/thanks", "/give/thanks?session_id=cs_test_unknown",
                 "/account/sign-in/not-a-token", "/staff/sign-in"):
        problems += _visit(reader, path, world, newsroom)
    problems += _visit(staff, "/staff/supporters/99999999", world, newsroom)
    problems += _visit(patron, "/account/statements/2001", world, newsroom)  # a year with nothing given
    assert not unknown, f"routes this test doesn't know how to fill in: {unknown}"
    assert not problems, "text not marked for translation:\n" + "\n".join(dict.fromkeys(problems))


def _post(client: FlaskClient, path: str, form: dict[str, str], world: World, newsroom: list[str],
          page: str | None = None) -> list[str]:
    """A form posted with a CSRF token taken from `page` (default: `path`), its answer checked like a page."""
    token_page = client.get(f"{page or path}?lang={PSEUDO}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', token_page)
    data = {**form, **({"csrf_token": token.group(1)} if token else {})}
    response = client.post(f"{path}?lang={PSEUDO}", data=data, follow_redirects=True)
    return [f"POST {path}: {text}" for text in unmarked_html(response.get_data(as_text=True),
                                                               [*world.allowed, *newsroom])]


def test_staff_pages_with_errors_mark_every_string(pseudo_app: Flask) -> None:
    """The staff states a GET doesn't reach: forms refused with their errors, the sign-in's error, a flash."""
    world = World(pseudo_app)
    newsroom = [pseudo_app.config["NEWSROOM_NAME"], pseudo_app.config["NEWSROOM_ADDRESS"], "English",
                "Українська", "Esperanto", "Stripe"]
    reader, staff = pseudo_app.test_client(), pseudo_app.test_client()
    sign_in_as(staff, world.staff)
    problems = _post(reader, "/staff/sign-in", {"email": "admin@example.org", "password": "wrong"}, world, newsroom)
    problems += _post(reader, "/staff/sign-in", {"email": "", "password": ""}, world, newsroom)
    tier = world.values["tier_id"]
    posts = [
        ("/staff/tiers/new", {"name": "", "monthly_EUR": "0.01", "yearly_EUR": "lots"}, None),
        (f"/staff/tiers/{tier}", {"name": ""}, None),
        ("/staff/tiers/amounts/EUR", {"eur-minimum": "x", "eur-maximum": "", "eur-once": "5, 5"}, "/staff/tiers"),
        ("/staff/ballots/new", {"title": "", "opens_at": "", "closes_at": "", "method": "approval",
                                "max_choices": "99"}, None),
        ("/staff/users", {"new-email": "not an address", "new-role": "admin"}, None),
        ("/staff/account/password", {"current": "wrong", "new": "short", "confirm": "other"}, None),
        ("/staff/account/two-factor", {"secret": "", "code": "12"}, None),
        ("/staff/account", {"locale": "xx"}, None),
        ("/staff/reports/export", {"kind": "payments", "from": "2026-13-01", "to": "", "format": "csv"},
         "/staff/reports"),
        (f"/staff/supporters/{world.patron.id}/memberships/{world.membership.id}/cancel", {"when": "", "reason": ""},
         None),
        (f"/staff/supporters/{world.patron.id}/erase", {"email": "someone@else.example"}, None),
        (f"/staff/supporters/{world.patron.id}/payments/{world.payment.id}/refund", {"amount": "99999", "seen": "0"},
         None),
        ("/staff/users/two-factor-policy", {}, "/staff/users"),  # "optional": staff may go on without it
    ]
    for path, form, page in posts:
        problems += _post(staff, path, form, world, newsroom, page)
    for path in ("/staff/dashboard?from=2026-02-30&to=2025-01-01", "/staff/dashboard?from=2026-05-01&to=2026-01-01",
                 "/staff/audit?date_from=nonsense", "/staff/audit?before=x", "/staff/supporters?first_from=2026-99-01"):
        problems += _visit(staff, path, world, newsroom)
    assert not problems, "text not marked for translation:\n" + "\n".join(dict.fromkeys(problems))


def test_the_pseudo_locale_finds_unmarked_text() -> None:
    """The check itself: unmarked words are found; marked ones, values and nested marks are not."""
    page = ("<html><body><h1>\u27e6Give\u27e7</h1><p>Plain words</p><p title='Hover text'>\u27e6Hi "
            "\u27e6Olena\u27e7\u27e7</p><p>Olena · 5,00 € · EUR</p><script>var notText = 1;</script></body></html>")
    found = unmarked_html(page, allowed=["Olena"])
    assert found == ["Hover text", "Plain words"] or sorted(found) == ["Hover text", "Plain words"]

