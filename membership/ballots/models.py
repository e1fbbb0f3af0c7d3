from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from membership.db import Base, UTCDateTime, enum_column, utcnow
from membership.supporters.models import Supporter

MAX_OPTIONS = 20
MIN_OPTIONS = 2
MAX_WEIGHT = 3
SUGGESTION_MAX = 280


class VotingMethod(enum.StrEnum):
    SINGLE = "single"  # one choice
    APPROVAL = "approval"  # approve up to max_choices options


class ResultsVisibility(enum.StrEnum):
    AFTER_CLOSE = "after_close"
    LIVE = "live"


class Weighting(enum.StrEnum):
    EQUAL = "equal"  # one patron, one vote
    TIER = "tier"  # by tier, at most MAX_WEIGHT times


class BallotPhase(enum.StrEnum):
    DRAFT = "draft"
    UPCOMING = "upcoming"
    OPEN = "open"
    CLOSED = "closed"


class SuggestionStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"


class Ballot(Base):
    """A question put to patrons: which of these topics should the newsroom cover next?"""

    __tablename__ = "ballots"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    introduction: Mapped[str] = mapped_column(Text, default="")
    # Texts in the other languages: {"uk": {"name": "…"}} (read with membership.i18n.localized).
    translations: Mapped[dict[str, dict[str, str]]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # None: a draft patrons can't see
    # When `jobs run` told the newsroom's webhook endpoints it closed (`ballot.closed`, once).
    closed_announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    method: Mapped[VotingMethod] = mapped_column(enum_column(VotingMethod, "voting_method"))
    max_choices: Mapped[int] = mapped_column(Integer, default=1)
    results_visibility: Mapped[ResultsVisibility] = mapped_column(
        enum_column(ResultsVisibility, "results_visibility"), default=ResultsVisibility.AFTER_CLOSE
    )
    weighting: Mapped[Weighting] = mapped_column(enum_column(Weighting, "weighting"), default=Weighting.EQUAL)
    # With tier weighting: {"<tier id>": weight}, each 1..MAX_WEIGHT; tiers not listed weigh 1.
    tier_weights: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # Only patrons whose first successful payment came before the ballot opened (stops join-vote-cancel).
    require_paid_before_open: Mapped[bool] = mapped_column(default=True)
    # Optional minimum monthly amount per currency, minor units: {"EUR": 500}. Empty: no minimum.
    min_monthly: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # Turnout's denominator, frozen the first time the closed ballot is tallied, so the published turnout
    # doesn't drift as memberships end later.
    eligible_at_close: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    options: Mapped[list[BallotOption]] = relationship(
        back_populates="ballot", order_by="BallotOption.position, BallotOption.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        CheckConstraint("closes_at > opens_at", name="closes_after_opening"),
        CheckConstraint(f"max_choices >= 1 AND max_choices <= {MAX_OPTIONS}", name="max_choices_range"),
        CheckConstraint("method = 'approval' OR max_choices = 1", name="single_choice_is_one"),
        CheckConstraint("length(title) > 0", name="title_not_empty"),
    )

    def phase(self, now: datetime) -> BallotPhase:
        if self.published_at is None:
            return BallotPhase.DRAFT
        if now < self.opens_at:
            return BallotPhase.UPCOMING
        if now < self.closes_at:
            return BallotPhase.OPEN
        return BallotPhase.CLOSED

    def results_visible(self, now: datetime) -> bool:
        phase = self.phase(now)
        return phase is BallotPhase.CLOSED or (
            phase is BallotPhase.OPEN and self.results_visibility is ResultsVisibility.LIVE
        )


class BallotOption(Base):
    __tablename__ = "ballot_options"

    id: Mapped[int] = mapped_column(primary_key=True)
    ballot_id: Mapped[int] = mapped_column(ForeignKey("ballots.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # Texts in the other languages: {"uk": {"name": "…"}} (read with membership.i18n.localized).
    translations: Mapped[dict[str, dict[str, str]]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Closing the loop: the article this topic became, and when voters were told.
    article_url: Mapped[str] = mapped_column(String(2048), default="")
    commissioned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    ballot: Mapped[Ballot] = relationship(back_populates="options")

    __table_args__ = (
        # The target of vote_choices' composite foreign key: a choice names an option *of its vote's ballot*.
        UniqueConstraint("ballot_id", "id"),
        CheckConstraint("length(title) > 0", name="title_not_empty"),
        CheckConstraint("article_url = '' OR article_url LIKE 'http://%' OR article_url LIKE 'https://%'",
                        name="article_url_http"),
    )


class Vote(Base):
    """One patron's vote in one ballot (the database allows only one); its choices may change until closing."""

    __tablename__ = "votes"

    id: Mapped[int] = mapped_column(primary_key=True)
    ballot_id: Mapped[int] = mapped_column(ForeignKey("ballots.id", ondelete="CASCADE"))
    supporter_id: Mapped[int] = mapped_column(ForeignKey("supporters.id"), index=True)
    weight: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (
        UniqueConstraint("ballot_id", "supporter_id"),
        UniqueConstraint("ballot_id", "id"),  # the target of vote_choices' composite foreign key
        CheckConstraint(f"weight >= 1 AND weight <= {MAX_WEIGHT}", name="weight_range"),
    )


class VoteChoice(Base):
    """One option a vote chose. The composite foreign keys make the database refuse a choice of another
    ballot's option, and refuse to delete an option someone chose."""

    __tablename__ = "vote_choices"

    id: Mapped[int] = mapped_column(primary_key=True)
    ballot_id: Mapped[int] = mapped_column(Integer)
    vote_id: Mapped[int] = mapped_column(Integer)
    option_id: Mapped[int] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("vote_id", "option_id"),
        ForeignKeyConstraint(["ballot_id", "vote_id"], ["votes.ballot_id", "votes.id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["ballot_id", "option_id"], ["ballot_options.ballot_id", "ballot_options.id"]),
        Index("ix_vote_choices_ballot_id_option_id", "ballot_id", "option_id"),
    )


class TopicSuggestion(Base):
    """A topic a patron proposes; editors accept it into a draft ballot or decline it."""

    __tablename__ = "topic_suggestions"

    id: Mapped[int] = mapped_column(primary_key=True)
    supporter_id: Mapped[int] = mapped_column(ForeignKey("supporters.id"))
    text: Mapped[str] = mapped_column(String(SUGGESTION_MAX))
    status: Mapped[SuggestionStatus] = mapped_column(
        enum_column(SuggestionStatus, "suggestion_status"), default=SuggestionStatus.PENDING
    )
    option_id: Mapped[int | None] = mapped_column(ForeignKey("ballot_options.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    supporter: Mapped[Supporter] = relationship()

    __table_args__ = (
        CheckConstraint(f"length(text) >= 1 AND length(text) <= {SUGGESTION_MAX}", name="text_length"),
        Index("ix_topic_suggestions_supporter_id_created_at", "supporter_id", "created_at"),
    )


