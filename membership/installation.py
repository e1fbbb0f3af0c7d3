"""This installation's id: one random value kept in the database, created at first use.

Stripe remembers idempotency keys per account for 24 hours. Keys built from our row ids alone would meet
the keys of another installation sharing the test account, or of this one before its database was reset,
and Stripe would then replay that other request's answer or refuse with `idempotency_error`. Every key
starts with this id instead (see `StripeGateway`). A new database gets a new id.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from membership.db import Base, UTCDateTime, dialect_insert, utcnow


class Installation(Base):
    """The one row naming this installation."""

    __tablename__ = "installation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    installation_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)


def installation_id(session: Session) -> str:
    """This installation's id, created in `session`'s transaction the first time it is asked for.

    Once the row exists this only reads. Two transactions creating it at once both try to insert the one
    row (id 1): the database makes the second wait for the first, keeps the first's, and both read that.
    """
    query = select(Installation.installation_id).where(Installation.id == 1)
    found = session.scalar(query)
    if found is not None:
        return found
    insert = dialect_insert(session)
    session.execute(insert(Installation)
                    .values(id=1, installation_id=secrets.token_hex(8), created_at=utcnow())
                    .on_conflict_do_nothing(index_elements=["id"]))
    return session.scalars(query).one()
