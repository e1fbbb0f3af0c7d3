"""Ballot results for staff: aggregates only, as CSV or XLSX, from the tally."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import Session

from membership.ballots.models import Ballot
from membership.ballots.services import Tally, rules_statement
from membership.formatting import format_second
from membership.i18n import in_locale, lazy_gettext
from membership.staff.accounts.audit import record_audit
from membership.staff.accounts.models import StaffUser
from membership.staff.reports.models import ExportFormat
from membership.staff.reports.services import DEFAULT_EXPORT_LANGUAGE, neutralise, xlsx_text

BALLOT_RESULTS_HEADER = [
    lazy_gettext("Ballot"), lazy_gettext("Topic"), lazy_gettext("Patrons who chose it"), lazy_gettext("Weighted votes"),
    lazy_gettext("Share (%)"), lazy_gettext("Voters"), lazy_gettext("Eligible patrons"), lazy_gettext("Turnout (%)"),
    lazy_gettext("Method"), lazy_gettext("Opens (UTC)"), lazy_gettext("Closes (UTC)"),
]


def exportable_ballots(session: Session) -> list[Ballot]:
    """Published ballots, newest first: the ones whose results can be exported."""
    return list(session.scalars(select(Ballot).where(Ballot.published_at.is_not(None))
                                .order_by(Ballot.opens_at.desc(), Ballot.id.desc())))


def ballot_results_rows(ballot: Ballot, tally: Tally) -> list[list[Any]]:
    """One row per topic: its counts and share, with the ballot's voters, eligible patrons, turnout and method.

    Only the tally's totals: nothing here can say which topic a patron chose.
    """
    return [[ballot.title, result.option.title, result.voters, result.weighted, round(100 * result.share, 1),
             tally.voters, tally.eligible, round(100 * tally.turnout, 1), rules_statement(ballot),
             ballot.opens_at.replace(tzinfo=None), ballot.closes_at.replace(tzinfo=None)]
            for result in tally.options]


def ballot_results_file(ballot: Ballot, tally: Tally, fmt: ExportFormat,
                        language: str = DEFAULT_EXPORT_LANGUAGE) -> bytes:
    """The results as a CSV (UTF-8 with a byte-order mark, CRLF) or an XLSX file, the column headers in `language`;
    text can't run as a formula."""
    rows = ballot_results_rows(ballot, tally)
    with in_locale(language):
        header, sheet_title = [str(name) for name in BALLOT_RESULTS_HEADER], str(lazy_gettext("Results"))
    if fmt is ExportFormat.CSV:
        buffer = io.StringIO()
        buffer.write("\ufeff")
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows([[neutralise(c) if isinstance(c, str) else
                           format_second(c) if isinstance(c, datetime) else c for c in row]
                          for row in rows])
        return buffer.getvalue().encode()
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_title)
    sheet.append(header)
    for row in rows:
        sheet.append([xlsx_text(c) if isinstance(c, str) else c for c in row])
    target = io.BytesIO()
    workbook.save(target)
    return target.getvalue()


def record_ballot_results_export(session: Session, actor: StaffUser | None, ballot: Ballot, fmt: ExportFormat,
                                 rows: int, *, ip: str = "") -> None:
    record_audit(session, actor, "export.ballot_results", target_type="ballot", target_id=ballot.id, ip=ip,
                 format=fmt.value, rows=rows)
