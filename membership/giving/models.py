from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from membership.db import Base, UTCDateTime, enum_column, utcnow
from membership.supporters.models import Supporter


class Frequency(enum.StrEnum):
    ONCE = "once"
    MONTHLY = "monthly"
    YEARLY = "yearly"

    @property
    def interval(self) -> str | None:
        """Stripe's recurring interval for this frequency."""
        return {"monthly": "month", "yearly": "year"}.get(self.value)


class CheckoutStatus(enum.StrEnum):
    PENDING = "pending"  # recorded, Stripe session not created yet (or Stripe was unreachable)
    OPEN = "open"  # Stripe session created, the reader is paying
    COMPLETED = "completed"
    EXPIRED = "expired"
    FAILED = "failed"  # an asynchronous payment failed after the session completed


class WallStatus(enum.StrEnum):
    """Where a checkout stands on the public supporter wall (`membership.wall`). Anonymous checkouts are never
    on it, whatever this says."""

    PENDING = "pending"  # the name is shown; a message waits for an editor when SUPPORTER_WALL_REVIEW is on
    APPROVED = "approved"  # an editor approved the message
    HIDDEN = "hidden"  # an editor took the entry off the wall


class MembershipStatus(enum.StrEnum):
    """Stripe's subscription statuses, verbatim."""

    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    PAUSED = "paused"


class PaymentKind(enum.StrEnum):
    GIFT = "gift"  # a one-time gift
    MEMBERSHIP = "membership"  # a membership's invoice: the first charge or a renewal


class PaymentStatus(enum.StrEnum):
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    DISPUTED = "disputed"


class RefundStatus(enum.StrEnum):
    REQUESTED = "requested"  # recorded, Stripe not asked yet (or no answer)
    ACCEPTED = "accepted"  # Stripe accepted it; its charge.refunded webhook updates the payment
    FAILED = "failed"  # Stripe refused it or couldn't be reached


