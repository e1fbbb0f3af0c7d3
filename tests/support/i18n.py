"""The pseudo-locale: every marked string wrapped in ⟦…⟧, so a page rendered in it shows at a glance (and to a
test) any text a person reads that was never marked for translation."""

from __future__ import annotations

import atexit
import functools
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from flask import Flask, g

from membership import catalogs

PSEUDO = "eo"  # a language Babel knows and we don't offer: formats stay readable, every string is wrapped
OPEN, CLOSE = "\u27e6", "\u27e7"
ROOT = Path(__file__).resolve().parents[2]


def _wrap(text: str) -> str:
    return f"{OPEN}{text}{CLOSE}"


def build_pseudo_catalog(directory: Path) -> Path:
    """Compile the pseudo-locale's catalog from a fresh extract of the checkout into `directory`
    (a BABEL_TRANSLATION_DIRECTORIES entry)."""
    template = catalogs.extract(ROOT, output=None)
    pseudo = Catalog(locale=PSEUDO, fuzzy=False)
    for message in template:
        if not message.id:
            continue
        if isinstance(message.id, tuple | list):
            pseudo.add(message.id, tuple(_wrap(str(part)) for part in message.id), context=message.context)
        else:
            pseudo.add(message.id, _wrap(str(message.id)), context=message.context)
    target = directory / PSEUDO / "LC_MESSAGES" / "messages.mo"
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as handle:
        write_mo(handle, pseudo)
    return directory


@functools.cache
def pseudo_catalog_directory() -> Path:
    """The pseudo-locale's catalog, built once per test process (the extract reads the whole checkout) into a
    directory removed when the process ends."""
    directory = Path(tempfile.mkdtemp(prefix="pseudo-locale-"))
    atexit.register(shutil.rmtree, directory, True)
    return build_pseudo_catalog(directory)


# What a page may show unwrapped: values, not words of ours.
WORD = re.compile(r"[^\W\d_]{2,}")
READ_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt"}
# Code (settings, commands, keys) is not translated; a textarea holds a form's value (or code to copy).
SKIPPED_TAGS = {"script", "style", "code", "textarea"}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._skipping = 0
        # How deep in ⟦…⟧ the page's text is: a marked sentence may hold markup (`<a href>…</a>`, `<strong>`), so
        # its brackets open in one piece of text and close in a later one.
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIPPED_TAGS:
            self._skipping += 1
        values = dict(attrs)
        for name, value in attrs:
            if value and name in READ_ATTRIBUTES:
                self.texts.append(value)
        if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
            self.texts.append(str(values["value"]))

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED_TAGS and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if self._skipping or not data.strip():
            return
        outside, self._depth = _outside(data, self._depth)
        if outside.strip():
            self.texts.append(outside)


def _outside(text: str, depth: int) -> tuple[str, int]:
    """The text outside every ⟦…⟧, starting `depth` brackets deep, and the depth at its end."""
    out = []
    for char in text:
        if char == OPEN:
            depth += 1
        elif char == CLOSE:
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(char)
    return "".join(out), depth


def _strip_wrapped(text: str) -> str:
    """The text outside every ⟦…⟧ (nested ones included: a marked sentence holding a marked value)."""
    return _outside(text, 0)[0]


def _format_words() -> set[str]:
    """The words Babel's formats write in the pseudo-locale: month and day names."""
    locale = Locale.parse(PSEUDO)
    words: set[str] = set()
    for names in (locale.months, locale.days):
        for context in names.values():
            for width in context.values():
                for name in width.values():
                    words.update(word.lower() for word in WORD.findall(name))
    return words


def unmarked(texts: Iterable[str], allowed: Iterable[str] = ()) -> list[str]:
    """Pieces of text with words outside any marked string, ignoring `allowed` values (names, emails, titles
    the test itself wrote), what formats write (month names) and currency codes."""
    allowed_words = {word.lower() for value in allowed for word in WORD.findall(value)} | _format_words()
    found = []
    for text in texts:
        rest = _strip_wrapped(text)
        words = [word for word in WORD.findall(rest)
                 if word.lower() not in allowed_words and not (word.isupper() and len(word) == 3)]
        if words:
            found.append(" ".join(text.split())[:160])
    return found


@contextmanager
def pseudo_app(database_uri: str, api_base: str, live_port: int, tmp_path: Path) -> Iterator[Flask]:
    """The app, in an app context, offering the pseudo-locale besides its own languages."""
    from membership import create_app
    from membership.db import db
    from tests.support.database import empty_tables
    from tests.support.settings import app_settings

    directory = pseudo_catalog_directory()
    app = create_app(app_settings(
        database_uri, api_base=api_base, PUBLIC_URL=f"http://127.0.0.1:{live_port}",
        MEMBERSHIP_EXPORT_DIR=str(tmp_path / "exports"), SUPPORTED_LOCALES=["en", "uk", PSEUDO],
        BABEL_TRANSLATION_DIRECTORIES=f"translations;{directory}"))

    @app.before_request
    def fresh_request_caches() -> None:
        g.pop("csrf_token", None)
        g.pop("_flask_babel", None)

    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    empty_tables(database_uri)


def unmarked_html(page: str, allowed: Iterable[str] = ()) -> list[str]:
    parser = _Text()
    parser.feed(page)
    return unmarked(parser.texts, allowed)
