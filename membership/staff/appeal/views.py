"""/staff/appeal: the code that puts the appeal at the foot of every article, with a preview."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, url_for

from membership.staff.auth import staff_required

bp = Blueprint("staff_appeal", __name__, url_prefix="/staff/appeal")

# What the newsroom's article template replaces with the article's address (percent-encoded).
ARTICLE_PLACEHOLDER = "ARTICLE_URL"


@bp.get("")
@staff_required()
def index() -> str:
    base = current_app.config["PUBLIC_URL"]
    return render_template(
        "staff/appeal/index.html",
        frame_src=f"{base}{url_for('giving.appeal')}?source={ARTICLE_PLACEHOLDER}&utm_medium=appeal",
        link_href=f"{base}{url_for('giving.support_page')}?source={ARTICLE_PLACEHOLDER}&utm_medium=appeal",
        placeholder=ARTICLE_PLACEHOLDER,
        embed_origins=current_app.config["APPEAL_EMBED_ORIGINS"].split(),
        newsroom=current_app.config["NEWSROOM_NAME"],
    )
