"""Exports of supporters, payments and memberships as CSV or XLSX: one definition for the web and the CLI.
Ballot results (aggregates only) export the same two ways, from the tally.

The database renders every cell as the file shows it (`cell_sql`): amounts as exact decimals, times in
UTC, yes/no, and text that a spreadsheet would read as a formula (starting with `=`, `+`, `-`, `@`, a tab
or a carriage return) with a leading `'`. CSV then comes straight from PostgreSQL's COPY, or from a
server-side cursor (`stream_results`, `yield_per`) elsewhere; XLSX is written row by row by openpyxl's
write-only mode with typed cells (never formulas). Memory stays flat whatever the row count.
Services here read, or record a queued export (with REDIS_URL, an export of more than
MEMBERSHIP_EXPORT_INLINE_ROWS rows is written to a file by the worker: `worker.py`); the caller writes
the audit entry (`record_export`) and commits.
"""

from __future__ import annotations

import csv
import enum
import io
import logging
import secrets
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from sqlalchemy import ColumnElement, Select, String, case, cast, exists, func, literal, select, type_coerce
from sqlalchemy.engine import Engine, Row
from sqlalchemy.orm import QueryableAttribute, Session

from membership.ballots.models import Ballot
from membership.ballots.services import Tally, rules_statement
from membership.formatting import format_second
from membership.giving.models import Checkout, Membership, MembershipStatus, Payment, PaymentStatus, Tier
from membership.money import exponent
from membership.patrons.services import patron_condition
from membership.queue import EXPORTS, push_after_commit
from membership.staff.dashboard.services import DateRange
from membership.staff.models import StaffUser
from membership.staff.reports.models import ExportFormat, ExportJob, ExportJobStatus, ExportKind
from membership.staff.services import record_audit
from membership.staff.sql import utc_text
from membership.supporters.models import Supporter

log = logging.getLogger(__name__)

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
BATCH_ROWS = 2000
FILE_CHUNK = 256 * 1024
XLSX_SHEET_ROWS = 1_048_575  # Excel's limit is 1,048,576 rows, one of them the header


SUPPORTER_STATUSES = {"patron": "Patron now", "not_patron": "Not a patron now", "erased": "Erased"}


def statuses_for(kind: ExportKind) -> dict[str, str]:
    """The status filter's values for an export (value → label)."""
    if kind is ExportKind.PAYMENTS:
        return {s.value: s.value.replace("_", " ").capitalize() for s in PaymentStatus}
    if kind is ExportKind.MEMBERSHIPS:
        return {s.value: s.value.replace("_", " ").capitalize() for s in MembershipStatus}
    return dict(SUPPORTER_STATUSES)


class FilterError(ValueError):
    """A filter value the export can't use. `field` names the filter; the message is for the person."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ExportFilters:
    """What to export: a kind, whole UTC days `first`..`last` (both included), optionally a currency and status."""

    kind: ExportKind
    first: date
    last: date
    currency: str = ""
    status: str = ""

    @property
    def period(self) -> DateRange:
        return DateRange(self.first, self.last)

    def filename(self, fmt: ExportFormat) -> str:
        """`payments-2026-01-01-to-2026-01-31.csv`"""
        return f"{self.kind.value}-{self.first.isoformat()}-to-{self.last.isoformat()}.{fmt.value}"

    def describe(self) -> dict[str, str]:
        """The filters as the audit log keeps them."""
        return {"from": self.first.isoformat(), "to": self.last.isoformat(),
                "currency": self.currency or "all", "status": self.status or "all"}


def make_filters(kind: str, first: date | None, last: date | None, currency: str | None, status: str | None,
                 currencies: Sequence[str]) -> ExportFilters:
    """Check the filters (the same checks for the web form and the command line); FilterError if one is wrong."""
    try:
        export_kind = ExportKind(kind)
    except ValueError:
        raise FilterError("kind", f"Unknown export {kind!r}; choose supporters, payments or memberships.") from None
    if first is None:
        raise FilterError("from", "Enter the first day to export (YYYY-MM-DD).")
    if last is None:
        raise FilterError("to", "Enter the last day to export (YYYY-MM-DD).")
    if first > last:
        raise FilterError("to", "The end date is before the start date.")
    code = (currency or "").strip().upper()
    if code and code not in currencies:
        raise FilterError("currency", f"Unknown currency {currency!r}; choose one of {', '.join(currencies)}.")
    state = (status or "").strip().lower()
    allowed = statuses_for(export_kind)
    if state and state not in allowed:
        raise FilterError("status", f"{status!r} is not a status of {export_kind.value}; choose one of "
                                    f"{', '.join(allowed)}.")
    return ExportFilters(export_kind, first, last, code, state)


# Columns --------------------------------------------------------------------------------------------


class Cell(enum.Enum):
    TEXT = "text"
    INTEGER = "integer"
    MONEY = "money"  # minor units in the query; a decimal amount in the file, in the row's currency
    DATETIME = "datetime"  # UTC
    DECIMAL = "decimal"  # exact decimal text in the query (an exchange rate); a number in XLSX; empty if NULL
    YES_NO = "yes_no"


@dataclass(frozen=True)
class Column:
    header: str
    expr: ColumnElement[Any] | QueryableAttribute[Any]
    cell: Cell = Cell.TEXT
    currency: Any = None  # a MONEY cell's own currency column, when it isn't the row's (fee and net)


@dataclass(frozen=True)
class ExportQuery:
    """An export's columns and its SELECT (typed values, as stored)."""

    columns: list[Column]
    query: Select[Any]
    currency: Any = None  # the column holding each row's currency, for MONEY cells
    currencies: Sequence[str] = ()

    @property
    def header(self) -> list[str]:
        return [c.header for c in self.columns]

    @property
    def text_query(self) -> Select[Any]:
        """The same SELECT with every cell rendered as the file shows it (see `cell_sql`)."""
        return self.query.with_only_columns(*(cell_sql(c, self.currency, self.currencies) for c in self.columns))


