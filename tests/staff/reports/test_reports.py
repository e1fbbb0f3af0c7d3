"""Exports: CSV and XLSX, streamed, filtered, dated, neutralised against formulas, audited; the same from the CLI."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response
from flask.testing import FlaskClient
from openpyxl import load_workbook

from membership.db import db
from membership.giving.models import MembershipStatus
from membership.staff.accounts.models import Role, StaffUser
from tests.support.helpers import csrf_token, text
from tests.support.reports import (
    TARAS,
    add_checkout,
    add_membership,
    add_payment,
    add_supporter,
    at,
    audit_entries,
    export,
    read_csv,
    read_xlsx,
)
from tests.support.staff import sign_in_as

PAYMENT_HEADER = [
    "Paid at (UTC)", "Payment ID", "Supporter ID", "Supporter email", "Supporter name", "Kind", "Gross", "Currency",
    "Fee", "Net", "Settlement currency", "Exchange rate", "Status", "Refunded", "Stripe payment intent",
    "Stripe charge", "Stripe invoice",
    "Stripe balance transaction", "Stripe subscription", "Source", "UTM source", "UTM medium", "UTM campaign",
]
PREFIXES = ["=", "+", "-", "@", "\t", "\r"]


def test_reports_page_offers_every_export(staff_client: Callable[[Role], FlaskClient]) -> None:
    response = staff_client(Role.ANALYST).get("/staff/reports")
    assert response.status_code == 200
    page = text(response)
    for label in ("Payments (for accounting)", "Memberships", "Supporters", "CSV (UTF-8)", "Excel (XLSX)",
                  "partially_refunded", "past_due", "not_patron"):
        assert label in page


def test_payments_csv_for_accounting(staff_client: Callable[[Role], FlaskClient], payments: dict[str, Any],
                                    flask_responses: list[Response]) -> None:
    response = export(staff_client(Role.ANALYST))
    assert response.status_code == 200
    assert flask_responses[-1].is_streamed and "Content-Length" not in response.headers
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="payments-2026-01-01-to-2026-01-31.csv"'
    assert response.headers["Cache-Control"] == "no-store"
    rows = read_csv(response)
    assert rows[0] == PAYMENT_HEADER
    first, gift, anonymous, renewal = (payments[k] for k in ("first", "gift", "anonymous", "renewal"))
    assert rows[1:] == [
        ["2026-01-05 10:00:00", str(first.id), str(payments["olena"].id), "olena@example.org", "Olena Kovalenko",
         "membership", "10.00", "EUR", "0.40", "9.60", "EUR", "", "paid", "0.00", first.stripe_payment_intent_id,
         first.stripe_charge_id, "in_first", first.stripe_balance_transaction_id,
         payments["membership"].stripe_subscription_id, "https://news.example/frontline", "newsletter", "email",
         "winter"],
        ["2026-01-10 08:30:00", str(gift.id), str(payments["taras"].id), "taras@example.org", TARAS,
         "gift", "25.00", "USD", "1.03", "23.97", "USD", "", "partially_refunded", "5.00",
         gift.stripe_payment_intent_id, gift.stripe_charge_id, "", gift.stripe_balance_transaction_id, "", "", "", "",
         ""],
        ["2026-01-20 00:00:00", str(anonymous.id), str(payments["erased"].id), "", "", "gift", "7.00", "EUR", "0.36",
         "6.64", "EUR", "", "paid", "0.00", anonymous.stripe_payment_intent_id, anonymous.stripe_charge_id, "",
         anonymous.stripe_balance_transaction_id, "", "", "", "", ""],
        # A renewal has no checkout of its own: its source is the checkout that started the membership.
        ["2026-01-31 23:59:59", str(renewal.id), str(payments["olena"].id), "olena@example.org", "Olena Kovalenko",
         "membership", "10.00", "EUR", "0.40", "9.60", "EUR", "", "paid", "0.00", renewal.stripe_payment_intent_id,
         renewal.stripe_charge_id, "in_renewal", renewal.stripe_balance_transaction_id,
         payments["membership"].stripe_subscription_id, "https://news.example/frontline", "newsletter", "email",
         "winter"],
    ]


@pytest.mark.parametrize(("filters", "expected"), [
    ({"currency": "USD"}, ["gift"]),
    ({"status": "paid"}, ["first", "anonymous", "renewal"]),
    ({"currency": "EUR", "status": "partially_refunded"}, []),
    ({"from": "2026-01-06", "to": "2026-01-20"}, ["gift", "anonymous"]),
])
def test_payment_filters(staff_client: Callable[[Role], FlaskClient], payments: dict[str, Any],
                         filters: dict[str, str], expected: list[str]) -> None:
    rows = read_csv(export(staff_client(Role.ANALYST), **filters))
    assert [row[1] for row in rows[1:]] == [str(payments[name].id) for name in expected]


def test_payments_xlsx_has_typed_cells(staff_client: Callable[[Role], FlaskClient], payments: dict[str, Any],
                                      flask_responses: list[Response]) -> None:
    response = export(staff_client(Role.ANALYST), format="xlsx", currency="USD")
    assert response.status_code == 200
    assert flask_responses[-1].is_streamed and "Content-Length" not in response.headers
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert response.headers["Content-Disposition"] == 'attachment; filename="payments-2026-01-01-to-2026-01-31.xlsx"'
    rows = read_xlsx(response)
    assert rows[0] == PAYMENT_HEADER
    gift = payments["gift"]
    paid_at = at("2026-01-10 08:30").replace(tzinfo=None)  # Excel has no time zones: UTC, as the header says
    assert rows[1][:14] == [paid_at, gift.id, payments["taras"].id, "taras@example.org", TARAS, "gift", 25, "USD",
                            1.03, 23.97, "USD", None, "partially_refunded", 5]
    assert len(rows) == 2


def test_export_is_audited_with_filters_and_row_count(client: FlaskClient, make_staff: Callable[..., StaffUser],
                                                       payments: dict[str, Any]) -> None:
    analyst = make_staff(Role.ANALYST, email="ana@newsroom.example")
    sign_in_as(client, analyst)
    read_csv(export(client, currency="EUR"))
    read_xlsx(export(client, format="xlsx", status="paid"))
    first, second = audit_entries()
    assert first.action == "export.payments" and first.staff_user_id == analyst.id
    assert first.actor.endswith("<ana@newsroom.example>") and first.ip_address == "127.0.0.1"
    assert first.details == {"format": "csv", "from": "2026-01-01", "to": "2026-01-31", "currency": "EUR",
                             "status": "all", "rows": 3, "complete": True, "language": "en"}
    assert second.details == {"format": "xlsx", "from": "2026-01-01", "to": "2026-01-31", "currency": "all",
                              "status": "paid", "rows": 3, "complete": True, "language": "en"}


def test_an_export_the_reader_abandons_is_still_audited(staff_client: Callable[[Role], FlaskClient],
                                                        payments: dict[str, Any]) -> None:
    response = export(staff_client(Role.ANALYST))
    chunks = response.iter_encoded()
    assert next(chunks).startswith("\ufeff".encode())  # the header
    assert b"pi_test_" in next(chunks)  # the first rows
    response.close()
    (entry,) = audit_entries()
    assert entry.details["complete"] is False and entry.details["rows"] == 4


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_formula_prefixes_are_neutralised(staff_client: Callable[[Role], FlaskClient], prefix: str, fmt: str) -> None:
    supporter = add_supporter("mallory@example.org", f"{prefix}HYPERLINK(\"https://evil.example\",\"x\")")
    add_payment(supporter, 1000, "2026-01-15", checkout_id=add_checkout(
        supporter, 1000, completed="2026-01-15", utm_campaign=f"{prefix}1+2", source_url="https://news.example/a").id)
    db.session.commit()
    response = export(staff_client(Role.ANALYST), format=fmt)
    rows = read_csv(response) if fmt == "csv" else read_xlsx(response)
    name, campaign = rows[1][4], rows[1][22]
    if fmt == "xlsx" and prefix == "\r":
        prefix = "\n"  # XML turns a stored carriage return into a line feed when it is read back
    assert name == f"'{prefix}HYPERLINK(\"https://evil.example\",\"x\")"
    assert campaign == f"'{prefix}1+2"
    assert rows[1][19] == "https://news.example/a"  # ordinary text is left alone
    if fmt == "xlsx":
        sheet = load_workbook(io.BytesIO(response.get_data())).active
        assert sheet is not None
        assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_memberships_export(staff_client: Callable[[Role], FlaskClient], payments: dict[str, Any]) -> None:
    other = add_supporter("ivan@example.org", "Ivan")
    add_membership(other, 12000, currency="GBP", interval="year", status=MembershipStatus.CANCELED,
                   started="2026-01-20", canceled_at=at("2026-01-25"), ended_at=at("2026-01-26"),
                   cancel_reason="too_expensive", cancel_comment="=cmd|' /C calc'!A0")
    db.session.commit()
    client = staff_client(Role.ANALYST)
    response = export(client, kind="memberships")
    assert response.headers["Content-Disposition"] == \
        'attachment; filename="memberships-2026-01-01-to-2026-01-31.csv"'
    rows = read_csv(response)
    assert rows[0] == ["Membership ID", "Supporter ID", "Supporter email", "Supporter name", "Status", "Amount",
                       "Currency", "Interval", "Tier", "Started (UTC)", "Current period ends (UTC)",
                       "Cancels at period end", "Cancelled (UTC)", "Ended (UTC)", "Cancel reason", "Cancel comment",
                       "Stripe subscription", "Source", "UTM campaign"]
    assert [row[4:9] for row in rows[1:]] == [["active", "10.00", "EUR", "month", ""],
                                              ["canceled", "120.00", "GBP", "year", ""]]
    assert rows[2][11:16] == ["no", "2026-01-25 00:00:00", "2026-01-26 00:00:00", "too_expensive",
                              "'=cmd|' /C calc'!A0"]
    assert rows[1][17:] == ["https://news.example/frontline", "winter"]
    only_canceled = read_csv(export(client, kind="memberships", status="canceled"))
    assert [row[2] for row in only_canceled[1:]] == ["ivan@example.org"]


def test_supporters_export_and_its_status_filter(staff_client: Callable[[Role], FlaskClient],
                                                 payments: dict[str, Any]) -> None:
    client = staff_client(Role.ANALYST)
    dates = {"from": "2025-01-01", "to": "2025-01-01"}  # the day the test supporters joined
    rows = read_csv(export(client, kind="supporters", **dates))
    assert rows[0] == ["Supporter ID", "Email", "Name", "Joined (UTC)", "Email updates", "Consent changed (UTC)",
                       "Patron now", "Stripe customer", "Erased (UTC)"]
    assert [(row[1], row[6], row[8]) for row in rows[1:]] == [
        ("olena@example.org", "yes", ""), ("taras@example.org", "no", ""), ("", "no", "2026-02-01 00:00:00")]
    patrons = read_csv(export(client, kind="supporters", status="patron", **dates))
    assert [row[1] for row in patrons[1:]] == ["olena@example.org"]
    erased = read_csv(export(client, kind="supporters", status="erased", **dates))
    assert [row[0] for row in erased[1:]] == [str(payments["erased"].id)]
    in_usd = read_csv(export(client, kind="supporters", currency="USD", **dates))
    assert [row[1] for row in in_usd[1:]] == ["taras@example.org"]
    assert len(read_csv(export(client, kind="supporters"))) == 1  # nobody joined in January: the header only


@pytest.mark.parametrize(("fields", "message"), [
    ({"status": "bogus"}, "Not a valid choice"),
    ({"status": "active"}, "'active' is not a status of payments; choose one of paid, partially_refunded"),
    ({"kind": "supporters", "status": "paid"}, "'paid' is not a status of supporters"),
    ({"currency": "XYZ"}, "Not a valid choice"),
    ({"kind": "ballots"}, "Not a valid choice"),
    ({"format": "pdf"}, "Not a valid choice"),
    ({"from": "2026-02-01", "to": "2026-01-01"}, "The end date is before the start date."),
    ({"from": "31/01/2026"}, "Enter the date as YYYY-MM-DD, for example 2026-01-31."),
    ({"to": ""}, "Enter the last day to export."),
    ({"csrf_token": ""}, "This form has expired"),
])
def test_bad_filters_are_refused_and_not_audited(staff_client: Callable[[Role], FlaskClient],
                                                 payments: dict[str, Any], fields: dict[str, str],
                                                 message: str, flask_responses: list[Response]) -> None:
    response = export(staff_client(Role.ANALYST), **fields)
    assert response.status_code == 400 and not flask_responses[-1].is_streamed
    assert message in text(response)
    assert audit_entries() == []


def test_editors_may_not_export(staff_client: Callable[[Role], FlaskClient], payments: dict[str, Any]) -> None:
    client = staff_client(Role.EDITOR)
    response = export(client, csrf_token=csrf_token(client, "/staff/account/password"))
    assert response.status_code == 403
    assert audit_entries() == []


# The command line ------------------------------------------------------------------------------------


def test_cli_export_writes_the_same_file_and_is_audited(app: Flask, payments: dict[str, Any],
                                                        staff_client: Callable[[Role], FlaskClient],
                                                        tmp_path: Path) -> None:
    web = read_csv(export(staff_client(Role.ANALYST), currency="EUR"))
    target = tmp_path / "january.csv"
    result = app.test_cli_runner().invoke(args=["export", "payments", "--from", "2026-01-01", "--to", "2026-01-31",
                                                "--currency", "eur", "--format", "csv", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert result.output == f"Wrote 3 rows to {target}.\n"
    assert list(csv.reader(io.StringIO(target.read_text("utf-8-sig"), newline=""))) == web
    entry = audit_entries()[-1]
    assert entry.actor == "command line" and entry.staff_user_id is None
    assert entry.details == {"format": "csv", "from": "2026-01-01", "to": "2026-01-31", "currency": "EUR",
                             "status": "all", "rows": 3, "complete": True, "language": "en"}
    assert list(tmp_path.iterdir()) == [target]  # no partial file left behind


def test_cli_export_xlsx_with_the_dated_default_name(app: Flask, payments: dict[str, Any], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = app.test_cli_runner().invoke(args=["export", "memberships", "--from", "2026-01-01", "--to", "2026-01-31",
                                                "--format", "xlsx"])
    assert result.exit_code == 0, result.output
    workbook = load_workbook(tmp_path / "memberships-2026-01-01-to-2026-01-31.xlsx")
    rows = list(workbook.active.iter_rows(values_only=True))  # type: ignore[union-attr]
    assert rows[0][0] == "Membership ID" and rows[1][0] == payments["membership"].id
    assert audit_entries()[-1].details["rows"] == 1


@pytest.mark.parametrize(("args", "message"), [
    (["--status", "active"], "'active' is not a status of payments"),
    (["--currency", "XYZ"], "Unknown currency 'XYZ'; choose one of EUR, USD, GBP, UAH."),
    (["--from", "2026-13-01"], "'2026-13-01' is not a date; use YYYY-MM-DD."),
    (["--from", "2026-02-01"], "The end date is before the start date."),
    (["--format", "pdf"], "'pdf' is not one of 'csv', 'xlsx'"),
])
def test_cli_refuses_bad_filters_without_writing_or_auditing(app: Flask, payments: dict[str, Any],
                                                             tmp_path: Path, args: list[str], message: str) -> None:
    target = tmp_path / "out.csv"
    options = {"--from": "2026-01-01", "--to": "2026-01-31", **dict(zip(args[::2], args[1::2], strict=True))}
    result = app.test_cli_runner().invoke(
        args=["export", "payments", *(part for pair in options.items() for part in pair), "-o", str(target)])
    assert result.exit_code == 2
    assert message in result.output
    assert not target.exists() and audit_entries() == []


def test_filename_and_filter_description() -> None:
    from datetime import date

    from membership.staff.reports.models import ExportFormat, ExportKind
    from membership.staff.reports.services import ExportFilters

    filters = ExportFilters(ExportKind.PAYMENTS, date(2026, 1, 1), date(2026, 1, 31), "EUR", "")
    assert filters.filename(ExportFormat.CSV) == "payments-2026-01-01-to-2026-01-31.csv"
    assert filters.describe() == {"from": "2026-01-01", "to": "2026-01-31", "currency": "EUR", "status": "all"}
