"""Demo data for `make run`: tiers and one-click amounts, a few hundred supporters with 14 months of history,
and a demo admin. Idempotent: matched by natural keys, and the history is skipped once it exists.

The history is written straight to the database with clearly fake Stripe ids (`cus_demo_…`, `pi_demo_…`,
`sub_demo_…`): nothing of it exists at Stripe or at the double, so nothing here ever reaches either.
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from membership.ballots.models import Ballot, BallotOption, ResultsVisibility, VotingMethod
from membership.giving.models import (
    AmountPreset,
    Checkout,
    CheckoutStatus,
    Frequency,
    Membership,
    MembershipStatus,
    Payment,
    PaymentKind,
    PaymentStatus,
    Tier,
    TierAmount,
    WallStatus,
)
from membership.money import FeeRule
from membership.staff.accounts.models import Role, StaffUser
from membership.staff.accounts.services import create_staff
from membership.supporters.models import ConsentEvent, Supporter

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


# What each preset pays for, by frequency and position (the same line for the same place in every currency), in
# English and Ukrainian: one line under the amount on /give. Not every amount has one, as on a real support page.
PRESET_IMPACTS: dict[Frequency, dict[int, tuple[str, str]]] = {
    Frequency.ONCE: {
        1: ("Covers a reporter's travel to one story", "Покриває дорогу репортера до однієї історії"),
        2: ("Pays for a day of fact-checking", "Оплачує день перевірки фактів"),
        3: ("Funds a day of on-the-ground reporting", "Фінансує день репортажу з місця подій"),
    },
    Frequency.MONTHLY: {
        0: ("The cost of one cup of coffee keeps a story free for everyone",
            "Ціна однієї чашки кави: історія відкрита для всіх"),
        2: ("Funds a day of fact-checking every month", "Щомісяця фінансує день перевірки фактів"),
        3: ("Pays for a week of on-the-ground reporting each year",
            "Щороку оплачує тиждень репортажів з місця подій"),
    },
    Frequency.YEARLY: {
        2: ("Funds a week of on-the-ground reporting", "Фінансує тиждень репортажів з місця подій"),
        3: ("Makes a long investigation possible, from the first tip to the story",
            "Уможливлює довге розслідування: від першої підказки до публікації"),
    },
}
# The amount marked "most chosen" (and preselected) on /give, by frequency: its position among the presets.
MOST_CHOSEN_POSITION = {Frequency.ONCE: 1, Frequency.MONTHLY: 1, Frequency.YEARLY: 1}


def seed_preset_texts(session: Session) -> int:
    """Development only: the demo presets' impact texts (English and Ukrainian) and one "most chosen" amount per
    currency and frequency, as a newsroom's staff would set them at /staff/tiers. A preset with an impact text
    keeps it, and a currency and frequency with a most chosen amount keeps that. Returns how many presets changed."""
    presets = list(session.scalars(select(AmountPreset).where(AmountPreset.currency.in_(PRESETS))))
    marked = {(preset.currency, preset.frequency) for preset in presets if preset.most_chosen}
    changed = 0
    for preset in presets:
        values = PRESETS[preset.currency].get(preset.frequency, [])
        if preset.amount_minor not in values:
            continue  # one staff added: left as they made it
        position = values.index(preset.amount_minor)
        impact = PRESET_IMPACTS[preset.frequency].get(position)
        touched = False
        if impact is not None and not preset.impact and not preset.translations:
            preset.impact, preset.translations = impact[0], {"uk": {"impact": impact[1]}}
            touched = True
        if (preset.currency, preset.frequency) not in marked and position == MOST_CHOSEN_POSITION[preset.frequency]:
            preset.most_chosen = True
            marked.add((preset.currency, preset.frequency))
            touched = True
        changed += touched
    session.flush()
    return changed


# Demo history --------------------------------------------------------------------------------------

DEMO_CUSTOMER_PREFIX = "cus_demo_"
DEMO_SUPPORTERS = 300
HISTORY_DAYS = 425  # about 14 months
FIRST_NAMES = ["Olena", "Andrii", "Iryna", "Taras", "Oksana", "Dmytro", "Kateryna", "Serhii", "Nataliia", "Yurii",
               "Sofiia", "Bohdan", "Anna", "Maksym", "Mariia", "Oleh", "Emma", "Lukas", "Sarah", "James", "Marta",
               "Tomasz", "Ingrid", "Pierre"]
LAST_NAMES = ["Kovalenko", "Shevchenko", "Bondarenko", "Tkachenko", "Kravchenko", "Melnyk", "Boiko", "Oliinyk",
              "Lysenko", "Moroz", "Savchenko", "Petrenko", "Schmidt", "Nowak", "Johnson", "Dubois", "Larsen",
              "Rossi"]
ARTICLES = [
    "https://news.example/2026/frontline-hospitals",
    "https://news.example/2026/energy-winter",
    "https://news.example/2026/reconstruction-money",
    "https://news.example/2025/deported-children",
    "https://news.example/2025/grain-corridor",
    "https://news.example/2026/local-elections",
    "https://news.example/2025/investigation-procurement",
]
# (utm_source, utm_medium, utm_campaign)
CAMPAIGNS = [("newsletter", "email", "weekly-digest"), ("newsletter", "email", "year-end-appeal"),
             ("facebook", "social", "spring-drive"), ("twitter", "social", "spring-drive"),
             ("partner", "referral", "podcast-ad")]
CURRENCIES = {"EUR": 50, "UAH": 20, "USD": 20, "GBP": 10}
TIER_WEIGHTS = {"coffee": 50, "patron": 35, "champion": 15}
CANCEL_REASONS = {"too_expensive": 30, "unused": 20, "": 20, "switched_service": 10, "low_quality": 8,
                  "other": 7, "too_complex": 5}
# Messages readers leave for the supporter wall (most approved by an editor, a few still waiting).
WALL_MESSAGES = ["Thank you for the reporting from the front line.", "Keep asking the hard questions!",
                 "Your energy coverage got my family through the winter.",
                 "Independent journalism matters. Slava Ukraini!",
                 "For the investigations team, with gratitude.", "I read you every morning. Here's my coffee.",
                 "In memory of my grandfather, who read every newspaper he could find.",
                 "Best local election coverage anywhere.", "Small but monthly. Keep going."]
CANCEL_COMMENTS = ["Money is tight this winter.", "I'll be back when things settle down.",
                   "I support a local outlet now.", "Too many emails.", "Thank you for your reporting!"]


@dataclass
class _History:
    """Builds the rows of the demo history, deterministically from one seed, relative to `now`."""

    session: Session
    now: datetime
    fees: Mapping[str, FeeRule]
    tiers: dict[str, Tier]
    rng: random.Random
    # The wall's names and messages draw from their own generator, so the money history stays what it was.
    voices: random.Random = field(default_factory=lambda: random.Random(7))
    ids: int = 0
    payments: int = 0

    def next_id(self, prefix: str) -> str:
        self.ids += 1
        return f"{prefix}_demo_{self.ids:06d}"

    def pick(self, weights: Mapping[str, int]) -> str:
        return self.rng.choices(list(weights), weights=list(weights.values()))[0]

    def supporter(self, n: int) -> Supporter:
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        created = self.now - timedelta(days=self.rng.uniform(1, HISTORY_DAYS), minutes=self.rng.randrange(1440))
        supporter = Supporter(email=f"{first}.{last}.{n}@example.net".lower(), name=f"{first} {last}",
                              stripe_customer_id=f"{DEMO_CUSTOMER_PREFIX}{n:04d}", created_at=created,
                              updated_at=created)
        if self.rng.random() < 0.45:
            supporter.email_consent, supporter.email_consent_at = True, created
            supporter.consent_events.append(ConsentEvent(consented=True, source="give_form", created_at=created))
        self.session.add(supporter)
        return supporter

    def checkout(self, supporter: Supporter, at: datetime, frequency: Frequency, currency: str,
                 amount: int) -> Checkout:
        utm = self.rng.choice(CAMPAIGNS) if self.rng.random() < 0.5 else ("", "", "")
        cover = self.rng.random() < 0.3
        checkout = Checkout(
            supporter=supporter, frequency=frequency, amount_minor=amount, currency=currency, cover_fees=cover,
            fee_cover_minor=self.fees[currency].gross_up(amount) - amount if cover else 0,
            source_url=self.rng.choice(ARTICLES) if self.rng.random() < 0.7 else "",
            utm_source=utm[0], utm_medium=utm[1], utm_campaign=utm[2],
            stripe_session_id=self.next_id("cs"), status=CheckoutStatus.COMPLETED, created_at=at,
            completed_at=at + timedelta(minutes=2), anonymous=self.voices.random() < 0.2,
        )
        if self.voices.random() < 0.25:
            checkout.message = self.voices.choice(WALL_MESSAGES)
            checkout.wall_status = WallStatus.APPROVED if self.voices.random() < 0.8 else WallStatus.PENDING
        self.session.add(checkout)
        self.session.flush()  # the membership refers to it by id
        return checkout

    def payment(self, supporter: Supporter, at: datetime, gross: int, currency: str, kind: PaymentKind,
                checkout: Checkout | None = None, membership: Membership | None = None) -> None:
        fee = self.fees[currency].fee_for(gross)
        status, refunded, roll = PaymentStatus.PAID, 0, self.rng.random()
        if roll < 0.03:
            status, refunded = PaymentStatus.REFUNDED, gross
        elif roll < 0.05:
            status, refunded = PaymentStatus.PARTIALLY_REFUNDED, gross // 2
        elif roll < 0.055:
            status = PaymentStatus.DISPUTED
        self.session.add(Payment(
            supporter=supporter, checkout=checkout, membership=membership, kind=kind,
            stripe_payment_intent_id=self.next_id("pi"), stripe_charge_id=self.next_id("ch"),
            stripe_invoice_id=self.next_id("in") if kind is PaymentKind.MEMBERSHIP else None,
            stripe_balance_transaction_id=self.next_id("txn"), amount_minor=gross, fee_minor=fee,
            net_minor=gross - fee, currency=currency, status=status, refunded_minor=refunded,
            dispute_status="needs_response" if status is PaymentStatus.DISPUTED else "", paid_at=at, created_at=at,
        ))
        self.payments += 1

    def gifts(self, supporter: Supporter, at: datetime, currency: str) -> None:
        while at < self.now:
            amount = self.rng.choice(PRESETS[currency][Frequency.ONCE])
            checkout = self.checkout(supporter, at, Frequency.ONCE, currency, amount)
            self.payment(supporter, checkout.completed_at or at, checkout.total_minor, currency, PaymentKind.GIFT,
                         checkout=checkout)
            if self.rng.random() > 0.25:
                return
            at += timedelta(days=self.rng.uniform(20, 200))

    def membership(self, supporter: Supporter, at: datetime, currency: str, frequency: Frequency) -> None:
        tier = self.tiers[self.pick(TIER_WEIGHTS)]
        amount = next(a.amount_minor for a in tier.amounts if a.currency == currency and a.frequency is frequency)
        checkout = self.checkout(supporter, at, frequency, currency, amount)
        months = 1 if frequency is Frequency.MONTHLY else 12
        started = checkout.completed_at or at
        membership = Membership(
            supporter=supporter, checkout_id=checkout.id, tier=tier, stripe_subscription_id=self.next_id("sub"),
            status=MembershipStatus.ACTIVE, amount_minor=checkout.total_minor, currency=currency,
            interval=frequency.interval or "month", started_at=started, card_brand="visa", card_last4="4242",
        )
        self.session.add(membership)
        period, first = 0, True
        while True:
            due = add_months(started, months * period)
            if due > self.now:
                membership.current_period_end = due
                return
            if not first and due > self.now - timedelta(days=20) and self.rng.random() < 0.06:
                membership.status, membership.past_due_since, membership.current_period_end = (
                    MembershipStatus.PAST_DUE, due, due)
                return
            self.payment(supporter, due, membership.amount_minor, currency, PaymentKind.MEMBERSHIP,
                         checkout=checkout if first else None, membership=membership)
            first, period = False, period + 1
            if self.rng.random() < 0.035 * months ** 0.5:
                self.cancel(membership, due, add_months(started, months * period))
                return

    def cancel(self, membership: Membership, paid: datetime, period_end: datetime) -> None:
        membership.canceled_at = paid + (period_end - paid) * self.rng.uniform(0.1, 0.9)
        membership.cancel_reason = self.pick(CANCEL_REASONS)
        if self.rng.random() < 0.4:
            membership.cancel_comment = self.rng.choice(CANCEL_COMMENTS)
        membership.current_period_end = period_end
        if period_end <= self.now:
            membership.status, membership.ended_at = MembershipStatus.CANCELED, period_end
        elif membership.canceled_at <= self.now:
            membership.cancel_at_period_end = True
        else:
            membership.canceled_at, membership.cancel_reason, membership.cancel_comment = None, "", ""


def add_months(moment: datetime, months: int) -> datetime:
    """The same day `months` later, or the month's last day (Stripe bills 31 January, then 28 February)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def seed_history(session: Session, now: datetime, fees: Mapping[str, FeeRule], supporters: int = DEMO_SUPPORTERS,
                 seed: int = 2026) -> tuple[int, int]:
    """A few hundred demo supporters with gifts, memberships (active, past due, cancelled with reasons),
    refunds and attributed checkouts over the last 14 months. Returns (supporters, payments) added; nothing
    if the history is already there. Currencies without a fee rule are left out.
    """
    seeded = session.scalar(select(Supporter.id).where(Supporter.stripe_customer_id.startswith(DEMO_CUSTOMER_PREFIX))
                            .limit(1))
    if seeded is not None:
        return 0, 0
    history = _History(session, now, fees, {t.slug: t for t in session.scalars(select(Tier))}, random.Random(seed))
    currencies = {code: weight for code, weight in CURRENCIES.items() if code in fees}
    for n in range(1, supporters + 1):
        supporter = history.supporter(n)
        currency = history.pick(currencies)
        frequency = Frequency(history.pick({"once": 50, "monthly": 40, "yearly": 10}))
        if frequency is Frequency.ONCE:
            history.gifts(supporter, supporter.created_at, currency)
        else:
            history.membership(supporter, supporter.created_at, currency, frequency)
    session.flush()
    return supporters, history.payments


