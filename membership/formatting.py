"""How amounts, dates, times and percentages read: the one module that turns values into text for people.

Every function takes the reader's `locale` (Babel's names: "en", "uk"), defaulting to the active language
(`membership.i18n`: the page's, or the recipient's while an email is written), so nothing formats by hand.
Templates reach the same functions through the filters `register_template_filters` installs, which read the
locale from the template context's `locale` value (set in one place, `current_locale`).

Two kinds of times: readers see words ('12 March 2026'); staff tables show sortable ISO-style stamps
('2026-03-12 18:00'), which read the same in every locale. Times are aware UTC and shown in UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from babel.dates import format_date, format_datetime
from babel.lists import format_list
from babel.numbers import format_currency, format_decimal, get_currency_symbol
from babel.numbers import format_percent as babel_format_percent
from flask import Flask, current_app
from jinja2 import pass_context
from jinja2.runtime import Context

from membership.i18n import current_locale as current_locale  # re-exported: templates' and views' one import
from membership.i18n import translated
from membership.money import charge_step, decimal_mark, exponent, typed_decimals

DEFAULT_LOCALE = "en"


def _loc(locale: str | None) -> str:
    return locale or current_locale()




# Money -----------------------------------------------------------------------------------------------


def format_money(amount_minor: int, currency: str, locale: str | None = None) -> str:
    """€5.00, $10.00, UAH 200.00 (with a no-break space): Babel's formatting for the locale."""
    return _money_text(amount_minor, currency.upper(), _loc(locale))


# Babel takes 30-60 µs an amount and the staff dashboard shows about a thousand, most of them the same from one
# view to the next (ended months do not change): the texts are kept, by value, currency and locale.
@lru_cache(maxsize=8192)
def _money_text(amount_minor: int, code: str, locale: str) -> str:
    text = str(format_currency(Decimal(amount_minor).scaleb(-exponent(code)), code, locale=locale))
    symbol = _narrow_symbol(code)
    if symbol and code in text:
        # CLDR's Ukrainian writes foreign currencies by their code ('5,00 EUR'); readers write '5,00 €'.
        text = text.replace(code, symbol)
    if text.startswith(code) and text[len(code):len(code) + 1].isdigit():
        # Babel writes "UAH1,234.56" where the currency has no symbol in the locale; space it out.
        text = f"{code}\u00a0{text[len(code):]}"
    return text


def _narrow_symbol(code: str) -> str | None:
    """The one-character sign readers everywhere know a currency by (€, £, $), when it has one."""
    symbol = str(get_currency_symbol(code, locale="en"))
    return symbol if len(symbol) == 1 and not symbol.isalpha() else None


def format_recurring(amount_minor: int, currency: str, interval: str | None, locale: str | None = None) -> str:
    """'€5.00/month', '€50.00/year', or '€10.00' for a one-time gift."""
    text = format_money(amount_minor, currency, locale)
    if interval in ("month", "monthly"):
        return translated(locale, "%(amount)s/month", amount=text)
    if interval in ("year", "yearly"):
        return translated(locale, "%(amount)s/year", amount=text)
    return text


def format_charge(total_minor: int, fee_cover_minor: int, currency: str, interval: str | None,
                  locale: str | None = None) -> str:
    """What is charged, and the part covering card fees when there is one, as the give form's total says it:
    '€101.78/year (€100.00 for the newsroom + €1.78 card fees)', or '€5.00/month'."""
    total = format_recurring(total_minor, currency, interval, locale)
    if not fee_cover_minor:
        return total
    newsroom = format_money(total_minor - fee_cover_minor, currency, locale)
    fees = format_money(fee_cover_minor, currency, locale)
    return translated(locale, "%(total)s (%(newsroom)s for the newsroom + %(fees)s card fees)",
                      total=total, newsroom=newsroom, fees=fees)


def format_fee_rule(percent_bps: int, fixed_minor: int, currency: str, locale: str | None = None) -> str:
    """A card fee as the give form describes it: '1.5% + €0.25'."""
    percent = format_decimal(Decimal(percent_bps).scaleb(-4), "0.##%", locale=_loc(locale))
    return f"{percent} + {format_money(fixed_minor, currency, locale)}"


def to_major_text(amount_minor: int, currency: str) -> str:
    """Minor units as the plain text an amount field holds: 500 → '5', 750 → '7.50'.

    No locale: the field's value goes back through `money.parse_major_amount`, which reads this form in every
    language (a decimal comma would make '1,500' ambiguous)."""
    places = exponent(currency)
    value = Decimal(amount_minor).scaleb(-places)
    if value == value.to_integral_value():
        return str(int(value))
    # A KWD amount ends in 0 at Stripe, so it reads back as typed: 1500 → '1.50', not the ambiguous '1.500'.
    decimals = typed_decimals(currency) if amount_minor % charge_step(currency) == 0 else places
    return f"{value:.{decimals}f}"


def format_alternatives(values: list[str], locale: str | None = None) -> str:
    """Values any of which will do, as the language lists them: '€5.00 or UAH 200.00'."""
    return str(format_list(values, style="or", locale=_loc(locale))) if values else ""


def amount_input_text(amount_minor: int, currency: str, locale: str | None = None) -> str:
    """An amount as an amount field shows it to a reader of `locale`: 750 → '7.50' in English, '7,50' in
    Ukrainian. Never grouped, so `money.parse_major_amount` reads it back in every language."""
    text = to_major_text(amount_minor, currency)
    return text.replace(".", decimal_mark(_loc(locale)))


# Percentages -----------------------------------------------------------------------------------------


