"""The development outbox: where email goes when MAIL_URL is unset. Never registered in production."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from sqlalchemy import select

from membership.db import current_session
from membership.email import OutboundEmail

bp = Blueprint("outbox", __name__, url_prefix="/dev/outbox")


@bp.get("/")
def index() -> str:
    emails = current_session().scalars(select(OutboundEmail).order_by(OutboundEmail.id.desc()).limit(200)).all()
    return render_template("outbox/index.html", emails=emails)


@bp.get("/<int:email_id>")
def show(email_id: int) -> str:
    email = current_session().get(OutboundEmail, email_id)
    if email is None:
        abort(404)
    return render_template("outbox/show.html", email=email)


@bp.get("/<int:email_id>/html")
def html_part(email_id: int) -> str:
    """The HTML part on its own, as a mail client would render it."""
    email = current_session().get(OutboundEmail, email_id)
    if email is None:
        abort(404)
    return email.body_html