def _text(column: Any) -> ColumnElement[Any]:
    """An enum column read as its plain text value (no per-row enum conversion)."""
    return type_coerce(column, String)


def _payments(filters: ExportFilters, currencies: Sequence[str]) -> ExportQuery:
    columns = [
        Column("Paid at (UTC)", Payment.paid_at, Cell.DATETIME),
        Column("Payment ID", Payment.id, Cell.INTEGER),
        Column("Supporter ID", Payment.supporter_id, Cell.INTEGER),
        Column("Supporter email", Supporter.email),
        Column("Supporter name", Supporter.name),
        Column("Kind", _text(Payment.kind)),
        Column("Gross", Payment.amount_minor, Cell.MONEY),
        Column("Currency", Payment.currency),
        # Stripe's fee and net are in the account's settlement currency, converted at Stripe's rate.
        Column("Fee", Payment.fee_minor, Cell.MONEY, Payment.settlement_currency),
        Column("Net", Payment.net_minor, Cell.MONEY, Payment.settlement_currency),
        Column("Settlement currency", Payment.settlement_currency),
        Column("Exchange rate", Payment.exchange_rate, Cell.DECIMAL),
        Column("Status", _text(Payment.status)),
        Column("Refunded", Payment.refunded_minor, Cell.MONEY),
        Column("Stripe payment intent", Payment.stripe_payment_intent_id),
        Column("Stripe charge", Payment.stripe_charge_id),
        Column("Stripe invoice", Payment.stripe_invoice_id),
        Column("Stripe balance transaction", Payment.stripe_balance_transaction_id),
        Column("Stripe subscription", Membership.stripe_subscription_id),
        Column("Source", Checkout.source_url),
        Column("UTM source", Checkout.utm_source),
        Column("UTM medium", Checkout.utm_medium),
        Column("UTM campaign", Checkout.utm_campaign),
    ]
    # A renewal carries no checkout of its own: its source is the checkout that started the membership.
    query = (
        select(*(c.expr for c in columns))
        .select_from(Payment)
        .join(Supporter, Supporter.id == Payment.supporter_id)
        .outerjoin(Membership, Membership.id == Payment.membership_id)
        .outerjoin(Checkout, Checkout.id == func.coalesce(Payment.checkout_id, Membership.checkout_id))
        .where(filters.period.contains(Payment.paid_at))
        .order_by(Payment.paid_at, Payment.id)
    )
    if filters.currency:
        query = query.where(Payment.currency == filters.currency)
    if filters.status:
        query = query.where(Payment.status == PaymentStatus(filters.status))
    return ExportQuery(columns, query, Payment.currency, currencies)