class EventStatus(enum.StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    FAILED = "failed"
    IGNORED = "ignored"  # stored and acknowledged but not acted on (livemode mismatch)


class Tier(Base):
    """A named level of support shown on the support page, with suggested amounts per currency."""

    __tablename__ = "tiers"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text, default="")
    benefits: Mapped[str] = mapped_column(Text, default="")  # one benefit a line
    # Texts in the other languages: {"uk": {"name": "…"}} (read with membership.i18n.localized).
    translations: Mapped[dict[str, dict[str, str]]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    amounts: Mapped[list[TierAmount]] = relationship(
        back_populates="tier", cascade="all, delete-orphan", order_by="TierAmount.id"
    )

    @property
    def benefit_lines(self) -> list[str]:
        return [line.strip() for line in self.benefits.splitlines() if line.strip()]


class TierAmount(Base):
    """A tier's suggested amount for one currency and frequency."""

    __tablename__ = "tier_amounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    tier_id: Mapped[int] = mapped_column(ForeignKey("tiers.id", ondelete="CASCADE"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    frequency: Mapped[Frequency] = mapped_column(enum_column(Frequency, "tier_frequency"))
    amount_minor: Mapped[int] = mapped_column(Integer)

    tier: Mapped[Tier] = relationship(back_populates="amounts")

    __table_args__ = (
        UniqueConstraint("tier_id", "currency", "frequency"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
    )


IMPACT_MAX = 120  # a preset's impact text: one line under the amount


class AmountPreset(Base):
    """A one-click amount on the give form for a currency and frequency."""

    __tablename__ = "amount_presets"

    id: Mapped[int] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    frequency: Mapped[Frequency] = mapped_column(enum_column(Frequency, "preset_frequency"))
    amount_minor: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Staff's "most chosen" (at most one per currency and frequency): preselected and labelled on /give.
    most_chosen: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # "€10/month pays for a day of fact-checking": shown under the amount on /give (empty: nothing shown).
    impact: Mapped[str] = mapped_column(String(IMPACT_MAX), default="", server_default="")
    # The impact text in the other languages: {"uk": {"impact": "…"}} (read with membership.i18n.localized).
    translations: Mapped[dict[str, dict[str, str]]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))

    __table_args__ = (
        UniqueConstraint("currency", "frequency", "amount_minor"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
    )


class CurrencyLimit(Base):
    """The smallest and largest gift staff accept in a currency; overrides MEMBERSHIP_AMOUNT_LIMITS."""

    __tablename__ = "currency_limits"

    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    minimum_minor: Mapped[int] = mapped_column(Integer)
    maximum_minor: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("minimum_minor > 0", name="minimum_positive"),
        CheckConstraint("maximum_minor >= minimum_minor", name="maximum_not_below_minimum"),
    )


class CatalogueVersion(Base):
    """One row: a token that changes, in the same transaction, with every change to the tiers, their amounts, the
    presets or the currency bounds. Each process caches the catalogue under the token it read
    (`membership.giving.catalogue`), so a page checks one short row instead of reading the whole catalogue."""

    __tablename__ = "catalogue_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(32))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)


class Checkout(Base):
    """One attempt to give: what the reader chose, where they came from, and its Stripe session."""

    __tablename__ = "checkouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    supporter_id: Mapped[int] = mapped_column(ForeignKey("supporters.id"), index=True)
    frequency: Mapped[Frequency] = mapped_column(enum_column(Frequency, "checkout_frequency"))
    amount_minor: Mapped[int] = mapped_column(Integer)  # what the reader chose for the newsroom
    fee_cover_minor: Mapped[int] = mapped_column(Integer, default=0)  # added when covering the fees
    currency: Mapped[str] = mapped_column(String(3))
    cover_fees: Mapped[bool] = mapped_column(Boolean, default=False)
    message: Mapped[str] = mapped_column(Text, default="")
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    # The language the reader gave in: theirs from then on (their emails are written in it) once they have paid.
    locale: Mapped[str | None] = mapped_column(String(16))
    # "Email me news" as ticked on the give form: applied to the supporter only when the checkout completes.
    email_consent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    source_url: Mapped[str] = mapped_column(String(2048), default="")
    utm_source: Mapped[str] = mapped_column(String(200), default="")
    utm_medium: Mapped[str] = mapped_column(String(200), default="")
    utm_campaign: Mapped[str] = mapped_column(String(200), default="")
    utm_term: Mapped[str] = mapped_column(String(200), default="")
    utm_content: Mapped[str] = mapped_column(String(200), default="")
    stripe_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # active_history: a change loads the old value first, so the month it leaves is known (`giving.month_changes`).
    status: Mapped[CheckoutStatus] = mapped_column(
        enum_column(CheckoutStatus, "checkout_status"), default=CheckoutStatus.PENDING, active_history=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), active_history=True)
    wall_status: Mapped[WallStatus] = mapped_column(enum_column(WallStatus, "wall_status"),
                                                    default=WallStatus.PENDING, server_default="pending")
    wall_reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    supporter: Mapped[Supporter] = relationship()

    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        # The supporter wall, newest first.
        Index("ix_checkouts_status_completed_at", "status", "completed_at"),
        CheckConstraint("fee_cover_minor >= 0", name="fee_cover_not_negative"),
        # The staff supporter list's filters: by article (trigram GIN on PostgreSQL for LIKE '%…%', plain on
        # SQLite), and by campaign in supporter order.
        Index("ix_checkouts_source_url_search", "source_url", postgresql_using="gin",
              postgresql_ops={"source_url": "gin_trgm_ops"}),
        Index("ix_checkouts_utm_campaign_status_supporter_id", "utm_campaign", "status", "supporter_id"),
    )

    @property
    def total_minor(self) -> int:
        """What the reader is charged: the chosen amount plus any fees they cover."""
        return self.amount_minor + self.fee_cover_minor


