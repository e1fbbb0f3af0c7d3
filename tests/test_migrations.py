"""Every table comes from a migration: upgrading an empty database gives exactly the models' schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask

from membership.db import Base, db


def test_migrations_match_models(app: Flask) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_app_code_never_creates_tables() -> None:
    from pathlib import Path

    for path in Path("membership").rglob("*.py"):
        assert "create_all" not in path.read_text(), path
