"""Writing queued exports to files: what the worker does with each job it is handed, and what `jobs run` does
with the jobs still waiting and the files whose time is up.

The job row is the truth. A writer claims it with a conditional update (status `running`, one more attempt,
leased for RUN_LEASE) and commits before writing, so no transaction stays open while the file is written
and two writers never take the same job. The attempt number fences the writer: the outcome is recorded only
if the job is still `running` under that attempt, so a writer that outlived its lease (and was replaced)
records nothing and deletes its own file. Each attempt writes a file of its own name, through
`write_export` (the `export` command's code: temporary name, then rename).

Unlike services, `build_export` and `build_due_exports` end their own units of work (`unit_of_work`: commit,
then send the email they queued), as `email retry` does; `expire_exports` only flushes, for its caller to commit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from membership.config import default_currency_rules, patron_grace
from membership.db import rows_affected, unit_of_work, utcnow
from membership.staff.accounts.models import StaffUser
from membership.staff.auth import Permission, can
from membership.staff.reports.emails import send_export_failed, send_export_ready
from membership.staff.reports.files import ExportRun, record_export, write_export
from membership.staff.reports.models import ExportJob, ExportJobStatus
from membership.staff.reports.queued import job_filters
from membership.staff.reports.services import export_query
from membership.storage import FileStore, export_storage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
RETRY_AFTER = timedelta(minutes=5)  # then 10 minutes; the third failure is final
# A writer that hasn't finished by then is presumed stopped (its worker was restarted): `jobs run` takes the job
# over. Long enough for the largest XLSX (about 2,000 rows a second).
RUN_LEASE = timedelta(hours=1)


@dataclass(frozen=True)
class ExportSettings:
    """What writing a queued export needs from the settings."""

    storage: FileStore  # MEMBERSHIP_EXPORT_DIR, or EXPORT_STORAGE_URL
    keep: timedelta  # MEMBERSHIP_EXPORT_KEEP_DAYS
    grace: timedelta  # PATRON_GRACE_DAYS, for the supporters export's "patron now"
    currencies: Sequence[str]  # MEMBERSHIP_CURRENCIES, whose decimals the amounts follow


def _claim(session: Session, job_id: int, now: datetime, *, due_only: bool) -> ExportJob | None:
    """Take the job to write (committed), or None if it isn't there to take. The worker takes a queued job as it
    is handed over; `jobs run` (`due_only`) takes a queued job once its attempt is due, or a running one whose
    lease has run out."""
    takeable: ColumnElement[bool]
    if due_only:
        takeable = ExportJob.status.in_([ExportJobStatus.QUEUED, ExportJobStatus.RUNNING]) \
            & (ExportJob.next_attempt_at <= now)
    else:
        takeable = ExportJob.status == ExportJobStatus.QUEUED
    with unit_of_work(session):
        claimed = session.execute(
            update(ExportJob).where(ExportJob.id == job_id, takeable)
            .values(status=ExportJobStatus.RUNNING, attempts=ExportJob.attempts + 1, next_attempt_at=now + RUN_LEASE)
            .execution_options(synchronize_session=False)
        )
    if rows_affected(claimed) != 1:
        return None
    return session.get(ExportJob, job_id, populate_existing=True)


def _settle(session: Session, job_id: int, attempt: int, **values: Any) -> ExportJob | None:
    """Record this attempt's outcome if the job is still this attempt's; the job, or None if it was taken over
    (then nothing was written). The caller's unit of work commits it."""
    settled = session.execute(
        update(ExportJob).where(ExportJob.id == job_id, ExportJob.status == ExportJobStatus.RUNNING,
                                ExportJob.attempts == attempt)
        .values(**values).execution_options(synchronize_session=False)
    )
    if rows_affected(settled) != 1:
        return None
    return session.get(ExportJob, job_id, populate_existing=True)


