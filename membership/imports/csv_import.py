"""`flask --app membership import csv FILE --format patreon|generic`: supporters and their consent from a file.

Never creates a charge: payments stay where they were made. Patrons who paid on another platform (Patreon's
"Active patron", or a generic row with a monthly or yearly amount) are invited by email to re-join here, with
their amount, currency and frequency filled in on the give form; each supporter is invited once, however often
the file is imported.

Every row is checked before anything is written: a file with a bad row is reported row by row (with its line
number) and nothing at all is imported, so a fixed file can simply be imported again.

Formats:
- `patreon`: Patreon's members export (Creator page → Relationship manager → Export CSV). Columns read: Email,
  Name, Patron Status, Pledge Amount, Currency, Charge Frequency (monthly or annual). Patreon's export carries
  no newsletter consent, so none is recorded.
- `generic`: a header row with `email` (required) and any of `name`, `email_consent` (yes/no, true/false, 1/0),
  `amount` (major units, e.g. 5 or 5.50), `currency` (ISO code), `frequency` (monthly, yearly or once) and
  `locale` (en, uk). Consent given in the file is recorded with the source `import`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from membership.email import OutboundEmail, queue_email
from membership.formatting import format_recurring, to_major_text
from membership.i18n import in_locale
from membership.money import parse_major_amount
from membership.supporters.models import Supporter
from membership.supporters.services import InvalidEmail, find_or_create_supporter, normalise_email, record_consent

FORMATS = ("patreon", "generic")
INVITATION = "rejoin_invitation"
MAX_ROWS = 200_000
YES, NO = {"yes", "y", "true", "1"}, {"no", "n", "false", "0", ""}
FREQUENCIES = {"monthly": "monthly", "month": "monthly", "annual": "yearly", "annually": "yearly",
               "yearly": "yearly", "year": "yearly", "once": "once", "one-time": "once", "": ""}


class ImportRefused(ValueError):
    """The file can't be imported: its problems, each with a line number. Nothing was written."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Row:
    line: int
    email: str
    name: str
    consent: bool | None  # None: the file says nothing about it
    amount_minor: int | None
    currency: str
    frequency: str  # "monthly", "yearly", "once" or ""
    locale: str | None

    @property
    def patron_elsewhere(self) -> bool:
        return self.amount_minor is not None and self.frequency in ("monthly", "yearly")


@dataclass
class CsvReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    consents: int = 0
    invited: int = 0
    already_invited: int = 0
    skipped: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [f"Rows read: {self.rows}. Supporters created: {self.created}; already here: {self.updated}.",
                f"Consents recorded: {self.consents}. Re-join invitations queued: {self.invited} "
                f"(already invited before: {self.already_invited}).",
                *(f"Skipped: {reason}" for reason in self.skipped)]


def _flag(value: str, line: int, column: str, problems: list[str]) -> bool | None:
    text = value.strip().lower()
    if text in YES:
        return True
    if text in NO:
        return None if text == "" else False
    problems.append(f"line {line}: {column} must be yes or no, not {value[:40]!r}")
    return None


def _row(record: Mapping[str, str], line: int, fmt: str, currencies: Iterable[str], locales: Iterable[str],
         default_currency: str, problems: list[str]) -> Row | None:
    def get(*names: str) -> str:
        for name in names:
            if name in record and record[name] is not None:
                return str(record[name]).strip()
        return ""

    before = len(problems)
    try:
        email = normalise_email(get("Email", "email"))
    except InvalidEmail as exc:
        problems.append(f"line {line}: the email address can't be used ({exc})")
        email = ""
    name = get("Name", "name")[:120]
    if fmt == "patreon":
        active = get("Patron Status").lower() == "active patron"
        consent = None
        frequency = FREQUENCIES.get(get("Charge Frequency").lower(), "") if active else ""
        amount_text = get("Pledge Amount") if active else ""
        locale = None
    else:
        consent = _flag(get("email_consent"), line, "email_consent", problems)
        frequency_text = get("frequency").lower()
        frequency = FREQUENCIES.get(frequency_text, "?")
        if frequency == "?":
            problems.append(f"line {line}: frequency must be monthly, yearly or once, not {frequency_text[:20]!r}")
            frequency = ""
        amount_text = get("amount")
        locale = get("locale") or None
        if locale and locale not in locales:
            problems.append(f"line {line}: locale must be one of {', '.join(locales)}, not {locale[:10]!r}")
    currency = (get("Currency", "currency") or default_currency).upper()
    amount: int | None = None
    if amount_text:
        if currency not in currencies:
            problems.append(f"line {line}: the currency {currency[:10]!r} isn't one the newsroom accepts "
                            f"({', '.join(currencies)})")
        else:
            try:
                amount = parse_major_amount(amount_text, currency)
            except ValueError as exc:
                problems.append(f"line {line}: amount {amount_text[:20]!r}: {exc}")
    if len(problems) > before:
        return None
    return Row(line, email, name, consent, amount, currency, frequency, locale)


