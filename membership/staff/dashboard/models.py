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
# Conversions (completed checkouts) by the day they completed; and those with an article, and those with a
# campaign, each with what the top-sources table sums, so each ranking reads only the rows it groups.
CONVERSIONS_BY_DAY = Index(
    "ix_checkouts_completed_at", Checkout.completed_at,
    postgresql_where=text("status = 'completed'"), sqlite_where=text("status = 'completed'"),
)
CONVERSIONS_BY_ARTICLE = Index(
    "ix_checkouts_completed_at_source", Checkout.completed_at,
    postgresql_where=text("status = 'completed' AND source_url <> ''"),
    sqlite_where=text("status = 'completed' AND source_url <> ''"),
    postgresql_include=["source_url", "currency", "amount_minor", "fee_cover_minor"],
)
CONVERSIONS_BY_CAMPAIGN = Index(
    "ix_checkouts_completed_at_campaign", Checkout.completed_at,
    postgresql_where=text("status = 'completed' AND utm_campaign <> ''"),
    sqlite_where=text("status = 'completed' AND utm_campaign <> ''"),
    postgresql_include=["utm_campaign", "currency", "amount_minor", "fee_cover_minor"],
)
# Memberships started, ended and cancelled in a range.
MEMBERSHIPS_STARTED = Index("ix_memberships_started_at", Membership.started_at,
                            postgresql_include=["status", "ended_at"])
MEMBERSHIPS_ENDED = Index("ix_memberships_ended_at", Membership.ended_at, postgresql_include=["status"])
MEMBERSHIPS_CANCELLED = Index("ix_memberships_canceled_at", Membership.canceled_at,
                              postgresql_include=["cancel_reason"])
