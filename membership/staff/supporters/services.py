"""Supporters for staff: the searchable list and one supporter's record.

The list pages by keyset (the last id shown), never OFFSET, so the thousandth page costs what the first
does; each filter is an EXISTS probe on an indexed column (migration 0004). Reading a supporter's record
is written to the audit log with ids only, never personal data. The admin actions are in `actions.py`,
the export and erasure of a supporter's personal data in `personal_data.py`. Services flush, never commit.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from membership.ballots import services as ballot_services
from membership.giving.models import (
    Checkout,
    CheckoutStatus,
    Membership,
    MembershipStatus,
    Payment,
    PaymentStatus,
    RefundRequest,
    RefundStatus,
    Tier,
)
from membership.giving.services import DUNNING_STATUSES
from membership.i18n import gettext as _
from membership.patrons.services import patron_condition
from membership.staff.accounts.audit import record_audit
from membership.staff.accounts.models import StaffUser
from membership.supporters.models import ConsentEvent, Supporter

PAGE_SIZE = 50
LIKE_ESCAPE = "/"


class PatronStatus(enum.StrEnum):
    PATRON = "patron"  # a patron now (the one patron rule)
    PAST_DUE = "past_due"  # a membership whose renewal is failing, in its grace period or past it
    CANCELLED = "cancelled"  # a cancelled membership, and not a patron now
    NEVER = "never"  # never had a membership


# The list -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SupporterFilters:
    search: str = ""  # part of the email address or name, any case
    status: PatronStatus | None = None
    tier_id: int | None = None  # a membership at this tier, now or before
    currency: str = ""  # gave in this currency
    first_gift_from: date | None = None  # first payment on or after this day (UTC)
    first_gift_to: date | None = None  # first payment on or before this day (UTC)
    source: str = ""  # gave through a checkout whose article URL contains this
    campaign: str = ""  # gave through a checkout with exactly this utm_campaign


@dataclass(frozen=True)
class SupporterRow:
    supporter: Supporter
    status: str
    first_gift_at: datetime | None


@dataclass(frozen=True)
class SupporterPage:
    rows: list[SupporterRow]
    next_after: int | None  # the cursor of the next page, None on the last one


def _contains(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, with LIKE's own wildcards taken literally."""
    for char in (LIKE_ESCAPE, "%", "_"):
        text = text.replace(char, LIKE_ESCAPE + char)
    return f"%{text}%"


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def filter_conditions(filters: SupporterFilters, now: datetime, grace: timedelta,
                      after: int | None = None) -> list[ColumnElement[bool]]:
    """The filters as SQL conditions on `supporters`, each an EXISTS probe on an index led by its column.

    The page cursor `after` is repeated inside each EXISTS: PostgreSQL doesn't carry a range across a
    join, and without it a deep page would scan the related table from the top down to the cursor.
    """

    def exists(model: type[Membership] | type[Payment] | type[Checkout],
               *where: ColumnElement[bool]) -> ColumnElement[bool]:
        below = [model.supporter_id < after] if after is not None else []
        return select(model.id).where(model.supporter_id == Supporter.id, *below, *where).exists()

    conditions: list[ColumnElement[bool]] = []
    if filters.search:
        pattern = _contains(filters.search)
        conditions.append(or_(Supporter.email.ilike(pattern, escape=LIKE_ESCAPE),
                              Supporter.name.ilike(pattern, escape=LIKE_ESCAPE)))
    patron_now = exists(Membership, patron_condition(now, grace))
    if filters.status is PatronStatus.PATRON:
        conditions.append(patron_now)
    elif filters.status is PatronStatus.PAST_DUE:
        conditions.append(exists(Membership, Membership.status.in_(DUNNING_STATUSES)))
    elif filters.status is PatronStatus.CANCELLED:
        conditions += [exists(Membership, Membership.status == MembershipStatus.CANCELED), ~patron_now]
    elif filters.status is PatronStatus.NEVER:
        conditions.append(~exists(Membership))
    if filters.tier_id is not None:
        conditions.append(exists(Membership, Membership.tier_id == filters.tier_id))
    if filters.currency:
        conditions.append(exists(Payment, Payment.currency == filters.currency))
    if filters.first_gift_from or filters.first_gift_to:
        # The first gift falls in the range: none before it, at least one in it.
        in_range: list[ColumnElement[bool]] = []
        if filters.first_gift_from:
            conditions.append(~exists(Payment, Payment.paid_at < _start_of(filters.first_gift_from)))
            in_range.append(Payment.paid_at >= _start_of(filters.first_gift_from))
        if filters.first_gift_to:
            in_range.append(Payment.paid_at < _start_of(filters.first_gift_to) + timedelta(days=1))
        conditions.append(exists(Payment, *in_range))
    completed = Checkout.status == CheckoutStatus.COMPLETED
    if filters.source:
        conditions.append(exists(Checkout, completed,
                                 Checkout.source_url.ilike(_contains(filters.source), escape=LIKE_ESCAPE)))
    if filters.campaign:
        conditions.append(exists(Checkout, Checkout.utm_campaign == filters.campaign, completed))
    return conditions


def tier_choices(session: Session) -> list[tuple[int, str]]:
    """Every tier (hidden ones too: memberships stay at them), for the tier filter."""
    return [(tier_id, name) for tier_id, name in session.execute(
        select(Tier.id, Tier.name).order_by(Tier.position, Tier.id))]