class Membership(Base):
    """A recurring membership, mirroring one Stripe subscription. Stripe's status is the truth."""

    __tablename__ = "memberships"

    id: Mapped[int] = mapped_column(primary_key=True)
    supporter_id: Mapped[int] = mapped_column(ForeignKey("supporters.id"), index=True)
    checkout_id: Mapped[int | None] = mapped_column(ForeignKey("checkouts.id"))
    tier_id: Mapped[int | None] = mapped_column(ForeignKey("tiers.id", ondelete="SET NULL"))
    stripe_subscription_id: Mapped[str] = mapped_column(String(255), unique=True)
    stripe_price_id: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[MembershipStatus] = mapped_column(enum_column(MembershipStatus, "membership_status"))
    amount_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    interval: Mapped[str] = mapped_column(String(8))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    past_due_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    card_brand: Mapped[str] = mapped_column(String(20), default="")
    card_last4: Mapped[str] = mapped_column(String(4), default="")
    # Why the patron cancelled (Stripe's feedback codes) and their words, kept for churn reports.
    cancel_reason: Mapped[str] = mapped_column(String(40), default="")
    cancel_comment: Mapped[str] = mapped_column(Text, default="")
    # Dunning: when the payment-failed email, and its one reminder, went out for the current failure.
    dunning_emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dunning_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    # When the Stripe state last applied was asked for: a read that began earlier never overwrites it.
    stripe_read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    supporter: Mapped[Supporter] = relationship()
    tier: Mapped[Tier | None] = relationship()
    checkout: Mapped[Checkout | None] = relationship()

    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("interval IN ('month', 'year')", name="interval_known"),
        # The staff supporter list's status and tier filters read these in supporter order, page by page.
        Index("ix_memberships_status_supporter_id", "status", "supporter_id"),
        Index("ix_memberships_tier_id_supporter_id", "tier_id", "supporter_id"),
    )

    @property
    def fee_cover_minor(self) -> int:
        """The part of each charge that covers card fees. Known while the price is still the one its checkout
        set; a price the patron changed later is charged as it is, with no fee part."""
        checkout = self.checkout
        if checkout is None or (checkout.total_minor, checkout.currency, checkout.frequency.interval) != (
                self.amount_minor, self.currency, self.interval):
            return 0
        return checkout.fee_cover_minor


def _charge_currency(context: Any) -> str:
    """A payment settled without conversion: its balance is in the currency it was charged in."""
    return str(context.get_current_parameters()["currency"])


class Payment(Base):
    """One money movement: a one-time gift or one paid membership invoice, with Stripe's fee and net."""

    __tablename__ = "payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    supporter_id: Mapped[int] = mapped_column(ForeignKey("supporters.id"), index=True)
    membership_id: Mapped[int | None] = mapped_column(ForeignKey("memberships.id"), index=True)
    checkout_id: Mapped[int | None] = mapped_column(ForeignKey("checkouts.id"), index=True)
    kind: Mapped[PaymentKind] = mapped_column(enum_column(PaymentKind, "payment_kind"))
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_charge_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_balance_transaction_id: Mapped[str | None] = mapped_column(String(255))
    amount_minor: Mapped[int] = mapped_column(Integer)
    fee_minor: Mapped[int] = mapped_column(Integer, default=0)
    net_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    # Fee and net are in the currency of the Stripe balance they went to (the account's settlement currency),
    # converted from `currency` at Stripe's `exchange_rate` (as Stripe gave it; None when nothing was converted).
    settlement_currency: Mapped[str] = mapped_column(String(3), default=_charge_currency)
    exchange_rate: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[PaymentStatus] = mapped_column(enum_column(PaymentStatus, "payment_status"))
    refunded_minor: Mapped[int] = mapped_column(Integer, default=0)
    dispute_status: Mapped[str] = mapped_column(String(40), default="")
    # active_history: moving a payment loads its old time first, so the month it leaves is known.
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True, active_history=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The invoice Stripe issued for it (a gift's, by Checkout's invoice_creation; a membership's): the receipt.
    receipt_url: Mapped[str] = mapped_column(String(2048), default="", server_default="")
    receipt_pdf_url: Mapped[str] = mapped_column(String(2048), default="", server_default="")

    supporter: Mapped[Supporter] = relationship()
    membership: Mapped[Membership | None] = relationship()
    checkout: Mapped[Checkout | None] = relationship()

    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint("fee_minor >= 0", name="fee_not_negative"),
        CheckConstraint("refunded_minor >= 0 AND refunded_minor <= amount_minor", name="refund_within_amount"),
        # The staff supporter list: a supporter's first gift (date filter), and givers in a currency in
        # supporter order.
        Index("ix_payments_supporter_id_paid_at", "supporter_id", "paid_at"),
        Index("ix_payments_currency_supporter_id", "currency", "supporter_id"),
    )


