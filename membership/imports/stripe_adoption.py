"""`flask --app membership import stripe`: adopt a Stripe account's existing supporters.

For a newsroom that took payments on Stripe before this service: each customer with an email becomes a supporter
(or is linked to the supporter with that address), each running subscription becomes a membership, and the
payments they made (paid invoices, and one-time charges) are recorded with their fees, so reports, the dashboard,
the wall and ballots see the whole history.

Adopted subscriptions are ours from then on: our membership row is what makes a subscription ours (see
`giving.events.subscriptions.subscription_ownership`), so their renewals, failures and cancellations arrive by
webhook like any other. Nothing is created at Stripe and no reader is emailed (a past-due membership gets the
usual "update your card" email, as it would have on its next failure).

Idempotent: run it again and what is already here is counted as such, never duplicated. `--dry-run` does all of
it in a transaction that is rolled back, and reports what it would have done.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from membership.db import utcnow
from membership.giving.events.charges import record_payment
from membership.giving.events.shared import stripe_id
from membership.giving.events.subscriptions import apply_subscription
from membership.giving.models import Membership, Payment, PaymentKind
from membership.giving.stripe_gateway import StripeGateway
from membership.supporters.models import Supporter
from membership.supporters.services import (
    InvalidEmail,
    find_or_create_supporter,
    link_stripe_customer,
    normalise_email,
)

log = logging.getLogger(__name__)

RUNNING = ("active", "trialing", "past_due")


@dataclass
class AdoptionReport:
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        c = self.counts
        return [
            f"Customers read: {c['customers']}.",
            f"Supporters created: {c['supporters_created']}; linked to an existing supporter by email: "
            f"{c['supporters_linked']}; already ours: {c['supporters_known']}; skipped (no email): "
            f"{c['customers_without_email']}.",
            f"Memberships adopted: {c['memberships_adopted']}; already ours: {c['memberships_known']}; "
            f"subscriptions not running (left alone): {c['subscriptions_not_running']}.",
            f"Payments recorded: {c['payments_recorded']} ({c['membership_payments']} membership, "
            f"{c['gift_payments']} one-time); already recorded: {c['payments_known']}.",
            *(f"Problem: {problem}" for problem in self.problems),
        ]


def _adopt_customers(session: Session, gateway: StripeGateway, report: AdoptionReport) -> dict[str, Supporter]:
    owners: dict[str, Supporter] = {}
    for customer in gateway.list_customers():
        report.counts["customers"] += 1
        customer_id = str(customer["id"])
        known = session.scalar(select(Supporter).where(Supporter.stripe_customer_id == customer_id))
        if known is not None:
            report.counts["supporters_known"] += 1
            owners[customer_id] = known
            continue
        email = str(customer.get("email") or "").strip()
        if not email or "@" not in email:
            report.counts["customers_without_email"] += 1
            continue
        try:
            address = normalise_email(email)
        except InvalidEmail as exc:
            report.problems.append(f"customer {customer_id}: its email can't be used ({exc}); not adopted")
            continue
        existing = session.scalar(select(Supporter.id).where(Supporter.email == address))
        supporter = find_or_create_supporter(session, address, str(customer.get("name") or ""))
        if supporter.erased_at is not None:
            report.problems.append(f"customer {customer_id}: its supporter was erased; not adopted")
            continue
        link_stripe_customer(session, supporter, customer_id)
        if supporter.stripe_customer_id != customer_id:
            report.problems.append(f"customer {customer_id}: the supporter with its email already has Stripe "
                                   f"customer {supporter.stripe_customer_id}; not linked")
            continue
        report.counts["supporters_linked" if existing is not None else "supporters_created"] += 1
        owners[customer_id] = supporter
    return owners


def _adopt_subscriptions(session: Session, gateway: StripeGateway, owners: dict[str, Supporter],
                         report: AdoptionReport) -> dict[str, Membership]:
    memberships: dict[str, Membership] = {}
    for subscription in gateway.list_subscriptions():
        subscription_id = str(subscription["id"])
        known = session.scalar(select(Membership).where(Membership.stripe_subscription_id == subscription_id))
        if known is not None:
            report.counts["memberships_known"] += 1
            memberships[subscription_id] = known
            continue
        owner = owners.get(stripe_id(subscription.get("customer")) or "")
        if subscription.get("status") not in RUNNING or owner is None:
            report.counts["subscriptions_not_running"] += 1
            continue
        membership = apply_subscription(session, subscription, supporter=owner, read_at=utcnow())
        if membership is not None:
            report.counts["memberships_adopted"] += 1
            memberships[subscription_id] = membership
    return memberships


def _record(session: Session, report: AdoptionReport, supporter: Supporter, details: Any, kind: PaymentKind,
            **where: Any) -> None:
    if session.scalar(select(Payment.id).where(Payment.stripe_payment_intent_id == details.payment_intent_id)):
        report.counts["payments_known"] += 1
        return
    record_payment(session, supporter, details, kind, **where)
    report.counts["payments_recorded"] += 1
    report.counts["membership_payments" if kind is PaymentKind.MEMBERSHIP else "gift_payments"] += 1


def _adopt_payments(session: Session, gateway: StripeGateway, owners: dict[str, Supporter],
                    memberships: dict[str, Membership], report: AdoptionReport) -> None:
    invoiced: set[str] = set()
    for invoice in gateway.list_paid_invoices():
        parent = invoice.get("parent") or {}
        subscription_id = stripe_id((parent.get("subscription_details") or {}).get("subscription"))
        membership = memberships.get(subscription_id or "")
        intent_id = gateway.payment_intent_for_invoice(invoice)
        if intent_id:
            invoiced.add(intent_id)
        if membership is None or intent_id is None:
            continue
        details = gateway.charge_details(intent_id)
        supporter = session.get(Supporter, membership.supporter_id)
        if details is not None and supporter is not None:
            _record(session, report, supporter, details, PaymentKind.MEMBERSHIP, membership=membership,
                    invoice_id=str(invoice["id"]))
    for charge in gateway.list_charges():
        intent_id = stripe_id(charge.get("payment_intent"))
        owner = owners.get(stripe_id(charge.get("customer")) or "")
        if charge.get("status") != "succeeded" or not intent_id or intent_id in invoiced or owner is None:
            continue
        details = gateway.charge_details(intent_id)
        if details is not None:
            _record(session, report, owner, details, PaymentKind.GIFT)


def adopt_stripe_account(session: Session, gateway: StripeGateway) -> AdoptionReport:
    """Adopt the account's customers, running subscriptions and payments into `session` (the caller commits, or
    rolls back for a dry run)."""
    report = AdoptionReport()
    owners = _adopt_customers(session, gateway, report)
    memberships = _adopt_subscriptions(session, gateway, owners, report)
    _adopt_payments(session, gateway, owners, memberships, report)
    session.flush()
    log.info("Stripe adoption: %s", " ".join(report.lines()))
    return report
