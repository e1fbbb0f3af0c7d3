"""Forms every staff section uses."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from typing import Any, NamedTuple

from flask_wtf import FlaskForm
from wtforms import Field
from wtforms.fields import DateField
from wtforms.validators import Length, Optional

from membership.i18n import gettext as _
from membership.i18n import language_name, lazy_gettext, translation_field

# The days staff may filter and export by: wider than any gift this service can hold, and narrow enough that the
# day after the last, or the months around it, are still dates Python and the database can hold.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2999, 12, 31)
DATE_MESSAGE = lazy_gettext("Enter the date as YYYY-MM-DD, for example 2026-01-31.")


class DayField(DateField):
    """A YYYY-MM-DD date from FIRST_DAY to LAST_DAY; any other date is refused with a message, like a typo."""

    data: date | None

    def process_formdata(self, valuelist: list[Any]) -> None:
        super().process_formdata(valuelist)
        if self.data is not None and not FIRST_DAY <= self.data <= LAST_DAY:
            self.data = None
            raise ValueError(_("Enter a date from %(first)s to %(last)s.", first=FIRST_DAY.isoformat(),
                               last=LAST_DAY.isoformat()))


class ConfirmForm(FlaskForm):
    """A POST with nothing but its CSRF token: a confirmed button."""


def strip_text(value: str | None) -> str | None:
    """A field filter: the text without surrounding white space."""
    return value.strip() if isinstance(value, str) else value


class TranslatedText(NamedTuple):
    """One text staff may give in each other language: its field's kind, its label for a language's name (a
    `gettext` with `%(language)s`), its longest length and the field's filters."""

    kind: type[Field]
    label: Callable[[str], str]
    longest: int
    filters: Sequence[Callable[[Any], Any]] = (strip_text,)


def translation_fields(languages: Iterable[str], texts: Mapping[str, TranslatedText]) -> dict[str, Any]:
    """The optional `translation_field(name, locale)` fields of a form's texts, for each of `languages` (the
    offered ones besides the default), in that order; `submitted_translations` reads them back."""
    fields: dict[str, Any] = {}
    for locale in languages:
        language = language_name(locale)
        for name, text in texts.items():
            fields[translation_field(name, locale)] = text.kind(
                text.label(language), filters=list(text.filters), validators=[Optional(), Length(max=text.longest)])
    return fields


def submitted_translations(form: Any, languages: Iterable[str], names: Iterable[str]) -> dict[str, dict[str, str]]:
    """What staff gave in the other languages, from a form's `translation_field(name, locale)` fields:
    {"uk": {"title": "…"}}; empty fields (and languages with none filled) left out."""
    names = list(names)
    found: dict[str, dict[str, str]] = {}
    for locale in languages:
        texts = {name: text for name in names if (text := (form[translation_field(name, locale)].data or "").strip())}
        if texts:
            found[locale] = texts
    return found
