"""Editing the catalogue: tiers, the one-click preset amounts, and each currency's minimum and maximum.

Everything saved here is read back through `membership.giving.catalogue`, which the give form, the support
page, the appeal and the patron's change-amount form use: each change replaces the catalogue's version token
in the same transaction, so an edit shows on the next request of every process. Every change is written to
the audit log with its before and after values.
Services flush, never commit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from membership.config import CurrencyRules
from membership.giving.models import AmountPreset, CurrencyLimit, Frequency, Tier, TierAmount
from membership.money import AmountLimits
from membership.staff.accounts.audit import record_audit
from membership.staff.accounts.models import StaffUser

TIER_FREQUENCIES = (Frequency.MONTHLY, Frequency.YEARLY)


@dataclass(frozen=True)
class TierValues:
    """A tier as staff submit it. `amounts` maps (currency, frequency) to minor units; missing = no suggestion."""

    name: str
    description: str
    benefits: str
    active: bool
    amounts: Mapping[tuple[str, Frequency], int]
    # The texts in other languages, {"uk": {"name": "…", "description": "…", "benefits": "…"}}: None keeps them.
    translations: Mapping[str, Mapping[str, str]] | None = None


@dataclass(frozen=True)
class SuggestedAmount:
    """A tier's suggested amount, which the currency's bounds must keep allowing."""

    tier_name: str
    currency: str
    frequency: Frequency
    amount_minor: int


# Reading ---------------------------------------------------------------------------------------------


def all_tiers(session: Session) -> list[Tier]:
    """Every tier, active or not, in display order, with its amounts loaded."""
    return list(session.scalars(select(Tier).options(selectinload(Tier.amounts)).order_by(Tier.position, Tier.id)))


def presets_by_frequency(session: Session, currency: str) -> dict[Frequency, list[int]]:
    """The one-click amounts of a currency for each frequency, in display order."""
    presets: dict[Frequency, list[int]] = {frequency: [] for frequency in Frequency}
    for frequency, amount in session.execute(
        select(AmountPreset.frequency, AmountPreset.amount_minor)
        .where(AmountPreset.currency == currency)
        .order_by(AmountPreset.position, AmountPreset.amount_minor)
    ):
        presets[frequency].append(amount)
    return presets


def suggested_amounts(session: Session, currency: str) -> list[SuggestedAmount]:
    """Every tier's suggested amount in `currency` (active tiers or not: they may be shown again)."""
    return [
        SuggestedAmount(name, currency, frequency, amount)
        for name, frequency, amount in session.execute(
            select(Tier.name, TierAmount.frequency, TierAmount.amount_minor)
            .join(TierAmount)
            .where(TierAmount.currency == currency)
            .order_by(Tier.position, Tier.id, TierAmount.frequency)
        )
    ]


