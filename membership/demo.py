"""Demo data for `make run`: tiers and one-click amounts. Idempotent: matched by natural keys."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from membership.giving.models import AmountPreset, Frequency, Tier, TierAmount

# (slug, name, description, benefits, {currency: (monthly, yearly)} in minor units)
TIERS: list[tuple[str, str, str, str, dict[str, tuple[int, int]]]] = [
    (
        "coffee",
        "Cup of coffee",
        "For as little as the cost of one cup of coffee a month, you keep our reporting free for everyone.",
        "Our thanks in every newsletter\nVote for topics we should cover next",
        {"EUR": (300, 3000), "USD": (300, 3000), "GBP": (300, 3000), "UAH": (10000, 100000)},
    ),
    (
        "patron",
        "Patron",
        "Become a patron and fund a week of on-the-ground reporting every year.",
        "Everything in Cup of coffee\nA quarterly call with the editors\nYour name in our annual report (optional)",
        {"EUR": (1000, 10000), "USD": (1000, 10000), "GBP": (1000, 10000), "UAH": (40000, 400000)},
    ),
    (
        "champion",
        "Champion",
        "Champions make long investigations possible, from the first tip to the published story.",
        "Everything in Patron\nEarly access to investigations\nAn invitation to our annual meeting",
        {"EUR": (2500, 25000), "USD": (2500, 25000), "GBP": (2500, 25000), "UAH": (100000, 1000000)},
    ),
]

PRESETS: dict[str, dict[Frequency, list[int]]] = {
    "EUR": {Frequency.ONCE: [1000, 2500, 5000, 10000], Frequency.MONTHLY: [300, 500, 1000, 2500],
            Frequency.YEARLY: [3000, 5000, 10000, 25000]},
    "USD": {Frequency.ONCE: [1000, 2500, 5000, 10000], Frequency.MONTHLY: [300, 500, 1000, 2500],
            Frequency.YEARLY: [3000, 5000, 10000, 25000]},
    "GBP": {Frequency.ONCE: [1000, 2500, 5000, 10000], Frequency.MONTHLY: [300, 500, 1000, 2500],
            Frequency.YEARLY: [3000, 5000, 10000, 25000]},
    "UAH": {Frequency.ONCE: [20000, 50000, 100000, 200000], Frequency.MONTHLY: [10000, 20000, 40000, 100000],
            Frequency.YEARLY: [100000, 200000, 400000, 1000000]},
}


def seed_catalogue(session: Session) -> tuple[int, int]:
    """Create the demo tiers and presets that are missing. Returns (tiers added, presets added)."""
    tiers_added = presets_added = 0
    for position, (slug, name, description, benefits, amounts) in enumerate(TIERS):
        tier = session.scalar(select(Tier).where(Tier.slug == slug))
        if tier is None:
            tier = Tier(slug=slug, name=name, description=description, benefits=benefits, position=position)
            session.add(tier)
            tiers_added += 1
            for currency, (monthly, yearly) in amounts.items():
                tier.amounts.append(TierAmount(currency=currency, frequency=Frequency.MONTHLY, amount_minor=monthly))
                tier.amounts.append(TierAmount(currency=currency, frequency=Frequency.YEARLY, amount_minor=yearly))
    existing = set(session.execute(select(AmountPreset.currency, AmountPreset.frequency, AmountPreset.amount_minor)))
    for currency, by_frequency in PRESETS.items():
        for frequency, values in by_frequency.items():
            for position, amount in enumerate(values):
                if (currency, frequency, amount) not in existing:
                    session.add(AmountPreset(currency=currency, frequency=frequency, amount_minor=amount,
                                             position=position))
                    presets_added += 1
    session.flush()
    return tiers_added, presets_added


def seed_demo(session: Session) -> str:
    tiers, presets = seed_catalogue(session)
    return f"Demo data: {tiers} tiers and {presets} amount presets added (existing ones kept)."
