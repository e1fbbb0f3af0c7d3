"""Queued exports kept in S3-compatible object storage (EXPORT_STORAGE_URL), against a real S3 server process
(moto's): the worker uploads the file, the staff member who asked is sent to a short-lived signed address, any
web host can send them there, and expiry deletes the object, then the job row."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
import requests
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from membership import create_app
from membership.config import ConfigError, check_settings, load_settings
from membership.db import db, utcnow
from membership.staff.accounts.models import Role, StaffUser
from membership.staff.reports.models import ExportJob, ExportJobStatus
from tests.support.helpers import count, text
from tests.support.reports import audit_entries, export
from tests.support.servers import S3Server, SmtpSink
from tests.support.settings import app_settings
from tests.support.staff import sign_in_as


@pytest.fixture
def analyst(client: FlaskClient, make_staff: Callable[..., StaffUser]) -> StaffUser:
    user = make_staff(Role.ANALYST, email="ana@newsroom.example")
    sign_in_as(client, user)
    return user


@pytest.fixture
def queued(app: Flask, queue: redis.Redis, smtp_server: SmtpSink, s3: str) -> str:
    """Every web export is queued, and its file goes to this test's bucket."""
    app.config["MEMBERSHIP_EXPORT_INLINE_ROWS"] = 0
    return s3


def written_export(app: Flask, client: FlaskClient) -> ExportJob:
    assert export(client).status_code == 302
    result = app.test_cli_runner().invoke(args=["worker", "--drain"])
    assert result.exit_code == 0 and "Exports written: 1;" in result.output, result.output
    db.session.rollback()
    job = db.session.scalars(sa.select(ExportJob)).one()
    assert job.status is ExportJobStatus.READY
    return job


def test_the_file_goes_to_the_bucket_and_the_download_is_a_short_lived_signed_address(
        client: FlaskClient, analyst: StaffUser, payments: dict[str, Any], queued: str, s3_server: S3Server,
        app: Flask) -> None:
    job = written_export(app, client)
    assert s3_server.keys(queued) == [f"queued-exports/{job.file_name}"]
    assert not Path(app.config["MEMBERSHIP_EXPORT_DIR"]).exists()  # nothing on this host's disk
    obj = s3_server.client().head_object(Bucket=queued, Key=f"queued-exports/{job.file_name}")
    assert obj["ContentLength"] == job.size_bytes and obj["ContentType"] == "text/csv; charset=utf-8"

    response = client.get(f"/staff/reports/exports/{job.id}")
    assert response.status_code == 303 and response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    signed = response.headers["Location"]
    assert signed.startswith(f"{s3_server.url}/{queued}/queued-exports/{job.file_name}?")
    assert parse_qs(urlsplit(signed).query)["X-Amz-Expires"] == ["60"]
    # The download is a link the browser follows (a navigation), not a form: the CSP's form-action, which
    # Chromium applies to a form's redirects, doesn't stand between the page and the bucket.
    page = client.get("/staff/reports").get_data(as_text=True)
    assert f'href="/staff/reports/exports/{job.id}"' in page
    assert "navigate-to" not in response.headers["Content-Security-Policy"]

    from_bucket = requests.get(signed, timeout=30)
    assert from_bucket.status_code == 200
    assert from_bucket.headers["Content-Disposition"] == 'attachment; filename="payments-2026-01-01-to-2026-01-31.csv"'
    rows = list(csv.reader(io.StringIO(from_bucket.content.decode("utf-8-sig"), newline="")))
    assert len(rows) == 5 and rows[0][:2] == ["Paid at (UTC)", "Payment ID"]
    # (moto doesn't check signatures, so a forged or stale address isn't refused here as S3 would refuse it.)
    assert {"X-Amz-Signature", "X-Amz-Credential"} <= set(parse_qs(urlsplit(signed).query))
    [download] = [e for e in audit_entries() if e.action == "export.downloaded"]
    assert download.staff_user_id == analyst.id and download.target_id == str(job.id)

    app.config["EXPORT_DOWNLOAD_URL_SECONDS"] = 20
    again = client.get(f"/staff/reports/exports/{job.id}")
    assert parse_qs(urlsplit(again.headers["Location"]).query)["X-Amz-Expires"] == ["20"]


