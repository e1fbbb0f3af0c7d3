"""The SQLAlchemy base: typed models, a naming convention for stable constraint names, aware UTC times."""

from __future__ import annotations

import enum
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, Enum, MetaData, event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Every id column is a 32-bit INTEGER (PostgreSQL's `integer`). A larger number names no row, and PostgreSQL
# refuses to compare it with one, so ids from URLs and query strings are checked against this before any query.
MAX_ID = 2**31 - 1


def parse_id(raw: str | None) -> int | None:
    """A row id as a URL or a form gives it (ASCII digits, 1 to MAX_ID), or None for anything else."""
    text = (raw or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ID)):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def utcnow() -> datetime:
    return datetime.now(UTC)


def from_unix(seconds: int | float | None) -> datetime | None:
    """Stripe's unix timestamps as aware UTC datetimes."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(int(seconds), UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """`timestamptz` on PostgreSQL; on SQLite (which keeps no zone) stored as naive UTC, read back aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("Naive datetime given to a UTC column; use membership.db.utcnow().")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


SQLITE_BUSY_SECONDS = 30


@event.listens_for(Engine, "connect")
def _sqlite_enforces_foreign_keys(dbapi_connection: Any, connection_record: Any) -> None:
    """SQLite checks foreign keys (and applies ON DELETE) only when asked, per connection: ask, as
    PostgreSQL always does. (Migrations turn it off while they rebuild tables: migrations/env.py.)

    And a writer waits up to SQLITE_BUSY_SECONDS for another's write to finish (Python's default is 5 s): SQLite
    takes one writer at a time, and a burst of requests on a busy machine (40 checkouts at once) queued longer
    than that, which failed some with "database is locked"."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
        cursor.close()


# A pooled connection that has rested this long is checked (one round trip) before it is used again; one used again
# sooner is not. `pool_pre_ping` checked every checkout: in a burst, with every connection just used, that round trip
# was 3 % of a worker's CPU and never found a dead one. A connection the server drops within the second fails its
# statement instead: SQLAlchemy discards it and every connection the pool had opened before it, and that one request
# fails (an event is retried).
PING_AFTER_IDLE_SECONDS = 1.0
_RESTING_SINCE = "membership.resting_since"


def ping_when_idle(engine: Engine) -> None:
    """Give `engine`'s pool the check above (once: its listeners stay with the pool through `dispose`)."""
    rested, checked = _idle_ping_listeners(engine.dialect)
    pool = engine.pool  # the pool itself: engines made with `execution_options` share it
    # Its own listeners, not `event.contains`: a pool `dispose` remade carries them without registering them.
    if checked not in list(pool.dispatch.checkout):
        event.listen(pool, "connect", rested)  # a new connection needs no check
        event.listen(pool, "checkin", rested)
        event.listen(pool, "checkout", checked)


@cache
def _idle_ping_listeners(dialect: Dialect) -> tuple[Callable[..., None], Callable[..., None]]:
    """The pool listeners for one dialect (the same functions each time, so a pool that has them is known)."""

    def rested(dbapi_connection: Any, record: Any) -> None:
        record.info[_RESTING_SINCE] = time.monotonic()

    def checked(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get(_RESTING_SINCE)
        if since is not None and time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                raise DisconnectionError(str(exc)) from exc  # the pool drops it and checks out another
            raise
        record.info[_RESTING_SINCE] = time.monotonic()

    return rested, checked


def rows_affected(result: object) -> int:
    """How many rows an UPDATE or DELETE changed. (`Session.execute` is typed as returning a plain Result; for
    DML it is a CursorResult, which has the count.)"""
    return int(getattr(result, "rowcount", 0) or 0)


def current_session() -> Session:
    """This request's (or command's) session, typed as the plain Session that services take."""
    return db.session()


# Work for after the commit point (email to send, ids to hand to a queue) --------------------------------

_AFTER_COMMIT_PENDING = "membership.after_commit_pending"
_AFTER_COMMIT_DONE = "membership.after_commit_done"


def after_commit(session: Session, name: str, item: Any) -> None:
    """Keep `item` under `name` until the session's transaction commits; a rollback forgets it. The code that
    ends the transaction then takes it with `committed`, outside the transaction."""
    session.info.setdefault(_AFTER_COMMIT_PENDING, {}).setdefault(name, []).append(item)


def committed(session: Session, name: str) -> list[Any]:
    """The items kept under `name` whose transaction has committed since they were last taken (taking them)."""
    done: dict[str, list[Any]] = session.info.get(_AFTER_COMMIT_DONE, {})
    return done.pop(name, [])


@event.listens_for(Session, "after_commit")
def _keep_committed(session: Session) -> None:
    pending: dict[str, list[Any]] | None = session.info.pop(_AFTER_COMMIT_PENDING, None)
    if pending:
        done = session.info.setdefault(_AFTER_COMMIT_DONE, {})
        for name, items in pending.items():
            done.setdefault(name, []).extend(items)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous_transaction: Any) -> None:
    session.info.pop(_AFTER_COMMIT_PENDING, None)


# One unit of work -----------------------------------------------------------------------------------------

AfterCommitSender = Callable[[Session], None]
_SENDERS: list[AfterCommitSender] = []


def sends_after_commit(sender: AfterCommitSender) -> AfterCommitSender:
    """Register `sender` to run after every unit of work: it takes (`committed`) and sends what its module kept
    with `after_commit`. The module that keeps the work registers its sender beside it (`membership.email`:
    emails, `membership.queue`: queue ids), so whatever was kept has a sender, and this core module imports
    neither of them."""
    _SENDERS.append(sender)
    return sender


@contextmanager
def unit_of_work(session: Session) -> Iterator[Session]:
    """The one way a transaction ends: commit when the block finishes, roll back if it raises (the exception
    goes on), then hand what has committed to the registered senders (emails sent or queued, ids pushed).

    What a rolled-back transaction kept is forgotten, so it is never sent. The request (`membership.web`),
    each command, the email senders and the export worker end their transactions with it; services never do.
    It ends the session's whole transaction: a block inside another commits the outer block's work too.
    """
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        # Also what was kept while no transaction had begun (no statement run yet), which no rollback event covers.
        session.info.pop(_AFTER_COMMIT_PENDING, None)
        raise
    finally:
        # After a rollback too: what earlier transactions of this session committed is still to be sent.
        for sender in _SENDERS:
            sender(session)


def dialect_insert(bind: Session | Connection) -> Any:
    """The INSERT construct, the one with ON CONFLICT (PostgreSQL's or SQLite's), of the dialect of a session or
    of a Core connection."""
    dialect = bind.get_bind().dialect if isinstance(bind, Session) else bind.dialect
    return pg_insert if dialect.name == "postgresql" else sqlite_insert


def plan_for_actual_values(session: Session) -> None:
    """On PostgreSQL, plan the rest of this transaction's statements for the values they run with, every time.

    psycopg prepares a statement on a connection once it has run it five times, and after five more runs
    PostgreSQL may switch it to a generic plan, made without the values. A generic plan can't use a partial
    index (`WHERE kind = 'gift'`, `WHERE status = 'completed'`) whose condition is a parameter, so the
    dashboard's aggregates went from index-only scans of their partial indexes to scans of the whole date range:
    about three times slower, from the eleventh view on a connection. Planning these afresh costs well under a
    millisecond each. SET LOCAL ends with the transaction, so the pooled connection goes back as it was."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def enum_column(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as text with a CHECK constraint: portable across SQLite and PostgreSQL, easy to migrate.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )
