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
    postgresql_include=["currency", "settlement_currency", "amount_minor", "fee_minor", "net_minor", "refunded_minor",
                        "status"],
)
# Conversions (completed checkouts) by the day they completed; and those with an article, and those with a
# campaign, so each ranking reads only the rows it groups.
CONVERSIONS_BY_DAY = Index(
    "ix_checkouts_completed_at", Checkout.completed_at,
    postgresql_where=text("status = 'completed'"), sqlite_where=text("status = 'completed'"),
)
# No INCLUDE here: source_url may be 2,048 characters of up to 4 bytes each, and a PostgreSQL B-tree row
# holds at most 2,704 bytes, so a long non-ASCII article address would make completing its checkout fail.
# The ranking reads the rows from the table instead (roughly in completed_at order; docs/benchmarks.md).
CONVERSIONS_BY_ARTICLE = Index(
    "ix_checkouts_completed_at_source", Checkout.completed_at,
    postgresql_where=text("status = 'completed' AND source_url <> ''"),
    sqlite_where=text("status = 'completed' AND source_url <> ''"),
)
# utm_campaign is at most 200 characters (800 bytes), so this one can carry everything the ranking sums.
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
