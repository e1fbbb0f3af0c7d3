"""Indexes the dashboard's aggregate queries need on the giving tables (the dashboard has no tables of its own).

At 1,000,000 payments the month-by-month sums read only these indexes (PostgreSQL's INCLUDE columns make
them covering there; SQLite indexes the same rows without them).
"""

from __future__ import annotations

from sqlalchemy import Index, text

from membership.giving.models import Checkout, Membership, Payment

# One-time gifts by the day they were paid, with everything the revenue table sums.
GIFTS_BY_DAY = Index(
    "ix_payments_gifts_paid_at", Payment.paid_at,
    postgresql_where=text("kind = 'gift'"), sqlite_where=text("kind = 'gift'"),
    postgresql_include=["currency", "amount_minor", "fee_minor", "net_minor", "refunded_minor", "status"],
)
# Conversions by the day the checkout completed, with their source, campaign and amount.
CONVERSIONS_BY_DAY = Index(
    "ix_checkouts_completed_at", Checkout.completed_at,
    postgresql_where=text("status = 'completed'"), sqlite_where=text("status = 'completed'"),
    postgresql_include=["currency", "amount_minor", "fee_cover_minor", "source_url", "utm_campaign"],
)
# Memberships started, ended and cancelled in a range.
MEMBERSHIPS_STARTED = Index("ix_memberships_started_at", Membership.started_at,
                            postgresql_include=["status", "ended_at"])
MEMBERSHIPS_ENDED = Index("ix_memberships_ended_at", Membership.ended_at, postgresql_include=["status"])
MEMBERSHIPS_CANCELLED = Index("ix_memberships_canceled_at", Membership.canceled_at,
                              postgresql_include=["cancel_reason"])