def build_export(session: Session, engine: Engine, job_id: int, settings: ExportSettings, *,
                 due_only: bool = False, now: datetime | None = None) -> bool | None:
    """Write one queued export's file. True when it is ready, False when this attempt failed (tried again after
    RETRY_AFTER, given up after MAX_ATTEMPTS), None when the job wasn't there to take.

    On success the file's export is audited (as the staff member who asked, queued) and they are emailed the
    link; when it is given up, audited as incomplete and they are emailed that it failed. Each outcome is a unit
    of work of its own: committed, then its email sent (or handed to the email queue).
    """
    job = _claim(session, job_id, now or utcnow(), due_only=due_only)
    if job is None:
        return None
    attempt, run = job.attempts, ExportRun(job_filters(job), job.fmt, job.language)
    staff = session.get(StaffUser, job.staff_user_id)
    if staff is None or not staff.active or not can(staff, Permission.REPORTS):
        # Nobody is left to download it: no file of readers' data is written for nobody.
        _give_up(session, job_id, attempt, run, "The staff member who asked may no longer export.", email=False)
        return False
    name, fmt = f"export-{job_id}-{attempt}.{job.fmt.value}", job.fmt
    session.rollback()  # nothing stays open while the file is written
    try:
        spec = export_query(run.filters, now=utcnow(), grace=settings.grace, currencies=settings.currencies)
        size = settings.storage.store(name, lambda path: write_export(engine, spec, run, path), fmt.mimetype)
    except Exception as exc:  # any failure is this attempt's: recorded, and retried
        log.exception("Writing export %s failed (attempt %s of %s).", job_id, attempt, MAX_ATTEMPTS)
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if attempt >= MAX_ATTEMPTS:
            _give_up(session, job_id, attempt, run, error, email=True)
        else:
            with unit_of_work(session):
                _settle(session, job_id, attempt, status=ExportJobStatus.QUEUED, last_error=error,
                        next_attempt_at=utcnow() + RETRY_AFTER * 2 ** (attempt - 1))
        return False
    finished = utcnow()
    with unit_of_work(session):
        ready = _settle(session, job_id, attempt, status=ExportJobStatus.READY, row_count=run.rows,
                        size_bytes=size, file_name=name, finished_at=finished,
                        expires_at=finished + settings.keep, last_error="")
        if ready is not None:
            staff = session.get(StaffUser, ready.staff_user_id)
            assert staff is not None
            record_export(session, staff, run, ip=ready.ip_address, job_id=job_id)
            send_export_ready(session, staff, ready)
    if ready is None:
        settings.storage.delete(name)  # taken over after the lease ran out: the other writer's file counts
        return None
    return True


def _give_up(session: Session, job_id: int, attempt: int, run: ExportRun, error: str, *, email: bool) -> None:
    with unit_of_work(session):
        failed = _settle(session, job_id, attempt, status=ExportJobStatus.FAILED, last_error=error,
                         finished_at=utcnow())
        if failed is None:
            return
        staff = session.get(StaffUser, failed.staff_user_id)
        record_export(session, staff, run, ip=failed.ip_address, job_id=job_id)
        if email and staff is not None:
            send_export_failed(session, staff, failed)


def build_due_exports(session: Session, engine: Engine, settings: ExportSettings, now: datetime) -> tuple[int, int]:
    """Write every queued export that is due at `now` (for `jobs run`): one whose id never reached the worker
    (Redis was down) or that no worker has taken yet, a retry after a failed attempt, or one whose writer
    stopped. Returns (ready, failed attempts)."""
    due = list(session.scalars(
        select(ExportJob.id).where(ExportJob.status.in_([ExportJobStatus.QUEUED, ExportJobStatus.RUNNING]),
                                   ExportJob.next_attempt_at <= now).order_by(ExportJob.id)
    ))
    session.rollback()  # end the read: each job is claimed, and settled, in units of work of its own
    ready = failed = 0
    for job_id in due:
        result = build_export(session, engine, job_id, settings, due_only=True, now=now)
        if result is True:
            ready += 1
        elif result is False:
            failed += 1
    return ready, failed


EXPIRY_BATCH = 500


def expire_exports(session: Session, storage: FileStore, now: datetime, keep: timedelta,
                   limit: int = EXPIRY_BATCH) -> int:
    """Delete up to `limit` exports whose time is up at `now`: the file first, then the row, so no file is ever
    left without the row that names it. A failed export (no file) goes `keep` after it was given up. Returns how
    many rows went; `jobs run` calls it again while a whole batch went. Also removes files a stopped writer left
    half-written (older than its lease). Flushes; the caller commits.
    """
    due = session.execute(
        select(ExportJob.id, ExportJob.file_name).where(or_(
            (ExportJob.status == ExportJobStatus.READY) & (ExportJob.expires_at <= now),
            ExportJob.status == ExportJobStatus.EXPIRED,
            (ExportJob.status == ExportJobStatus.FAILED) & (ExportJob.finished_at <= now - keep),
        )).order_by(ExportJob.id).limit(limit)
    ).all()
    gone = 0
    for job_id, file_name in due:
        if file_name:
            storage.delete(file_name)  # a download that read the row a moment ago now finds no file: a 410
        deleted = session.execute(
            delete(ExportJob).where(ExportJob.id == job_id,
                                    ExportJob.status.in_([ExportJobStatus.READY, ExportJobStatus.EXPIRED,
                                                          ExportJobStatus.FAILED]))
            .execution_options(synchronize_session=False)
        )
        gone += rows_affected(deleted)
    storage.remove_abandoned((now - RUN_LEASE).timestamp())
    session.flush()
    return gone


def export_settings() -> ExportSettings:
    """Where queued exports' files go and how long they stay (for the worker and `jobs run`)."""
    config = current_app.config
    return ExportSettings(storage=export_storage(),
                          keep=timedelta(days=int(config["MEMBERSHIP_EXPORT_KEEP_DAYS"])),
                          grace=patron_grace(), currencies=list(default_currency_rules()))
