"""The January email: `jobs run` sends each supporter who gave last year the link to that year's statement, once per
supporter and year, in their language; never in other months, never to erased supporters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from membership.db import db, unit_of_work
from membership.email import OutboundEmail
from membership.giving.models import PaymentKind, PaymentStatus
from membership.jobs import run_jobs
from membership.patrons.models import StatementEmail
from membership.patrons.statements import send_yearly_statements
from membership.supporters.models import Supporter
from tests.support.helpers import all_at_once
from tests.support.patrons import add_payment, add_supporter

JANUARY = datetime(2026, 1, 5, 8, tzinfo=UTC)


def statement_emails() -> list[OutboundEmail]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(OutboundEmail).where(OutboundEmail.message == "yearly_statement")
                                   .order_by(OutboundEmail.to_address)))


@pytest.fixture
def givers(app: Flask) -> dict[str, int]:
    app.config["NEWSROOM_NAME"] = "Kyiv Independent Test"
    olena = add_supporter("olena@example.org", "Olena", locale="en")
    add_payment(olena, 700, datetime(2025, 3, 1, tzinfo=UTC))
    add_payment(olena, 700, datetime(2025, 4, 1, tzinfo=UTC))
    mykola = add_supporter("mykola@example.org", "Микола", locale="uk")
    add_payment(mykola, 20000, datetime(2025, 12, 31, 23, 59, tzinfo=UTC), currency="UAH", kind=PaymentKind.GIFT)
    last_year_only = add_supporter("old@example.org", "Old")
    add_payment(last_year_only, 500, datetime(2024, 6, 1, tzinfo=UTC))
    this_year_only = add_supporter("new@example.org", "New")
    add_payment(this_year_only, 500, datetime(2026, 1, 1, tzinfo=UTC))
    refunded = add_supporter("refunded@example.org", "Refunded")
    add_payment(refunded, 500, datetime(2025, 6, 1, tzinfo=UTC), kind=PaymentKind.GIFT, status=PaymentStatus.REFUNDED,
                refunded_minor=500)
    erased = add_supporter("erased@example.org", "Erased")
    add_payment(erased, 500, datetime(2025, 6, 1, tzinfo=UTC))
    erased.email, erased.name, erased.erased_at = None, "", datetime(2025, 9, 1, tzinfo=UTC)
    db.session.commit()
    return {"olena": olena.id, "mykola": mykola.id, "erased": erased.id}


def run_jobs_at(now: datetime) -> int:
    with unit_of_work(db.session()) as session:
        return run_jobs(session, now).statements_queued


def test_january_emails_each_giver_their_statement_link_once(givers: dict[str, int], app: Flask) -> None:
    assert run_jobs_at(JANUARY) == 2
    mykola, olena = statement_emails()
    assert olena.to_address == "olena@example.org"
    assert olena.subject == "Your 2025 statement from Kyiv Independent Test"
    link = f"{app.config['PUBLIC_URL']}/account/statements/2025"
    assert "Hello Olena," in olena.body_text and link in olena.body_text
    assert f'href="{link}"' in olena.body_html
    # In the recipient's language, whoever runs the job.
    assert mykola.to_address == "mykola@example.org"
    assert mykola.subject == "Kyiv Independent Test: ваш звіт про внески за 2025 рік"
    assert "Вітаємо, Микола!" in mykola.body_text and link in mykola.body_text

    assert run_jobs_at(JANUARY.replace(day=20)) == 0  # a later run in the same January sends nothing again
    assert len(statement_emails()) == 2
    claims = db.session.execute(sa.select(StatementEmail.supporter_id, StatementEmail.year)).all()
    assert sorted(claims) == sorted([(givers["olena"], 2025), (givers["mykola"], 2025)])


@pytest.mark.parametrize("now", [datetime(2026, 2, 1, tzinfo=UTC), datetime(2025, 12, 31, 23, 59, tzinfo=UTC),
                                 datetime(2026, 7, 1, tzinfo=UTC)])
def test_no_statement_emails_outside_january(givers: dict[str, int], now: datetime) -> None:
    assert run_jobs_at(now) == 0
    assert statement_emails() == []


def test_erased_supporters_are_never_emailed(givers: dict[str, int]) -> None:
    run_jobs_at(JANUARY)
    assert "erased@example.org" not in {e.to_address for e in statement_emails()}
    assert db.session.get(StatementEmail, (givers["erased"], 2025)) is None


def test_statement_emails_go_out_in_batches(givers: dict[str, int], db_session: Session) -> None:
    assert send_yearly_statements(db_session, JANUARY, batch=1) == 1
    db_session.commit()
    assert send_yearly_statements(db_session, JANUARY, batch=1) == 1
    db_session.commit()
    assert send_yearly_statements(db_session, JANUARY, batch=1) == 0
    assert len(statement_emails()) == 2


@pytest.fixture
def own_sessions(app: Flask) -> Iterator[sa.Engine]:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent job runs are tested on PostgreSQL (SQLite serialises writers)")
    engine = sa.create_engine(db.engine.url, pool_size=8, max_overflow=0)
    yield engine
    engine.dispose()


@pytest.mark.postgres_only
def test_concurrent_job_runs_send_one_email_per_supporter_and_year(app: Flask, givers: dict[str, int],
                                                                   own_sessions: sa.Engine) -> None:
    for n in range(20):
        supporter = add_supporter(f"reader{n}@example.org", f"Reader {n}")
        add_payment(supporter, 500, datetime(2025, 5, 1, tzinfo=UTC))

    def run(_: int) -> object:
        with app.app_context(), Session(own_sessions) as session:
            queued = send_yearly_statements(session, JANUARY)
            session.commit()
            return queued

    outcomes = all_at_once(6, run)
    assert [o for o in outcomes if isinstance(o, Exception)] == []
    assert sum(o for o in outcomes if isinstance(o, int)) == 22
    emails = statement_emails()
    assert len(emails) == 22 and len({e.to_address for e in emails}) == 22
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Supporter)) == 26
