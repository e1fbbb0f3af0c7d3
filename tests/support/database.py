"""The test database: emptied after each test, because the code under test commits as production does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from membership.db import Base, db


def empty_tables(uri: str) -> None:
    engine = sa.create_engine(uri)
    try:
        with engine.begin() as conn:
            tables = list(reversed(Base.metadata.sorted_tables))
            if engine.dialect.name == "postgresql":
                _truncate_used_tables(conn, tables)
            else:
                # The audit log's append-only triggers would refuse the DELETE: lift them for the cleanup only.
                triggers = conn.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")).all()
                for name, _ in triggers:
                    conn.execute(sa.text(f'DROP TRIGGER "{name}"'))
                for table in tables:
                    conn.execute(table.delete())
                for _, sql in triggers:
                    conn.execute(sa.text(sql))
    finally:
        engine.dispose()


def _truncate_used_tables(conn: sa.Connection, tables: list[sa.Table]) -> None:
    """Empty the tables holding rows and restart every sequence that was used.

    The same end state as truncating every table with RESTART IDENTITY, at a fraction of the cost: most tests
    touch only a few tables, each holding a few rows, and a DELETE of those rows is far cheaper than TRUNCATE
    (which replaces each table's files). With `session_replication_role = replica` for this transaction only, no
    trigger fires: not the audit log's append-only ones (migration 0010), nor the foreign keys' (so the order
    of the DELETEs doesn't matter, and every table is emptied anyway).
    """
    probes = sa.union_all(*(sa.select(sa.literal(t.name)).where(sa.exists().select_from(t)) for t in tables))
    used = set(conn.execute(probes).scalars())
    if used:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        for table in tables:
            if table.name in used:
                conn.execute(table.delete())
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
