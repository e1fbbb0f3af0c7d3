"""The dashboard's date ranges: whole UTC days, and the calendar months they touch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, literal

from membership.i18n import gettext as _

MAX_MONTHS = 60


class RangeError(ValueError):
    """The dates asked for don't make a range the dashboard can show; the message says why."""


# Dates ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateRange:
    """Whole UTC days from `first` to `last`, both included."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the range."""
        return datetime.combine(self.last + timedelta(days=1), time.min, UTC)

    def contains(self, column: Any) -> ColumnElement[bool]:
        """SQL: the time in `column` falls within the range."""
        return and_(column >= self.start, column < self.end)

    def months(self) -> list[date]:
        """The first day of every calendar month the range touches, oldest first."""
        months, month = [], self.first.replace(day=1)
        while month <= self.last:
            months.append(month)
            month = next_month(month)
        return months


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def default_range(today: date) -> DateRange:
    """The last 12 months: from the first of the month eleven months ago up to today."""
    first = today.replace(day=1)
    for _month in range(11):
        first = (first - timedelta(days=1)).replace(day=1)
    return DateRange(first, today)


def checked_range(first: date, last: date) -> DateRange:
    """A range the dashboard can show, or RangeError with the reason."""
    if first > last:
        raise RangeError(_("The start date is after the end date."))
    result = DateRange(first, last)
    if len(result.months()) > MAX_MONTHS:
        raise RangeError(_("Choose a range of at most %(count)s months.", count=MAX_MONTHS))
    return result


def month_index(column: Any, period: DateRange) -> ColumnElement[int]:
    """SQL for which of the period's months (0, 1, …) a UTC timestamp falls in, for GROUP BY month.

    Comparisons with the months' first instants: the same on SQLite and PostgreSQL, whatever the
    session's time zone, and cheaper than truncating every timestamp. Rows are filtered to the period.
    """
    starts = [datetime.combine(month, time.min, UTC) for month in period.months()[1:]]
    if not starts:
        return literal(0)
    return case(*((column < start, index) for index, start in enumerate(starts)), else_=len(starts))
