"""Staff moderation of the supporter wall at /staff/wall (editors and admins)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from membership.config import wall_review
from membership.db import current_session, utcnow
from membership.giving.models import WallStatus
from membership.i18n import lazy_gettext
from membership.staff.auth import Permission, client_ip, signed_in_staff, staff_required
from membership.staff.forms import ConfirmForm
from membership.staff.wall import services

bp = Blueprint("staff_wall", __name__, url_prefix="/staff/wall")

DONE = {WallStatus.APPROVED: lazy_gettext("Approved: the entry and its message are on the wall."),
        WallStatus.HIDDEN: lazy_gettext("Hidden: the entry is off the wall.")}
ALREADY = {WallStatus.APPROVED: lazy_gettext("That entry was already approved."),
           WallStatus.HIDDEN: lazy_gettext("That entry was already hidden.")}


@bp.get("")
@staff_required(Permission.WALL)
def index() -> ResponseReturnValue:
    session = current_session()
    return render_template("staff/wall/index.html", review=wall_review(), waiting=services.awaiting_review(session),
                           shown=services.on_the_wall(session), hidden=services.hidden(session),
                           confirm=ConfirmForm())


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
