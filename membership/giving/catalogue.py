"""The catalogue the reader pages show: active tiers with their amounts, the give form's presets (with their impact
texts), the rules per currency (the settings' currencies and fees, with the bounds staff set), and the campaigns
not yet ended (titles, texts, dates and goals; never their progress, which each page counts afresh from the
completed checkouts, so the bar is never stale).

Every page an article links to (/, /give, /appeal) needs it, and staff change it rarely, so each process keeps
it in memory under the token of the one-row `catalogue_version` table. A request reads that token (one short
statement) and reloads the catalogue only when it differs from the cached one's. The token is replaced in the
same transaction as any change to the catalogue's rows, by the session events at the end of this module, so
a staff edit shows on the next request of every process (there is nothing to publish or expire).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import chain
from typing import Any, TypeVar, cast

from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from membership.config import CurrencyRules, default_currency_rules
from membership.db import dialect_insert, utcnow
from membership.giving.campaigns import Campaign, CampaignEntry
from membership.giving.campaigns import entries as campaign_entries
from membership.giving.models import AmountPreset, CatalogueVersion, CurrencyLimit, Frequency, Tier, TierAmount
from membership.i18n import localized
from membership.money import AmountLimits

# The rows the catalogue is read from: a change to any of them replaces the version token.
CATALOGUE_MODELS: tuple[type[Any], ...] = (Tier, TierAmount, AmountPreset, CurrencyLimit, Campaign)
CACHE_KEY = "giving.catalogue"
T = TypeVar("T")


@dataclass(frozen=True)
class TierAmountEntry:
    currency: str
    frequency: Frequency
    amount_minor: int


@dataclass(frozen=True)
class TierEntry:
    """An active tier as the support page shows it (plain values, safe to share between requests)."""

    id: int
    slug: str
    name: str
    description: str
    benefit_lines: tuple[str, ...]
    amounts: tuple[TierAmountEntry, ...]
    # As staff wrote them: `localized(tier, "benefits")` reads these, in the reader's language when given.
    benefits: str = ""
    translations: Mapping[str, Mapping[str, str]] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class ImpactText:
    """What a preset amount pays for, as staff wrote it, with its other languages ({"uk": {"impact": "…"}})."""

    impact: str
    translations: Mapping[str, Mapping[str, str]] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Catalogue:
    tiers: tuple[TierEntry, ...]  # active ones, in display order
    presets: Mapping[tuple[str, Frequency], tuple[int, ...]]
    rules: Mapping[str, CurrencyRules]
    most_chosen: Mapping[tuple[str, Frequency], int] = field(default_factory=dict)  # staff's mark, if any
    impacts: Mapping[tuple[str, Frequency, int], ImpactText] = field(default_factory=dict)  # presets that have one
    campaigns: tuple[CampaignEntry, ...] = ()  # those not ended when loaded, ending soonest first
    _derived: dict[Hashable, Any] = field(default_factory=dict, compare=False, repr=False)

    def derived(self, key: Hashable, compute: Callable[[], T]) -> T:
        """A value computed from this catalogue alone (the give form's formatted amounts, per locale), computed
        once and kept as long as the catalogue is: a staff change makes a new catalogue, and new values."""
        if key not in self._derived:
            self._derived[key] = compute()
        return cast(T, self._derived[key])

    def preset_amounts(self, currency: str, frequency: Frequency) -> list[int]:
        """The one-click amounts for a currency and frequency, in minor units, in display order."""
        return list(self.presets.get((currency, frequency), ()))

    def suggested_amount(self, currency: str, frequency: Frequency) -> int | None:
        """The preset /give opens with: the one staff marked "most chosen", else the middle one (the upper middle
        of an even count), else None."""
        presets = self.preset_amounts(currency, frequency)
        marked = self.most_chosen.get((currency, frequency))
        if marked in presets:
            return marked
        return presets[len(presets) // 2] if presets else None

    def impact(self, currency: str, frequency: Frequency, amount_minor: int, locale: str | None = None) -> str:
        """The preset's impact text in `locale` (default: the active language, falling back to the default
        language's), or "" when staff gave none."""
        entry = self.impacts.get((currency, frequency, amount_minor))
        return localized(entry, "impact", locale) if entry is not None else ""

    def campaign(self, slug: str | None, now: datetime) -> CampaignEntry | None:
        """The campaign with this address name, while it runs."""
        return next((c for c in self.campaigns if c.slug == slug and c.running(now)), None) if slug else None

    def support_page_campaign(self, now: datetime) -> CampaignEntry | None:
        """The running campaign staff put on the support page (the one ending soonest, if several)."""
        return next((c for c in self.campaigns if c.on_support_page and c.running(now)), None)

    def smallest_monthly_amount(self, currency: str) -> int | None:
        """The appeal's "cup of coffee a month": the cheapest active tier's monthly amount in `currency`, else the
        smallest monthly preset, else None (the appeal then names no amount)."""
        monthly = [amount.amount_minor for tier in self.tiers for amount in tier.amounts
                   if amount.currency == currency and amount.frequency is Frequency.MONTHLY]
        candidates = monthly or self.preset_amounts(currency, Frequency.MONTHLY)
        return min(candidates) if candidates else None


def effective_currency_rules(session: Session, defaults: Mapping[str, CurrencyRules]) -> dict[str, CurrencyRules]:
    """The per-currency rules in force: MEMBERSHIP_AMOUNT_LIMITS gives the default bounds, and a `currency_limits`
    row, set on /staff/tiers, overrides its currency's."""
    overrides = {row.currency: row for row in session.scalars(select(CurrencyLimit))}
    rules: dict[str, CurrencyRules] = {}
    for code, rule in defaults.items():
        row = overrides.get(code)
        rules[code] = rule if row is None else replace(
            rule, limits=AmountLimits(minimum_minor=row.minimum_minor, maximum_minor=row.maximum_minor))
    return rules


def load_catalogue(session: Session, defaults: Mapping[str, CurrencyRules]) -> Catalogue:
    """The catalogue as the database has it now, in four statements."""
    rows = session.execute(
        select(Tier.id, Tier.slug, Tier.name, Tier.description, Tier.benefits, Tier.translations,
               TierAmount.currency, TierAmount.frequency, TierAmount.amount_minor)
        .outerjoin(TierAmount, TierAmount.tier_id == Tier.id)
        .where(Tier.active.is_(True))
        .order_by(Tier.position, Tier.id, TierAmount.id)
    ).all()
    tiers: dict[int, tuple[Any, list[TierAmountEntry]]] = {}
    for row in rows:
        _, amounts = tiers.setdefault(row.id, (row, []))
        if row.currency is not None:
            amounts.append(TierAmountEntry(row.currency, row.frequency, row.amount_minor))
    presets: dict[tuple[str, Frequency], list[int]] = defaultdict(list)
    most_chosen: dict[tuple[str, Frequency], int] = {}
    impacts: dict[tuple[str, Frequency, int], ImpactText] = {}
    for currency, frequency, amount, marked, impact, translations in session.execute(
            select(AmountPreset.currency, AmountPreset.frequency, AmountPreset.amount_minor, AmountPreset.most_chosen,
                   AmountPreset.impact, AmountPreset.translations)
            .order_by(AmountPreset.position, AmountPreset.amount_minor)):
        presets[(currency, frequency)].append(amount)
        if marked:
            most_chosen.setdefault((currency, frequency), amount)
        if impact or translations:
            impacts[(currency, frequency, amount)] = ImpactText(impact, translations or {})
    return Catalogue(
        tiers=tuple(
            TierEntry(id=row.id, slug=row.slug, name=row.name, description=row.description,
                      benefit_lines=tuple(line.strip() for line in row.benefits.splitlines() if line.strip()),
                      amounts=tuple(amounts), benefits=row.benefits, translations=row.translations or {})
            for row, amounts in tiers.values()),
        presets={key: tuple(amounts) for key, amounts in presets.items()},
        most_chosen=most_chosen,
        impacts=impacts,
        rules=effective_currency_rules(session, defaults),
        campaigns=campaign_entries(session, utcnow()),
    )


def catalogue_token(session: Session) -> str | None:
    """The version token of the catalogue in the database (None before anything ever changed it)."""
    return session.scalar(select(CatalogueVersion.token).where(CatalogueVersion.id == 1))


class CatalogueCache:
    """One app's catalogue, kept under the version token it was loaded after."""

    def __init__(self) -> None:
        self._entry: tuple[str | None, Catalogue] | None = None

    def get(self, session: Session, defaults: Mapping[str, CurrencyRules]) -> Catalogue:
        # The token is read before the rows, so a catalogue is never older than the token it is kept under: a
        # change committed in between at worst makes the next request load it again.
        token = catalogue_token(session)
        entry = self._entry
        if entry is not None and entry[0] == token:
            return entry[1]
        loaded = load_catalogue(session, defaults)
        self._entry = (token, loaded)  # one assignment: another thread sees the old entry or the new, whole
        return loaded


def current_catalogue(session: Session) -> Catalogue:
    """The catalogue in force for this app, checked against the database's version token (one statement)."""
    cache: CatalogueCache | None = current_app.extensions.get(CACHE_KEY)
    if cache is None:  # two threads may both make one: the loser's is dropped, harmlessly
        cache = current_app.extensions[CACHE_KEY] = CatalogueCache()
    return cache.get(session, default_currency_rules())


# Keeping the token in step --------------------------------------------------------------------------------


def _replace_token(session: Session) -> None:
    insert = dialect_insert(session)
    values = {"token": uuid.uuid4().hex, "changed_at": utcnow()}
    session.connection().execute(
        insert(CatalogueVersion).values(id=1, **values).on_conflict_do_update(index_elements=["id"], set_=values))


@event.listens_for(Session, "after_flush")
def _catalogue_rows_flushed(session: Session, flush_context: UOWTransaction) -> None:
    """Any tier, tier amount, preset or bound added, changed or deleted through the ORM replaces the token in the
    same transaction (on commit both become visible together; on rollback neither)."""
    # The type first: `is_modified` walks an object's attributes, and most flushes touch no catalogue row at all.
    if (any(isinstance(obj, CATALOGUE_MODELS) for obj in chain(session.new, session.deleted))
            or any(isinstance(obj, CATALOGUE_MODELS) and session.is_modified(obj) for obj in session.dirty)):
        _replace_token(session)


@event.listens_for(Session, "do_orm_execute")
def _catalogue_rows_bulk_changed(state: ORMExecuteState) -> None:
    """The same for a bulk `insert`/`update`/`delete` of catalogue rows run through the session."""
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    mapper = state.bind_mapper
    if mapper is not None and issubclass(mapper.class_, CATALOGUE_MODELS):
        _replace_token(state.session)