def tier_snapshot(tier: Tier) -> dict[str, Any]:
    """A tier's editable values as plain JSON, for the audit log's before and after."""
    amounts: dict[str, dict[str, int]] = {}
    for amount in sorted(tier.amounts, key=lambda a: (a.currency, a.frequency.value)):
        amounts.setdefault(amount.currency, {})[amount.frequency.value] = amount.amount_minor
    return {"name": tier.name, "description": tier.description, "benefits": tier.benefits, "active": tier.active,
            "amounts": amounts, "translations": dict(tier.translations or {})}


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys whose value changed, before and after."""
    keys = [key for key in after if before.get(key) != after[key]]
    return {key: before.get(key) for key in keys}, {key: after[key] for key in keys}


# Tiers -----------------------------------------------------------------------------------------------


def _slug_for(session: Session, name: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:50] or "tier"
    taken = set(session.scalars(select(Tier.slug).where(Tier.slug.startswith(base))))
    slug, n = base, 2
    while slug in taken:
        slug, n = f"{base}-{n}", n + 1
    return slug


def _apply_values(tier: Tier, values: TierValues) -> None:
    tier.name = values.name.strip()
    tier.description = values.description.strip()
    tier.benefits = "\n".join(line.strip() for line in values.benefits.splitlines() if line.strip())
    tier.active = values.active
    if values.translations is not None:
        tier.translations = {locale: {name: text.strip() for name, text in texts.items() if text.strip()}
                             for locale, texts in values.translations.items() if any(t.strip() for t in texts.values())}
    # Existing rows are updated in place, so the (tier, currency, frequency) uniqueness never trips mid-flush.
    existing = {(amount.currency, amount.frequency): amount for amount in tier.amounts}
    for key, amount in existing.items():
        if key not in values.amounts:
            tier.amounts.remove(amount)
    for (currency, frequency), amount_minor in values.amounts.items():
        row = existing.get((currency, frequency))
        if row is None:
            tier.amounts.append(TierAmount(currency=currency, frequency=frequency, amount_minor=amount_minor))
        else:
            row.amount_minor = amount_minor


def create_tier(session: Session, actor: StaffUser, values: TierValues, ip: str = "") -> Tier:
    """A new tier, placed last."""
    last = session.scalar(select(func.max(Tier.position)))
    tier = Tier(slug=_slug_for(session, values.name), name="", position=0 if last is None else last + 1, amounts=[])
    _apply_values(tier, values)
    session.add(tier)
    session.flush()
    record_audit(session, actor, "tiers.changed", target_type="tier", target_id=tier.id, ip=ip,
                 change="created", before=None, after=tier_snapshot(tier))
    return tier


def update_tier(session: Session, actor: StaffUser, tier: Tier, values: TierValues, ip: str = "") -> bool:
    """Save a tier's name, texts, visibility and suggested amounts. False when nothing changed."""
    before = tier_snapshot(tier)
    _apply_values(tier, values)
    session.flush()
    old, new = _changes(before, tier_snapshot(tier))
    if not new:
        return False
    record_audit(session, actor, "tiers.changed", target_type="tier", target_id=tier.id, ip=ip,
                 change="updated", before=old, after=new)
    return True


def set_tier_active(session: Session, actor: StaffUser, tier: Tier, active: bool, ip: str = "") -> bool:
    """Show (active) or hide a tier on the support page. Memberships at a hidden tier are untouched."""
    if tier.active == active:
        return False
    tier.active = active
    session.flush()
    record_audit(session, actor, "tiers.changed", target_type="tier", target_id=tier.id, ip=ip,
                 change="reactivated" if active else "deactivated", before={"active": not active},
                 after={"active": active})
    return True


def move_tier(session: Session, actor: StaffUser, tier: Tier, step: int, ip: str = "") -> bool:
    """Move a tier one place up (step -1) or down (+1) in the display order. False at either end."""
    order = all_tiers(session)
    index = order.index(tier)
    target = index + step
    if step not in (-1, 1) or not 0 <= target < len(order):
        return False
    before = [t.id for t in order]
    order[index], order[target] = order[target], order[index]
    for position, each in enumerate(order):
        each.position = position
    session.flush()
    record_audit(session, actor, "tiers.changed", target_type="tier", target_id=tier.id, ip=ip,
                 change="reordered", before={"order": before}, after={"order": [t.id for t in order]})
    return True


def most_chosen_by_frequency(session: Session, currency: str) -> dict[Frequency, int]:
    """The preset staff marked "most chosen" for each frequency of a currency (frequencies without one left out)."""
    return {frequency: amount for frequency, amount in session.execute(
        select(AmountPreset.frequency, AmountPreset.amount_minor)
        .where(AmountPreset.currency == currency, AmountPreset.most_chosen.is_(True)))}


# Presets and bounds ----------------------------------------------------------------------------------