def read_rows(text: str, fmt: str, currencies: Iterable[str], locales: Iterable[str],
              default_currency: str) -> list[Row]:
    """Every row of the file, checked; ImportRefused listing each problem if any row is bad."""
    if fmt not in FORMATS:
        raise ImportRefused([f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}"])
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    needed = "Email" if fmt == "patreon" else "email"
    if not reader.fieldnames or needed not in reader.fieldnames:
        raise ImportRefused([f"line 1: the header row has no {needed!r} column (is this a {fmt} file?)"])
    problems: list[str] = []
    rows: list[Row] = []
    seen: dict[str, int] = {}
    currencies, locales = list(currencies), list(locales)
    for record in reader:
        line = reader.line_num
        if len(rows) + len(problems) >= MAX_ROWS:
            raise ImportRefused([f"more than {MAX_ROWS} rows: split the file"])
        row = _row(record, line, fmt, currencies, locales, default_currency, problems)
        if row is None:
            continue
        if row.email in seen:
            problems.append(f"line {line}: {row.email} is already on line {seen[row.email]}")
            continue
        seen[row.email] = line
        rows.append(row)
    if problems:
        raise ImportRefused(problems)
    return rows


def _invite_link(public_url: str, row: Row) -> str:
    assert row.amount_minor is not None
    query = {"amount": to_major_text(row.amount_minor, row.currency), "currency": row.currency,
             "frequency": row.frequency, "utm_source": "import", "utm_campaign": "rejoin"}
    return f"{public_url}/give?{urlencode(query)}"


def import_rows(session: Session, rows: list[Row], fmt: str, *, invite: bool, public_url: str) -> CsvReport:
    """Write the checked rows (the caller commits, or rolls back for a dry run)."""
    report = CsvReport(rows=len(rows))
    for row in rows:
        existed = session.scalar(select(Supporter.id).where(Supporter.email == row.email)) is not None
        supporter = find_or_create_supporter(session, row.email, row.name)
        if supporter.erased_at is not None:
            report.skipped.append(f"line {row.line}: that supporter's data was erased at their request")
            continue
        report.updated += existed
        report.created += not existed
        if row.locale and not supporter.locale:
            supporter.locale = row.locale
        if row.consent and not supporter.email_consent:
            record_consent(session, supporter, True, f"import:{fmt}")
            report.consents += 1
        if invite and row.patron_elsewhere and supporter.email:
            if session.scalar(select(OutboundEmail.id).where(OutboundEmail.supporter_id == supporter.id,
                                                             OutboundEmail.message == INVITATION).limit(1)):
                report.already_invited += 1
                continue
            with in_locale(supporter.locale):  # written in their language, amounts included
                amount = format_recurring(row.amount_minor or 0, row.currency,
                                          "month" if row.frequency == "monthly" else "year")
                queue_email(session, INVITATION, supporter.email, supporter_id=supporter.id, locale=supporter.locale,
                            send_after_commit=False, name=supporter.name, amount=amount,
                            link=_invite_link(public_url, row), platform="Patreon" if fmt == "patreon" else "")
            report.invited += 1
    session.flush()
    return report