def list_supporters(session: Session, filters: SupporterFilters, after: int | None, now: datetime,
                    grace: timedelta, page_size: int = PAGE_SIZE) -> SupporterPage:
    """One page of supporters matching `filters`, newest first, starting after the supporter id `after`."""
    query = (select(Supporter).where(*filter_conditions(filters, now, grace, after))
             .order_by(Supporter.id.desc()).limit(page_size + 1))
    if after is not None:
        query = query.where(Supporter.id < after)
    supporters = list(session.scalars(query))
    page, more = supporters[:page_size], len(supporters) > page_size
    ids = [supporter.id for supporter in page]
    labels = status_labels(session, ids, now, grace)
    firsts = first_gifts(session, ids)
    return SupporterPage(
        rows=[SupporterRow(supporter, labels[supporter.id], firsts.get(supporter.id)) for supporter in page],
        next_after=page[-1].id if more else None,
    )


def browse_supporters(session: Session, actor: StaffUser, filters: SupporterFilters, after: int | None,
                      now: datetime, grace: timedelta, ip: str = "") -> SupporterPage:
    """A page of the list, for a staff member to read: written to the audit log with the search and filters
    used and the ids of the supporters it showed (their emails and names are on the page, not in the log)."""
    page = list_supporters(session, filters, after, now, grace)
    used = {name: value.isoformat() if isinstance(value, date) else str(value)
            for name, value in vars(filters).items() if value not in (None, "")}
    record_audit(session, actor, "supporters.listed", ip=ip, filters=used, after=after,
                 shown=[row.supporter.id for row in page.rows])
    return page


def first_gifts(session: Session, supporter_ids: Sequence[int]) -> dict[int, datetime]:
    if not supporter_ids:
        return {}
    return {
        supporter_id: first
        for supporter_id, first in session.execute(
            select(Payment.supporter_id, func.min(Payment.paid_at))
            .where(Payment.supporter_id.in_(supporter_ids))
            .group_by(Payment.supporter_id)
        )
    }


def status_labels(session: Session, supporter_ids: Sequence[int], now: datetime, grace: timedelta) -> dict[int, str]:
    """Each supporter's patron status in words, as the filter defines the statuses."""

    def having(*conditions: ColumnElement[bool]) -> set[int]:
        if not supporter_ids:
            return set()
        return set(session.scalars(
            select(Membership.supporter_id).where(Membership.supporter_id.in_(supporter_ids), *conditions).distinct()
        ))

    patrons, failing = having(patron_condition(now, grace)), having(Membership.status.in_(DUNNING_STATUSES))
    cancelled, members = having(Membership.status == MembershipStatus.CANCELED), having()

    def label(supporter_id: int) -> str:
        if supporter_id in patrons:
            return str(_("Patron, renewal failing") if supporter_id in failing else _("Patron"))
        if supporter_id in failing:
            return str(_("Renewal failing"))
        if supporter_id in cancelled:
            return str(_("Cancelled"))
        return str(_("Not a patron") if supporter_id in members else _("Never a patron"))

    return {supporter_id: label(supporter_id) for supporter_id in supporter_ids}


# One supporter ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SupporterRecord:
    """Everything the staff page shows about one supporter."""

    supporter: Supporter
    status: str
    checkouts: list[Checkout]
    memberships: list[Membership]
    payments: list[Payment]
    refundable: dict[int, int]  # payment id → what is left to refund, minor units
    refunds: list[RefundRequest]
    consent_events: list[ConsentEvent]
    ballots: int  # how many ballots they took part in (never which way they voted)


def ballots_taken_part(session: Session, supporter_id: int) -> int:
    """How many ballots the supporter voted in, never which way."""
    return ballot_services.ballots_taken_part(session, supporter_id)


def accepted_refunds_minor(session: Session, payment_id: int) -> int:
    return int(session.scalar(
        select(func.coalesce(func.sum(RefundRequest.amount_minor), 0))
        .where(RefundRequest.payment_id == payment_id, RefundRequest.status == RefundStatus.ACCEPTED)
    ) or 0)


def refundable_minor(session: Session, payment: Payment) -> int:
    """What is left to refund: the amount less refunds Stripe reported or accepted from us (its webhook may
    not have arrived yet). Nothing for a disputed payment or one without a charge."""
    if payment.status is PaymentStatus.DISPUTED or not payment.stripe_charge_id:
        return 0
    refunded = max(payment.refunded_minor, accepted_refunds_minor(session, payment.id))
    return max(0, payment.amount_minor - refunded)


def supporter_record(session: Session, supporter_id: int, now: datetime, grace: timedelta) -> SupporterRecord | None:
    supporter = session.get(Supporter, supporter_id)
    if supporter is None:
        return None
    payments = list(session.scalars(
        select(Payment).where(Payment.supporter_id == supporter_id).order_by(Payment.paid_at.desc(), Payment.id.desc())
    ))
    return SupporterRecord(
        supporter=supporter,
        status=status_labels(session, [supporter_id], now, grace)[supporter_id],
        checkouts=list(session.scalars(
            select(Checkout).where(Checkout.supporter_id == supporter_id).order_by(Checkout.id.desc()))),
        memberships=list(session.scalars(
            select(Membership).where(Membership.supporter_id == supporter_id).order_by(Membership.id.desc()))),
        payments=payments,
        refundable={payment.id: refundable_minor(session, payment) for payment in payments},
        refunds=list(session.scalars(
            select(RefundRequest).join(Payment).where(Payment.supporter_id == supporter_id)
            .order_by(RefundRequest.id.desc()))),
        consent_events=list(supporter.consent_events),
        ballots=ballots_taken_part(session, supporter_id),
    )


def view_supporter(session: Session, actor: StaffUser, supporter_id: int, now: datetime, grace: timedelta,
                   ip: str = "") -> SupporterRecord | None:
    """The supporter's record, for a staff member to read. The reading is written to the audit log."""
    record = supporter_record(session, supporter_id, now, grace)
    if record is not None:
        record_audit(session, actor, "supporter.viewed", target_type="supporter", target_id=supporter_id, ip=ip)
    return record