def save_currency_amounts(session: Session, actor: StaffUser, current: CurrencyRules, limits: AmountLimits,
                          presets: Mapping[Frequency, Sequence[int]], ip: str = "",
                          most_chosen: Mapping[Frequency, int | None] | None = None) -> list[str]:
    """Save a currency's bounds and preset amounts (already validated together, by the form).

    `current` is the currency's rules in force before the change. Returns the audit actions written:
    `limits.changed` and/or `presets.changed`, none when nothing changed. `most_chosen` is the preset staff
    marked per frequency (None: none marked); a frequency it leaves out keeps no mark.
    """
    code = current.code
    written: list[str] = []
    if limits != current.limits:
        row = session.get(CurrencyLimit, code)
        if row is None:
            row = CurrencyLimit(currency=code)
            session.add(row)
        row.minimum_minor, row.maximum_minor = limits.minimum_minor, limits.maximum_minor
        session.flush()
        record_audit(session, actor, "limits.changed", target_type="currency", target_id=code, ip=ip,
                     before={"minimum_minor": current.limits.minimum_minor,
                             "maximum_minor": current.limits.maximum_minor},
                     after={"minimum_minor": limits.minimum_minor, "maximum_minor": limits.maximum_minor})
        written.append("limits.changed")
    existing = presets_by_frequency(session, code)
    existing_marks = most_chosen_by_frequency(session, code)
    impacts = preset_impacts(session, code)  # kept for the amounts that stay
    marks = most_chosen or {}
    before: dict[str, list[int]] = {}
    after: dict[str, list[int]] = {}
    for frequency, amounts in presets.items():
        mark = marks.get(frequency)
        if list(amounts) == existing[frequency] and mark == existing_marks.get(frequency):
            continue
        before[frequency.value], after[frequency.value] = existing[frequency], list(amounts)
        if mark != existing_marks.get(frequency):
            old_mark = existing_marks.get(frequency)
            before[f"{frequency.value}_most_chosen"] = [old_mark] if old_mark is not None else []
            after[f"{frequency.value}_most_chosen"] = [mark] if mark is not None else []
        # A bulk DELETE runs before the inserts below, so re-adding an amount never trips the unique key.
        session.execute(delete(AmountPreset).where(AmountPreset.currency == code,
                                                   AmountPreset.frequency == frequency))
        session.add_all(AmountPreset(currency=code, frequency=frequency, amount_minor=amount, position=position,
                                     most_chosen=amount == mark, **_impact_values(impacts.get((frequency, amount))))
                        for position, amount in enumerate(amounts))
    if after:
        session.flush()
        record_audit(session, actor, "presets.changed", target_type="currency", target_id=code, ip=ip,
                     before=before, after=after)
        written.append("presets.changed")
    return written


# Impact texts ----------------------------------------------------------------------------------------

ImpactTexts = Mapping[tuple[Frequency, int], tuple[str, Mapping[str, str]]]


def preset_impacts(session: Session, currency: str) -> dict[tuple[Frequency, int], tuple[str, dict[str, str]]]:
    """{(frequency, amount): (impact text, {"uk": text})} for the presets of `currency` that have one."""
    found: dict[tuple[Frequency, int], tuple[str, dict[str, str]]] = {}
    for preset in session.scalars(select(AmountPreset).where(AmountPreset.currency == currency)):
        others = {locale: texts["impact"] for locale, texts in (preset.translations or {}).items()
                  if texts.get("impact")}
        if preset.impact or others:
            found[(preset.frequency, preset.amount_minor)] = (preset.impact, others)
    return found


def _impact_values(impact: tuple[str, Mapping[str, str]] | None) -> dict[str, Any]:
    """An AmountPreset's impact columns for (text, {"uk": text}): its translations as localized() reads them."""
    text, others = impact or ("", {})
    return {"impact": text, "translations": {locale: {"impact": other} for locale, other in others.items()}}


def save_preset_impacts(session: Session, actor: StaffUser, currency: str, texts: ImpactTexts, ip: str = "") -> bool:
    """Save what each preset of `currency` pays for (`texts`, as ImpactForm.texts gives them: presets left out
    keep theirs). Audited as `presets.changed` with the texts before and after; False when nothing changed."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for preset in session.scalars(select(AmountPreset).where(AmountPreset.currency == currency)):
        key = (preset.frequency, preset.amount_minor)
        if key not in texts:
            continue
        text, others = texts[key]
        wanted = _impact_values((text.strip(), {locale: other.strip() for locale, other in others.items()
                                                if other.strip()}))
        if wanted == {"impact": preset.impact, "translations": preset.translations or {}}:
            continue
        label = f"{preset.frequency.value}_{preset.amount_minor}_impact"
        before[label] = {"impact": preset.impact, "translations": dict(preset.translations or {})}
        after[label] = wanted
        preset.impact, preset.translations = wanted["impact"], wanted["translations"]
    if not after:
        return False
    session.flush()  # the catalogue's token is replaced with the rows (membership.giving.catalogue)
    record_audit(session, actor, "presets.changed", target_type="currency", target_id=currency, ip=ip,
                 change="impact", before=before, after=after)
    return True
