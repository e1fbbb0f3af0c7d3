"""The public supporter wall at /supporters."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from membership.config import wall_review
from membership.db import current_session, parse_id
from membership.errors import render_error
from membership.i18n import gettext as _
from membership.wall import services

bp = Blueprint("wall", __name__, url_prefix="/supporters")


@bp.get("")
def index() -> ResponseReturnValue:
    raw = request.args.get("before")
    before = None
    if raw is not None:
        before = parse_id(raw)
        if before is None:
            return _not_a_page()
    session = current_session()
    try:
        page = services.wall_page(session, wall_review(), before)
    except services.BadCursor:
        return _not_a_page()
    return render_template("wall/index.html", page=page, first_page=before is None, review=wall_review(),
                           supporters=services.supporters_count(session))


def _not_a_page() -> ResponseReturnValue:
    return render_error(400, _("Not a page of the supporter wall"),
                        _("That page of the supporter wall doesn't exist. Start again from the first page."))
