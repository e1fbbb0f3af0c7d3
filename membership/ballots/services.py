"""Ballot rules: who may vote, casting and changing a vote, the tally (computed in SQL), the lists of
ballots patrons see, and topic suggestions.

Privacy: nothing here returns which option a given patron chose, except `current_choices` for the
patron themself. Staff see tallies only. Services flush, never commit.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Exists,
    Select,
    and_,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    or_,
    select,
    union,
    update,
)
from sqlalchemy.orm import Session

from membership.ballots.methods import method_of
from membership.ballots.models import (
    MAX_WEIGHT,
    SUGGESTION_MAX,
    Ballot,
    BallotOption,
    BallotPhase,
    SuggestionStatus,
    TopicSuggestion,
    Vote,
    VoteChoice,
    Weighting,
)
from membership.db import dialect_insert
from membership.giving.models import Membership, Payment, PaymentKind, PaymentStatus
from membership.i18n import gettext as _
from membership.i18n import lazy_gettext, ngettext
from membership.patrons.services import is_patron, patron_condition
from membership.supporters.models import Supporter

# A payment that went through and stayed: a refunded or (open or lost) disputed one doesn't make a patron.
SUCCESSFUL_PAYMENTS = (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED)
SUGGESTIONS_PER_DAY = 3
SUGGESTION_WINDOW = timedelta(days=1)


class VoteRejected(ValueError):
    """A vote that can't be recorded; the message is for the patron. Nothing was written."""


class Ineligible(enum.StrEnum):
    NOT_PATRON = "not_patron"
    JOINED_AFTER_OPENING = "joined_after_opening"
    BELOW_MINIMUM = "below_minimum"


INELIGIBLE_REASONS = {
    Ineligible.NOT_PATRON: lazy_gettext("Voting is for patrons: readers with an active monthly or yearly membership."),
    Ineligible.JOINED_AFTER_OPENING: lazy_gettext(
        "This ballot is for patrons who were already supporting us when it opened. "
        "You'll be able to vote in the next one."
    ),
    Ineligible.BELOW_MINIMUM: lazy_gettext(
        "This ballot is for patrons giving at least the minimum monthly amount stated above."),
}


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    reason: Ineligible | None = None
    membership: Membership | None = None

    @property
    def message(self) -> str:
        return str(INELIGIBLE_REASONS[self.reason]) if self.reason else ""


@dataclass(frozen=True)
class OptionResult:
    option: BallotOption
    voters: int  # patrons who chose it
    weighted: int  # their votes, weighted
    share: float  # weighted ÷ all voters' weight, 0..1 (display only; the counts stay integers)


@dataclass(frozen=True)
class Tally:
    options: list[OptionResult]
    voters: int
    weight: int  # all voters' weight together: equals `voters` with equal weighting
    eligible: int

    @property
    def turnout(self) -> float:
        return self.voters / self.eligible if self.eligible else 0.0


# Eligibility ----------------------------------------------------------------------------------------


