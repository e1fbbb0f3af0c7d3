"""Writing export files: CSV straight from PostgreSQL's COPY, or from a server-side cursor (`stream_results`,
`yield_per`) elsewhere; XLSX row by row through openpyxl's write-only mode with typed cells (never formulas).
Memory stays flat whatever the row count. The caller writes the audit entry (`record_export`) and commits.
"""

from __future__ import annotations

import csv
import io
import logging
import secrets
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook
from sqlalchemy.engine import Engine, Row
from sqlalchemy.orm import Session

from membership.i18n import in_locale, lazy_gettext
from membership.metrics import EXPORTS, count_after_commit
from membership.staff.accounts.audit import record_audit
from membership.staff.accounts.models import StaffUser
from membership.staff.reports.models import ExportFormat, ExportKind
from membership.staff.reports.services import DEFAULT_EXPORT_LANGUAGE, Cell, ExportFilters, ExportQuery, xlsx_text

log = logging.getLogger(__name__)

BATCH_ROWS = 2000
FILE_CHUNK = 256 * 1024
XLSX_SHEET_ROWS = 1_048_575  # Excel's limit is 1,048,576 rows, one of them the header
SHEET_TITLES = {ExportKind.SUPPORTERS: lazy_gettext("Supporters"), ExportKind.PAYMENTS: lazy_gettext("Payments"),
                ExportKind.MEMBERSHIPS: lazy_gettext("Memberships")}


def _xlsx_row(spec: ExportQuery) -> Callable[[Sequence[Any]], list[Any]]:
    """Typed XLSX cells from the text row: amounts as numbers, times as dates (UTC wall time)."""
    text_at = [i for i, c in enumerate(spec.columns) if c.cell is Cell.TEXT]
    money_at = [i for i, c in enumerate(spec.columns) if c.cell is Cell.MONEY]
    time_at = [i for i, c in enumerate(spec.columns) if c.cell is Cell.DATETIME]
    decimal_at = [i for i, c in enumerate(spec.columns) if c.cell is Cell.DECIMAL]

    def convert(row: Sequence[Any]) -> list[Any]:
        cells = list(row)
        for i in text_at:
            cells[i] = xlsx_text(cells[i])
        for i in money_at:
            cells[i] = Decimal(cells[i])
        for i in time_at:
            cells[i] = datetime.fromisoformat(cells[i]) if cells[i] else None
        for i in decimal_at:
            cells[i] = Decimal(cells[i]) if cells[i] else None
        return cells

    return convert


@dataclass
class ExportRun:
    """One export as it happens: the audit entry is written from it once the file is out."""

    filters: ExportFilters
    fmt: ExportFormat
    language: str = DEFAULT_EXPORT_LANGUAGE  # of the column headers (and the sheet's name); the cells never change
    rows: int = 0
    complete: bool = False


def _header(spec: ExportQuery, run: ExportRun, line_end: str) -> bytes:
    buffer = io.StringIO()
    buffer.write("\ufeff")  # a byte-order mark, so Excel reads the UTF-8 (Cyrillic names) right
    csv.writer(buffer, lineterminator=line_end).writerow(spec.header_in(run.language))
    return buffer.getvalue().encode()


def stream_rows(engine: Engine, spec: ExportQuery, run: ExportRun) -> Iterator[Sequence[Row[Any]]]:
    """The text rows in batches from a server-side cursor on a connection of their own, counted into `run`.

    The connection is given back as soon as the last row is read (or the reader stops), before any
    audit entry is written.
    """
    with engine.connect() as connection, connection.execution_options(
            stream_results=True, yield_per=BATCH_ROWS).execute(spec.text_query) as result:
        for batch in result.partitions():
            run.rows += len(batch)
            yield batch


def _csv_by_copy(engine: Engine, spec: ExportQuery, run: ExportRun) -> Iterator[bytes]:
    """PostgreSQL writes the CSV itself (COPY … TO STDOUT, LF line ends); its rows go out in 256 kB chunks."""
    yield _header(spec, run, "\n")
    with engine.connect() as connection:
        compiled = spec.text_query.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
        driver: Any = connection.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv)",
                                                    compiled.params) as copy:
            chunk = bytearray()
            for row in copy:  # COPY sends one message per row
                chunk += row
                run.rows += 1
                if len(chunk) >= FILE_CHUNK:
                    yield bytes(chunk)
                    chunk.clear()
            if chunk:
                yield bytes(chunk)