def _memberships(filters: ExportFilters, currencies: Sequence[str]) -> ExportQuery:
    columns = [
        Column("Membership ID", Membership.id, Cell.INTEGER),
        Column("Supporter ID", Membership.supporter_id, Cell.INTEGER),
        Column("Supporter email", Supporter.email),
        Column("Supporter name", Supporter.name),
        Column("Status", _text(Membership.status)),
        Column("Amount", Membership.amount_minor, Cell.MONEY),
        Column("Currency", Membership.currency),
        Column("Interval", Membership.interval),
        Column("Tier", Tier.name),
        Column("Started (UTC)", Membership.started_at, Cell.DATETIME),
        Column("Current period ends (UTC)", Membership.current_period_end, Cell.DATETIME),
        Column("Cancels at period end", Membership.cancel_at_period_end, Cell.YES_NO),
        Column("Cancelled (UTC)", Membership.canceled_at, Cell.DATETIME),
        Column("Ended (UTC)", Membership.ended_at, Cell.DATETIME),
        Column("Cancel reason", Membership.cancel_reason),
        Column("Cancel comment", Membership.cancel_comment),
        Column("Stripe subscription", Membership.stripe_subscription_id),
        Column("Source", Checkout.source_url),
        Column("UTM campaign", Checkout.utm_campaign),
    ]
    query = (
        select(*(c.expr for c in columns))
        .select_from(Membership)
        .join(Supporter, Supporter.id == Membership.supporter_id)
        .outerjoin(Tier, Tier.id == Membership.tier_id)
        .outerjoin(Checkout, Checkout.id == Membership.checkout_id)
        .where(filters.period.contains(Membership.started_at))
        .order_by(Membership.started_at, Membership.id)
    )
    if filters.currency:
        query = query.where(Membership.currency == filters.currency)
    if filters.status:
        query = query.where(Membership.status == MembershipStatus(filters.status))
    return ExportQuery(columns, query, Membership.currency, currencies)


def _supporters(filters: ExportFilters, now: datetime, grace: timedelta) -> ExportQuery:
    is_patron = exists().where(Membership.supporter_id == Supporter.id, patron_condition(now, grace))
    columns = [
        Column("Supporter ID", Supporter.id, Cell.INTEGER),
        Column("Email", Supporter.email),
        Column("Name", Supporter.name),
        Column("Joined (UTC)", Supporter.created_at, Cell.DATETIME),
        Column("Email updates", Supporter.email_consent, Cell.YES_NO),
        Column("Consent changed (UTC)", Supporter.email_consent_at, Cell.DATETIME),
        Column("Patron now", is_patron, Cell.YES_NO),
        Column("Stripe customer", Supporter.stripe_customer_id),
        Column("Erased (UTC)", Supporter.erased_at, Cell.DATETIME),
    ]
    query = (select(*(c.expr for c in columns)).where(filters.period.contains(Supporter.created_at))
             .order_by(Supporter.id))
    if filters.currency:
        query = query.where(exists().where(Payment.supporter_id == Supporter.id, Payment.currency == filters.currency))
    if filters.status == "patron":
        query = query.where(is_patron)
    elif filters.status == "not_patron":
        query = query.where(~is_patron)
    elif filters.status == "erased":
        query = query.where(Supporter.erased_at.is_not(None))
    return ExportQuery(columns, query)


def export_query(filters: ExportFilters, *, now: datetime, grace: timedelta, currencies: Sequence[str]) -> ExportQuery:
    """The columns and the SELECT for an export (`now` and `grace` decide who is a patron now; `currencies`
    are the configured ones, whose decimals the amounts follow)."""
    if filters.kind is ExportKind.PAYMENTS:
        return _payments(filters, currencies)
    if filters.kind is ExportKind.MEMBERSHIPS:
        return _memberships(filters, currencies)
    return _supporters(filters, now, grace)


# Cells: every cell is rendered as text by the database ----------------------------------------------


