"""The test database: emptied after each test, because the code under test commits as production does."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa

from membership.db import Base, db


def empty_tables(uri: str) -> None:
    cleanup = _cleanup(uri)
    try:
        with cleanup.engine.begin() as conn:
            if cleanup.engine.dialect.name == "postgresql":
                _truncate_used_tables(conn, cleanup)
            else:
                _delete_used_rows(conn, cleanup)
    finally:
        cleanup.engine.dispose()  # its connection closed, as after every test; the engine and its compiled SQL kept


@dataclass(frozen=True)
class _Cleanup:
    """One engine and the statements, made once per database for the cleanup after every test: a new engine
    each time compiled the ~50-table probe and the DELETEs again (SQLAlchemy's compiled cache is the engine's)."""

    engine: sa.Engine
    tables: list[sa.Table]  # children first
    probe: sa.CompoundSelect[str]  # the names of the tables holding a row
    deletes: dict[str, sa.Delete]


@functools.cache
def _cleanup(uri: str) -> _Cleanup:
    tables = list(reversed(Base.metadata.sorted_tables))
    # One statement: most tests touch a few of the ~50 tables.
    probe = sa.union_all(*(sa.select(sa.literal(t.name)).where(sa.exists().select_from(t)) for t in tables))
    return _Cleanup(sa.create_engine(uri), tables, probe, {t.name: t.delete() for t in tables})


def _used(conn: sa.Connection, cleanup: _Cleanup) -> set[str]:
    """The names of the tables holding a row."""
    return set(conn.execute(cleanup.probe).scalars())


def _delete_used_rows(conn: sa.Connection, cleanup: _Cleanup) -> None:
    """SQLite: delete the rows of the tables holding any (children first). The audit log's append-only triggers
    would refuse its DELETE: they are lifted for the cleanup only, when it has rows. (SQLite's AUTOINCREMENT-less
    ids start again from 1 once a table is empty.)"""
    used = _used(conn, cleanup)
    triggers: list[tuple[str, str]] = []
    if "audit_log" in used:
        triggers = [(str(name), str(sql)) for name, sql in
                    conn.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))]
        for name, _ in triggers:
            conn.execute(sa.text(f'DROP TRIGGER "{name}"'))
    for table in cleanup.tables:
        if table.name in used:
            conn.execute(cleanup.deletes[table.name])
    for _, sql in triggers:
        conn.execute(sa.text(sql))


def _truncate_used_tables(conn: sa.Connection, cleanup: _Cleanup) -> None:
    """Empty the tables holding rows and restart every sequence that was used.

    The same end state as truncating every table with RESTART IDENTITY, at a fraction of the cost: most tests
    touch only a few tables, each holding a few rows, and a DELETE of those rows is far cheaper than TRUNCATE
    (which replaces each table's files). With `session_replication_role = replica` for this transaction only, no
    trigger fires: not the audit log's append-only ones (migration 0010), nor the foreign keys' (so the order
    of the DELETEs doesn't matter, and every table is emptied anyway).
    """
    used = _used(conn, cleanup)
    if used:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        for table in cleanup.tables:
            if table.name in used:
                conn.execute(cleanup.deletes[table.name])
    sequences = conn.execute(sa.text(
        "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) FROM pg_sequences "
        "WHERE last_value IS NOT NULL"
    )).scalars()
    for sequence in sequences:
        conn.execute(sa.text(f"ALTER SEQUENCE {sequence} RESTART"))


@contextmanager
def statements() -> Iterator[list[str]]:
    """Every SQL statement the app sends to the database inside the block."""
    sent: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        sent.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
