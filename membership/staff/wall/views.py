"""Staff moderation of the supporter wall at /staff/wall (editors and admins)."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from membership.config import wall_review
from membership.db import current_session, utcnow
from membership.giving.models import WallStatus
from membership.i18n import lazy_gettext
from membership.staff.auth import Permission, client_ip, signed_in_staff, staff_required
from membership.staff.forms import ConfirmForm
from membership.staff.wall import services

bp = Blueprint("staff_wall", __name__, url_prefix="/staff/wall")


@bp.app_context_processor
def _wall_paging() -> dict[str, object]:
    return {"wall_page_link": page_link}

DONE = {WallStatus.APPROVED: lazy_gettext("Approved: the entry and its message are on the wall."),
        WallStatus.HIDDEN: lazy_gettext("Hidden: the entry is off the wall.")}
ALREADY = {WallStatus.APPROVED: lazy_gettext("That entry was already approved."),
           WallStatus.HIDDEN: lazy_gettext("That entry was already hidden.")}


@bp.get("")
@staff_required(Permission.WALL)
def index() -> ResponseReturnValue:
    """Each list pages through every entry (`?waiting=2`, `?shown=3`, `?hidden=2`), LISTED at a time."""
    session = current_session()
    pages = {name: _page(name) for name in ("waiting", "shown", "hidden")}
    lists = {
        "waiting": services.awaiting_review(session, pages["waiting"], services.LISTED + 1),
        "shown": services.on_the_wall(session, pages["shown"], services.LISTED + 1),
        "hidden": services.hidden(session, pages["hidden"], services.LISTED + 1),
    }
    more = {name: len(entries) > services.LISTED for name, entries in lists.items()}
    return render_template("staff/wall/index.html", review=wall_review(),
                           waiting=lists["waiting"][:services.LISTED], shown=lists["shown"][:services.LISTED],
                           hidden=lists["hidden"][:services.LISTED], pages=pages, more=more,
                           waiting_total=services.count_awaiting_review(session), confirm=ConfirmForm())


def _page(name: str) -> int:
    """A list's page from the query string: a whole number from 1 (anything else is page 1)."""
    value = request.args.get(name, "1")
    return int(value) if value.isdigit() and 1 <= int(value) <= 100_000 else 1


def page_link(name: str, page: int) -> str:
    """This page with one list moved to `page`, the others kept."""
    args = {key: value for key, value in request.args.items() if key in ("waiting", "shown", "hidden")}
    args[name] = str(page)
    return f"{url_for('staff_wall.index')}?{urlencode(args)}#{name}-heading"


def _moderate(checkout_id: int, status: WallStatus) -> ResponseReturnValue:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    changed = services.moderate(current_session(), signed_in_staff(), checkout_id, status, utcnow(), ip=client_ip())
    if changed is None:
        abort(404)
    flash(str(DONE[status] if changed else ALREADY[status]))
    return redirect(url_for("staff_wall.index"), code=303)


@bp.post("/<int:checkout_id>/approve")
@staff_required(Permission.WALL)
def approve(checkout_id: int) -> ResponseReturnValue:
    return _moderate(checkout_id, WallStatus.APPROVED)


@bp.post("/<int:checkout_id>/hide")
@staff_required(Permission.WALL)
def hide(checkout_id: int) -> ResponseReturnValue:
    return _moderate(checkout_id, WallStatus.HIDDEN)
