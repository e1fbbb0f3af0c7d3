# ruff: noqa: RUF001  (Ukrainian text: Cyrillic letters that look like Latin ones)
"""Emails in their recipient's language: every message is marked (rendered in the pseudo-locale, no word is left
unwrapped), reads in Ukrainian, and is written in the supporter's stored language whatever the request that
caused it speaks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, render_template
from flask.testing import FlaskClient

from membership import ROOT, create_app
from membership.db import db
from membership.email import OutboundEmail, _render_message, queue_email
from membership.formatting import format_long_date
from membership.giving.models import Membership, Payment
from membership.i18n import in_locale, ngettext
from membership.supporters.models import Supporter
from stripe_double import DoubleServer
from tests.support.database import empty_tables
from tests.support.giving import MONTH, advance, clock_customer, pay, settle, start_gift
from tests.support.helpers import SAMPLE
from tests.support.i18n import PSEUDO, pseudo_catalog_directory, unmarked, unmarked_html
from tests.support.servers import LiveServer, SmtpSink
from tests.support.settings import app_settings

MESSAGES = sorted(path.name for path in (ROOT / "templates" / "email").iterdir() if path.is_dir())
CYRILLIC = re.compile(r"[а-яіїєґ]", re.IGNORECASE)

# Every value any email template reads, as its sender would pass it (already formatted).
CONTEXT: dict[str, Any] = {
    **SAMPLE, "interval": "month", "next_charge": "3 March 2026", "sign_in_url": "http://x.test/account/sign-in",
    "membership_amount": "€5.00/month", "paid_on": "3 February 2026", "reference": "in_123", "ends": False,
    "account_url": "http://x.test/account", "fix_card_url": "http://x.test/account/fix-card/abc",
    "ends_on": "3 March 2026", "renews_on": "3 March 2026", "ended_on": "3 February 2026",
    "rejoin_url": "http://x.test/give?amount=5", "topic": "Olena's topic", "ballot_title": "Olena's ballot",
    "article_url": "http://x.test/article", "ballot_url": "http://x.test/ballots/1", "kind": "payments",
    "requested": "2026-02-03 10:00 UTC", "first_day": "2026-01-01", "last_day": "2026-01-31", "currency": "EUR",
    "status": "Paid", "format": "CSV", "reports_url": "http://x.test/staff/reports", "rows": "4 rows",
    "size": "1.2 kB", "expires": "2026-02-10 10:00 UTC", "download_url": "http://x.test/staff/reports/exports/1",
    "job_id": 1,
}
# The other side of each template's conditions: a gift, a membership ending at period end, no dates, no name.
BRANCHES: dict[str, Any] = {**CONTEXT, "interval": "", "ends": True, "next_charge": "", "renews_on": "",
                            "ended_on": "", "name": ""}


def rendered(message: str, locale: str, **context: Any) -> OutboundEmail:
    queue_email(db.session(), message, "reader@example.org", locale=locale, send_after_commit=False, **context)
    email = db.session.scalars(sa.select(OutboundEmail).order_by(OutboundEmail.id.desc())).first()
    assert email is not None
    return email


@pytest.fixture
def pseudo_app(database_uri: str) -> Iterator[Flask]:
    directory = pseudo_catalog_directory()
    # Rendering only: Stripe is never asked.
    app = create_app(app_settings(database_uri, api_base="http://127.0.0.1:9", SUPPORTED_LOCALES=["en", "uk", PSEUDO],
                                  BABEL_TRANSLATION_DIRECTORIES=f"translations;{directory}"))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    empty_tables(database_uri)


@pytest.mark.parametrize("message", MESSAGES)
def test_every_email_marks_every_string_it_shows(pseudo_app: Flask, message: str) -> None:
    allowed = [str(value) for value in CONTEXT.values()] + [
        pseudo_app.config["NEWSROOM_NAME"], pseudo_app.config["NEWSROOM_ADDRESS"], pseudo_app.config["PUBLIC_URL"]]
    for context in (CONTEXT, BRANCHES):
        email = rendered(message, PSEUDO, **context)
        problems = unmarked([email.subject, *email.body_text.splitlines()], allowed)
        problems += unmarked_html(email.body_html, allowed)
        assert not problems, f"{message}: text not marked for translation:\n" + "\n".join(problems)


@pytest.mark.parametrize("message", MESSAGES)
def test_every_email_reads_in_ukrainian(app: Flask, message: str) -> None:
    english = rendered(message, "en", **CONTEXT)
    ukrainian = rendered(message, "uk", **CONTEXT)
    assert ukrainian.subject != english.subject and CYRILLIC.search(ukrainian.subject)
    assert "Hello" not in ukrainian.body_text and "Вітаємо" in ukrainian.body_text
    assert 'lang="uk"' in ukrainian.body_html and "Вітаємо" in ukrainian.body_html
    assert 'lang="en"' in english.body_html and "Hello Olena," in english.body_text


@pytest.mark.parametrize("message", MESSAGES)
def test_an_email_reads_as_flasks_render_template_writes_it(app: Flask, message: str) -> None:
    """A message's three templates share one run of the context processors and one catalog lookup: the text is
    what Flask's `render_template` (with flask-babel's gettext) gives each template, in both languages and
    branches."""
    for locale in ("en", "uk"):
        for context in (CONTEXT, BRANCHES):
            with in_locale(locale):
                subject, text, html = _render_message(message, dict(context))
                assert subject == " ".join(render_template(f"email/{message}/subject.txt", **context).split())
                assert text == render_template(f"email/{message}/body.txt", **context)
                assert html == render_template(f"email/{message}/body.html", **{**context, "subject": subject})
            assert subject and text and html


def test_an_unknown_or_missing_language_writes_the_default(app: Flask) -> None:
    assert rendered("sign_in_link", "de", **CONTEXT).subject.startswith("Your sign-in link")
    assert rendered("sign_in_link", None, **CONTEXT).subject.startswith("Your sign-in link")  # type: ignore[arg-type]


def test_the_receipt_of_a_renewal_is_in_the_supporters_language(
        app: Flask, client: FlaskClient, double: DoubleServer, live_app: LiveServer, smtp_server: SmtpSink) -> None:
    """The webhook that records the renewal comes from Stripe, with no language of its own: the receipt is in the
    language the supporter chose, amounts and dates included."""
    clock_id, _ = clock_customer(double)
    pay(double, start_gift(client, frequency="monthly", amount="5"))  # given on an English page
    settle(double)
    supporter = db.session.scalars(sa.select(Supporter)).one()
    assert supporter.locale == "en"
    supporter.locale = "uk"  # changed at /account since
    db.session.commit()
    advance(double, clock_id, MONTH)
    settle(double)
    thanks, receipt = smtp_server.to("olena@example.org")
    assert thanks["Subject"].startswith("Thank you for becoming a member")
    renewal = db.session.scalars(sa.select(Payment).order_by(Payment.id.desc())).first()
    assert renewal is not None and renewal.paid_at is not None
    paid_on = format_long_date(renewal.paid_at, "uk")
    assert paid_on.endswith("р.")  # the year, as Ukrainian dates end
    subject = f"Квитанція: 5,00 € на користь {app.config['NEWSROOM_NAME']}, {paid_on}"
    assert receipt["Subject"] == " ".join(subject.split())  # a subject is one line of plain spaces
    text = str(receipt.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert "Вітаємо, Olena!" in text and "Сплачено: 5,00\u00a0€" in text and "Членство: 5,00\u00a0€/міс." in text
    assert db.session.scalars(sa.select(Membership)).one().status.value == "active"


@pytest.mark.parametrize(("count", "rows", "topics"), [
    (1, "1 рядок", "Виберіть не більше ніж 1 тему."),
    (2, "2 рядки", "Виберіть не більше ніж 2 теми."),
    (5, "5 рядків", "Виберіть не більше ніж 5 тем."),
    (21, "21 рядок", "Виберіть не більше ніж 21 тему."),
])
def test_ukrainian_has_three_plural_forms(app: Flask, count: int, rows: str, topics: str) -> None:
    with in_locale("uk"):
        assert ngettext("%(count)s row", "%(count)s rows", count, count=str(count)) == rows
        assert ngettext("Choose at most %(num)d topic.", "Choose at most %(num)d topics.", count) == topics
    with in_locale("en"):
        assert ngettext("%(count)s row", "%(count)s rows", count, count=str(count)) == (
            "1 row" if count == 1 else f"{count} rows")


def test_an_email_names_the_newsroom_as_written_for_the_recipients_language(app: Flask) -> None:
    from membership.db import db
    from membership.email import OutboundEmail, queue_email

    app.config["NEWSROOM_NAME_UK"] = "Київська незалежна редакція"
    queue_email(db.session(), "sign_in_link", "olena@example.org", None, locale="uk", link="http://x.test/l",
                minutes=15, name="Олена")
    queue_email(db.session(), "sign_in_link", "taras@example.org", None, locale="en", link="http://x.test/l",
                minutes=15, name="Taras")
    db.session.commit()
    ukrainian, english = db.session.query(OutboundEmail).order_by(OutboundEmail.id).all()
    assert "Київська незалежна редакція" in ukrainian.body_text
    assert app.config["NEWSROOM_NAME"] in english.body_text and "Київська" not in english.body_text
