"""The pool checks a connection that has rested before it is used again, and only then: a connection the server
dropped while it rested is replaced without anyone noticing; one used again at once costs no round trip."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.exc import OperationalError

from membership.db import db

# The module (the package's `db` is the extension object, which shadows the module's name there).
db_module = importlib.import_module("membership.db")


@pytest.fixture
def pings(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """The pings the pool sends, noted (and sent)."""
    dialect = db.engine.dialect
    real = dialect.do_ping
    sent: list[Any] = []

    def noted(dbapi_connection: Any) -> bool:
        sent.append(dbapi_connection)
        return real(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", noted)
    yield sent


def _backend() -> object:
    """Which server connection answers the session (PostgreSQL's backend pid)."""
    return db.session.scalar(sa.text("SELECT pg_backend_pid()"))


def _use_once(pings: list[object]) -> None:
    """Take a connection and give it back (its check, if it had rested while the app was made, forgotten)."""
    db.session.execute(sa.text("SELECT 1"))
    db.session.commit()
    pings.clear()


def test_a_connection_used_again_at_once_is_not_pinged(app: Flask, pings: list[object],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _use_once(pings)
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 60.0)  # "at once", on however slow a machine
    for _ in range(5):
        db.session.execute(sa.text("SELECT 1"))
        db.session.commit()
    assert pings == []


def test_a_rested_connection_is_pinged_before_use(app: Flask, pings: list[object],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _use_once(pings)
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.0)  # as if it had rested past the second
    db.session.execute(sa.text("SELECT 1"))
    db.session.commit()
    assert len(pings) == 1


def _kill(backend: object) -> None:
    """End a server connection from another one, as a PostgreSQL restart or an idle timeout would."""
    other = sa.create_engine(db.engine.url, poolclass=sa.NullPool)  # not one of the pool's
    with other.connect() as connection:
        assert connection.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
    other.dispose()


def test_a_connection_dropped_while_it_rested_is_replaced_unnoticed(app: Flask, pings: list[object],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a server that drops connections is PostgreSQL's (SQLite has no server)")
    first = _backend()
    db.session.commit()
    _kill(first)
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    second = _backend()  # no error: the ping found it dead and the pool opened another
    assert second != first and pings


def test_a_connection_dropped_within_the_second_fails_once(app: Flask, pings: list[object],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a server that drops connections is PostgreSQL's (SQLite has no server)")
    _use_once(pings)
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 60.0)
    first = _backend()
    db.session.commit()
    _kill(first)
    with pytest.raises(OperationalError):  # not checked: it had just been used
        _backend()
    db.session.rollback()
    assert _backend() != first  # the pool dropped it; the next use gets a new one
    assert pings == []
