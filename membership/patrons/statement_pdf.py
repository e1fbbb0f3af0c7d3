"""The yearly statement as a PDF (fpdf2), in the active language, written in a Unicode TrueType font so Cyrillic
and the hryvnia sign print (Debian's DejaVu Sans by default: STATEMENT_FONT_PATH)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import Align, TableCellFillMode, XPos, YPos

from membership.formatting import current_locale, format_day, format_money
from membership.giving.models import PaymentKind
from membership.i18n import gettext as _
from membership.patrons.statements import Statement, StatementRow

FONT = "statement"
WIDE_COLUMNS = (34, 52, 32, 32, 32)  # date, what, amount, refunded, counted (mm, of A4's 190 between margins)
TOTAL_COLUMNS = (40, 50, 50, 42)  # currency, paid, refunded, given


class StatementFontMissing(RuntimeError):
    """The TrueType font the statement is written in isn't there (STATEMENT_FONT_PATH)."""


@dataclass(frozen=True)
class Issuer:
    """Who issues the statement: the newsroom, as its settings name it."""

    name: str
    address: str
    registration: str  # NEWSROOM_REGISTRATION, e.g. "Registered charity no. 1234567"; may be empty


def _bold_variant(regular: Path) -> Path:
    """DejaVuSans.ttf → DejaVuSans-Bold.ttf when that exists beside it, else the regular face."""
    bold = regular.with_name(f"{regular.stem}-Bold{regular.suffix}")
    return bold if bold.is_file() else regular


def _new_document(font_path: str) -> FPDF:
    regular = Path(font_path)
    if not regular.is_file():
        raise StatementFontMissing(
            f"The statement font {regular} is missing: install Debian's fonts-dejavu-core "
            "(apt-get install fonts-dejavu-core) or point STATEMENT_FONT_PATH at a TrueType font with Cyrillic.")
    pdf = FPDF(format="A4")
    pdf.add_font(FONT, "", str(regular))
    pdf.add_font(FONT, "B", str(_bold_variant(regular)))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    return pdf


def _kind(kind: PaymentKind) -> str:
    return str(_("Membership") if kind is PaymentKind.MEMBERSHIP else _("One-time gift"))


def _counted(row: StatementRow) -> str:
    if row.disputed:
        return str(_("Disputed: not counted"))
    return format_money(row.given_minor, row.currency)


def _line(pdf: FPDF, text: str, size: float = 10, bold: bool = False, gap: float = 0) -> None:
    pdf.set_font(FONT, "B" if bold else "", size)
    pdf.multi_cell(0, size * 0.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if gap:
        pdf.ln(gap)


def _header(pdf: FPDF, statement: Statement, issuer: Issuer, issued_on: date) -> None:
    _line(pdf, issuer.name, 14, bold=True)
    for part in (issuer.address, issuer.registration):
        if part:
            _line(pdf, part, 9)
    pdf.ln(6)
    _line(pdf, _("Statement of your contributions in %(year)s", year=statement.year), 16, bold=True, gap=3)
    who = (f"{statement.supporter_name} <{statement.supporter_email}>" if statement.supporter_name
           else statement.supporter_email)
    _line(pdf, _("For: %(who)s", who=who))
    _line(pdf, _("Period: %(start)s to %(end)s (UTC)", start=format_day(date(statement.year, 1, 1)),
                 end=format_day(date(statement.year, 12, 31))))
    _line(pdf, _("Issued on %(day)s", day=format_day(issued_on)))
    if issued_on.year == statement.year:
        _line(pdf, _("The year isn't over yet: this statement lists the payments made so far."))
    pdf.ln(5)


def _table(pdf: FPDF, widths: tuple[int, ...], heading: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    pdf.set_font(FONT, "", 9)
    align = tuple(Align.L if index < 2 else Align.R for index in range(len(widths)))
    with pdf.table(col_widths=widths, width=sum(widths), align=Align.L, text_align=align, line_height=6,
                   cell_fill_color=(242, 242, 242), cell_fill_mode=TableCellFillMode.ROWS) as table:
        for cells in (heading, *rows):
            row = table.row()
            for cell in cells:
                row.cell(cell)


def render_statement_pdf(statement: Statement, issuer: Issuer, font_path: str, issued_on: date) -> bytes:
    """The statement as PDF bytes, in the active language (the reader's)."""
    pdf = _new_document(font_path)
    pdf.set_title(_("Statement of your contributions in %(year)s", year=statement.year))
    pdf.set_author(issuer.name)
    pdf.set_lang(current_locale().replace("_", "-"))
    _header(pdf, statement, issuer, issued_on)
    _line(pdf, _("Payments"), 12, bold=True, gap=2)
    _table(pdf, WIDE_COLUMNS, (_("Date"), _("What"), _("Amount"), _("Refunded"), _("Counted")), [
        (format_day(row.paid_at), _kind(row.kind), format_money(row.amount_minor, row.currency),
         format_money(row.refunded_minor, row.currency) if row.refunded_minor else "—", _counted(row))
        for row in statement.rows
    ])
    pdf.ln(6)
    _line(pdf, _("Totals per currency"), 12, bold=True, gap=2)
    _table(pdf, TOTAL_COLUMNS, (_("Currency"), _("Paid"), _("Refunded"), _("Given")), [
        (total.currency, format_money(total.paid_minor, total.currency),
         format_money(total.refunded_minor, total.currency), format_money(total.given_minor, total.currency))
        for total in statement.totals
    ])
    pdf.ln(6)
    _line(pdf, _("What you gave is what you paid less any refunds. A payment under dispute isn't counted. "
                 "Dates are in UTC. Receipts for each payment are in your account."), 9, gap=3)
    _line(pdf, _("Thank you for supporting independent journalism."), 10, bold=True)
    return bytes(pdf.output())