def _csv_by_cursor(engine: Engine, spec: ExportQuery, run: ExportRun) -> Iterator[bytes]:
    # CRLF line ends: Python's writer only quotes a field holding a CR when CR is part of the line end.
    yield _header(spec, run, "\r\n")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for batch in stream_rows(engine, spec, run):
        writer.writerows(batch)
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()


def write_xlsx(engine: Engine, spec: ExportQuery, run: ExportRun, target: IO[bytes]) -> None:
    """The XLSX file into `target`, through openpyxl's write-only mode (rows go to disk as they come).

    More rows than a sheet holds continue on a second sheet, and so on.
    """
    header = spec.header_in(run.language)
    with in_locale(run.language):
        title = str(SHEET_TITLES[run.filters.kind])
    workbook = Workbook(write_only=True)
    convert = _xlsx_row(spec)
    sheet, used, sheets = None, XLSX_SHEET_ROWS, 0
    for batch in stream_rows(engine, spec, run):
        for row in batch:
            if used == XLSX_SHEET_ROWS:
                sheets += 1
                sheet = workbook.create_sheet(title if sheets == 1 else f"{title} {sheets}")
                sheet.freeze_panes = "A2"
                sheet.append(header)
                used = 0
            assert sheet is not None
            sheet.append(convert(row))
            used += 1
    if sheet is None:
        workbook.create_sheet(title).append(header)
    workbook.save(target)


def export_chunks(engine: Engine, spec: ExportQuery, run: ExportRun) -> Iterator[bytes]:
    """The export file's bytes, in chunks, in constant memory.

    CSV comes straight from the database: PostgreSQL's COPY, or elsewhere a server-side cursor through
    Python's csv writer. XLSX is a zip, so it is written to a temporary file first, then sent.
    """
    if run.fmt is ExportFormat.CSV:
        if engine.dialect.name == "postgresql":
            yield from _csv_by_copy(engine, spec, run)
        else:
            yield from _csv_by_cursor(engine, spec, run)
        return
    with tempfile.TemporaryFile() as workbook:
        write_xlsx(engine, spec, run, workbook)
        workbook.seek(0)
        while chunk := workbook.read(FILE_CHUNK):
            yield chunk


def write_export(engine: Engine, spec: ExportQuery, run: ExportRun, path: Path) -> None:
    """The export into the file at `path`, whole or not at all: written under a temporary name beside it (its own
    for each writer), then renamed. `run.complete` is set once the file is in place.

    The CLI's `export` command and the queued exports' worker both write their files here.
    """
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
    try:
        with partial.open("xb") as out:
            if run.fmt is ExportFormat.XLSX:
                write_xlsx(engine, spec, run, out)  # straight into the file, no temporary copy to send
            else:
                for chunk in export_chunks(engine, spec, run):
                    out.write(chunk)
        partial.replace(path)
        run.complete = True
    finally:
        partial.unlink(missing_ok=True)


def audited(chunks: Iterator[bytes], run: ExportRun, write_audit: Callable[[ExportRun], None]) -> Iterator[bytes]:
    """Pass the chunks on, then hand `run` to `write_audit`, also when the reader stops early or it fails.

    The database connection that read the rows is closed by then, so the audit entry can be written in a
    transaction of its own.
    """
    try:
        yield from chunks
        run.complete = True
    finally:
        write_audit(run)


def record_export(session: Session, actor: StaffUser | None, run: ExportRun, *, ip: str = "",
                  actor_label: str = "", job_id: int | None = None) -> None:
    """The audit entry for an export: who, what, which filters, how many rows, and whether it all went out.

    A queued export (`job_id`) says so, and is written when its file is (or finally fails to be) written.
    """
    queued: dict[str, Any] = {} if job_id is None else {"queued": True}
    how = "queued" if job_id is not None else "command" if actor is None else "inline"
    outcome = "written" if run.complete else "failed"
    log.info("Export %s (%s, %s) %s: %s rows", run.filters.kind.value, run.fmt.value, how, outcome, run.rows,
             extra={"job_id": job_id, "staff_id": actor.id if actor else None})
    count_after_commit(session, EXPORTS, run.filters.kind.value, how, outcome)
    record_audit(session, actor, f"export.{run.filters.kind.value}", target_type="export",
                 target_id="" if job_id is None else job_id, ip=ip, actor_label=actor_label, format=run.fmt.value,
                 language=run.language, **run.filters.describe(), rows=run.rows, complete=run.complete, **queued)