def format_percent(percent: float, locale: str | None = None) -> str:
    """A value already in per cent, to one decimal: 12.345 → '12.3%'."""
    # Rounded as Python's '%.1f' rounds the float, so every figure reads as it always has.
    rounded = Decimal(f"{percent:.1f}")
    return str(babel_format_percent(rounded.scaleb(-2), "0.0%", locale=_loc(locale)))


def format_share(fraction: float | None, locale: str | None = None) -> str:
    """A fraction of a whole as per cent, to one decimal: 0.5 → '50.0%'; an en dash when there is none (no base)."""
    if fraction is None:
        return "\u2013"
    return format_percent(fraction * 100, locale)


# Dates and times for readers ------------------------------------------------------------------------------


# English reads '12 March 2026' (the house style); other languages take their own long date (Ukrainian's
# '3 грудня 2026 р.').  # noqa: RUF003
DAY_PATTERNS = {"en": "d MMMM y"}


def _day_pattern(locale: str) -> str:
    return DAY_PATTERNS.get(locale.split("_", 1)[0], "long")


def format_day(value: date | None, locale: str | None = None) -> str:
    """'12 March 2026', or '' when there is no day."""
    return str(format_date(value, _day_pattern(_loc(locale)), locale=_loc(locale))) if value is not None else ""


def format_long_date(value: date | None, locale: str | None = None) -> str:
    """The locale's long date, as emails give it: 'December 27, 2026'; '' when unknown."""
    return str(format_date(value, format="long", locale=_loc(locale))) if value is not None else ""


def format_moment(value: datetime | None, locale: str | None = None) -> str:
    """'12 March 2026, 18:00 UTC', or '' when there is no time."""
    if value is None:
        return ""
    when = f"{format_day(value, locale)}, {format_datetime(value, 'HH:mm', locale=_loc(locale))}"
    return translated(locale, "%(when)s UTC", when=when)


def format_month(value: date, locale: str | None = None) -> str:
    """'March 2026': a month as a table's row heading."""
    return str(format_date(value, "LLLL y", locale=_loc(locale)))


def format_short_month(value: date, locale: str | None = None) -> str:
    """'Mar': a month on a chart's axis."""
    return str(format_date(value, "LLL", locale=_loc(locale)))


# Stamps for staff tables and exports: sortable, and the same in every locale -----------------------------


def format_iso_day(value: date | None, locale: str | None = None) -> str:
    """'2026-03-12', or '' when there is no day."""
    return str(format_date(value, "yyyy-MM-dd", locale=_loc(locale))) if value is not None else ""


def format_minute(value: datetime | None, locale: str | None = None) -> str:
    """'2026-03-12 18:00' (UTC), or '' when there is no time."""
    return str(format_datetime(value, "yyyy-MM-dd HH:mm", locale=_loc(locale))) if value is not None else ""


def format_second(value: datetime | None, locale: str | None = None) -> str:
    """'2026-03-12 18:00:05' (UTC), or '' when there is no time."""
    return str(format_datetime(value, "yyyy-MM-dd HH:mm:ss", locale=_loc(locale))) if value is not None else ""


def format_clock(value: datetime | None, locale: str | None = None) -> str:
    """'18:00' (UTC), or '' when there is no time."""
    return str(format_datetime(value, "HH:mm", locale=_loc(locale))) if value is not None else ""


def format_number(value: float, locale: str | None = None) -> str:
    """12 → '12', 1234.5 → '1,234.5', to at most two decimals: a chart's ticks and figures."""
    return _number_text(f"{value:.2f}", _loc(locale))


@lru_cache(maxsize=8192)  # as `_money_text`: a chart's figures repeat from view to view
def _number_text(rounded: str, locale: str) -> str:
    # Rounded as Python's '%.2f' rounds the float, so every figure reads as it always has (+ 0: never '-0').
    return str(format_decimal(Decimal(rounded) + 0, "#,##0.##", locale=locale))


def format_count(count: int, locale: str | None = None) -> str:
    """A whole number with the locale's thousands groups: 12345 → '12,345'."""
    return str(format_decimal(count, "#,##0", locale=_loc(locale)))


# Links ------------------------------------------------------------------------------------------------


def absolute_url(path: str) -> str:
    """An absolute link from PUBLIC_URL, for emails (also sent from the CLI and the worker, with no request)."""
    return f"{current_app.config['PUBLIC_URL']}{path}"


# Templates ----------------------------------------------------------------------------------------------

# Filter name → the function it calls with the template's locale. Dates and numbers are never formatted by
# hand in a template.
TEMPLATE_FILTERS: dict[str, Callable[..., str]] = {
    "money": format_money,
    "recurring": format_recurring,
    "charge": format_charge,
    "share": format_share,
    "percent": format_percent,
    "day": format_day,
    "moment": format_moment,
    "month": format_month,
    "iso_day": format_iso_day,
    "minute": format_minute,
    "second": format_second,
    "count": format_count,
}


def _with_locale(function: Callable[..., str]) -> Callable[..., str]:
    @pass_context
    def apply(context: Context, value: Any, *args: Any) -> str:
        return function(value, *args, locale=context.get("locale") or current_locale())

    return apply


def register_template_filters(app: Flask) -> None:
    """Install the formatting filters (each passing the context's `locale`), `major` (locale-free, see
    `to_major_text`), and the `locale` context value they read."""
    for name, function in TEMPLATE_FILTERS.items():
        app.add_template_filter(_with_locale(function), name)
    app.add_template_filter(to_major_text, "major")
    app.context_processor(lambda: {"locale": current_locale()})
    app.add_template_global(current_locale)
