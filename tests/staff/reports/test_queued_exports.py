"""Queued exports (REDIS_URL): a large web export is written to a file by the worker, which emails the staff member
who asked; they alone download it from the reports page until it expires. Small exports, and every export
without Redis, still stream at once."""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from flask import Flask, Response
from flask.testing import FlaskClient
from openpyxl import load_workbook
from werkzeug.test import TestResponse

from membership.db import db, utcnow
from membership.jobs import run_jobs
from membership.queue import EXPORTS, init_queue
from membership.staff.accounts.models import Role, StaffUser
from membership.staff.reports import worker
from membership.staff.reports.files import write_export
from membership.staff.reports.models import ExportJob, ExportJobStatus
from tests.support.helpers import count, parts, queued_ids, text
from tests.support.reports import audit_entries, export, read_csv, tables, words
from tests.support.servers import SmtpSink
from tests.support.staff import sign_in_as

INLINE_ROWS = 3  # January's payments are 4 (the `payments` fixture)
EXPORT_STARTED = "Your export is being prepared; we'll email you when it's ready."
NONE = "\u2013"  # what the table shows for rows and size before there is a file


@pytest.fixture
def large(app: Flask, queue: redis.Redis, smtp_server: SmtpSink) -> redis.Redis:
    """Redis is on, and a web export of more than INLINE_ROWS rows is queued."""
    app.config["MEMBERSHIP_EXPORT_INLINE_ROWS"] = INLINE_ROWS
    return queue


@pytest.fixture
def analyst(client: FlaskClient, make_staff: Callable[..., StaffUser]) -> StaffUser:
    """The signed-in analyst who asks for the exports."""
    user = make_staff(Role.ANALYST, email="ana@newsroom.example")
    sign_in_as(client, user)
    return user


def only_job() -> ExportJob:
    db.session.rollback()
    return db.session.scalars(sa.select(ExportJob)).one()


def work(app: Flask) -> str:
    """`flask --app membership worker --drain`: what the worker does with everything queued now."""
    result = app.test_cli_runner().invoke(args=["worker", "--drain"])
    assert result.exit_code == 0, result.output
    return result.output


def jobs_run(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["jobs", "run", *args])


def exports_table(client: FlaskClient) -> list[list[str]]:
    return tables(client.get("/staff/reports").get_data(as_text=True))["Your recent exports, newest first"]


def download(client: FlaskClient, job_id: int) -> TestResponse:
    response = client.get(f"/staff/reports/exports/{job_id}")
    response.close()  # the file the app opened for the body
    return response