def monthly_amount() -> ColumnElement[int]:
    """A membership's amount per month in minor units (yearly ÷ 12, rounded down), as SQL."""
    return case((Membership.interval == "year", Membership.amount_minor // 12), else_=Membership.amount_minor)


def _paid_membership_before(moment: datetime) -> Exists:
    """SQL: the membership's supporter had a successful membership payment before `moment`.

    Membership payments only: a one-time gift long ago doesn't let someone join after the ballot opened,
    vote and cancel.
    """
    return exists().where(
        Payment.supporter_id == Membership.supporter_id,
        Payment.kind == PaymentKind.MEMBERSHIP,
        Payment.status.in_(SUCCESSFUL_PAYMENTS),
        Payment.paid_at < moment,
    )


def _meets_minimum(ballot: Ballot) -> ColumnElement[bool] | None:
    """With minimums set, a membership qualifies in a listed currency at or above its minimum only."""
    if not ballot.min_monthly:
        return None
    return or_(false(), *[
        and_(Membership.currency == currency, monthly_amount() >= int(minimum))
        for currency, minimum in ballot.min_monthly.items()
    ])


def _eligible_conditions(ballot: Ballot, at: datetime, grace: timedelta) -> list[ColumnElement[bool]]:
    conditions = [patron_condition(at, grace), Membership.started_at <= at]
    if ballot.require_paid_before_open:
        conditions.append(_paid_membership_before(ballot.opens_at))
    minimum = _meets_minimum(ballot)
    if minimum is not None:
        conditions.append(minimum)
    return conditions


def eligible_memberships(ballot: Ballot, at: datetime, grace: timedelta) -> Select[int, int | None, int]:
    """(supporter id, tier id, membership id) of every membership that lets its patron vote, as of `at`."""
    return select(Membership.supporter_id, Membership.tier_id, Membership.id).where(
        *_eligible_conditions(ballot, at, grace))


def check_eligibility(session: Session, ballot: Ballot, supporter_id: int, now: datetime,
                      grace: timedelta) -> Eligibility:
    """Whether this supporter may vote in this ballot now, and if not, why (for the page)."""
    membership = session.scalar(
        select(Membership).where(Membership.supporter_id == supporter_id, *_eligible_conditions(ballot, now, grace))
        .order_by(Membership.id.desc()).limit(1)
    )
    if membership is not None:
        return Eligibility(True, None, membership)
    # Not eligible: find the first rule that fails, to tell the patron why.
    patron = session.scalar(
        select(Membership).where(Membership.supporter_id == supporter_id, patron_condition(now, grace))
        .order_by(Membership.id.desc()).limit(1)
    )
    if patron is None:
        return Eligibility(False, Ineligible.NOT_PATRON)
    if ballot.require_paid_before_open and not session.scalar(
        select(_paid_membership_before(ballot.opens_at)).where(Membership.id == patron.id)
    ):
        return Eligibility(False, Ineligible.JOINED_AFTER_OPENING, patron)
    return Eligibility(False, Ineligible.BELOW_MINIMUM, patron)


def vote_weight(ballot: Ballot, tier_id: int | None) -> int:
    """1 with equal weighting; else the tier's weight, kept within 1..MAX_WEIGHT."""
    if ballot.weighting is Weighting.EQUAL or tier_id is None:
        return 1
    return max(1, min(MAX_WEIGHT, int(ballot.tier_weights.get(str(tier_id), 1))))


def rules_statement(ballot: Ballot) -> str:
    """The ballot's method and weighting in words, as the ballot page and its results state them."""
    how = method_of(ballot.method).statement(ballot.max_choices)
    if ballot.weighting is Weighting.EQUAL:
        return str(_("%(method)s One patron, one vote.", method=how))
    return str(_("%(method)s Votes are weighted by membership tier, at most %(weight)d times a vote.", method=how,
                 weight=MAX_WEIGHT))


# Voting ---------------------------------------------------------------------------------------------


def cast_vote(session: Session, ballot_id: int, supporter_id: int, option_ids: list[int], now: datetime,
              grace: timedelta) -> Vote:
    """Record (or replace) the patron's choices. Raises VoteRejected, having written nothing, when it can't."""
    # A key-share lock: votes don't wait for each other, but a staff edit of the ballot (FOR UPDATE) and a
    # vote are serialised, so a vote is always checked against the rules it is counted under.
    ballot = session.scalar(
        select(Ballot).where(Ballot.id == ballot_id).with_for_update(read=True, key_share=True)
        .execution_options(populate_existing=True)
    )
    if ballot is None or ballot.phase(now) is BallotPhase.DRAFT:
        raise VoteRejected(_("There is no such ballot."))
    phase = ballot.phase(now)
    if phase is BallotPhase.UPCOMING:
        raise VoteRejected(_("This ballot hasn't opened yet."))
    if phase is BallotPhase.CLOSED:
        raise VoteRejected(_("This ballot has closed; votes are no longer accepted."))
    if not option_ids:
        raise VoteRejected(_("Choose at least one topic."))
    if len(set(option_ids)) != len(option_ids):
        raise VoteRejected(_("Each topic can be chosen only once."))
    limit = method_of(ballot.method).choice_limit(ballot.max_choices)
    if len(option_ids) > limit:
        raise VoteRejected(_("Choose one topic.") if limit == 1
                           else ngettext("Choose at most %(num)d topic.", "Choose at most %(num)d topics.", limit))
    valid = {option.id for option in ballot.options}
    if not set(option_ids) <= valid:
        raise VoteRejected(_("That topic isn't part of this ballot."))
    eligibility = check_eligibility(session, ballot, supporter_id, now, grace)
    if not eligibility.eligible:
        raise VoteRejected(eligibility.message)
    assert eligibility.membership is not None
    weight = vote_weight(ballot, eligibility.membership.tier_id)
    upsert = dialect_insert(session)
    # One row per (ballot, supporter), enforced by the database. The upsert also locks the row, so
    # concurrent submissions by the same patron replace the choices one after another.
    vote: Vote = session.scalars(
        upsert(Vote)
        .values(ballot_id=ballot.id, supporter_id=supporter_id, weight=weight, created_at=now, updated_at=now)
        .on_conflict_do_update(index_elements=["ballot_id", "supporter_id"],
                               set_={"updated_at": now, "weight": weight})
        .returning(Vote),
        execution_options={"populate_existing": True},
    ).one()
    session.execute(delete(VoteChoice).where(VoteChoice.vote_id == vote.id))
    session.execute(insert(VoteChoice), [{"ballot_id": ballot.id, "vote_id": vote.id, "option_id": option_id}
                                         for option_id in option_ids])
    session.flush()
    return vote


def current_choices(session: Session, ballot_id: int, supporter_id: int) -> list[int]:
    """The options this patron chose (shown to that patron only)."""
    return list(session.scalars(
        select(VoteChoice.option_id).join(Vote, Vote.id == VoteChoice.vote_id)
        .where(Vote.ballot_id == ballot_id, Vote.supporter_id == supporter_id).order_by(VoteChoice.option_id)
    ))


# Results --------------------------------------------------------------------------------------------


def count_eligible(session: Session, ballot: Ballot, at: datetime, grace: timedelta) -> int:
    """Patrons eligible as of `at`, plus anyone who voted while eligible and has lapsed since."""
    population = union(
        eligible_memberships(ballot, at, grace).with_only_columns(Membership.supporter_id),
        select(Vote.supporter_id).where(Vote.ballot_id == ballot.id),
    ).subquery()
    return int(session.scalar(select(func.count()).select_from(population)) or 0)


def _eligible(session: Session, ballot: Ballot, now: datetime, grace: timedelta) -> int:
    """Turnout's denominator, read only: as frozen at the close, else as of now (or the close)."""
    if ballot.eligible_at_close is not None:
        return ballot.eligible_at_close
    return count_eligible(session, ballot, min(now, ballot.closes_at), grace)


def _eligible_for_turnout(session: Session, ballot: Ballot, now: datetime, grace: timedelta) -> int:
    """Turnout's denominator: live while the ballot is open, frozen the first time it is tallied closed.

    Freezing keeps the published turnout from drifting as memberships end after the close. The
    conditional update lets concurrent first tallies agree on one figure.
    """
    eligible = _eligible(session, ballot, now, grace)
    if ballot.eligible_at_close is None and ballot.phase(now) is BallotPhase.CLOSED:
        session.execute(
            update(Ballot).where(Ballot.id == ballot.id, Ballot.eligible_at_close.is_(None))
            .values(eligible_at_close=eligible, updated_at=Ballot.updated_at)
            .execution_options(synchronize_session=False)
        )
        session.refresh(ballot, ["eligible_at_close"])
        return ballot.eligible_at_close if ballot.eligible_at_close is not None else eligible
    return eligible


def turnout(session: Session, ballot: Ballot, now: datetime, grace: timedelta) -> tuple[int, int]:
    """(voters, eligible patrons) for the ballot, without the per-option counts; only reads (the dashboard)."""
    voters = int(session.scalar(select(func.count()).select_from(Vote).where(Vote.ballot_id == ballot.id)) or 0)
    return voters, _eligible(session, ballot, now, grace)


def recent_ballots(session: Session, now: datetime, limit: int = 5) -> list[Ballot]:
    """Published ballots that have opened, the most recently opened first."""
    return list(session.scalars(
        select(Ballot).where(Ballot.published_at.is_not(None), Ballot.opens_at <= now)
        .order_by(Ballot.opens_at.desc(), Ballot.id.desc()).limit(limit)
    ))


def tally(session: Session, ballot: Ballot, now: datetime, grace: timedelta) -> Tally:
    """Counts per option, weighted votes, shares and turnout; the counting is done by the database.

    A share is the option's weighted votes ÷ all voters' weight: with one choice the shares add up to
    100%, with approval voting each is the part of the voters who approved the option.
    """
    if ballot.weighting is Weighting.EQUAL:
        # Every weight is 1 (and the weighting can't change once anyone has voted): the choices alone,
        # read from their (ballot, option) index, give the counts.
        counts = (select(VoteChoice.option_id, func.count(), func.count())
                  .where(VoteChoice.ballot_id == ballot.id).group_by(VoteChoice.option_id))
    else:
        counts = (select(VoteChoice.option_id, func.count(Vote.id), func.coalesce(func.sum(Vote.weight), 0))
                  .join(Vote, and_(Vote.ballot_id == VoteChoice.ballot_id, Vote.id == VoteChoice.vote_id))
                  .where(VoteChoice.ballot_id == ballot.id).group_by(VoteChoice.option_id))
    per_option = {option_id: (int(voters), int(weighted)) for option_id, voters, weighted in session.execute(counts)}
    voters, weight = session.execute(
        select(func.count(Vote.id), func.coalesce(func.sum(Vote.weight), 0)).where(Vote.ballot_id == ballot.id)
    ).one()
    results = []
    for option in ballot.options:
        chose, weighted = per_option.get(option.id, (0, 0))
        results.append(OptionResult(option, chose, weighted, weighted / weight if weight else 0.0))
    eligible = _eligible_for_turnout(session, ballot, now, grace)
    return Tally(results, int(voters), int(weight), eligible)


def ballots_taken_part(session: Session, supporter_id: int) -> int:
    """How many ballots this supporter voted in (never what they chose): for the staff supporter page."""
    return int(session.scalar(select(func.count()).select_from(Vote).where(Vote.supporter_id == supporter_id)) or 0)


# What patrons see -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BallotLists:
    open: list[Ballot]
    upcoming: list[Ballot]
    closed: list[Ballot]


def published_ballots(session: Session, now: datetime) -> BallotLists:
    """Published ballots: open ones closing soonest first, upcoming by opening, closed newest first."""
    published = Ballot.published_at.is_not(None)
    return BallotLists(
        open=list(session.scalars(select(Ballot).where(published, Ballot.opens_at <= now, Ballot.closes_at > now)
                                  .order_by(Ballot.closes_at, Ballot.id))),
        upcoming=list(session.scalars(select(Ballot).where(published, Ballot.opens_at > now)
                                      .order_by(Ballot.opens_at, Ballot.id))),
        closed=list(session.scalars(select(Ballot).where(published, Ballot.closes_at <= now)
                                    .order_by(Ballot.closes_at.desc(), Ballot.id.desc()))),
    )


def published_ballot(session: Session, ballot_id: int) -> Ballot | None:
    """A ballot patrons may see: published (drafts are the newsroom's own)."""
    ballot = session.get(Ballot, ballot_id)
    return ballot if ballot is not None and ballot.published_at is not None else None


def commissioned(ballot: Ballot) -> list[BallotOption]:
    """The options that became published articles ("what your votes commissioned")."""
    return [option for option in ballot.options if option.article_url]


# Topic suggestions ----------------------------------------------------------------------------------


class SuggestionRefused(ValueError):
    """A suggestion that can't be taken; the message is for the patron. Nothing was written."""


class TooManySuggestions(SuggestionRefused):
    """Past SUGGESTIONS_PER_DAY in the last day."""


def suggest_topic(session: Session, supporter_id: int, text: str, now: datetime, grace: timedelta) -> TopicSuggestion:
    """Store a patron's topic suggestion for the editors' review queue (at most SUGGESTIONS_PER_DAY a day)."""
    text = text.strip()
    if not text or len(text) > SUGGESTION_MAX:
        raise SuggestionRefused(_("Write your topic in 1 to %(max)d characters.", max=SUGGESTION_MAX))
    if not is_patron(session, supporter_id, grace, now):
        raise SuggestionRefused(_("Suggesting topics is for patrons."))
    # Lock the supporter's row, so two suggestions sent at once can't both slip under the daily limit.
    session.execute(select(Supporter.id).where(Supporter.id == supporter_id).with_for_update())
    recent = session.scalar(
        select(func.count()).select_from(TopicSuggestion)
        .where(TopicSuggestion.supporter_id == supporter_id, TopicSuggestion.created_at > now - SUGGESTION_WINDOW)
    ) or 0
    if recent >= SUGGESTIONS_PER_DAY:
        raise TooManySuggestions(ngettext(
            "You've suggested %(num)d topic in the last day, the most we take. Please suggest more tomorrow.",
            "You've suggested %(num)d topics in the last day, the most we take. Please suggest more tomorrow.",
            SUGGESTIONS_PER_DAY))
    suggestion = TopicSuggestion(supporter_id=supporter_id, text=text, status=SuggestionStatus.PENDING,
                                 created_at=now)
    session.add(suggestion)
    session.flush()
    return suggestion
