"""Emails about queued exports, to the staff member who asked: the file is ready (with its link), or it failed.

They hold the export's kind, filters and size, never any of its rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2.filters import do_filesizeformat
from sqlalchemy.orm import Session

from membership.email import queue_email
from membership.formatting import absolute_url, format_count, format_iso_day, format_minute
from membership.staff.accounts.models import StaffUser
from membership.staff.reports.models import ExportJob


def _when(moment: datetime | None) -> str:
    return f"{format_minute(moment)} UTC" if moment else ""


def _about(staff: StaffUser, job: ExportJob) -> dict[str, Any]:
    """What both messages say about the export."""
    return {
        "name": staff.name or staff.email,
        "kind": job.kind.value,
        "requested": _when(job.requested_at),
        "first_day": format_iso_day(job.first_day),
        "last_day": format_iso_day(job.last_day),
        "currency": job.currency or "all currencies",
        "status": job.status_filter.replace("_", " ") or "any status",
        "format": job.fmt.value.upper(),
        "reports_url": absolute_url("/staff/reports#exports"),
    }


def send_export_ready(session: Session, staff: StaffUser, job: ExportJob) -> None:
    """Tell the staff member their export is ready, with the link to download it until it expires."""
    rows = job.row_count or 0
    queue_email(session, "export_ready", staff.email, rows=f"{format_count(rows)} row{'' if rows == 1 else 's'}",
                size=do_filesizeformat(job.size_bytes or 0), expires=_when(job.expires_at),
                download_url=absolute_url(f"/staff/reports/exports/{job.id}"), **_about(staff, job))


def send_export_failed(session: Session, staff: StaffUser, job: ExportJob) -> None:
    """Tell the staff member their export could not be written, so they needn't wait for it."""
    queue_email(session, "export_failed", staff.email, job_id=job.id, attempts=job.attempts, **_about(staff, job))