def neutralise(value: str) -> str:
    """Text a spreadsheet would run as a formula gets a leading apostrophe, so it stays text."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def neutralised_sql(expr: Any) -> ColumnElement[str]:
    """SQL for `neutralise`, with NULL as empty text."""
    return case((func.substr(expr, 1, 1).in_(FORMULA_PREFIXES), literal("'") + expr), else_=func.coalesce(expr, ""))


def money_sql(amount: Any, currency: Any, currencies: Sequence[str]) -> ColumnElement[str]:
    """SQL for minor units as an exact decimal amount in the row's currency: 1250 EUR → '12.50', 500 JPY → '500'.

    Integer arithmetic only, the same on SQLite and PostgreSQL. Currencies with other than two decimals
    are looked up among `currencies` (the configured ones; a currency outside them is shown with two).
    """
    units = {code: 10 ** exponent(code) for code in currencies if exponent(code) != 2}
    unit: Any = case(units, value=currency, else_=100) if units else literal(100)
    magnitude = func.abs(amount)
    decimal = (case((amount < 0, "-"), else_="") + cast(magnitude // unit, String) + "."
               + func.substr(cast(unit + magnitude % unit, String), 2, type_=String))
    return case((unit == 1, cast(amount, String)), else_=decimal)


def cell_sql(column: Column, currency: Any, currencies: Sequence[str]) -> ColumnElement[Any]:
    """The column as the file shows it: neutralised text, decimal amounts, UTC times, yes/no."""
    if column.cell is Cell.TEXT:
        return neutralised_sql(column.expr)
    if column.cell is Cell.MONEY:
        return money_sql(column.expr, currency if column.currency is None else column.currency, currencies)
    if column.cell is Cell.DATETIME:
        return func.coalesce(utc_text(column.expr), "")
    if column.cell is Cell.DECIMAL:
        return func.coalesce(column.expr, "")
    if column.cell is Cell.YES_NO:
        return case((column.expr, "yes"), else_="no")
    return column.expr  # type: ignore[return-value]


def _xlsx_text(value: str) -> str:
    # openpyxl refuses control characters; removing one could uncover a formula prefix, so check again.
    return neutralise(ILLEGAL_CHARACTERS_RE.sub("", value))


def _xlsx_row(spec: ExportQuery) -> Callable[[Sequence[Any]], list[Any]]:
    """Typed XLSX cells from the text row: amounts as numbers, times as dates (UTC wall time)."""
    text_at = [i for i, c in enumerate(spec.columns) if c.cell is Cell.TEXT]
    money_at = [i for i, c in enumerate(spec.columns) if c.cell is Cell.MONEY]
    time_at = [i for i, c in enumerate(spec.columns) if c.cell is Cell.DATETIME]
    decimal_at = [i for i, c in enumerate(spec.columns) if c.cell is Cell.DECIMAL]

    def convert(row: Sequence[Any]) -> list[Any]:
        cells = list(row)
        for i in text_at:
            cells[i] = _xlsx_text(cells[i])
        for i in money_at:
            cells[i] = Decimal(cells[i])
        for i in time_at:
            cells[i] = datetime.fromisoformat(cells[i]) if cells[i] else None
        for i in decimal_at:
            cells[i] = Decimal(cells[i]) if cells[i] else None
        return cells

    return convert


# Writing --------------------------------------------------------------------------------------------


@dataclass
class ExportRun:
    """One export as it happens: the audit entry is written from it once the file is out."""

    filters: ExportFilters
    fmt: ExportFormat
    rows: int = 0
    complete: bool = False


def _header(spec: ExportQuery, line_end: str) -> bytes:
    buffer = io.StringIO()
    buffer.write("\ufeff")  # a byte-order mark, so Excel reads the UTF-8 (Cyrillic names) right
    csv.writer(buffer, lineterminator=line_end).writerow(spec.header)
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
    yield _header(spec, "\n")
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
    yield _header(spec, "\r\n")
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
    title = run.filters.kind.value.capitalize()
    workbook = Workbook(write_only=True)
    convert = _xlsx_row(spec)
    sheet, used, sheets = None, XLSX_SHEET_ROWS, 0
    for batch in stream_rows(engine, spec, run):
        for row in batch:
            if used == XLSX_SHEET_ROWS:
                sheets += 1
                sheet = workbook.create_sheet(title if sheets == 1 else f"{title} {sheets}")
                sheet.freeze_panes = "A2"
                sheet.append(spec.header)
                used = 0
            assert sheet is not None
            sheet.append(convert(row))
            used += 1
    if sheet is None:
        workbook.create_sheet(title).append(spec.header)
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
    record_audit(session, actor, f"export.{run.filters.kind.value}", target_type="export",
                 target_id="" if job_id is None else job_id, ip=ip, actor_label=actor_label, format=run.fmt.value,
                 **run.filters.describe(), rows=run.rows, complete=run.complete, **queued)


# Queued exports -------------------------------------------------------------------------------------------
# With REDIS_URL set, a web export of more than MEMBERSHIP_EXPORT_INLINE_ROWS rows isn't streamed: the request
# records an ExportJob and the worker writes its file (`membership.staff.reports.worker`).

RECENT_JOBS = 20


def more_rows_than(session: Session, spec: ExportQuery, limit: int) -> bool:
    """Whether the export has more than `limit` rows, counting no further than one past it."""
    first_rows = (spec.query.with_only_columns(literal(1), maintain_column_froms=True).order_by(None)
                  .limit(limit + 1).subquery())
    return (session.scalar(select(func.count()).select_from(first_rows)) or 0) > limit


def queue_if_large(session: Session, actor: StaffUser, spec: ExportQuery, run: ExportRun, *, inline_rows: int,
                   ip: str, now: datetime) -> ExportJob | None:
    """Queue the export for the worker if it has more than `inline_rows` rows (0: whatever its size); None when
    it is small enough to download at once. The job reaches the worker's queue once the transaction commits."""
    if inline_rows and not more_rows_than(session, spec, inline_rows):
        return None
    filters = run.filters
    job = ExportJob(staff_user_id=actor.id, kind=filters.kind, fmt=run.fmt, first_day=filters.first,
                    last_day=filters.last, currency=filters.currency, status_filter=filters.status,
                    status=ExportJobStatus.QUEUED, next_attempt_at=now, requested_at=now, ip_address=ip[:64])
    session.add(job)
    session.flush()
    push_after_commit(session, EXPORTS, job.id)
    return job


