"""Creating and changing campaigns, audited."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from membership.giving.campaigns import Campaign, GoalKind, Progress, all_campaigns, progress
from membership.staff.accounts.audit import record_audit
from membership.staff.accounts.models import StaffUser


class SlugTaken(ValueError):
    pass


@dataclass(frozen=True)
class CampaignValues:
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
    # The title, text and matching text in other languages: {"uk": {"title": "…"}}.
    translations: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


def _apply(campaign: Campaign, values: CampaignValues) -> None:
    for name, value in asdict(values).items():
        setattr(campaign, name, value)
    campaign.translations = {locale: dict(texts) for locale, texts in values.translations.items() if texts}
    if values.goal_kind is GoalKind.AMOUNT:
        campaign.goal_patrons = None
    else:
        campaign.goal_minor, campaign.goal_currency = None, None


def _check_slug(session: Session, slug: str, campaign_id: int | None) -> None:
    other = session.scalar(select(Campaign.id).where(Campaign.slug == slug))
    if other is not None and other != campaign_id:
        raise SlugTaken(slug)


def create_campaign(session: Session, actor: StaffUser, values: CampaignValues, ip: str = "") -> Campaign:
    _check_slug(session, values.slug, None)
    campaign = Campaign()
    _apply(campaign, values)
    session.add(campaign)
    session.flush()
    record_audit(session, actor, "campaign.created", target_type="campaign", target_id=campaign.id, ip=ip,
                 slug=campaign.slug, goal_kind=campaign.goal_kind.value)
    return campaign


def update_campaign(session: Session, actor: StaffUser, campaign: Campaign, values: CampaignValues,
                    ip: str = "") -> None:
    _check_slug(session, values.slug, campaign.id)
    _apply(campaign, values)
    session.flush()
    record_audit(session, actor, "campaign.updated", target_type="campaign", target_id=campaign.id, ip=ip,
                 slug=campaign.slug, languages=sorted(campaign.translations))


def campaign_results(session: Session, now: datetime) -> list[Progress]:
    """Every campaign with what it raised, newest first (the list page and the dashboard)."""
    return [progress(session, campaign, now) for campaign in all_campaigns(session)]