def seed_demo_admin(session: Session, email: str, password: str) -> bool:
    """The demo admin account for `make run`, unless an account with that email exists. True if created."""
    if session.scalar(select(StaffUser.id).where(StaffUser.email == email)) is not None:
        return False
    create_staff(session, email, Role.ADMIN, name="Demo Admin", password=password)
    return True


DEMO_BALLOT_TITLE = "What should we investigate next?"
DEMO_BALLOT_OPTIONS = [
    ("Where the reconstruction money goes", "Follow the contracts for rebuilding schools and hospitals in the east."),
    ("Winter energy: who gets cut off first", "How power outages are scheduled, and who decides."),
    ("Pensions in the occupied territories", "What happens to the pensions of people who couldn't leave."),
    ("Mental health care for veterans", "Waiting lists, clinics and what families are told."),
]


def seed_demo_ballot(session: Session, now: datetime) -> bool:
    """One open, published demo ballot (two weeks from `now`), unless it exists. True if created.

    Unlike a real ballot's default, any current patron may vote, so the demo patron `make run` creates at
    start can; results show live, so the chart appears as soon as someone votes.
    """
    if session.scalar(select(Ballot.id).where(Ballot.title == DEMO_BALLOT_TITLE).limit(1)) is not None:
        return False
    now = now.replace(second=0, microsecond=0)
    session.add(Ballot(
        title=DEMO_BALLOT_TITLE,
        introduction=("Patrons choose the story our investigations team takes on next. Vote for the topic you most "
                      "want us to cover; you can change your vote until the ballot closes.\n\n"
                      "This is the demo ballot: any current patron may vote, and results show live."),
        opens_at=now - timedelta(days=1), closes_at=now + timedelta(days=14), published_at=now - timedelta(days=1),
        method=VotingMethod.SINGLE, max_choices=1, results_visibility=ResultsVisibility.LIVE,
        require_paid_before_open=False, tier_weights={}, min_monthly={},
        options=[BallotOption(title=title, description=description, position=position)
                 for position, (title, description) in enumerate(DEMO_BALLOT_OPTIONS)],
    ))
    session.flush()
    return True


def seed_demo(session: Session, now: datetime | None = None, fees: Mapping[str, FeeRule] | None = None) -> str:
    """Tiers and presets, and (given `now` and the fee rules: development only) the demo history and ballot."""
    tiers, presets = seed_catalogue(session)
    summary = f"Demo data: {tiers} tiers and {presets} amount presets added (existing ones kept)"
    if now is None or fees is None:
        return summary + "."
    summary += f"; impact texts or a most chosen mark on {seed_preset_texts(session)} presets"
    summary += "; the demo ballot " + ("added" if seed_demo_ballot(session, now) else "was already there")
    people, payments = seed_history(session, now, fees)
    if not people:
        return summary + "; the demo supporters were already there."
    return summary + f"; {people} demo supporters with {payments} payments over the last 14 months."
