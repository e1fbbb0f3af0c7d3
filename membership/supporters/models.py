from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from membership.db import Base, UTCDateTime, utcnow
from membership.i18n import gettext as _


class Supporter(Base):
    """A reader who gave at least once (or started to). Erasure blanks personal data, keeps the row."""

    __tablename__ = "supporters"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Null only after erasure: the row stays so money rows keep a (now anonymous) owner.
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    email_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    email_consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # "What your vote commissioned" emails (ballots); patrons switch them off on the account page.
    ballot_emails: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Stored in the patron's session at sign-in; bumping it (sign-out, erasure) ends every session they have.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # The language their emails are written in (and their pages, once signed in): set when they give, changed at
    # /account. Null = the newsroom's DEFAULT_LOCALE.
    locale: Mapped[str | None] = mapped_column(String(16))

    consent_events: Mapped[list[ConsentEvent]] = relationship(
        back_populates="supporter", order_by="ConsentEvent.id", cascade="all, delete-orphan"
    )

    # Staff search (ILIKE '%…%' on email and name): trigram GIN indexes on PostgreSQL, plain ones on SQLite.
    __table_args__ = (
        Index("ix_supporters_email_search", "email", postgresql_using="gin", postgresql_ops={"email": "gin_trgm_ops"}),
        Index("ix_supporters_name_search", "name", postgresql_using="gin", postgresql_ops={"name": "gin_trgm_ops"}),
    )

    @property
    def display_name(self) -> str:
        """How a page or email names them to others: their name, or "A reader" in the active language (the
        supporter wall's word; emails to the reader greet a nameless reader with "Hello," instead)."""
        return self.name.strip() or _("A reader")


class ConsentEvent(Base):
    """Every change to a supporter's email-updates consent, for the consent history."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    supporter_id: Mapped[int] = mapped_column(ForeignKey("supporters.id", ondelete="CASCADE"), index=True)
    consented: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(40))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    supporter: Mapped[Supporter] = relationship(back_populates="consent_events")
