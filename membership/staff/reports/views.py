"""/staff/reports: the export form, and the exports themselves, streamed as they are read; with a queue
(REDIS_URL), large ones are written by the worker and downloaded here once ready."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    send_file,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from membership.ballots.models import Ballot
from membership.ballots.services import tally
from membership.config import patron_grace
from membership.db import current_session, db, unit_of_work, utcnow
from membership.errors import render_error
from membership.giving.services import currency_rules
from membership.i18n import gettext as _
from membership.queue import redis_queue
from membership.staff.accounts.models import StaffUser
from membership.staff.auth import Permission, client_ip, signed_in_staff, staff_required
from membership.staff.reports import files, queued, services
from membership.staff.reports.ballot_results import (
    ballot_results_file,
    exportable_ballots,
    record_ballot_results_export,
)
from membership.staff.reports.forms import FILTER_FIELDS, KIND_NAMES, BallotResultsForm, ExportForm
from membership.staff.reports.models import MIMETYPES, ExportFormat, ExportKind
from membership.storage import export_storage

bp = Blueprint("staff_reports", __name__, url_prefix="/staff")

def _download(filename: str) -> dict[str, str]:
    """The headers of every export file: save it under its dated name, and keep no copy in any cache."""
    return {"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"}


def _form() -> ExportForm:
    return ExportForm(currencies=list(currency_rules()))


def _ballots_form() -> BallotResultsForm:
    return BallotResultsForm(ballots=[(b.id, b.title) for b in exportable_ballots(current_session())],
                             prefix="results")


def _page(form: ExportForm, status: int = 200, ballots_form: BallotResultsForm | None = None) -> ResponseReturnValue:
    config = current_app.config
    return render_template(
        "staff/reports/index.html", form=form, ballots_form=ballots_form or _ballots_form(),
        jobs=queued.recent_exports(current_session(), signed_in_staff().id), kind_names=KIND_NAMES,
        status_label=_status_label,
        queued=redis_queue() is not None, inline_rows=int(config["MEMBERSHIP_EXPORT_INLINE_ROWS"]),
        keep_days=int(config["MEMBERSHIP_EXPORT_KEEP_DAYS"]),
    ), status


def _status_label(kind: ExportKind, status: str) -> str:
    return services.statuses_for(kind).get(status, status)


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
    run = files.ExportRun(filters, ExportFormat(form.fmt.data), form.language.data)
    spec = services.export_query(filters, now=utcnow(), grace=patron_grace(), currencies=list(currency_rules()))
    if redis_queue() is not None and queued.queue_if_large(
            current_session(), signed_in_staff(), spec, run, ip=client_ip(), now=utcnow(),
            inline_rows=int(current_app.config["MEMBERSHIP_EXPORT_INLINE_ROWS"])) is not None:
        flash(_("Your export is being prepared; we'll email you when it's ready. It is listed under "
                "“Your exports” below."))
        return redirect(url_for(".index", _anchor="exports"))
    engine, actor_id, ip = db.engine, signed_in_staff().id, client_ip()

    def write_audit(finished: files.ExportRun) -> None:
        # The request's own transaction ended before the first byte went out: this entry gets its own.
        _record_in_own_transaction(engine, actor_id, finished, ip)

    body = files.audited(files.export_chunks(engine, spec, run), run, write_audit)
    return Response(stream_with_context(body), mimetype=MIMETYPES[run.fmt],
                    headers=_download(filters.filename(run.fmt)))


@bp.get("/reports/exports/<int:job_id>")
@staff_required(Permission.REPORTS)
def download(job_id: int) -> ResponseReturnValue:
    """A queued export's file, for the staff member who asked for it only, until it expires."""
    staff = signed_in_staff()
    try:
        job, stored = queued.export_file(current_session(), job_id, staff.id, export_storage(), utcnow())
        if stored.url is not None:
            # Object storage: a 303 to an address signed for this file, working for EXPORT_DOWNLOAD_URL_SECONDS.
            # Following it is a navigation (the link was clicked), which the CSP's form-action doesn't govern.
            response = redirect(stored.url, 303)
        else:
            assert stored.path is not None
            # Whole files only (no Range, no 304), so each audited download is a download of the whole file.
            response = send_file(stored.path, mimetype=MIMETYPES[job.fmt], conditional=False)
    except queued.ExportUnavailable as exc:
        return render_error(exc.status, exc.title, str(exc))
    except FileNotFoundError:  # deleted by `jobs run` since it was checked
        return render_error(410, _("Export expired"), _("This export's file has just been deleted. Please start "
                                                        "the export again from the reports page."))
    queued.record_download(current_session(), staff, job, ip=client_ip())
    if stored.path is not None:
        response.headers.update(_download(queued.job_filters(job).filename(job.fmt)))
    response.headers["Cache-Control"] = "no-store"  # a signed address is for this person, now
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.post("/reports/ballot-results")
@staff_required(Permission.REPORTS)
def ballot_results() -> ResponseReturnValue:
    """One ballot's results as CSV or XLSX: totals per topic and the turnout (aggregates only)."""
    form = _ballots_form()
    if not form.validate_on_submit():
        return _page(_form(), 400, form)
    ballot = current_session().get(Ballot, form.ballot.data)
    assert ballot is not None  # one of the choices
    fmt = ExportFormat(form.fmt.data)
    result = tally(current_session(), ballot, utcnow(), patron_grace())
    body = ballot_results_file(ballot, result, fmt, form.language.data)
    record_ballot_results_export(current_session(), signed_in_staff(), ballot, fmt, len(result.options),
                                 ip=client_ip())
    return Response(body, mimetype=MIMETYPES[fmt], headers=_download(f"ballot-{ballot.id}-results.{fmt.value}"))


def _record_in_own_transaction(engine: Engine, actor_id: int, run: files.ExportRun, ip: str) -> None:
    with Session(engine) as session, unit_of_work(session):
        files.record_export(session, session.get(StaffUser, actor_id), run, ip=ip)
