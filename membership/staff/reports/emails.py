"""Emails about queued exports, to the staff member who asked: the file is ready (with its link), or it failed.

They hold the export's kind, filters and size, never any of its rows, and are written in the staff member's
language (`StaffUser.locale`), whoever sends them (the worker, usually).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2.filters import do_filesizeformat
from sqlalchemy.orm import Session

from membership.email import queue_email
from membership.formatting import absolute_url, format_count, format_iso_day, format_minute
from membership.i18n import gettext as _
from membership.i18n import in_locale, lazy_gettext, ngettext
from membership.staff.accounts.models import StaffUser
from membership.staff.reports.models import ExportJob, ExportKind
from membership.staff.reports.services import statuses_for

# The export's kind as its emails name it ("Your payments export is ready").
KIND_WORDS = {
    ExportKind.SUPPORTERS: lazy_gettext("supporters"),
    ExportKind.PAYMENTS: lazy_gettext("payments"),
    ExportKind.MEMBERSHIPS: lazy_gettext("memberships"),
}


def _when(moment: datetime | None) -> str:
    return _("%(time)s UTC", time=format_minute(moment)) if moment else ""


def _about(staff: StaffUser, job: ExportJob) -> dict[str, Any]:
    """What both messages say about the export."""
    return {
        "name": staff.name or staff.email,
        "kind": str(KIND_WORDS.get(job.kind, job.kind.value)),
        "requested": _when(job.requested_at),
        "first_day": format_iso_day(job.first_day),
        "last_day": format_iso_day(job.last_day),
        "currency": job.currency or _("all currencies"),
        "status": str(statuses_for(job.kind).get(job.status_filter, job.status_filter)) if job.status_filter
        else _("any status"),
        "format": job.fmt.value.upper(),
        "reports_url": absolute_url("/staff/reports#exports"),
    }


def send_export_ready(session: Session, staff: StaffUser, job: ExportJob) -> None:
    """Tell the staff member their export is ready, with the link to download it until it expires."""
    rows = job.row_count or 0
    with in_locale(staff.locale) as locale:
        queue_email(session, "export_ready", staff.email, locale=locale,
                    rows=ngettext("%(count)s row", "%(count)s rows", rows, count=format_count(rows)),
                    size=do_filesizeformat(job.size_bytes or 0), expires=_when(job.expires_at),
                    download_url=absolute_url(f"/staff/reports/exports/{job.id}"), **_about(staff, job))


def send_export_failed(session: Session, staff: StaffUser, job: ExportJob) -> None:
    """Tell the staff member their export could not be written, so they needn't wait for it."""
    with in_locale(staff.locale) as locale:
        queue_email(session, "export_failed", staff.email, locale=locale, job_id=job.id, attempts=job.attempts,
                    **_about(staff, job))