class RefundRequest(Base):
    """A refund staff asked Stripe for. Its id keys the Stripe request, so a retry never refunds twice."""

    __tablename__ = "refund_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    amount_minor: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(40), default="")  # Stripe's reason code, or ""
    status: Mapped[RefundStatus] = mapped_column(enum_column(RefundStatus, "refund_status"),
                                                 default=RefundStatus.REQUESTED)
    stripe_refund_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    payment: Mapped[Payment] = relationship()

    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)


class StripeEvent(Base):
    """Every webhook event, stored under Stripe's id before it is processed."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100), index=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime())
    livemode: Mapped[bool] = mapped_column(Boolean, default=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # {} once deleted (STRIPE_EVENT_RETENTION_DAYS)
    status: Mapped[EventStatus] = mapped_column(enum_column(EventStatus, "event_status"), default=EventStatus.RECEIVED)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    # While `received`: when to look at it again if nothing else happens. The end of a worker's lease on it (or,
    # before any worker took it, of the time it should have taken to be), or when a failed attempt is retried.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    payload_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Whom the stored payload names, filled when it is stored (`giving.stored_events`), so an erasure finds a
    # supporter's events by index rather than by reading every payload: the Stripe customer, and the SHA-256 of
    # an email address (only events stored before payloads were trimmed have one).
    customer_id: Mapped[str | None] = mapped_column(String(255))
    email_hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_stripe_events_customer_id", "customer_id"),
        Index("ix_stripe_events_email_hash", "email_hash"),
        # `jobs run` finds the next payloads to delete: those still kept (NULL), oldest first.
        Index("ix_stripe_events_payload_deleted_at_received_at", "payload_deleted_at", "received_at"),
    )


# The events still to process (a handful among millions done), by when they are due: what the worker's and
# `jobs run`'s re-queueing reads. And the events that failed for good, which the dashboard lists.
EVENTS_DUE = Index(
    "ix_stripe_events_due", StripeEvent.next_attempt_at,
    postgresql_where=text("status = 'received'"), sqlite_where=text("status = 'received'"),
)
EVENTS_FAILED = Index(
    "ix_stripe_events_failed", StripeEvent.received_at,
    postgresql_where=text("status = 'failed'"), sqlite_where=text("status = 'failed'"),
)


class RefusedCheckoutReason(enum.StrEnum):
    IP = "ip"  # past CHECKOUT_LIMIT_PER_IP
    ADDRESS = "address"  # past CHECKOUT_LIMIT_PER_ADDRESS


class RefusedCheckouts(Base):
    """How many new checkouts the limits against card testing refused, per UTC day and reason (the dashboard
    shows them). Counts, not rows per attempt: an attack of thousands of tries adds nothing but a number."""

    __tablename__ = "refused_checkouts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    reason: Mapped[RefusedCheckoutReason] = mapped_column(
        enum_column(RefusedCheckoutReason, "refused_checkout_reason"), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)

    __table_args__ = (CheckConstraint("attempts > 0", name="attempts_positive"),)


# Indexes the staff dashboard's aggregate queries need. At 1,000,000 payments the month-by-month sums read only
# these (PostgreSQL's INCLUDE columns make them covering there; SQLite indexes the same rows without them).

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
