"""Dialect-aware SQL for reports: the same text from SQLite and PostgreSQL, computed in the database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class utc_text(FunctionElement[str]):
    """'YYYY-MM-DD HH:MM:SS' of an aware UTC timestamp column (NULL stays NULL)."""

    type = String()
    inherit_cache = True


@compiles(utc_text, "postgresql")
def _utc_text_postgresql(element: utc_text, compiler: SQLCompiler, **kw: Any) -> str:
    # timestamptz → UTC wall time first: to_char alone would follow the session's time zone.
    return f"to_char({compiler.process(element.clauses, **kw)} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"


@compiles(utc_text)
def _utc_text_default(element: utc_text, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps UTCDateTime as naive UTC text, 'YYYY-MM-DD HH:MM:SS.ffffff'.
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 19)"