def test_a_large_export_goes_to_the_queue_and_the_page_says_so(
        client: FlaskClient, analyst: StaffUser, payments: dict[str, Any], large: redis.Redis,
        smtp_server: SmtpSink, app: Flask) -> None:
    response = export(client, currency="", format="xlsx")
    assert response.status_code == 302 and response.headers["Location"] == "/staff/reports#exports"
    page = words(client.get("/staff/reports").get_data(as_text=True))
    assert EXPORT_STARTED in page
    assert "An export of up to 3 rows starts downloading at once; a larger one is prepared in the background" in page
    job = only_job()
    assert (job.staff_user_id, job.status, job.kind.value, job.fmt.value) == (analyst.id, "queued", "payments", "xlsx")
    assert queued_ids(large, EXPORTS) == [job.id]
    assert exports_table(client)[1] == ["Payments", "2026-01-01 to 2026-01-31; all currencies; any status", "XLSX",
                                        job.requested_at.strftime("%Y-%m-%d %H:%M"), "Queued", NONE, NONE, ""]
    # Nothing is exported yet: no file, no audit entry, no email.
    assert not Path(app.config["MEMBERSHIP_EXPORT_DIR"]).exists()
    assert audit_entries() == [] and smtp_server.messages == []


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_worker_writes_the_inline_file_and_emails_the_link(
        client: FlaskClient, analyst: StaffUser, payments: dict[str, Any], large: redis.Redis,
        smtp_server: SmtpSink, app: Flask, fmt: str) -> None:
    app.config["MEMBERSHIP_EXPORT_INLINE_ROWS"] = 4
    inline = export(client, format=fmt)  # 4 rows: small enough to download at once
    assert inline.status_code == 200 and only_job_count() == 0
    inline_file = inline.get_data()
    app.config["MEMBERSHIP_EXPORT_INLINE_ROWS"] = INLINE_ROWS
    assert export(client, format=fmt).status_code == 302

    output = work(app)
    assert "Exports written: 1; failed (tried again by `jobs run`): 0." in output
    assert "Emails sent: 1; failed (left queued for a later retry): 0." in output
    job = only_job()
    assert job.status is ExportJobStatus.READY and job.row_count == 4 and job.attempts == 1
    assert job.finished_at is not None and job.expires_at == job.finished_at + timedelta(days=7)
    stored = Path(app.config["MEMBERSHIP_EXPORT_DIR"]) / job.file_name
    assert stored.stat().st_size == job.size_bytes
    assert sorted(p.name for p in stored.parent.iterdir()) == [job.file_name]  # no temporary file left
    assert same_export(stored.read_bytes(), inline_file, fmt)

    [email] = smtp_server.messages
    assert email["To"] == "ana@newsroom.example" and email["Subject"] == "Your payments export is ready"
    body = parts(email)["text/plain"]
    link = f"{app.config['PUBLIC_URL']}/staff/reports/exports/{job.id}"
    assert "is ready: 4 rows" in body and link in body and f"Format: {fmt.upper()}" in body
    assert job.expires_at.strftime("Download it until %Y-%m-%d %H:%M UTC") in body
    assert "olena@example.org" not in body  # the email says what the export is, never what it holds

    row = exports_table(client)[1]
    assert row[4] == job.expires_at.strftime("Ready until %Y-%m-%d %H:%M UTC")
    assert row[5] == "4" and row[6].endswith(("Bytes", "kB")) and row[7] == f"Download payments export #{job.id}"
    response = client.get(link.removeprefix(app.config["PUBLIC_URL"]))
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == \
        f'attachment; filename="payments-2026-01-01-to-2026-01-31.{fmt}"'
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_data() == stored.read_bytes()
    response.close()

    inline_entry, written, downloaded = audit_entries()
    assert "queued" not in inline_entry.details
    assert written.action == "export.payments" and written.staff_user_id == analyst.id
    assert written.target_id == str(job.id) and written.ip_address == "127.0.0.1"
    assert written.details == {"format": fmt, "from": "2026-01-01", "to": "2026-01-31", "currency": "all",
                               "status": "all", "rows": 4, "complete": True, "queued": True,
                               "language": "en"}
    assert downloaded.action == "export.downloaded" and downloaded.staff_user_id == analyst.id
    assert downloaded.target_id == str(job.id)
    assert downloaded.details == {"kind": "payments", "format": fmt, "from": "2026-01-01", "to": "2026-01-31",
                                  "currency": "all", "status": "all", "rows": 4}


def only_job_count() -> int:
    return count(ExportJob)


def same_export(written: bytes, inline: bytes, fmt: str) -> bool:
    """The same file: byte for byte as CSV; as XLSX (a zip stamped with the time it was made) cell for cell."""
    if fmt == "csv":
        return written == inline

    def cells(data: bytes) -> list[list[Any]]:
        workbook = load_workbook(io.BytesIO(data))
        return [[list(row) for row in sheet.iter_rows(values_only=True)] for sheet in workbook.worksheets]

    [sheet] = cells(written)
    return cells(written) == cells(inline) and len(sheet) == 5  # the header and 4 payments


def test_without_redis_every_export_streams(client: FlaskClient, analyst: StaffUser, payments: dict[str, Any],
                                            app: Flask, flask_responses: list[Response]) -> None:
    app.config["MEMBERSHIP_EXPORT_INLINE_ROWS"] = 0  # would queue everything, if there were a queue
    response = export(client)
    assert response.status_code == 200 and flask_responses[-1].is_streamed
    assert len(read_csv(response)) == 5
    assert only_job_count() == 0
    page = words(client.get("/staff/reports").get_data(as_text=True))
    assert "The file starts downloading at once" in page and "Your exports" not in page


