"""`flask import csv`: supporters and consent from Patreon's export or a generic file; never a charge; patrons
invited to re-join once; a bad file imports nothing."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from membership.db import db, utcnow
from membership.email import OutboundEmail
from membership.giving.models import Checkout, Payment
from membership.supporters.models import ConsentEvent, Supporter
from tests.support.helpers import count
from tests.support.patrons import add_supporter

PATREON = """\ufeffName,Email,Discord,Patron Status,Follows You,Lifetime Amount,Pledge Amount,Charge Frequency,Tier,\
Addressee,Street,City,State,Zip,Country,Phone,Patronage Since Date,Last Charge Date,Last Charge Status,\
Additional Details,User ID,Last Updated,Currency,Max Posts,Access Expiration,Next Charge Date
Olena Kovalenko,olena@example.org,,Active patron,No,60.00,5.00,monthly,Friend,,,,,,,,2025-01-03 10:00:00,\
2026-11-03 10:00:00,Paid,,111,2026-11-03 10:00:00,EUR,,,2026-12-03 10:00:00
Taras,TARAS@Example.org,,Former patron,No,10.00,0.00,monthly,,,,,,,,,2024-01-03 10:00:00,2024-02-03 10:00:00,Paid,,\
222,2024-02-03 10:00:00,EUR,,,
Mariia,mariia@example.org,,Active patron,No,120.00,100.00,annual,Patron,,,,,,,,2025-06-01 10:00:00,\
2026-06-01 10:00:00,Paid,,333,2026-06-01 10:00:00,EUR,,,2027-06-01 10:00:00
"""


def _file(tmp_path: Path, text: str, name: str = "members.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _run(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["import", "csv", *args])
    return result.exit_code, str(result.output)


def _invitations() -> list[OutboundEmail]:
    return list(db.session.scalars(sa.select(OutboundEmail).where(OutboundEmail.message == "rejoin_invitation")
                                   .order_by(OutboundEmail.id)))


def test_patreon_members_become_supporters_and_active_patrons_are_invited_once(app: Flask, tmp_path: Path) -> None:
    path = _file(tmp_path, PATREON)
    code, output = _run(app, str(path), "--format", "patreon")
    assert code == 0, output
    assert "Rows read: 3. Supporters created: 3" in output and "Re-join invitations queued: 2" in output
    emails = {s.email for s in db.session.scalars(sa.select(Supporter))}
    assert emails == {"olena@example.org", "taras@example.org", "mariia@example.org"}
    assert count(ConsentEvent) == 0  # Patreon's export says nothing about newsletters
    assert count(Payment) == count(Checkout) == 0  # never a charge
    olena, mariia = _invitations()
    assert olena.to_address == "olena@example.org" and "Patreon" in olena.body_text
    assert "/give?amount=5&currency=EUR&frequency=monthly" in olena.body_text and "€5.00/month" in olena.body_text
    assert "amount=100&currency=EUR&frequency=yearly" in mariia.body_text
    code, output = _run(app, str(path), "--format", "patreon")  # the same file again
    assert code == 0 and "Supporters created: 0; already here: 3" in output
    assert "Re-join invitations queued: 0 (already invited before: 2)" in output and len(_invitations()) == 2


def test_a_generic_file_records_consent_and_language(app: Flask, tmp_path: Path) -> None:
    path = _file(tmp_path, "email,name,email_consent,amount,currency,frequency,locale\n"
                           "oksana@example.org,Oksana,yes,200,UAH,monthly,uk\n"
                           "petro@example.org,,no,,,,\n")
    code, output = _run(app, str(path), "--format", "generic", "--no-invite")
    assert code == 0, output
    oksana = db.session.scalars(sa.select(Supporter).where(Supporter.email == "oksana@example.org")).one()
    assert oksana.email_consent and oksana.locale == "uk"
    assert [e.source for e in db.session.scalars(sa.select(ConsentEvent))] == ["import:generic"]
    assert _invitations() == []  # --no-invite


def test_an_invitation_is_written_in_the_supporters_language(app: Flask, tmp_path: Path) -> None:
    path = _file(tmp_path, "email,name,email_consent,amount,currency,frequency,locale\n"
                           "oksana@example.org,Оксана,no,200,UAH,monthly,uk\n")
    code, output = _run(app, str(path), "--format", "generic")
    assert code == 0, output
    (invitation,) = _invitations()
    assert "200,00\u00a0₴/міс." in invitation.body_text and "Оксана" in invitation.body_text


def test_a_bad_file_is_reported_by_line_and_nothing_is_imported(app: Flask, tmp_path: Path) -> None:
    path = _file(tmp_path, "email,name,email_consent,amount,currency,frequency\n"
                           "good@example.org,Good,yes,5,EUR,monthly\n"
                           "not-an-address,Bad,yes,5,EUR,monthly\n"
                           "two@example.org,Two,maybe,5,EUR,monthly\n"
                           "three@example.org,Three,no,1.000,EUR,monthly\n"
                           "four@example.org,Four,no,5,XYZ,monthly\n"
                           "five@example.org,Five,no,5,EUR,weekly\n"
                           "GOOD@example.org,Again,no,,,\n")
    code, output = _run(app, str(path), "--format", "generic")
    assert code == 1 and "nothing was imported" in output
    for line in ("line 3:", "line 4: email_consent", "line 5: amount", "line 6: the currency", "line 7: frequency",
                 "line 8: good@example.org is already on line 2"):
        assert line in output, line
    assert count(Supporter) == 0 and _invitations() == []


def test_wrong_format_or_encoding_is_refused(app: Flask, tmp_path: Path) -> None:
    code, output = _run(app, str(_file(tmp_path, PATREON)), "--format", "generic")
    assert code == 1 and "no 'email' column" in output
    latin = tmp_path / "latin.csv"
    latin.write_bytes("email,name\nx@example.org,Ren\xe9e\n".encode("latin-1"))
    code, output = _run(app, str(latin), "--format", "generic")
    assert code == 1 and "not UTF-8" in output
    assert count(Supporter) == 0


def test_a_dry_run_writes_nothing(app: Flask, tmp_path: Path) -> None:
    code, output = _run(app, str(_file(tmp_path, PATREON)), "--format", "patreon", "--dry-run")
    assert code == 0 and "Dry run" in output and "Supporters created: 3" in output
    assert count(Supporter) == 0 and _invitations() == []


def test_an_erased_supporter_is_not_brought_back(app: Flask, tmp_path: Path) -> None:
    erased = add_supporter(email="olena@example.org")
    erased.erased_at = utcnow()
    db.session.commit()
    code, output = _run(app, str(_file(tmp_path, PATREON)), "--format", "patreon")
    assert code == 0 and "erased at their request" in output
    assert all(e.to_address != "olena@example.org" for e in _invitations())
