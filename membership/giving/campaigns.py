"""Campaigns with a goal: "€10,000 for our frontline reporting by 31 December", or "500 new patrons".

Staff (editors and admins) set them up at /staff/campaigns. A campaign is shown, with its progress bar, on the
support page (when staff say so), on `/give?campaign=<slug>` and on `/appeal?campaign=<slug>`; a gift made from
there is attributed to it through `utm_campaign` (the same attribution links in newsletters already carry), so
`?utm_campaign=<slug>` counts too.

Progress is counted from the rows, never kept as a running total: completed checkouts attributed to the
campaign within its dates, by their first payment, with refunds deducted and disputed payments left out. Two
webhooks completing checkouts at once can't make it drift, and a refund a month later lowers it.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, Integer, String, Text, and_, case, func, select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, Session, mapped_column

from membership.db import Base, UTCDateTime, enum_column, utcnow
from membership.giving.models import Checkout, CheckoutStatus, Frequency, Payment, PaymentStatus

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class GoalKind(enum.StrEnum):
    AMOUNT = "amount"  # an amount in one currency
    PATRONS = "patrons"  # a number of new patrons (monthly or yearly members)


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text, default="")
    goal_kind: Mapped[GoalKind] = mapped_column(enum_column(GoalKind, "campaign_goal_kind"))
    goal_minor: Mapped[int | None] = mapped_column(Integer)  # an amount goal, in minor units of goal_currency
    goal_currency: Mapped[str | None] = mapped_column(String(3))
    goal_patrons: Mapped[int | None] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    matching_text: Mapped[str] = mapped_column(Text, default="")  # "Every gift is matched by the X Foundation"
    on_support_page: Mapped[bool] = mapped_column(Boolean, default=False)
    # The title, text and matching text in the other languages: {"uk": {"title": "…"}} (membership.i18n.localized).
    translations: Mapped[dict[str, dict[str, str]]] = mapped_column(JSON, default=dict, server_default=sql_text("'{}'"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("(goal_kind = 'amount' AND goal_minor > 0 AND goal_currency IS NOT NULL) OR "
                        "(goal_kind = 'patrons' AND goal_patrons > 0)", name="goal_set"),
    )

    def running(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at


@dataclass(frozen=True)
class CampaignEntry:
    """A campaign as the reader pages show it: plain values, kept with the catalogue (membership.giving.catalogue),
    so finding the campaign a page names costs no statement; only its progress is counted on each request."""

    id: int
    slug: str
    title: str
    text: str
    goal_kind: GoalKind
    goal_minor: int | None
    goal_currency: str | None
    goal_patrons: int | None
    starts_at: datetime
    ends_at: datetime
    matching_text: str
    on_support_page: bool
    translations: Mapping[str, Mapping[str, str]] = field(default_factory=dict, hash=False)

    def running(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at


ENTRY_COLUMNS = tuple(f.name for f in fields(CampaignEntry))


@dataclass(frozen=True)
class Progress:
    campaign: Campaign | CampaignEntry
    raised_minor: int  # in the goal's currency (amount goals)
    patrons: int  # new monthly and yearly members
    supporters: int  # everyone who gave through it
    other_currencies: int  # gifts in other currencies than the goal's (not in raised_minor)
    now: datetime

    @property
    def reached(self) -> int:
        return self.raised_minor if self.campaign.goal_kind is GoalKind.AMOUNT else self.patrons

    @property
    def goal(self) -> int:
        goal = self.campaign.goal_minor if self.campaign.goal_kind is GoalKind.AMOUNT else self.campaign.goal_patrons
        return int(goal or 0)

    @property
    def fraction(self) -> float:
        """0..1 for the bar (a goal beaten shows a full bar; the figures say by how much)."""
        return min(1.0, self.reached / self.goal) if self.goal else 0.0

    @property
    def percent(self) -> int:
        return int(self.reached * 100 // self.goal) if self.goal else 0

    @property
    def days_left(self) -> int:
        """Whole days to the end, counting a part day as one; 0 once it has ended."""
        seconds = (self.campaign.ends_at - self.now).total_seconds()
        return max(0, math.ceil(seconds / 86400))

    @property
    def ended(self) -> bool:
        return self.now >= self.campaign.ends_at


def all_campaigns(session: Session) -> list[Campaign]:
    return list(session.scalars(select(Campaign).order_by(Campaign.starts_at.desc(), Campaign.id.desc())))


def entries(session: Session, now: datetime) -> tuple[CampaignEntry, ...]:
    """The campaigns not ended by `now`, as plain values (the catalogue keeps them)."""
    rows = session.execute(select(*(getattr(Campaign, name) for name in ENTRY_COLUMNS))
                           .where(Campaign.ends_at > now).order_by(Campaign.ends_at, Campaign.id))
    return tuple(CampaignEntry(*row) for row in rows)


def progress(session: Session, campaign: Campaign | CampaignEntry, now: datetime | None = None) -> Progress:
    """What the campaign has raised so far (one query; see the module's docstring for what counts)."""
    now = now or utcnow()
    counted = and_(Payment.status.in_([PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED]))
    net = Payment.amount_minor - Payment.refunded_minor
    goal_currency = campaign.goal_currency or ""
    row = session.execute(
        select(
            func.coalesce(func.sum(case((and_(counted, Payment.currency == goal_currency), net), else_=0)), 0),
            func.count(func.distinct(case((and_(counted, Checkout.frequency != Frequency.ONCE),
                                           Checkout.supporter_id), else_=None))),
            func.count(func.distinct(case((counted, Checkout.supporter_id), else_=None))),
            func.count(case((and_(counted, Payment.currency != goal_currency), Payment.id), else_=None)),
        )
        .select_from(Checkout)
        .join(Payment, Payment.checkout_id == Checkout.id)
        .where(Checkout.status == CheckoutStatus.COMPLETED, Checkout.utm_campaign == campaign.slug,
               Checkout.completed_at >= campaign.starts_at, Checkout.completed_at < campaign.ends_at)
    ).one()
    raised, patrons, supporters, others = (int(value or 0) for value in row)
    if campaign.goal_kind is not GoalKind.AMOUNT:
        raised, others = 0, 0
    return Progress(campaign, raised, patrons, supporters, others, now)
