"""Running ballots (editors and admins): drafting, publishing, the rules once votes exist, attaching the
article a topic became, and the topic-suggestion review queue.

Staff see aggregates only: nothing here reads who chose what (the commissioned email is addressed by
`membership.ballots.emails`, which shows nothing). Every change is written to the audit log with ids and
changed field names, never values a patron gave. Services flush, never commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from membership.ballots.emails import send_commissioned_emails
from membership.ballots.methods import method_of
from membership.ballots.models import (
    MAX_OPTIONS,
    MIN_OPTIONS,
    Ballot,
    BallotOption,
    BallotPhase,
    ResultsVisibility,
    SuggestionStatus,
    TopicSuggestion,
    Vote,
    VotingMethod,
    Weighting,
)
from membership.db import rows_affected
from membership.i18n import gettext as _
from membership.i18n import lazy_gettext
from membership.staff.accounts.audit import record_audit
from membership.staff.accounts.models import StaffUser

OPTION_TITLE_MAX = 200


class BallotRuleBroken(ValueError):
    """A change the ballot rules don't allow. `errors` maps each form field to its message; nothing was saved."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = dict(errors)


@dataclass(frozen=True)
class OptionValues:
    """One option row as staff submit it: `id` None for a new one; `remove` only for existing ones."""

    id: int | None
    title: str
    description: str
    remove: bool = False
    # The title and description in other languages: {"uk": {"title": "…"}}.
    translations: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class BallotValues:
    title: str
    introduction: str
    opens_at: datetime
    closes_at: datetime
    method: VotingMethod
    max_choices: int
    results_visibility: ResultsVisibility
    weighting: Weighting
    tier_weights: Mapping[str, int]
    require_paid_before_open: bool
    min_monthly: Mapping[str, int]
    options: Sequence[OptionValues] = field(default_factory=list)
    # The title and introduction in other languages: {"uk": {"title": "…"}}.
    translations: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def clean_translations(translations: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """Texts in other languages as stored: stripped, empty ones and empty languages left out."""
    cleaned = {locale: {name: text.strip() for name, text in texts.items() if text and text.strip()}
               for locale, texts in translations.items()}
    return {locale: texts for locale, texts in cleaned.items() if texts}


# The settings that, once anyone has voted, would change what the votes mean. (field → what staff are told)
LOCKED_ONCE_VOTED = {
    "method": lazy_gettext("Votes have been cast, so the method can't change."),
    "max_choices": lazy_gettext("Votes have been cast, so the number of topics a patron may approve can't change."),
    "weighting": lazy_gettext("Votes have been cast, so the weighting can't change."),
    "tier_weights": lazy_gettext("Votes have been cast, so the tier weights can't change."),
    "opens_at": lazy_gettext("Votes have been cast, so the opening time can't change."),
    "require_paid_before_open": lazy_gettext("Votes have been cast, so who may vote can't change."),
    "min_monthly": lazy_gettext("Votes have been cast, so the minimum amounts can't change."),
}


def _lock(session: Session, model: type[Ballot] | type[TopicSuggestion], row_id: int) -> None:
    """Lock the row until the transaction ends and refresh its object, so a concurrent change is seen."""
    session.scalars(select(model).where(model.id == row_id).with_for_update()
                    .execution_options(populate_existing=True)).one()


# Reading ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BallotRow:
    ballot: Ballot
    phase: BallotPhase
    voters: int


def ballot_rows(session: Session, now: datetime) -> list[BallotRow]:
    """Every ballot, newest first, with its phase and number of voters (an aggregate)."""
    voters = {ballot_id: int(n) for ballot_id, n in
              session.execute(select(Vote.ballot_id, func.count()).group_by(Vote.ballot_id))}
    ballots = session.scalars(select(Ballot).order_by(Ballot.opens_at.desc(), Ballot.id.desc()))
    return [BallotRow(ballot, ballot.phase(now), voters.get(ballot.id, 0)) for ballot in ballots]


def has_votes(session: Session, ballot_id: int) -> bool:
    return bool(session.scalar(select(exists().where(Vote.ballot_id == ballot_id))))


def draft_ballots(session: Session) -> list[Ballot]:
    """Unpublished ballots with room for another option: where an accepted suggestion can go."""
    counts = (select(BallotOption.ballot_id, func.count().label("n")).group_by(BallotOption.ballot_id)
              .subquery())
    return list(session.scalars(
        select(Ballot).outerjoin(counts, counts.c.ballot_id == Ballot.id)
        .where(Ballot.published_at.is_(None), func.coalesce(counts.c.n, 0) < MAX_OPTIONS)
        .order_by(Ballot.id.desc())
    ))


def pending_suggestions(session: Session) -> list[TopicSuggestion]:
    """The review queue, oldest first. Staff see the topic and when, not who suggested it."""
    return list(session.scalars(
        select(TopicSuggestion).where(TopicSuggestion.status == SuggestionStatus.PENDING)
        .order_by(TopicSuggestion.created_at, TopicSuggestion.id)
    ))


# Drafting and editing -----------------------------------------------------------------------------------


def _settings(ballot: Ballot) -> dict[str, Any]:
    """The ballot's editable settings as plain values, to find which fields a change touched."""
    return {
        "title": ballot.title,
        "introduction": ballot.introduction,
        "opens_at": ballot.opens_at,
        "closes_at": ballot.closes_at,
        "method": ballot.method,
        "max_choices": ballot.max_choices,
        "results_visibility": ballot.results_visibility,
        "weighting": ballot.weighting,
        "tier_weights": dict(ballot.tier_weights or {}),
        "require_paid_before_open": ballot.require_paid_before_open,
        "min_monthly": dict(ballot.min_monthly or {}),
        "translations": dict(ballot.translations or {}),
    }


def _settings_of(values: BallotValues) -> dict[str, Any]:
    return {
        "title": values.title.strip(),
        "introduction": values.introduction.strip(),
        "opens_at": values.opens_at,
        "closes_at": values.closes_at,
        "method": values.method,
        "max_choices": method_of(values.method).stored_max_choices(values.max_choices),
        "results_visibility": values.results_visibility,
        "weighting": values.weighting,
        # Weights only mean something with tier weighting; equal weighting keeps none.
        "tier_weights": dict(values.tier_weights) if values.weighting is Weighting.TIER else {},
        "require_paid_before_open": values.require_paid_before_open,
        "min_monthly": dict(values.min_monthly),
        "translations": clean_translations(values.translations),
    }


def _check_structure(settings: Mapping[str, Any], kept: int) -> dict[str, str]:
    """The rules every ballot keeps, voted on or not (the form checks them first; the database backs most)."""
    errors: dict[str, str] = {}
    if not settings["title"]:
        errors["title"] = _("Enter the ballot's title.")
    if settings["closes_at"] <= settings["opens_at"]:
        errors["closes_at"] = _("Closing must come after opening.")
    if kept < MIN_OPTIONS:
        errors["options"] = _("A ballot needs at least %(count)s options.", count=MIN_OPTIONS)
    elif kept > MAX_OPTIONS:
        errors["options"] = _("A ballot can have at most %(count)s options.", count=MAX_OPTIONS)
    elif problem := method_of(settings["method"]).structure_problem(settings["max_choices"], kept):
        errors["max_choices"] = problem
    return errors


def create_ballot(session: Session, actor: StaffUser, values: BallotValues, ip: str = "") -> Ballot:
    """A new draft ballot with its options, in the order given. Raises BallotRuleBroken."""
    settings = _settings_of(values)
    rows = [row for row in values.options if not row.remove]
    if any(row.id is not None for row in rows):
        raise BallotRuleBroken({"options": "A new ballot has no existing options to keep."})
    errors = _check_structure(settings, len(rows))
    if errors:
        raise BallotRuleBroken(errors)
    ballot = Ballot(**settings, options=[
        BallotOption(title=row.title.strip(), description=row.description.strip(), position=position,
                     translations=clean_translations(row.translations))
        for position, row in enumerate(rows)
    ])
    session.add(ballot)
    session.flush()
    record_audit(session, actor, "ballot.created", target_type="ballot", target_id=ballot.id, ip=ip,
                 option_ids=[option.id for option in ballot.options])
    return ballot


def update_ballot(session: Session, actor: StaffUser, ballot: Ballot, values: BallotValues,
                  ip: str = "") -> list[str]:
    """Save a ballot's settings and options. Returns the names of the fields that changed ([] if none).

    Once anyone has voted, options can't be removed and the method (and what votes mean: weighting,
    who may vote, the opening time) can't change; titles and descriptions can still be corrected,
    options added, and the closing time moved. Raises BallotRuleBroken, having saved nothing.
    """
    # Lock (and re-read) the ballot: a vote being cast waits (cast_vote takes a key-share lock), so
    # "no votes yet" stays true until this change commits.
    _lock(session, Ballot, ballot.id)
    voted = has_votes(session, ballot.id)
    before, after = _settings(ballot), _settings_of(values)
    existing = {option.id: option for option in ballot.options}
    rows = [row for row in values.options if not row.remove]
    removed = [row.id for row in values.options if row.remove and row.id is not None]
    unknown = [row.id for row in values.options if row.id is not None and row.id not in existing]
    errors = _check_structure(after, len(rows))
    if unknown:
        errors["options"] = _("One of the options isn't part of this ballot. Reload the page and try again.")
    if voted:
        for name, message in LOCKED_ONCE_VOTED.items():
            if before[name] != after[name]:
                errors.setdefault(name, str(message))
        if removed:
            errors.setdefault("options", _("Votes have been cast, so options can't be removed. You can still "
                                           "correct their titles and descriptions, or add options."))
    if errors:
        raise BallotRuleBroken(errors)

    changed = [name for name in after if before[name] != after[name]]
    for name in changed:
        setattr(ballot, name, after[name])
    options_changed = _apply_options(ballot, rows, existing)
    session.flush()
    if options_changed:
        changed.append("options")
    if changed:
        record_audit(session, actor, "ballot.updated", target_type="ballot", target_id=ballot.id, ip=ip,
                     fields=changed, removed_option_ids=removed)
    return changed


def _apply_options(ballot: Ballot, rows: Sequence[OptionValues], existing: Mapping[int, BallotOption]) -> bool:
    """Make the ballot's options the kept rows, in their order. True if anything changed."""
    changed = False
    kept_ids = {row.id for row in rows if row.id is not None}
    for option_id, option in existing.items():
        if option_id not in kept_ids:
            ballot.options.remove(option)
            changed = True
    for position, row in enumerate(rows):
        if row.id is None:
            ballot.options.append(BallotOption(title=row.title.strip(), description=row.description.strip(),
                                               position=position, translations=clean_translations(row.translations)))
            changed = True
            continue
        option = existing[row.id]
        new = (row.title.strip(), row.description.strip(), position, clean_translations(row.translations))
        if (option.title, option.description, option.position, option.translations or {}) != new:
            option.title, option.description, option.position, option.translations = new
            changed = True
    return changed


def publish_ballot(session: Session, actor: StaffUser, ballot: Ballot, now: datetime, ip: str = "") -> bool:
    """Make a draft visible to patrons (it opens at its opening time). False if it was published already."""
    if ballot.published_at is not None:
        return False
    if ballot.closes_at <= now:
        raise BallotRuleBroken({"closes_at": _("This ballot's closing time has passed; move it later, then publish.")})
    ballot.published_at = now
    session.flush()
    record_audit(session, actor, "ballot.published", target_type="ballot", target_id=ballot.id, ip=ip)
    return True


# Closing the loop -----------------------------------------------------------------------------------


def commission_option(session: Session, actor: StaffUser, option: BallotOption, article_url: str, now: datetime,
                      ballot_url: str, ip: str = "") -> int:
    """Attach the published article a topic became; the first time, email the patrons who chose the topic.

    Returns how many emails were queued (0 when the article URL is only being corrected). Voters are
    emailed once per option, even if two staff attach an article at the same moment.
    """
    if option.ballot.phase(now) is not BallotPhase.CLOSED:
        raise BallotRuleBroken({"article_url": _("Attach the article once the ballot has closed.")})
    if option.article_url == article_url:
        return 0
    option.article_url = article_url
    session.flush()
    claimed = session.execute(
        update(BallotOption).where(BallotOption.id == option.id, BallotOption.commissioned_at.is_(None))
        .values(commissioned_at=now).execution_options(synchronize_session=False)
    )
    session.refresh(option, ["commissioned_at"])
    emailed = send_commissioned_emails(session, option, ballot_url) if rows_affected(claimed) == 1 else 0
    record_audit(session, actor, "ballot.option_commissioned", target_type="ballot", target_id=option.ballot_id,
                 ip=ip, option_id=option.id, fields=["article_url"])
    return emailed


# Topic suggestions ----------------------------------------------------------------------------------


def _title_from(text: str) -> tuple[str, str]:
    """An option title (and description, when the title had to be shortened) from a suggestion's text."""
    text = " ".join(text.split())
    if len(text) <= OPTION_TITLE_MAX:
        return text, ""
    return text[: OPTION_TITLE_MAX - 1].rstrip() + "…", text


def accept_suggestion(session: Session, actor: StaffUser, suggestion: TopicSuggestion, ballot: Ballot,
                      now: datetime, ip: str = "") -> BallotOption:
    """Add a pending suggestion to a draft ballot as a new last option (editable there)."""
    _lock(session, TopicSuggestion, suggestion.id)
    if suggestion.status is not SuggestionStatus.PENDING:
        raise BallotRuleBroken({"ballot": _("This suggestion was already reviewed.")})
    if ballot.published_at is not None:
        raise BallotRuleBroken({"ballot": _("Suggestions go into draft ballots only.")})
    if len(ballot.options) >= MAX_OPTIONS:
        raise BallotRuleBroken({"ballot": _("That ballot already has %(count)s options.", count=MAX_OPTIONS)})
    title, description = _title_from(suggestion.text)
    option = BallotOption(title=title, description=description,
                          position=max((o.position for o in ballot.options), default=-1) + 1)
    ballot.options.append(option)
    session.flush()
    suggestion.status, suggestion.option_id, suggestion.reviewed_at = SuggestionStatus.ACCEPTED, option.id, now
    session.flush()
    record_audit(session, actor, "suggestion.accepted", target_type="topic_suggestion", target_id=suggestion.id,
                 ip=ip, ballot_id=ballot.id, option_id=option.id)
    return option


def decline_suggestion(session: Session, actor: StaffUser, suggestion: TopicSuggestion, now: datetime,
                       ip: str = "") -> bool:
    """Take a suggestion off the queue without using it. False if it was reviewed already."""
    _lock(session, TopicSuggestion, suggestion.id)
    if suggestion.status is not SuggestionStatus.PENDING:
        return False
    suggestion.status, suggestion.reviewed_at = SuggestionStatus.DECLINED, now
    session.flush()
    record_audit(session, actor, "suggestion.declined", target_type="topic_suggestion", target_id=suggestion.id,
                 ip=ip)
    return True
