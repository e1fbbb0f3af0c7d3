"""The dashboard's precomputed figures: sums per ended month, so a view reads a few hundred rows, not a year of
payments (`membership.staff.dashboard.rollups` fills them and says when they are used)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from membership.db import Base, UTCDateTime


class RollupMonth(Base):
    """A month whose figures are precomputed, and the count of changes to it (`ChangedMonth.changes`, 0 when it has
    none) they were computed at: they hold while that count has not moved."""

    __tablename__ = "dashboard_rollup_months"

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    changes: Mapped[int] = mapped_column(Integer)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RevenueRollup(Base):
    """A month's payments of one kind (gift or membership) charged in `currency` and settled in
    `settlement_currency`: what `services.gift_revenue` sums, summed."""

    __tablename__ = "dashboard_revenue_rollups"

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    settlement_currency: Mapped[str] = mapped_column(String(3))
    payments: Mapped[int] = mapped_column(Integer)
    gross_minor: Mapped[int] = mapped_column(BigInteger)
    fee_minor: Mapped[int] = mapped_column(BigInteger)
    taken_back_minor: Mapped[int] = mapped_column(BigInteger)  # refunded, or held by an open or lost dispute
    net_minor: Mapped[int] = mapped_column(BigInteger)  # Stripe's net, before refunds
    settled_back_minor: Mapped[int] = mapped_column(BigInteger)  # taken back, in the settlement currency

    __table_args__ = (UniqueConstraint("month", "kind", "currency", "settlement_currency",
                                       name="uq_dashboard_revenue_rollups_month"),)


class ConversionRollup(Base):
    """A month's completed checkouts in one currency: all of them (`dimension` 'all', `name` ''), or those of one
    article ('article', its address) or one campaign ('campaign', its `utm_campaign`)."""

    __tablename__ = "dashboard_conversion_rollups"

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(Date)
    dimension: Mapped[str] = mapped_column(String(8))
    # No unique index with the name: an article's address can be longer than a B-tree row may be. The month's
    # rows are replaced as a whole, under the lock of its RollupMonth row.
    name: Mapped[str] = mapped_column(String(2048))
    currency: Mapped[str] = mapped_column(String(3))
    conversions: Mapped[int] = mapped_column(Integer)
    charged_minor: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_dashboard_conversion_rollups_month_dimension", "month", "dimension"),)
