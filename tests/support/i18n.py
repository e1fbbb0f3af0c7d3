"""The pseudo-locale: every marked string wrapped in ⟦…⟧, so a page rendered in it shows at a glance (and to a
test) any text a person reads that was never marked for translation."""

from __future__ import annotations

import re
from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

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
        # How many marked strings are open where the text goes on: a marked sentence holding a link or other
        # markup ("… use <a>the emailed link</a>.") wraps the text nodes inside it too.
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
        if not self._skipping and data.strip():
            self.texts.append(OPEN * self._depth + data)
        for char in data:
            if char == OPEN:
                self._depth += 1
            elif char == CLOSE:
                self._depth = max(0, self._depth - 1)


def _strip_wrapped(text: str) -> str:
    """The text outside every ⟦…⟧ (nested ones included: a marked sentence holding a marked value)."""
    out, depth = [], 0
    for char in text:
        if char == OPEN:
            depth += 1
        elif char == CLOSE:
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(char)
    return "".join(out)


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


def unmarked_html(page: str, allowed: Iterable[str] = ()) -> list[str]:
    parser = _Text()
    parser.feed(page)
    return unmarked(parser.texts, allowed)
