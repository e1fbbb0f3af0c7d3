"""SQLAlchemy engines kept by a test process from one app to the next, as a server process keeps its one engine.

Each test gets a new app, and Flask-SQLAlchemy gave each app a new Engine. SQLAlchemy keeps the SQL it compiled
for a statement in a cache of the engine's (its key holds the engine's dialect), so every test compiled every
statement it ran afresh: 12-14 % of a test run. Here an app's engine is instead a view of an engine the process
already has for the same URL and options (`Engine.execution_options()` with no options: the same dialect, compiled
cache and connection pool), so statements compiled in earlier tests are found again.

What a test sees stays as it was:
- Each app still has an engine object of its own: event listeners added to it (the webhook front's
  `engine_disposed`, a test's `before_cursor_execute`) go with that object, so none outlives its app or piles up.
- The connections are not kept: after each test `release` closes every pooled connection the test's apps opened
  (as the `app` fixture's and `_close_every_pool_a_test_opened`'s `dispose()` already did), so each test starts
  on new connections (PostgreSQL's prepared statements and plans, SQLite's pragmas).
- Two apps of one test (another host, a second process's view) never share a pool: an engine is lent to one app at
  a time, and returned after the test.
- Other URLs or options get engines of their own; an in-memory SQLite database, or options that can't be compared
  (a dict of connect_args), get a new engine every time, as before.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, TypeAlias, TypeGuard

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy

EngineKey: TypeAlias = tuple[tuple[str, Hashable], ...]


class SharedEngines:
    """Engines by URL and options, each lent to one app at a time until `release`."""

    def __init__(self) -> None:
        self._idle: dict[EngineKey, list[sa.Engine]] = {}
        self._lent: list[tuple[EngineKey, sa.Engine, sa.Engine]] = []  # key, shared engine, the app's view of it

    def make_engine(self, bind_key: str | None, options: dict[str, Any], app: Flask) -> sa.Engine:
        """Flask-SQLAlchemy's `_make_engine`: an app's engine, from the engines of this process where it can."""
        key = engine_key(options)
        if key is None:
            return sa.engine_from_config(options, prefix="")
        idle = self._idle.setdefault(key, [])
        engine = idle.pop() if idle else sa.engine_from_config(options, prefix="")
        view = engine.execution_options()
        self._lent.append((key, engine, view))
        return view

    def release(self) -> None:
        """Close the connections of every engine lent since the last call, and take the engines back. Each is
        disposed through the app's view of it, so the app's own `engine_disposed` listeners run as they would for
        its engine (the webhook front closes its engine then, whose connections are not the shared pool's)."""
        for key, engine, view in self._lent:
            view.dispose()
            self._idle[key].append(engine)
        self._lent.clear()


def engine_key(options: Mapping[str, Any]) -> EngineKey | None:
    """What tells engines apart: the URL (with its password) and every option; None when an engine is not to be
    shared (an in-memory SQLite database, or an option that can't be compared)."""
    url = sa.engine.make_url(options["url"])
    if url.get_backend_name() == "sqlite" and (url.database in (None, "", ":memory:")
                                               or url.query.get("mode") == "memory"):
        return None
    items: list[tuple[str, Hashable]] = [("url", url.render_as_string(hide_password=False))]
    for name, value in sorted(options.items()):
        if name == "url":
            continue
        if not _hashable(value):
            return None
        items.append((name, value))
    return tuple(items)


def _hashable(value: object) -> TypeGuard[Hashable]:
    """Whether `value` can be hashed: not a dict or list, nor a tuple holding one (which is a Hashable all the same)."""
    try:
        hash(value)
    except TypeError:
        return False
    return True


def share_engines(extension: SQLAlchemy) -> SharedEngines:
    """Make every app created from now on in this process take its engine from one `SharedEngines`; the caller
    calls `release()` after each test."""
    engines = SharedEngines()
    extension._make_engine = engines.make_engine  # type: ignore[method-assign]
    return engines