def job_filters(job: ExportJob) -> ExportFilters:
    return ExportFilters(job.kind, job.first_day, job.last_day, job.currency, job.status_filter)


def recent_exports(session: Session, staff_id: int, limit: int = RECENT_JOBS) -> list[ExportJob]:
    """A staff member's newest queued exports, newest first."""
    return list(session.scalars(select(ExportJob).where(ExportJob.staff_user_id == staff_id)
                                .order_by(ExportJob.id.desc()).limit(limit)))


class ExportUnavailable(Exception):
    """A queued export that can't be downloaded: the HTTP status, a title and what to do, for the person."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.title = title


def export_file(session: Session, job_id: int, staff_id: int, directory: Path, now: datetime) -> tuple[ExportJob, Path]:
    """One of the staff member's own queued exports and its file, ready and not expired; ExportUnavailable if not.

    Someone else's export is answered as an unknown one, so ids say nothing about other people's exports.
    """
    job = session.get(ExportJob, job_id)
    if job is None or job.staff_user_id != staff_id:
        raise ExportUnavailable(404, "Export not found",
                                "We couldn't find that export among yours. Your recent exports are listed on the "
                                "reports page.")
    if job.status in (ExportJobStatus.QUEUED, ExportJobStatus.RUNNING):
        raise ExportUnavailable(404, "Export not ready yet",
                                "This export is still being prepared. We'll email you when it's ready.")
    if job.status is ExportJobStatus.FAILED:
        raise ExportUnavailable(404, "Export failed",
                                "This export could not be prepared, so there is no file. Please start it again from "
                                "the reports page.")
    if job.status is ExportJobStatus.EXPIRED or job.expires_at is None or job.expires_at <= now:
        raise ExportUnavailable(410, "Export expired",
                                "This export's file has been deleted: files are kept for a limited time. Please start "
                                "the export again from the reports page.")
    path = directory / job.file_name
    if not path.is_file():
        log.warning("The file of ready export %s is missing from %s.", job.id, directory)
        raise ExportUnavailable(410, "Export no longer available",
                                "This export's file is no longer on the server. Please start the export again from "
                                "the reports page.")
    return job, path


def record_download(session: Session, actor: StaffUser, job: ExportJob, *, ip: str) -> None:
    """The audit entry for downloading a queued export's file: which export, its filters and rows."""
    record_audit(session, actor, "export.downloaded", target_type="export", target_id=job.id, ip=ip,
                 kind=job.kind.value, format=job.fmt.value, **job_filters(job).describe(), rows=job.row_count)


# Ballot results: aggregates only --------------------------------------------------------------------------

BALLOT_RESULTS_HEADER = ["Ballot", "Topic", "Patrons who chose it", "Weighted votes", "Share (%)", "Voters",
                         "Eligible patrons", "Turnout (%)", "Method", "Opens (UTC)", "Closes (UTC)"]


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


def ballot_results_file(ballot: Ballot, tally: Tally, fmt: ExportFormat) -> bytes:
    """The results as a CSV (UTF-8 with a byte-order mark, CRLF) or an XLSX file; text can't run as a formula."""
    rows = ballot_results_rows(ballot, tally)
    if fmt is ExportFormat.CSV:
        buffer = io.StringIO()
        buffer.write("\ufeff")
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(BALLOT_RESULTS_HEADER)
        writer.writerows([[neutralise(c) if isinstance(c, str) else
                           format_second(c) if isinstance(c, datetime) else c for c in row]
                          for row in rows])
        return buffer.getvalue().encode()
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Results")
    sheet.append(BALLOT_RESULTS_HEADER)
    for row in rows:
        sheet.append([_xlsx_text(c) if isinstance(c, str) else c for c in row])
    target = io.BytesIO()
    workbook.save(target)
    return target.getvalue()


def record_ballot_results_export(session: Session, actor: StaffUser | None, ballot: Ballot, fmt: ExportFormat,
                                 rows: int, *, ip: str = "") -> None:
    record_audit(session, actor, "export.ballot_results", target_type="ballot", target_id=ballot.id, ip=ip,
                 format=fmt.value, rows=rows)
