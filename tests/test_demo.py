"""`make run`'s demo data: a few hundred supporters with history, seeded once, and the demo admin."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from membership.db import db, utcnow
from membership.demo import seed_catalogue, seed_history, seed_preset_texts
from membership.giving.models import (
    AmountPreset,
    Checkout,
    Frequency,
    Membership,
    MembershipStatus,
    Payment,
    PaymentKind,
    PaymentStatus,
    WallStatus,
)
from membership.giving.services import currency_rules
from membership.money import FeeRule
from membership.staff.accounts.models import Role, StaffUser
from membership.supporters.models import Supporter
from membership.wall.services import wall_page
from tests.support.helpers import count, preset_tile, text
from tests.support.staff import sign_in_as


def fees() -> dict[str, FeeRule]:
    return {code: rules.fee for code, rules in currency_rules().items()}


def test_demo_history_looks_like_a_newsroom_and_is_seeded_once(app: Flask) -> None:
    now = utcnow()
    seed_catalogue(db.session())
    people, payments = seed_history(db.session(), now, fees())
    db.session.commit()
    assert people == 300 and payments == count(Payment) > 600
    assert seed_history(db.session(), now, fees()) == (0, 0)
    assert count(Supporter) == 300

    statuses = dict(db.session.execute(sa.select(Membership.status, sa.func.count()).group_by(Membership.status)).all())
    assert statuses[MembershipStatus.ACTIVE] > 50 and statuses[MembershipStatus.CANCELED] > 5
    assert db.session.scalars(sa.select(sa.func.count()).where(Membership.cancel_reason != "")).one() > 5
    kinds = set(db.session.scalars(sa.select(Payment.kind).distinct()))
    assert kinds == {PaymentKind.GIFT, PaymentKind.MEMBERSHIP}
    assert db.session.scalars(sa.select(sa.func.count()).where(Payment.status != PaymentStatus.PAID)).one() > 0
    first, last = db.session.execute(sa.select(sa.func.min(Payment.paid_at), sa.func.max(Payment.paid_at))).one()
    assert now - timedelta(days=430) < first and last <= now
    # Clearly fake Stripe ids, and fees and net as Stripe would report them.
    for payment in db.session.scalars(sa.select(Payment)):
        assert payment.stripe_payment_intent_id and payment.stripe_payment_intent_id.startswith("pi_demo_")
        assert payment.fee_minor > 0 and payment.net_minor == payment.amount_minor - payment.fee_minor
    assert all(sub.startswith("sub_demo_") for sub in db.session.scalars(sa.select(Membership.stripe_subscription_id)))
    assert db.session.scalars(sa.select(sa.func.count()).where(Checkout.source_url != "")).one() > 100
    assert db.session.scalars(sa.select(sa.func.count()).where(Checkout.utm_campaign != "")).one() > 50
    # The supporter wall has names, approved messages, one or two waiting for an editor, and anonymous givers.
    wall = wall_page(db.session(), review=True, size=1000).entries
    assert len(wall) > 150 and sum(1 for entry in wall if entry.message) > 30
    assert db.session.scalars(sa.select(sa.func.count()).where(Checkout.anonymous.is_(True))).one() > 30
    assert db.session.scalars(sa.select(sa.func.count()).where(Checkout.message != "",
                                                               Checkout.wall_status == WallStatus.PENDING)).one() > 3


def test_seed_demo_command_adds_history_and_the_demo_admin(app: Flask, tmp_path: Path) -> None:
    password_file = tmp_path / "dev-admin-password"
    password_file.write_text("0123456789abcdef0123\n")
    args = ["seed-demo", "--history", "--admin-email", "admin@example.org", "--admin-password-file", str(password_file)]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "300 demo supporters with" in result.output and "Demo admin admin@example.org: created." in result.output
    again = app.test_cli_runner().invoke(args=args)
    assert "the demo supporters were already there" in again.output and "already there." in again.output
    admin = db.session.scalars(sa.select(StaffUser)).one()
    assert admin.role is Role.ADMIN and not admin.must_change_password

    client = sign_in_as(app.test_client(), admin)
    page = client.get("/staff/dashboard").get_data(as_text=True)
    assert page.count('role="img"') >= 6


def test_demo_people_and_admin_are_refused_in_production(app: Flask, tmp_path: Path) -> None:
    app.config["MEMBERSHIP_ENV"] = "production"
    result = app.test_cli_runner().invoke(args=["seed-demo", "--history"])
    assert result.exit_code == 2 and "for development only" in result.output
    assert count(Supporter) == 0


def test_demo_presets_say_what_they_pay_for_in_both_languages_and_one_is_most_chosen(app: Flask) -> None:
    seed_catalogue(db.session())
    eur_once_50 = db.session.scalars(sa.select(AmountPreset).where(
        AmountPreset.currency == "EUR", AmountPreset.frequency == Frequency.ONCE,
        AmountPreset.amount_minor == 5000)).one()
    eur_once_50.impact = "Our own words"  # as staff wrote it: kept
    # In each of 4 currencies, 8 presets get an impact text and 3 a mark, 10 presets in all: less the one kept.
    assert seed_preset_texts(db.session()) == 39
    db.session.commit()

    client = app.test_client()
    monthly = text(client.get("/give?currency=EUR&frequency=monthly"))
    assert "The cost of one cup of coffee keeps a story free for everyone" in monthly
    assert "Funds a day of fact-checking every month" in monthly
    assert "Ціна однієї чашки кави: історія відкрита для всіх" in text(
        client.get("/give?currency=EUR&frequency=monthly&lang=uk"))
    once = text(client.get("/give?currency=EUR&frequency=once"))
    assert "Our own words" in once and "Pays for a day of fact-checking" not in once
    marked = db.session.execute(sa.select(AmountPreset.currency, AmountPreset.frequency, AmountPreset.amount_minor)
                                .where(AmountPreset.most_chosen.is_(True))).all()
    assert len(marked) == 12 and ("EUR", Frequency.MONTHLY, 500) in marked and ("UAH", Frequency.ONCE, 50000) in marked
    mark = '<span class="most-chosen">'
    assert mark in preset_tile(monthly, "5") and mark not in preset_tile(monthly, "3")

    assert seed_preset_texts(db.session()) == 0  # seeded once: a second run changes nothing
