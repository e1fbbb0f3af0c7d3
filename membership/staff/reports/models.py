"""What an export holds (kind, format) and the queued exports: one row per export the worker writes to a file.

With REDIS_URL set, a web export with more rows than MEMBERSHIP_EXPORT_INLINE_ROWS isn't streamed in the
request: the request records an `ExportJob`, the worker writes the file into the export store
(`membership.storage`: MEMBERSHIP_EXPORT_DIR, or EXPORT_STORAGE_URL) and emails the staff member who asked, who
downloads it from /staff/reports until it expires. Then `jobs run` deletes the file, and after it the row.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from membership.db import Base, UTCDateTime, enum_column, utcnow


class ExportKind(enum.StrEnum):
    SUPPORTERS = "supporters"
    PAYMENTS = "payments"
    MEMBERSHIPS = "memberships"


class ExportFormat(enum.StrEnum):
    CSV = "csv"
    XLSX = "xlsx"

    @property
    def mimetype(self) -> str:
        return MIMETYPES[self]


MIMETYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class ExportJobStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting for the worker, or for its next attempt after a failed one
    RUNNING = "running"  # being written, leased until next_attempt_at
    READY = "ready"  # the file is in the export store until expires_at, then deleted, then the row
    FAILED = "failed"  # given up (last_error says why); there is no file. The row goes after the same time.
    EXPIRED = "expired"  # past expires_at, not yet deleted (rows of earlier versions, whose file is gone)


class ExportJob(Base):
    """One queued export: who asked, what for (the filters), and where its file is once written."""

    __tablename__ = "export_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Staff accounts are never deleted, so the requester is always there to ask for the file.
    staff_user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    kind: Mapped[ExportKind] = mapped_column(enum_column(ExportKind, "export_kind"))
    fmt: Mapped[ExportFormat] = mapped_column("format", enum_column(ExportFormat, "export_format"))
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3), default="")  # "" = all
    status_filter: Mapped[str] = mapped_column(String(30), default="")  # "" = any status
    # The language of the file's column headers, as the staff member chose it (English by default).
    language: Mapped[str] = mapped_column(String(16), default="en", server_default="en")
    status: Mapped[ExportJobStatus] = mapped_column(enum_column(ExportJobStatus, "export_job_status"),
                                                    default=ExportJobStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When `jobs run` may take the job: at once for a new one, after a failed attempt when its retry is due,
    # while running when its lease runs out (its worker presumed stopped).
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ip_address: Mapped[str] = mapped_column(String(64), default="")  # the request's, for the audit entry
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    row_count: Mapped[int | None] = mapped_column(Integer)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    file_name: Mapped[str] = mapped_column(String(255), default="")  # its name in the export store
    last_error: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        CheckConstraint("last_day >= first_day", name="days_in_order"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        CheckConstraint("row_count IS NULL OR row_count >= 0", name="rows_not_negative"),
        CheckConstraint("size_bytes IS NULL OR size_bytes >= 0", name="size_not_negative"),
        CheckConstraint("status <> 'ready' OR (file_name <> '' AND expires_at IS NOT NULL)", name="ready_has_file"),
        # The reports page lists a staff member's newest jobs; `jobs run` finds the due and the expired ones.
        Index("ix_export_jobs_staff_user_id_id", "staff_user_id", "id"),
        Index("ix_export_jobs_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_export_jobs_status_expires_at", "status", "expires_at"),
    )

