"""membership.formatting: every function as English readers see it today, and in another locale (Ukrainian)."""

# Ukrainian text has Cyrillic letters that look like Latin ones, on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from flask import Flask, render_template_string

from membership import formatting as f

MOMENT = datetime(2026, 3, 12, 18, 5, 9, tzinfo=UTC)
MARCH = date(2026, 3, 1)
NBSP = "\u00a0"

CASES: list[tuple[Callable[..., str], tuple[Any, ...], str, str]] = [
    (f.format_money, (500, "EUR"), "€5.00", f"5,00{NBSP}€"),
    (f.format_money, (123456, "UAH"), f"UAH{NBSP}1,234.56", f"1{NBSP}234,56{NBSP}₴"),
    (f.format_money, (10_000, "ISK"), f"ISK{NBSP}100", f"100{NBSP}ISK"),
    (f.format_money, (1_250, "KWD"), f"KWD{NBSP}1.250", f"1,250{NBSP}KWD"),
    (f.format_recurring, (500, "EUR", "monthly"), "€5.00/month", f"5,00{NBSP}€/міс."),
    (f.format_recurring, (5000, "USD", "year"), "$50.00/year", f"50,00{NBSP}$/рік"),
    (f.format_recurring, (1000, "GBP", None), "£10.00", f"10,00{NBSP}£"),
    (f.format_charge, (10178, 178, "EUR", "year"), "€101.78/year (€100.00 for the newsroom + €1.78 card fees)",
     f"101,78{NBSP}€/рік (100,00{NBSP}€ редакції + 1,78{NBSP}€ комісії за картку)"),
    (f.format_charge, (500, 0, "EUR", "month"), "€5.00/month", f"5,00{NBSP}€/міс."),
    (f.format_fee_rule, (150, 25, "EUR"), "1.5% + €0.25", f"1,5% + 0,25{NBSP}€"),
    (f.format_fee_rule, (290, 1000, "UAH"), f"2.9% + UAH{NBSP}10.00", f"2,9% + 10,00{NBSP}₴"),
    (f.format_percent, (12.345,), "12.3%", "12,3%"),
    (f.format_percent, (100,), "100.0%", "100,0%"),
    (f.format_share, (0.5,), "50.0%", "50,0%"),
    # Rounded as '%.1f' always rounded the float (1.05 is stored a little above 1.05).
    (f.format_share, (0.0105,), "1.1%", "1,1%"),
    (f.format_share, (None,), "\u2013", "\u2013"),
    (f.format_number, (1234,), "1,234", f"1{NBSP}234"),
    (f.format_number, (1234.5,), "1,234.5", f"1{NBSP}234,5"),
    (f.format_number, (0.25,), "0.25", "0,25"),
    (f.format_count, (12345,), "12,345", f"12{NBSP}345"),
    (f.format_day, (MOMENT,), "12 March 2026", "12 березня 2026\u202fр."),
    (f.format_day, (None,), "", ""),
    (f.format_long_date, (MOMENT,), "March 12, 2026", "12 березня 2026\u202fр."),
    (f.format_long_date, (None,), "", ""),
    (f.format_moment, (MOMENT,), "12 March 2026, 18:05 UTC", "12 березня 2026\u202fр., 18:05 UTC"),
    (f.format_moment, (None,), "", ""),
    (f.format_month, (MARCH,), "March 2026", "березень 2026"),
    (f.format_short_month, (MARCH,), "Mar", "бер."),
    (f.format_iso_day, (MOMENT,), "2026-03-12", "2026-03-12"),
    (f.format_iso_day, (MARCH,), "2026-03-01", "2026-03-01"),
    (f.format_minute, (MOMENT,), "2026-03-12 18:05", "2026-03-12 18:05"),
    (f.format_second, (MOMENT,), "2026-03-12 18:05:09", "2026-03-12 18:05:09"),
    (f.format_clock, (MOMENT,), "18:05", "18:05"),
    (f.format_minute, (None,), "", ""),
]


@pytest.mark.parametrize(("function", "args", "english", "ukrainian"), CASES,
                         ids=[f"{case[0].__name__}-{i}" for i, case in enumerate(CASES)])
def test_each_function_in_the_default_and_another_locale(function: Callable[..., str], args: tuple[Any, ...],
                                                         english: str, ukrainian: str) -> None:
    assert function(*args) == english
    assert function(*args, locale="en") == english
    assert function(*args, locale="uk") == ukrainian


def test_english_is_the_default_locale() -> None:
    assert f.DEFAULT_LOCALE == "en"
    assert f.current_locale() == "en"


def test_the_fraction_and_the_per_cent_helpers_mean_different_things() -> None:
    assert f.format_share(0.123) == f.format_percent(12.3) == "12.3%"


def test_amount_field_text_reads_back_whatever_the_locale() -> None:
    assert f.to_major_text(750, "EUR") == "7.50" and f.to_major_text(500, "EUR") == "5"
    assert f.to_major_text(1_500, "KWD") == "1.50" and f.to_major_text(10_000, "ISK") == "100"
    assert f.to_major_text(1_000, "JPY") == "1000"


def test_absolute_url_starts_with_public_url(app: Flask) -> None:
    with app.app_context():
        assert f.absolute_url("/account") == f"{app.config['PUBLIC_URL']}/account"


def test_template_filters_pass_the_context_locale(app: Flask) -> None:
    template = ("{{ when | day }} · {{ when | moment }} · {{ when | minute }} · {{ 1234 | count }} · "
                "{{ 0.5 | share }} · {{ 500 | money('EUR') }} · {{ 500 | recurring('EUR', 'month') }} · "
                "{{ 550 | major('EUR') }}")
    with app.test_request_context():
        english = render_template_string(template, when=MOMENT)
        ukrainian = render_template_string(template, when=MOMENT, locale="uk")
    assert english == ("12 March 2026 · 12 March 2026, 18:05 UTC · 2026-03-12 18:05 · 1,234 · 50.0% · €5.00 · "
                       "€5.00/month · 5.50")
    assert ukrainian == (f"12 березня 2026\u202fр. · 12 березня 2026\u202fр., 18:05 UTC · 2026-03-12 18:05 · "
                         f"1{NBSP}234 · 50,0% · 5,00{NBSP}€ · 5,00{NBSP}€/міс. · 5.50")


def test_one_filter_for_each_name(app: Flask) -> None:
    """The patrons blueprint's `day` filter used to replace the app's; every filter now has one definition."""
    with app.test_request_context():
        for name in [*f.TEMPLATE_FILTERS, "major"]:
            assert name in app.jinja_env.filters
        assert render_template_string("{{ when | day }}", when=MOMENT) == f.format_day(MOMENT)
