"""/staff/reports: the export form, and the exports themselves, streamed as they are read."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, stream_with_context
from flask.typing import ResponseReturnValue
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from membership.ballots.models import Ballot
from membership.ballots.services import tally
from membership.db import current_session, db, utcnow
from membership.staff.auth import Permission, client_ip, signed_in_staff, staff_required
from membership.staff.models import StaffUser
from membership.staff.reports import services
from membership.staff.reports.forms import FILTER_FIELDS, BallotResultsForm, ExportForm
from membership.web import currency_rules, patron_grace

bp = Blueprint("staff_reports", __name__, url_prefix="/staff")

MIMETYPES = {
    services.ExportFormat.CSV: "text/csv; charset=utf-8",
    services.ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _form() -> ExportForm:
    return ExportForm(currencies=list(currency_rules()))


def _ballots_form() -> BallotResultsForm:
    return BallotResultsForm(ballots=[(b.id, b.title) for b in services.exportable_ballots(current_session())],
                             prefix="results")


def _page(form: ExportForm, status: int = 200, ballots_form: BallotResultsForm | None = None) -> ResponseReturnValue:
    return render_template("staff/reports.html", form=form, ballots_form=ballots_form or _ballots_form()), status


@bp.get("/reports")
@staff_required(Permission.REPORTS)
def index() -> ResponseReturnValue:
    form = _form()
    today = utcnow().date()
    form.date_from.data = form.date_from.data or today.replace(day=1)
    form.date_to.data = form.date_to.data or today
    return _page(form)


@bp.post("/reports/export")
@staff_required(Permission.REPORTS)
def export() -> ResponseReturnValue:
    form = _form()
    if not form.validate_on_submit():
        return _page(form, 400)
    try:
        filters = services.make_filters(form.kind.data, form.date_from.data, form.date_to.data, form.currency.data,
                                        form.status.data, list(currency_rules()))
    except services.FilterError as exc:
        getattr(form, FILTER_FIELDS[exc.field]).errors = [str(exc)]
        return _page(form, 400)
    run = services.ExportRun(filters, services.ExportFormat(form.fmt.data))
    spec = services.export_query(filters, now=utcnow(), grace=patron_grace(), currencies=list(currency_rules()))
    engine, actor_id, ip = db.engine, signed_in_staff().id, client_ip()

    def write_audit(finished: services.ExportRun) -> None:
        # The request's own transaction ended before the first byte went out: this entry gets its own.
        _record_in_own_transaction(engine, actor_id, finished, ip)

    body = services.audited(services.export_chunks(engine, spec, run), run, write_audit)
    return Response(
        stream_with_context(body),
        mimetype=MIMETYPES[run.fmt],
        headers={"Content-Disposition": f'attachment; filename="{filters.filename(run.fmt)}"',
                 "Cache-Control": "no-store"},
    )


@bp.post("/reports/ballot-results")
@staff_required(Permission.REPORTS)
def ballot_results() -> ResponseReturnValue:
    """One ballot's results as CSV or XLSX: totals per topic and the turnout (aggregates only)."""
    form = _ballots_form()
    if not form.validate_on_submit():
        return _page(_form(), 400, form)
    ballot = current_session().get(Ballot, form.ballot.data)
    assert ballot is not None  # one of the choices
    fmt = services.ExportFormat(form.fmt.data)
    result = tally(current_session(), ballot, utcnow(), patron_grace())
    body = services.ballot_results_file(ballot, result, fmt)
    services.record_ballot_results_export(current_session(), signed_in_staff(), ballot, fmt, len(result.options),
                                          ip=client_ip())
    return Response(body, mimetype=MIMETYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="ballot-{ballot.id}-results.{fmt.value}"',
        "Cache-Control": "no-store"})


def _record_in_own_transaction(engine: Engine, actor_id: int, run: services.ExportRun, ip: str) -> None:
    with Session(engine) as session, session.begin():
        services.record_export(session, session.get(StaffUser, actor_id), run, ip=ip)