@pytest.mark.parametrize(("inline_rows", "queued"), [(4, False), (3, True), (0, True)])
def test_the_threshold(client: FlaskClient, analyst: StaffUser, payments: dict[str, Any], large: redis.Redis,
                       app: Flask, flask_responses: list[Response], inline_rows: int, queued: bool) -> None:
    """More rows than MEMBERSHIP_EXPORT_INLINE_ROWS are queued; 0 queues every export, even an empty one."""
    app.config["MEMBERSHIP_EXPORT_INLINE_ROWS"] = inline_rows
    response = export(client)
    assert (response.status_code == 302) is queued and only_job_count() == int(queued)
    if not queued:
        assert flask_responses[-1].is_streamed and len(read_csv(response)) == 5
    empty = export(client, **{"from": "2020-01-01", "to": "2020-01-31"})
    assert (empty.status_code == 302) is (inline_rows == 0)


@pytest.mark.parametrize(("fields", "message"), [
    ({"status": "active"}, "'active' is not a status of payments"),
    ({"from": "2026-02-01", "to": "2026-01-01"}, "The end date is before the start date."),
    ({"csrf_token": ""}, "This form has expired"),
])
def test_bad_filters_queue_nothing(client: FlaskClient, analyst: StaffUser, payments: dict[str, Any],
                                   large: redis.Redis, app: Flask, fields: dict[str, str], message: str) -> None:
    app.config["MEMBERSHIP_EXPORT_INLINE_ROWS"] = 0
    response = export(client, **fields)
    assert response.status_code == 400 and message in text(response)
    assert only_job_count() == 0 and queued_ids(large, EXPORTS) == [] and audit_entries() == []


def test_only_the_requester_downloads_and_only_while_allowed(
        client: FlaskClient, analyst: StaffUser, make_staff: Callable[..., StaffUser], payments: dict[str, Any],
        large: redis.Redis, app: Flask) -> None:
    export(client)
    work(app)
    job = only_job()
    assert download(client, job.id).status_code == 200
    # A resumed or conditional request gets the whole file again, and is one more audited download.
    again = client.get(f"/staff/reports/exports/{job.id}", headers={"Range": "bytes=10-", "If-Modified-Since":
                                                                    "Wed, 01 Jan 2100 00:00:00 GMT"})
    again.close()
    assert again.status_code == 200 and "Content-Range" not in again.headers
    assert [e.action for e in audit_entries()].count("export.downloaded") == 2
    audited = len(audit_entries())
    for other in (make_staff(Role.ANALYST), make_staff(Role.ADMIN)):  # admins included: it is the analyst's file
        sign_in_as(client, other)
        response = download(client, job.id)
        assert response.status_code == 404 and "We couldn't find that export among yours." in text(response)
        assert "Your recent exports" not in text(client.get("/staff/reports"))
    sign_in_as(client, make_staff(Role.EDITOR))
    assert download(client, job.id).status_code == 403
    with client.session_transaction() as session:
        session.clear()
    signed_out = download(client, job.id)
    assert signed_out.status_code == 302 and signed_out.headers["Location"].startswith("/staff/sign-in")
    # The analyst becomes an editor: no reports permission, no download.
    user = db.session.get(StaffUser, analyst.id)
    assert user is not None
    user.role = Role.EDITOR
    db.session.commit()
    sign_in_as(client, user)
    assert download(client, job.id).status_code == 403
    assert len(audit_entries()) == audited


def test_downloads_that_cannot_be_served_change_nothing(
        client: FlaskClient, analyst: StaffUser, payments: dict[str, Any], large: redis.Redis, app: Flask) -> None:
    export(client)
    job = only_job()
    cases = [(job.id, 404, "This export is still being prepared. We'll email you when it's ready."),
             (job.id + 1, 404, "We couldn't find that export among yours.")]
    for job_id, status, message in cases:
        response = download(client, job_id)
        assert response.status_code == status and message in text(response)
    db.session.execute(sa.update(ExportJob).values(status=ExportJobStatus.FAILED))
    db.session.commit()
    response = download(client, job.id)
    assert response.status_code == 404 and "This export could not be prepared" in text(response)
    assert only_job().status is ExportJobStatus.FAILED and audit_entries() == []


