# ruff: noqa: RUF001  (Ukrainian text: Cyrillic letters that look like Latin ones)
"""The worker writes a queued export's email in the staff member's language, not the (absent) request's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from flask import Flask
from flask.testing import FlaskClient

from membership.db import db
from membership.staff.accounts.models import Role, StaffUser
from tests.support.helpers import parts
from tests.support.reports import export
from tests.support.servers import SmtpSink
from tests.support.staff import sign_in_as


def test_the_export_email_is_in_the_staff_members_language(
        app: Flask, client: FlaskClient, make_staff: Callable[..., StaffUser], payments: dict[str, Any],
        queue: redis.Redis, smtp_server: SmtpSink) -> None:
    app.config["MEMBERSHIP_EXPORT_INLINE_ROWS"] = 3  # January's 4 payments go to the worker
    analyst = make_staff(Role.ANALYST, email="ana@newsroom.example")
    analyst.locale = "uk"
    db.session.commit()
    sign_in_as(client, analyst)
    assert export(client, format="csv").status_code == 302  # asked for from an English page
    result = app.test_cli_runner().invoke(args=["worker", "--drain"])
    assert result.exit_code == 0, result.output
    [email] = smtp_server.messages
    assert email["Subject"] == "Експорт «платежі» готовий"
    body = parts(email)["text/plain"]
    assert "готовий: 4 рядки" in body and "Валюта: усі валюти" in body and "Статус: будь-який статус" in body
    assert "Формат: CSV" in body and "Завантажити його можна до " in body
