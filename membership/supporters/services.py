"""Finding and updating supporters. Plain values in, models out; the caller commits."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from membership.db import dialect_insert, utcnow
from membership.supporters.models import ConsentEvent, Supporter
from membership.webhooks_out import EventType, emit


class InvalidEmail(ValueError):
    pass


def normalise_email(email: str) -> str:
    """Lower-cased, trimmed and IDNA-normalised; raises InvalidEmail with a reader-facing reason."""
    try:
        result = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from None
    return result.normalized.lower()


def find_supporter_by_email(session: Session, email: str) -> Supporter | None:
    return session.scalar(select(Supporter).where(Supporter.email == normalise_email(email)))


def find_or_create_supporter(session: Session, email: str, name: str = "") -> Supporter:
    """The supporter for this address, created if new. Safe against two requests creating it at once."""
    address = normalise_email(email)
    insert = dialect_insert(session)
    now = utcnow()
    session.execute(
        insert(Supporter)
        .values(email=address, name=name.strip(), email_consent=False, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=["email"])
    )
    supporter = session.scalars(
        select(Supporter).where(Supporter.email == address).execution_options(populate_existing=True)
    ).one()
    if name.strip() and not supporter.name:
        supporter.name = name.strip()
    return supporter


def record_consent(session: Session, supporter: Supporter, consented: bool, source: str) -> None:
    """Set email-updates consent and keep the change in the consent history (only when it changes)."""
    if supporter.email_consent == consented and supporter.email_consent_at is not None:
        return
    supporter.email_consent = consented
    supporter.email_consent_at = utcnow()
    session.add(ConsentEvent(supporter=supporter, consented=consented, source=source))
    session.flush()
    emit(session, EventType.CONSENT_CHANGED,
         {"supporter_id": supporter.id, "email_consent": consented, "source": source,
          "changed_at": supporter.email_consent_at.isoformat().replace("+00:00", "Z")}, email=supporter.email)


def link_stripe_customer(session: Session, supporter: Supporter, customer_id: str | None) -> None:
    """Remember the Stripe customer created by Checkout, unless another supporter already owns it."""
    if not customer_id or supporter.stripe_customer_id == customer_id:
        return
    if supporter.stripe_customer_id is not None:
        return
    with session.no_autoflush:  # whose it is, in the database: the caller's pending changes can wait
        owner = session.scalar(_CUSTOMER_OWNER, {"customer_id": customer_id})
    if owner is None:
        # Written with the supporter's other changes at the next flush (one UPDATE, not one per change).
        supporter.stripe_customer_id = customer_id


# Built once: every completed checkout runs it.
_CUSTOMER_OWNER = select(Supporter.id).where(Supporter.stripe_customer_id == bindparam("customer_id"))


def end_sessions(session: Session, supporter: Supporter) -> None:
    """Sign the supporter out on every device: sessions started before this no longer match their epoch.

    Incremented in SQL, so two devices signing out at once both count.
    """
    supporter.session_epoch = Supporter.session_epoch + 1
    session.flush()
