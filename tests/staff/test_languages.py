"""The staff console in Ukrainian: by `?lang`, by the language saved on the staff member's account page, and the
export files' column headers in the language chosen for each export (English by default)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook

from membership.db import db
from membership.i18n import STAFF_LOCALE_KEY
from membership.staff.accounts.models import Role, StaffUser
from tests.support.helpers import csrf_token, text
from tests.support.reports import export, read_csv, read_xlsx
from tests.support.staff import sign_in, sign_in_as

ENGLISH_PAYMENT_HEADER = ["Paid at (UTC)", "Payment ID", "Supporter ID", "Supporter email", "Supporter name"]
UKRAINIAN_PAYMENT_HEADER = ["Дата оплати (UTC)", "ID платежу", "ID прихильника", "Електронна пошта прихильника",
                            "Ім’я прихильника"]  # noqa: RUF001


def choose_language(client: FlaskClient, locale: str) -> Any:
    return client.post("/staff/account", data={"locale": locale, "csrf_token": csrf_token(client, "/staff/account")})


# Pages --------------------------------------------------------------------------------------------


def test_staff_pages_in_ukrainian_with_lang(staff_client: Callable[[Role], FlaskClient]) -> None:
    client = staff_client(Role.ADMIN)
    home = text(client.get("/staff/?lang=uk"))
    assert "Панель редакції" in home and "Огляд" in home and "Журнал аудиту" in home and "Вийти" in home
    dashboard = text(client.get("/staff/dashboard?lang=uk"))
    assert "Нові та втрачені патрони" in dashboard and "Місячний рівень відтоку" in dashboard
    assert "Звіти та експорт" in text(client.get("/staff/reports?lang=uk"))
    tiers = text(client.get("/staff/tiers?lang=uk"))
    assert "Рівні та суми" in tiers and "Суми за валютами" in tiers
    # The choice is remembered (the `lang` cookie), and English is one click away.
    assert "Рівні та суми" in text(client.get("/staff/tiers"))
    assert "Tiers and amounts" in text(client.get("/staff/tiers?lang=en"))


def test_the_sign_in_page_and_its_errors_in_ukrainian(client: FlaskClient,
                                                      make_staff: Callable[..., StaffUser]) -> None:
    make_staff(Role.ADMIN, email="ada@newsroom.example")
    page = text(client.get("/staff/sign-in?lang=uk"))
    assert "Вхід для редакції" in page and "Електронна пошта" in page
    response = sign_in(client, "ada@newsroom.example", "not the password")
    assert response.status_code == 401
    assert "Ця адреса і пароль не відповідають жодному обліковому запису працівника." in text(response)  # noqa: RUF001


def test_a_form_error_in_ukrainian(staff_client: Callable[[Role], FlaskClient]) -> None:
    client = staff_client(Role.ADMIN)
    token = csrf_token(client, "/staff/tiers/new")
    response = client.post("/staff/tiers/new?lang=uk", data={"name": "", "csrf_token": token})
    assert response.status_code == 400
    assert "Введіть назву рівня." in text(response) and "Назва" in text(response)


# The saved language ------------------------------------------------------------------------------


def test_the_account_page_saves_the_console_language(client: FlaskClient,
                                                      make_staff: Callable[..., StaffUser]) -> None:
    user = make_staff(Role.EDITOR, email="ed@newsroom.example")
    sign_in_as(client, user)
    page = text(client.get("/staff/account"))
    assert "Language of the staff console" in page and "Українська" in page
    response = choose_language(client, "uk")
    assert response.status_code == 302 and response.headers["Location"] == "/staff/account"
    db.session.refresh(user)
    assert user.locale == "uk"
    with client.session_transaction() as session:
        assert session[STAFF_LOCALE_KEY] == "uk"
    page = text(client.get("/staff/account"))
    assert "Панель редакції тепер відображається вибраною мовою." in page and "Мова панелі редакції" in page
    assert "Голосування" in text(client.get("/staff/ballots"))
    # Reader pages keep their own choice; the staff member's language is for /staff.
    assert 'lang="en"' in client.get("/give").get_data(as_text=True)


def test_the_saved_language_follows_the_next_sign_in(client: FlaskClient,
                                                     make_staff: Callable[..., StaffUser]) -> None:
    user = make_staff(Role.ANALYST, email="ana@newsroom.example")
    user.locale = "uk"
    db.session.commit()
    assert sign_in(client, "ana@newsroom.example").status_code == 302
    assert "Звіти та експорт" in text(client.get("/staff/reports"))


def test_the_account_language_outranks_an_earlier_lang_choice_and_can_go_back(
        client: FlaskClient, make_staff: Callable[..., StaffUser]) -> None:
    user = make_staff(Role.ADMIN)
    sign_in_as(client, user)
    client.get("/staff/?lang=en")  # remembered in the cookie
    choose_language(client, "uk")
    assert "Панель редакції" in text(client.get("/staff/"))
    assert choose_language(client, "").status_code == 302  # the browser's language
    db.session.refresh(user)
    assert user.locale is None
    assert "Tiers and amounts" in text(client.get("/staff/", headers={"Accept-Language": "en"}))
    assert "Рівні та суми" in text(client.get("/staff/", headers={"Accept-Language": "uk"}))


def test_an_unknown_language_is_refused(client: FlaskClient, make_staff: Callable[..., StaffUser]) -> None:
    user = make_staff(Role.ADMIN)
    sign_in_as(client, user)
    response = choose_language(client, "xx")
    assert response.status_code == 400 and "Choose one of the languages offered." in text(response)
    db.session.refresh(user)
    assert user.locale is None


# Export headers -----------------------------------------------------------------------------------


def test_export_headers_are_english_by_default_and_ukrainian_when_chosen(
        staff_client: Callable[[Role], FlaskClient], payments: dict[str, Any]) -> None:
    client = staff_client(Role.ANALYST)
    english = read_csv(export(client, currency="EUR"))
    assert english[0][:5] == ENGLISH_PAYMENT_HEADER
    # The page's language doesn't change the file: the export's own choice does.
    client.get("/staff/reports?lang=uk")
    assert read_csv(export(client, currency="EUR"))[0][:5] == ENGLISH_PAYMENT_HEADER
    ukrainian = read_csv(export(client, currency="EUR", language="uk"))
    assert ukrainian[0][:5] == UKRAINIAN_PAYMENT_HEADER
    assert ukrainian[1:] == english[1:]  # the rows are the same in every language
    response = export(client, format="xlsx", language="uk")
    assert read_xlsx(response)[0][:5] == UKRAINIAN_PAYMENT_HEADER
    assert load_workbook(io.BytesIO(response.get_data())).sheetnames == ["Платежі"]
    assert export(client, language="xx").status_code == 400


def test_cli_export_language(app: Flask, payments: dict[str, Any], tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    base = ["export", "payments", "--from", "2026-01-01", "--to", "2026-01-31", "--currency", "EUR"]
    english, ukrainian = tmp_path / "en.csv", tmp_path / "uk.csv"
    assert runner.invoke(args=[*base, "-o", str(english)]).exit_code == 0
    result = runner.invoke(args=[*base, "--language", "uk", "-o", str(ukrainian)])
    assert result.exit_code == 0, result.output

    def header(path: Path) -> list[str]:
        return next(csv.reader(io.StringIO(path.read_text("utf-8-sig"), newline="")))

    assert header(english)[:5] == ENGLISH_PAYMENT_HEADER and header(ukrainian)[:5] == UKRAINIAN_PAYMENT_HEADER
    refused = runner.invoke(args=[*base, "--language", "klingon", "-o", str(tmp_path / "x.csv")])
    assert refused.exit_code == 2 and "Unknown --language 'klingon'; choose one of en, uk." in refused.output
