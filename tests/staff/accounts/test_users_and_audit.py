"""Admins manage staff; the audit log records it and can't be rewritten; the authorization matrix."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership.db import current_session, db
from membership.staff.accounts.audit import AuditFilter, audit_page
from membership.staff.accounts.models import AuditEntry, Role, StaffUser
from tests.support.helpers import csrf_token, text
from tests.support.staff import sign_in_as


def count_staff() -> int:
    db.session.rollback()
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(StaffUser)) or 0)


def test_admin_adds_staff_with_a_one_time_password(staff_client: Callable[[Role], FlaskClient]) -> None:
    client = staff_client(Role.ADMIN)
    response = client.post("/staff/users", data={"new-email": "Reporter@Newsroom.example", "new-name": "Rita",
                                                 "new-role": "editor",
                                                 "new-csrf_token": csrf_token(client, "/staff/users")})
    assert response.status_code == 200
    page = text(response)
    assert "One-time password for reporter@newsroom.example" in page
    created = db.session.scalars(sa.select(StaffUser).where(StaffUser.email == "reporter@newsroom.example")).one()
    assert created.role is Role.EDITOR and created.must_change_password
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "staff.created",
                                                           AuditEntry.target_id == str(created.id))).one()
    assert entry.details == {"role": "editor"} and entry.actor.endswith("@newsroom.example>")


def test_forged_role_is_refused_and_changes_nothing(staff_client: Callable[[Role], FlaskClient]) -> None:
    client = staff_client(Role.ADMIN)
    before = count_staff()
    response = client.post("/staff/users", data={"new-email": "x@newsroom.example", "new-role": "superuser",
                                                 "new-csrf_token": csrf_token(client, "/staff/users")})
    assert response.status_code == 400 and "Not a valid choice" in text(response)
    assert count_staff() == before


def test_admin_cannot_remove_the_last_admin(client: FlaskClient, make_staff: Callable[..., StaffUser]) -> None:
    admin = make_staff(Role.ADMIN)
    sign_in_as(client, admin)
    response = client.post(f"/staff/users/{admin.id}", data={"role": "analyst", "active": "y",
                                                            "csrf_token": csrf_token(client,
                                                                                     f"/staff/users/{admin.id}")})
    assert response.status_code == 400 and "You can't remove your own admin access" in text(response)
    db.session.refresh(admin)
    assert admin.role is Role.ADMIN


def test_role_change_is_audited(client: FlaskClient, make_staff: Callable[..., StaffUser]) -> None:
    analyst = make_staff(Role.ANALYST)
    sign_in_as(client, make_staff(Role.ADMIN))
    client.post(f"/staff/users/{analyst.id}", data={"role": "editor", "active": "y",
                                                   "csrf_token": csrf_token(client, f"/staff/users/{analyst.id}")})
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "staff.updated")).one()
    assert entry.details == {"role": ["analyst", "editor"]}


def test_audit_log_is_append_only_in_the_database(app: Flask, make_staff: Callable[..., StaffUser]) -> None:
    make_staff(Role.ADMIN)
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.execute(sa.update(AuditEntry).values(action="forged"))
    db.session.rollback()
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.execute(sa.delete(AuditEntry))
    db.session.rollback()
    if db.engine.dialect.name == "postgresql":  # SQLite has no TRUNCATE
        for statement in ("TRUNCATE audit_log", "TRUNCATE staff_users CASCADE"):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                db.session.execute(sa.text(statement))
            db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == 1


def test_audit_log_filters_and_pages(staff_client: Callable[[Role], FlaskClient]) -> None:
    from membership.staff.accounts.audit import record_audit

    client = staff_client(Role.ADMIN)
    for n in range(60):
        record_audit(db.session(), None, "export.payments", actor_label="cron", rows=n)
    db.session.commit()
    first = text(client.get("/staff/audit?action=export"))
    assert first.count("export.payments") == 50 and "Older entries" in first
    # Entry 1 is the admin's own creation; the exports are 2…61, so the ten before 12 are 2…11.
    older = client.get("/staff/audit?action=export&before=12")
    assert text(older).count("export.payments") == 10
    end = client.get("/staff/audit?before=1")
    assert end.status_code == 200 and "you have reached the end of the log" in text(end)


def test_audit_page_filters_by_who_and_by_utc_days_and_pages(app: Flask) -> None:
    """The audit log's query: part of who (any case), UTC days with both ends included, newest first, a page
    at a time with the `before` of the next."""
    when = [datetime(2026, 1, 31, 23, 59, tzinfo=UTC), datetime(2026, 2, 1, 0, 0, tzinfo=UTC),
            datetime(2026, 2, 1, 23, 59, tzinfo=UTC), datetime(2026, 2, 2, 0, 0, tzinfo=UTC)]
    actors = ["Olena Koval <olena@newsroom.example>", "cron", "olena@newsroom.example", "cron"]
    entries = [AuditEntry(created_at=at, actor=actor, action="staff.signed_in")
               for at, actor in zip(when, actors, strict=True)]
    db.session.add_all(entries)
    db.session.flush()
    ids = [entry.id for entry in entries]

    def found(filters: AuditFilter, before: int | None = None, size: int = 50) -> tuple[list[int], int | None]:
        page = audit_page(current_session(), filters, before, size)
        return [entry.id for entry in page.entries], page.next_before

    assert found(AuditFilter(actor="  OLENA ")) == ([ids[2], ids[0]], None)
    assert found(AuditFilter(date_from=date(2026, 2, 1), date_to=date(2026, 2, 1))) == ([ids[2], ids[1]], None)
    assert found(AuditFilter(action="staff.", date_to=date(2026, 1, 31))) == ([ids[0]], None)
    assert found(AuditFilter(action="staff.updated")) == ([], None)
    assert found(AuditFilter(date_from=date(2026, 1, 31)), size=3) == ([ids[3], ids[2], ids[1]], ids[1])
    assert found(AuditFilter(date_from=date(2026, 1, 31)), before=ids[1], size=3) == ([ids[0]], None)


@pytest.mark.parametrize(
    "query",
    ["date_from=2026-02-01&date_to=2026-01-01", "date_from=yesterday", "before=abc"],
)
def test_audit_log_rejects_bad_filters(staff_client: Callable[[Role], FlaskClient], query: str) -> None:
    response = staff_client(Role.ADMIN).get(f"/staff/audit?{query}")
    assert response.status_code == 400


# The authorization matrix: every staff route, for anonymous, patron, analyst, editor, admin. Issues that add
# staff pages add their routes here with the permission that guards them.
STAFF_ROUTES: list[tuple[str, set[Role]]] = [
    ("/staff/", {Role.ANALYST, Role.EDITOR, Role.ADMIN}),
    ("/staff/account", {Role.ANALYST, Role.EDITOR, Role.ADMIN}),
    ("/staff/account/password", {Role.ANALYST, Role.EDITOR, Role.ADMIN}),
    ("/staff/account/two-factor", {Role.ANALYST, Role.EDITOR, Role.ADMIN}),
    ("/staff/users", {Role.ADMIN}),
    ("/staff/users/{admin_id}", {Role.ADMIN}),
    ("/staff/audit", {Role.ADMIN}),
    ("/staff/tiers", {Role.ADMIN}),
    ("/staff/tiers/new", {Role.ADMIN}),
    ("/staff/tiers/{tier_id}", {Role.ADMIN}),
    ("/staff/supporters", {Role.ANALYST, Role.ADMIN}),
    ("/staff/supporters/{supporter_id}", {Role.ANALYST, Role.ADMIN}),
    ("/staff/supporters/{supporter_id}/payments/{payment_id}/refund", {Role.ADMIN}),
    ("/staff/supporters/{supporter_id}/memberships/{membership_id}/cancel", {Role.ADMIN}),
    ("/staff/supporters/{supporter_id}/export", {Role.ADMIN}),
    ("/staff/supporters/{supporter_id}/erase", {Role.ADMIN}),
    ("/staff/dashboard", {Role.ANALYST, Role.ADMIN}),
    ("/staff/dashboard?from=2026-01-01&to=2026-03-31", {Role.ANALYST, Role.ADMIN}),
    ("/staff/reports", {Role.ANALYST, Role.ADMIN}),
    ("/staff/reports/exports/{export_id}", {Role.ANALYST, Role.ADMIN}),
    ("/staff/ballots", {Role.EDITOR, Role.ADMIN}),
    ("/staff/ballots/new", {Role.EDITOR, Role.ADMIN}),
    ("/staff/ballots/suggestions", {Role.EDITOR, Role.ADMIN}),
    ("/staff/ballots/{ballot_id}", {Role.EDITOR, Role.ADMIN}),
    ("/staff/ballots/{ballot_id}/edit", {Role.EDITOR, Role.ADMIN}),
    ("/staff/wall", {Role.EDITOR, Role.ADMIN}),
    ("/staff/appeal", {Role.ANALYST, Role.EDITOR, Role.ADMIN}),
    ("/staff/webhooks", {Role.ADMIN}),
    ("/staff/webhooks/new", {Role.ADMIN}),
    ("/staff/webhooks/{endpoint_id}", {Role.ADMIN}),
    ("/staff/campaigns", {Role.EDITOR, Role.ADMIN}),
    ("/staff/campaigns/new", {Role.EDITOR, Role.ADMIN}),
    ("/staff/campaigns/{campaign_id}", {Role.EDITOR, Role.ADMIN}),
]
EVERYONE = {Role.ANALYST, Role.EDITOR, Role.ADMIN}
# Every form a staff page posts to. Each is posted with a valid CSRF token, so what answers is the role check.
STAFF_POSTS: list[tuple[str, set[Role]]] = [
    ("/staff/account", EVERYONE),
    ("/staff/account/password", EVERYONE),
    ("/staff/account/two-factor", EVERYONE),
    ("/staff/account/recovery-codes", EVERYONE),
    ("/staff/account/two-factor/new-app", EVERYONE),
    ("/staff/account/two-factor/new-app/confirm", EVERYONE),
    ("/staff/users", {Role.ADMIN}),
    ("/staff/users/{admin_id}", {Role.ADMIN}),
    ("/staff/users/{other_id}/reset-password", {Role.ADMIN}),
    ("/staff/users/{other_id}/reset-two-factor", {Role.ADMIN}),
    ("/staff/users/two-factor-policy", {Role.ADMIN}),
    ("/staff/tiers/new", {Role.ADMIN}),
    ("/staff/tiers/{tier_id}", {Role.ADMIN}),
    ("/staff/tiers/{tier_id}/move", {Role.ADMIN}),
    ("/staff/tiers/{tier_id}/status", {Role.ADMIN}),
    ("/staff/tiers/amounts/EUR", {Role.ADMIN}),
    ("/staff/tiers/amounts/EUR/impact", {Role.ADMIN}),
    ("/staff/supporters/{supporter_id}/payments/{payment_id}/refund", {Role.ADMIN}),
    ("/staff/supporters/{supporter_id}/memberships/{membership_id}/cancel", {Role.ADMIN}),
    ("/staff/supporters/{supporter_id}/export", {Role.ADMIN}),
    ("/staff/supporters/{supporter_id}/erase", {Role.ADMIN}),
    ("/staff/reports/export", {Role.ANALYST, Role.ADMIN}),
    ("/staff/reports/ballot-results", {Role.ANALYST, Role.ADMIN}),
    ("/staff/ballots/new", {Role.EDITOR, Role.ADMIN}),
    ("/staff/ballots/{ballot_id}/edit", {Role.EDITOR, Role.ADMIN}),
    ("/staff/ballots/{ballot_id}/publish", {Role.EDITOR, Role.ADMIN}),
    ("/staff/ballots/{ballot_id}/options/{option_id}/article", {Role.EDITOR, Role.ADMIN}),
    ("/staff/ballots/suggestions/{suggestion_id}/accept", {Role.EDITOR, Role.ADMIN}),
    ("/staff/ballots/suggestions/{suggestion_id}/decline", {Role.EDITOR, Role.ADMIN}),
    ("/staff/wall/{checkout_id}/approve", {Role.EDITOR, Role.ADMIN}),
    ("/staff/wall/{checkout_id}/hide", {Role.EDITOR, Role.ADMIN}),
    ("/staff/webhooks/new", {Role.ADMIN}),
    ("/staff/webhooks/{endpoint_id}", {Role.ADMIN}),
    ("/staff/webhooks/{endpoint_id}/rotate-secret", {Role.ADMIN}),
    ("/staff/webhooks/{endpoint_id}/delete", {Role.ADMIN}),
    ("/staff/webhooks/{endpoint_id}/deliveries/{delivery_id}/resend", {Role.ADMIN}),
    ("/staff/campaigns/new", {Role.EDITOR, Role.ADMIN}),
    ("/staff/campaigns/{campaign_id}", {Role.EDITOR, Role.ADMIN}),
]
# Open to anyone: how staff get in and out.
STAFF_PUBLIC = {"/staff/sign-in", "/staff/sign-in/code", "/staff/sign-in/recovery", "/staff/sign-out"}


def route_ids(actor: StaffUser) -> dict[str, int]:
    """Rows the routes' placeholders name: a tier, a supporter with a paid checkout, a payment and a membership,
    a draft ballot with an option, a topic suggestion, and a ready queued export of `actor`'s (only its requester
    may have it)."""
    from datetime import date, timedelta
    from pathlib import Path

    from flask import current_app

    from membership.ballots.models import Ballot, BallotOption, TopicSuggestion, VotingMethod
    from membership.db import utcnow
    from membership.giving.campaigns import Campaign, GoalKind
    from membership.giving.models import (
        Checkout,
        CheckoutStatus,
        Frequency,
        Membership,
        MembershipStatus,
        Payment,
        PaymentKind,
        PaymentStatus,
        Tier,
    )
    from membership.staff.reports.models import ExportFormat, ExportJob, ExportJobStatus, ExportKind
    from membership.supporters.models import Supporter
    from membership.webhooks_out import WebhookDelivery, WebhookEndpoint, new_secret

    tier = Tier(slug="matrix", name="Matrix")
    supporter = Supporter(email="matrix@example.org", name="Mat")
    ballot = Ballot(title="What next?", opens_at=utcnow(), closes_at=utcnow() + timedelta(days=7),
                    method=VotingMethod.SINGLE)
    db.session.add_all([tier, supporter, ballot])
    db.session.flush()
    payment = Payment(supporter_id=supporter.id, kind=PaymentKind.GIFT, amount_minor=500, net_minor=455,
                      currency="EUR", status=PaymentStatus.PAID, paid_at=utcnow(), stripe_charge_id="ch_matrix")
    membership = Membership(supporter_id=supporter.id, stripe_subscription_id="sub_matrix",
                            status=MembershipStatus.ACTIVE, amount_minor=500, currency="EUR", interval="month")
    option = BallotOption(ballot_id=ballot.id, title="Schools", position=0)
    suggestion = TopicSuggestion(supporter_id=supporter.id, text="Rebuilding schools")
    directory = Path(current_app.config["MEMBERSHIP_EXPORT_DIR"])
    directory.mkdir(exist_ok=True)
    (directory / "export-matrix.csv").write_text("Supporter ID\r\n")
    export = ExportJob(staff_user_id=actor.id, kind=ExportKind.SUPPORTERS, fmt=ExportFormat.CSV,
                       first_day=date(2026, 1, 1), last_day=date(2026, 1, 31), status=ExportJobStatus.READY,
                       file_name="export-matrix.csv", row_count=0, size_bytes=14, finished_at=utcnow(),
                       expires_at=utcnow() + timedelta(days=7))
    checkout = Checkout(supporter_id=supporter.id, frequency=Frequency.ONCE, amount_minor=500, currency="EUR",
                        message="Thank you", status=CheckoutStatus.COMPLETED, completed_at=utcnow())
    endpoint = WebhookEndpoint(url="https://crm.example/hooks", secret=new_secret(), event_types=["payment.succeeded"])
    db.session.add_all([payment, membership, option, suggestion, export, checkout, endpoint])
    db.session.flush()
    delivery = WebhookDelivery(endpoint_id=endpoint.id, message_id="msg_matrix", event_type="payment.succeeded",
                               body="{}", status="failed")
    campaign = Campaign(slug="matrix", title="Matrix", goal_kind=GoalKind.PATRONS, goal_patrons=5,
                        starts_at=utcnow(), ends_at=utcnow() + timedelta(days=7))
    db.session.add_all([delivery, campaign])
    db.session.commit()
    return {"tier_id": tier.id, "supporter_id": supporter.id, "payment_id": payment.id,
            "membership_id": membership.id, "ballot_id": ballot.id, "option_id": option.id,
            "suggestion_id": suggestion.id, "export_id": export.id, "checkout_id": checkout.id,
            "endpoint_id": endpoint.id, "delivery_id": delivery.id, "campaign_id": campaign.id}


def act_as(client: FlaskClient, who: str, admin: StaffUser, make_staff: Callable[..., StaffUser]) -> StaffUser | None:
    """Make `client` anonymous, a signed-in patron, or signed in as staff of the role `who` names (returned)."""
    if who == "patron":
        from membership.supporters.models import Supporter
        from tests.support.patrons import sign_in

        supporter = Supporter(email="patron@example.org", name="Pat")
        db.session.add(supporter)
        db.session.commit()
        sign_in(client, supporter)  # through an emailed-link token, as a patron does
        assert client.get("/account").status_code == 200  # really signed in, as a patron
    elif who != "anonymous":
        role = Role(who)
        staff = admin if role is Role.ADMIN else make_staff(role)
        sign_in_as(client, staff)
        return staff
    return None


def test_the_matrices_cover_every_staff_route(app: Flask) -> None:
    """A new /staff route must be added to the authorization matrix (GET) or STAFF_POSTS (POST)."""

    def pattern(path: str) -> str:
        return re.sub(r"\{[a-z_]+\}|<[^>]+>", "<id>", path.split("?")[0]).replace("/EUR", "/<id>")

    listed = {("GET", pattern(path)) for path, _ in STAFF_ROUTES} | {("POST", pattern(path)) for path, _ in STAFF_POSTS}
    served = {(method, pattern(rule.rule)) for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/staff") and rule.rule not in STAFF_PUBLIC
              for method in (rule.methods or set()) & {"GET", "POST"}}
    assert served - listed == set()
    assert listed - served == set()


@pytest.mark.parametrize(("path", "allowed"), STAFF_ROUTES)
@pytest.mark.parametrize("who", ["anonymous", "patron", "analyst", "editor", "admin"])
def test_authorization_matrix(app: Flask, client: FlaskClient, make_staff: Callable[..., StaffUser],
                              path: str, allowed: set[Role], who: str) -> None:
    admin = make_staff(Role.ADMIN)
    actor = act_as(client, who, admin, make_staff)
    url = path.format(admin_id=admin.id, **route_ids(actor or admin))
    response = client.get(url)
    response.close()  # a download's file
    if who in ("anonymous", "patron"):
        assert response.status_code == 302 and response.headers["Location"].startswith("/staff/sign-in")
    elif Role(who) in allowed:
        assert response.status_code == 200
    else:
        assert response.status_code == 403


@pytest.mark.parametrize(("path", "allowed"), STAFF_POSTS)
@pytest.mark.parametrize("who", ["anonymous", "patron", "analyst", "editor", "admin"])
def test_authorization_matrix_for_forms(app: Flask, client: FlaskClient, make_staff: Callable[..., StaffUser],
                                        path: str, allowed: set[Role], who: str) -> None:
    """Every staff form, posted with a valid CSRF token: sign-in first, 403 for the wrong role and nothing
    audited; the right role gets past the check (the form itself answers, tested with each feature)."""
    admin = make_staff(Role.ADMIN)
    other = make_staff(Role.ANALYST)
    actor = act_as(client, who, admin, make_staff)
    url = path.format(admin_id=admin.id, other_id=other.id, **route_ids(actor or admin))
    csrf = csrf_token(client, "/staff/sign-in")
    audited = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    response = client.post(url, data={"csrf_token": csrf})
    db.session.rollback()
    if who in ("anonymous", "patron"):
        assert response.status_code == 302 and response.headers["Location"].startswith("/staff/sign-in")
    elif Role(who) in allowed:
        assert response.status_code not in (403, 500)
        assert not response.headers.get("Location", "").startswith("/staff/sign-in")
        return
    else:
        assert response.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == audited