def test_expired_files_are_deleted_by_jobs_run(client: FlaskClient, analyst: StaffUser, payments: dict[str, Any],
                                               large: redis.Redis, app: Flask) -> None:
    export(client)
    work(app)
    job = only_job()
    job_id = job.id
    stored = Path(app.config["MEMBERSHIP_EXPORT_DIR"]) / job.file_name
    assert job.expires_at is not None
    report = run_jobs(db.session(), job.expires_at - timedelta(seconds=1))
    db.session.commit()
    assert report.exports_expired == 0 and stored.exists()
    # Past its time the file is refused at once, even before `jobs run` deletes it.
    db.session.execute(sa.update(ExportJob).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    audited = len(audit_entries())
    expired = download(client, job.id)
    assert expired.status_code == 410 and "This export's file has been deleted" in text(expired)
    assert len(audit_entries()) == audited and stored.exists()
    assert exports_table(client)[1][4:] == ["Expired", "4", exports_table(client)[1][6], ""]

    result = jobs_run(app)
    assert result.exit_code == 0 and "Expired exports deleted (file, then row): 1." in result.output
    assert not stored.exists()
    assert only_job_count() == 0  # the file first, then the row that named it
    gone = download(client, job_id)
    assert gone.status_code == 404 and "We couldn't find that export among yours." in text(gone)
    assert "Expired exports deleted (file, then row): 0." in jobs_run(app).output


def test_failed_exports_rows_go_after_the_keep_time(
        client: FlaskClient, analyst: StaffUser, payments: dict[str, Any], large: redis.Redis, app: Flask) -> None:
    export(client)
    finished = utcnow() - timedelta(days=6)
    db.session.execute(sa.update(ExportJob).values(status=ExportJobStatus.FAILED, finished_at=finished))
    db.session.commit()
    assert "Expired exports deleted (file, then row): 0." in jobs_run(app).output
    assert only_job().status is ExportJobStatus.FAILED
    db.session.execute(sa.update(ExportJob).values(finished_at=finished - timedelta(days=1, seconds=1)))
    db.session.commit()
    assert "Expired exports deleted (file, then row): 1." in jobs_run(app).output
    assert only_job_count() == 0


def test_jobs_run_removes_files_a_stopped_writer_left_half_written(app: Flask, large: redis.Redis) -> None:
    directory = Path(app.config["MEMBERSHIP_EXPORT_DIR"])
    directory.mkdir()
    abandoned, writing = directory / ".export-1-1.csv.ab12cd34.partial", directory / ".export-2-1.csv.ef56ab78.partial"
    abandoned.write_bytes(b"half")
    writing.write_bytes(b"half")
    two_hours_ago = time.time() - 7200
    os.utime(abandoned, (two_hours_ago, two_hours_ago))
    assert jobs_run(app).exit_code == 0
    assert sorted(p.name for p in directory.iterdir()) == [writing.name]


def test_an_unreachable_queue_leaves_the_export_for_jobs_run(
        client: FlaskClient, analyst: StaffUser, payments: dict[str, Any], smtp_server: SmtpSink, app: Flask,
        caplog: pytest.LogCaptureFixture) -> None:
    app.config.update(REDIS_URL="redis://127.0.0.1:1/0", MEMBERSHIP_EXPORT_INLINE_ROWS=INLINE_ROWS)  # nothing there
    init_queue(app)
    caplog.set_level(logging.WARNING, logger="membership.queue")
    try:
        response = export(client)
        assert response.status_code == 302
        assert EXPORT_STARTED in text(client.get("/staff/reports"))
        job = only_job()
        assert job.status is ExportJobStatus.QUEUED
        assert "The exports queue is unreachable" in caplog.text and f"waiting for `jobs run`: {job.id}" in caplog.text
        # The next `jobs run` writes it (and, with Redis still down, sends the email itself).
        result = jobs_run(app)
    finally:
        app.config["REDIS_URL"] = ""
        init_queue(app)
    assert result.exit_code == 0 and "Queued exports written: 1; failed: 0." in result.output
    assert only_job().status is ExportJobStatus.READY
    assert [m["Subject"] for m in smtp_server.to("ana@newsroom.example")] == ["Your payments export is ready"]


def test_a_failing_export_is_retried_then_given_up_and_emailed(
        client: FlaskClient, analyst: StaffUser, payments: dict[str, Any], large: redis.Redis, app: Flask,
        tmp_path: Path, smtp_server: SmtpSink) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    app.config["MEMBERSHIP_EXPORT_DIR"] = str(blocker / "exports")  # the directory can't be made
    export(client)
    assert "Exports written: 0; failed (tried again by `jobs run`): 1." in work(app)
    job = only_job()
    assert (job.status, job.attempts) == (ExportJobStatus.QUEUED, 1) and "NotADirectoryError" in job.last_error
    assert exports_table(client)[1][4] == "Queued: trying again after a failed attempt"
    assert run_jobs(db.session(), utcnow()).exports_failed == 0  # not due yet: 5 minutes after the failure
    db.session.commit()
    for minutes, attempts in ((6, 2), (20, 3)):
        report = run_jobs(db.session(), utcnow() + timedelta(minutes=minutes))
        db.session.commit()
        assert report.exports_failed == 1 and report.failed and only_job().attempts == attempts
    job = only_job()
    assert job.status is ExportJobStatus.FAILED and "NotADirectoryError" in job.last_error
    assert exports_table(client)[1][4:] == ["Failed", NONE, NONE, ""]
    work(app)
    [email] = smtp_server.messages
    assert email["Subject"] == "Your payments export could not be prepared"
    assert "we tried 3 times. Nothing was exported." in parts(email)["text/plain"]
    [entry] = audit_entries()
    assert entry.details["complete"] is False and entry.details["queued"] is True
    assert run_jobs(db.session(), utcnow() + timedelta(days=1)).exports_failed == 0  # given up: left alone


def test_no_file_is_written_for_staff_who_may_no_longer_export(
        client: FlaskClient, analyst: StaffUser, payments: dict[str, Any], large: redis.Redis, app: Flask,
        smtp_server: SmtpSink) -> None:
    export(client)
    db.session.get_one(StaffUser, analyst.id).active = False
    db.session.commit()
    assert "Exports written: 0; failed (tried again by `jobs run`): 1." in work(app)
    job = only_job()
    assert job.status is ExportJobStatus.FAILED and job.last_error == "The staff member who asked may no longer export."
    assert not Path(app.config["MEMBERSHIP_EXPORT_DIR"]).exists() and smtp_server.messages == []


def test_a_writer_that_outlived_its_lease_records_nothing(
        client: FlaskClient, analyst: StaffUser, payments: dict[str, Any], large: redis.Redis, app: Flask,
        monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpSink) -> None:
    """The worker stops answering mid-file; an hour later `jobs run` takes the job over and finishes it. When the
    first writer finishes after all, it records nothing and removes its own file."""
    export(client)
    takeovers: list[Any] = []

    def overtaken_while_writing(*args: Any) -> None:
        if not takeovers:  # the first writer, before it writes anything: an hour on, `jobs run` takes the job over
            takeovers.append("taking over")
            takeovers[0] = run_jobs(db.session(), utcnow() + worker.RUN_LEASE + timedelta(minutes=1))
        write_export(*args)

    monkeypatch.setattr(worker, "write_export", overtaken_while_writing)
    assert "Exports written: 0; failed (tried again by `jobs run`): 0." in work(app)
    job = only_job()
    assert job.status is ExportJobStatus.READY and job.attempts == 2 and job.file_name == f"export-{job.id}-2.csv"
    directory = Path(app.config["MEMBERSHIP_EXPORT_DIR"])
    assert sorted(p.name for p in directory.iterdir()) == [job.file_name]
    assert [report.exports_ready for report in takeovers] == [1]
    assert len(smtp_server.messages) == 1 and len(audit_entries()) == 1


def test_the_worker_needs_redis(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["worker", "--drain"])
    assert result.exit_code == 2 and "REDIS_URL is not set" in result.output


def test_a_queued_export_keeps_the_language_chosen_for_its_headers(
        client: FlaskClient, analyst: StaffUser, payments: dict[str, Any], large: redis.Redis, app: Flask) -> None:
    assert export(client, currency="", language="uk").status_code == 302
    assert only_job().language == "uk"
    work(app)
    job = only_job()
    assert job.status is ExportJobStatus.READY
    stored = Path(app.config["MEMBERSHIP_EXPORT_DIR"]) / job.file_name
    header = stored.read_text("utf-8-sig").splitlines()[0]
    assert header.startswith("Дата оплати (UTC),ID платежу,ID прихильника")
