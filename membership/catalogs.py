"""The gettext catalogs: extract marked strings, update each language's catalog, compile them, and check them.

`flask --app membership translate extract|update|compile|check` (and `make translations`) call these. The
template (`messages.pot`) and each language's `messages.po` are kept in git; the compiled `messages.mo` files are
built by `make` (and by the test suite when they are missing or older than their `.po`), never committed.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

PACKAGE = Path(__file__).resolve().parent
TRANSLATIONS = PACKAGE / "translations"
TEMPLATE = TRANSLATIONS / "messages.pot"
SOURCE_LOCALE = "en"
KEYWORDS = {
    "_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "lazy_ngettext": (1, 2),
    "pgettext": ((1, "c"), 2), "npgettext": ((1, "c"), 2, 3), "translated": (2,),
}
COMMENT_TAGS = ("Translators:",)


def _method_map(root: Path) -> tuple[list[tuple[str, str]], dict[str, dict[str, str]]]:
    """babel.cfg's sections as extract_from_dir takes them."""
    import configparser

    parser = configparser.ConfigParser()
    parser.read(root / "babel.cfg")
    method_map = []
    options: dict[str, dict[str, str]] = {}
    for section in parser.sections():
        method, _, pattern = section.partition(":")
        method_map.append((pattern.strip(), method.strip()))
        options[pattern.strip()] = dict(parser.items(section))
    return method_map, options


def extract(root: Path, output: Path | None = TEMPLATE) -> Catalog:
    """Every marked string under `root` (a checkout), into messages.pot (or `output`; None writes nothing)."""
    method_map, options = _method_map(root)
    catalog = Catalog(project="membership", charset="utf-8", msgid_bugs_address="", fuzzy=False,
                      header_comment="# Strings marked for translation in the membership service (generated: "
                                     "flask --app membership translate extract).")
    for filename, lineno, message, comments, context in extract_from_dir(
            str(root), method_map, options, keywords=KEYWORDS, comment_tags=COMMENT_TAGS, strip_comment_tags=True):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    if output is not None:
        _write_po(output, catalog, omit_header=False)
    return catalog


def locales() -> list[str]:
    """The languages that have a catalog (English is the source and needs none)."""
    return sorted(path.name for path in TRANSLATIONS.iterdir() if (path / "LC_MESSAGES" / "messages.po").exists())


def po_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def update(locale: str | None = None) -> list[str]:
    """Bring each language's catalog up to messages.pot: new strings added empty, gone ones dropped, changed
    ones kept fuzzy for a translator to check. A new `locale` gets a fresh catalog."""
    with TEMPLATE.open("rb") as handle:
        template = read_po(handle)
    done = []
    for name in [locale] if locale else locales():
        path = po_path(name)
        if path.exists():
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=name)
        else:
            catalog = Catalog(locale=name, project="membership", charset="utf-8", fuzzy=False,
                              header_comment=f"# {name} translations of the membership service (docs/translations.md).")
        catalog.update(template, no_fuzzy_matching=False)
        catalog.obsolete.clear()  # a string no page says any more is not worth a translator's time
        _write_po(path, catalog, omit_header=False)
        done.append(name)
    return done


def compile_catalogs(force: bool = False) -> list[str]:
    """messages.po → messages.mo for each language whose .mo is missing or older (atomically, so concurrent test
    workers never read half a file). Fuzzy entries are left out, as gettext does."""
    compiled = []
    for name in locales():
        source = po_path(name)
        target = source.with_suffix(".mo")
        if not force and target.exists() and target.stat().st_mtime >= source.stat().st_mtime:
            continue
        with source.open("rb") as handle:
            catalog = read_po(handle, locale=name)
        fd, temporary = tempfile.mkstemp(dir=target.parent, suffix=".mo.tmp")
        with os.fdopen(fd, "wb") as handle:
            write_mo(handle, catalog, use_fuzzy=False)
        os.replace(temporary, target)
        compiled.append(name)
    return compiled


@dataclass(frozen=True)
class Gap:
    locale: str
    msgid: str
    problem: str  # "untranslated", "fuzzy", "placeholders"


def gaps(locale: str) -> list[Gap]:
    """What a catalog is missing: untranslated or fuzzy entries, and translations whose %(name)s placeholders
    differ from the source's (the page would crash or lose a value)."""
    import re

    placeholder = re.compile(r"%\((\w+)\)[sdf]")
    with po_path(locale).open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    found = []
    for message in catalog:
        if not message.id:
            continue
        ids = [str(part) for part in message.id] if isinstance(message.id, tuple | list) else [str(message.id)]
        strings = ([str(part) for part in message.string] if isinstance(message.string, tuple | list)
                   else [str(message.string or "")])
        label = ids[0]
        if message.fuzzy:
            found.append(Gap(locale, label, "fuzzy"))
        elif not all(strings):
            found.append(Gap(locale, label, "untranslated"))
        else:
            wanted = set(placeholder.findall(" ".join(ids)))
            if any(set(placeholder.findall(text)) - wanted for text in strings) or (
                    len(ids) == 1 and set(placeholder.findall(strings[0])) != wanted):
                found.append(Gap(locale, label, "placeholders"))
    return found


def _write_po(path: Path, catalog: Catalog, omit_header: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, omit_header=omit_header, sort_output=False, width=120, include_previous=False)
