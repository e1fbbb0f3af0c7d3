"""Queued exports: with REDIS_URL set, a web export of more than MEMBERSHIP_EXPORT_INLINE_ROWS rows isn't
streamed: the request records an ExportJob and the worker writes its file (`membership.staff.reports.worker`).
Here: queueing it, a staff member's recent exports, and downloading a finished one's file.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from membership.i18n import gettext as _
from membership.queue import EXPORTS, push_after_commit
from membership.staff.accounts.audit import record_audit
from membership.staff.accounts.models import StaffUser
from membership.staff.reports.files import ExportRun
from membership.staff.reports.models import ExportJob, ExportJobStatus
from membership.staff.reports.services import ExportFilters, ExportQuery
from membership.storage import Download, FileMissing, FileStore

log = logging.getLogger(__name__)


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
                    language=run.language, status=ExportJobStatus.QUEUED, next_attempt_at=now, requested_at=now,
                    ip_address=ip[:64])
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


def export_file(session: Session, job_id: int, staff_id: int, storage: FileStore,
                now: datetime) -> tuple[ExportJob, Download]:
    """One of the staff member's own queued exports and how to download its file (the file to send, or a
    short-lived address in object storage), ready and not expired; ExportUnavailable if not.

    Someone else's export is answered as an unknown one, so ids say nothing about other people's exports.
    """
    job = session.get(ExportJob, job_id)
    if job is None or job.staff_user_id != staff_id:
        raise ExportUnavailable(404, _("Export not found"),
                                _("We couldn't find that export among yours. Your recent exports are listed on the "
                                  "reports page."))
    if job.status in (ExportJobStatus.QUEUED, ExportJobStatus.RUNNING):
        raise ExportUnavailable(404, _("Export not ready yet"),
                                _("This export is still being prepared. We'll email you when it's ready."))
    if job.status is ExportJobStatus.FAILED:
        raise ExportUnavailable(404, _("Export failed"),
                                _("This export could not be prepared, so there is no file. Please start it again from"
                                  " the reports page."))
    if job.status is ExportJobStatus.EXPIRED or job.expires_at is None or job.expires_at <= now:
        raise ExportUnavailable(410, _("Export expired"),
                                _("This export's file has been deleted: files are kept for a limited time. Please "
                                  "start the export again from the reports page."))
    try:
        download = storage.download(job.file_name, filename=job_filters(job).filename(job.fmt),
                                    content_type=job.fmt.mimetype)
    except FileMissing:
        log.warning("The file of ready export %s is missing from %s.", job.id, storage.description)
        raise ExportUnavailable(410, _("Export no longer available"),
                                _("This export's file is no longer on the server. Please start the export again from "
                                  "the reports page.")) from None
    return job, download


def record_download(session: Session, actor: StaffUser, job: ExportJob, *, ip: str) -> None:
    """The audit entry for downloading a queued export's file: which export, its filters and rows."""
    record_audit(session, actor, "export.downloaded", target_type="export", target_id=job.id, ip=ip,
                 kind=job.kind.value, format=job.fmt.value, **job_filters(job).describe(), rows=job.row_count)