def test_only_the_requester_is_given_an_address(
        client: FlaskClient, analyst: StaffUser, make_staff: Callable[..., StaffUser], payments: dict[str, Any],
        queued: str, app: Flask) -> None:
    job = written_export(app, client)
    audited = len(audit_entries())
    sign_in_as(client, make_staff(Role.ADMIN))
    response = client.get(f"/staff/reports/exports/{job.id}")
    assert response.status_code == 404 and "Location" not in response.headers
    assert "We couldn't find that export among yours." in text(response)
    assert len(audit_entries()) == audited


def test_an_export_asked_for_on_one_host_downloads_from_another(
        client: FlaskClient, analyst: StaffUser, payments: dict[str, Any], queued: str, app: Flask,
        database_uri: str, tmp_path: Path) -> None:
    job = written_export(app, client)
    other_host = create_app(app_settings(database_uri, api_base=app.config["STRIPE_API_BASE"],
                                         MEMBERSHIP_EXPORT_DIR=str(tmp_path / "other-host"),
                                         EXPORT_STORAGE_URL=app.config["EXPORT_STORAGE_URL"],
                                         AWS_ENDPOINT_URL=app.config["AWS_ENDPOINT_URL"]))
    other = sign_in_as(other_host.test_client(), analyst)
    with other_host.app_context():
        response = other.get(f"/staff/reports/exports/{job.id}")
        db.session.remove()
        db.engine.dispose()
    assert response.status_code == 303
    assert requests.get(response.headers["Location"], timeout=30).status_code == 200


def test_expiry_deletes_the_object_then_the_row(
        client: FlaskClient, analyst: StaffUser, payments: dict[str, Any], queued: str, s3_server: S3Server,
        app: Flask) -> None:
    job = written_export(app, client)
    other = written_export_kept(app, client)
    db.session.execute(sa.update(ExportJob).where(ExportJob.id == job.id)
                       .values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["jobs", "run"])
    assert "Expired exports deleted (file, then row): 1." in result.output
    assert s3_server.keys(queued) == [f"queued-exports/{other}"]
    assert count(ExportJob) == 1


def written_export_kept(app: Flask, client: FlaskClient) -> str:
    """A second export, still in its time: its object stays."""
    assert export(client).status_code == 302
    assert app.test_cli_runner().invoke(args=["worker", "--drain"]).exit_code == 0
    db.session.rollback()
    return str(db.session.scalars(sa.select(ExportJob.file_name).order_by(ExportJob.id.desc())).first())


def test_a_missing_object_is_gone_and_not_audited(
        client: FlaskClient, analyst: StaffUser, payments: dict[str, Any], queued: str, s3_server: S3Server,
        app: Flask) -> None:
    job = written_export(app, client)
    s3_server.client().delete_object(Bucket=queued, Key=f"queued-exports/{job.file_name}")
    audited = len(audit_entries())
    response = client.get(f"/staff/reports/exports/{job.id}")
    assert response.status_code == 410 and "This export's file is no longer on the server." in text(response)
    assert len(audit_entries()) == audited


@pytest.mark.parametrize(("env", "message"), [
    ({"EXPORT_STORAGE_URL": "https://bucket.example/exports"}, "EXPORT_STORAGE_URL must look like s3://bucket"),
    ({"EXPORT_STORAGE_URL": "s3:///exports"}, "EXPORT_STORAGE_URL must look like s3://bucket"),
    ({"EXPORT_STORAGE_URL": "s3://b", "AWS_ENDPOINT_URL": "minio:9000"}, "AWS_ENDPOINT_URL must be the address"),
    ({"EXPORT_DOWNLOAD_URL_SECONDS": "0"}, "EXPORT_DOWNLOAD_URL_SECONDS must be from 1 to 604800"),
    ({"EXPORT_DOWNLOAD_URL_SECONDS": "604801"}, "EXPORT_DOWNLOAD_URL_SECONDS must be from 1 to 604800"),
    ({"STRIPE_EVENT_RETENTION_DAYS": "0"}, "STRIPE_EVENT_RETENTION_DAYS must be at least 1"),
    ({"EMAIL_BODY_RETENTION_DAYS": "0"}, "EMAIL_BODY_RETENTION_DAYS must be at least 1"),
])
def test_bad_storage_and_retention_settings_stop_start_up(env: dict[str, str], message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=message):
        check_settings(load_settings(env, str(tmp_path)))
