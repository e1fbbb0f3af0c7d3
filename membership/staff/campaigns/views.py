"""/staff/campaigns (editors and admins): campaigns with a goal, and how each is doing."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from membership.db import current_session, utcnow
from membership.formatting import to_major_text
from membership.giving.campaigns import Campaign, GoalKind, progress
from membership.giving.services import currency_rules
from membership.i18n import gettext, translation_field, translation_locales
from membership.staff.auth import Permission, client_ip, signed_in_staff, staff_required
from membership.staff.campaigns import services
from membership.staff.campaigns.forms import CampaignForm, make_campaign_form

bp = Blueprint("staff_campaigns", __name__, url_prefix="/staff/campaigns")


def _values(form: CampaignForm) -> services.CampaignValues:
    kind = GoalKind(form.goal_kind.data)
    return services.CampaignValues(
        slug=form.slug.data or "", title=form.title.data or "", text=form.text.data or "", goal_kind=kind,
        goal_minor=form.goal_minor if kind is GoalKind.AMOUNT else None,
        goal_currency=form.goal_currency.data if kind is GoalKind.AMOUNT else None,
        goal_patrons=form.goal_patrons.data if kind is GoalKind.PATRONS else None,
        starts_at=form.starts_at, ends_at=form.ends_at, matching_text=form.matching_text.data or "",
        on_support_page=bool(form.on_support_page.data), translations=form.translations)


def _save(form: CampaignForm, campaign: Campaign | None) -> ResponseReturnValue | None:
    if not form.validate_on_submit():
        return None
    session = current_session()
    try:
        if campaign is None:
            campaign = services.create_campaign(session, signed_in_staff(), _values(form), ip=client_ip())
            flash(gettext("Campaign created."))
        else:
            services.update_campaign(session, signed_in_staff(), campaign, _values(form), ip=client_ip())
            flash(gettext("Campaign saved."))
    except services.SlugTaken:
        form.slug.errors.append(gettext("Another campaign has this address name."))
        return None
    return redirect(url_for("staff_campaigns.edit", campaign_id=campaign.id), code=303)


@bp.get("")
@staff_required(Permission.CAMPAIGNS)
def index() -> ResponseReturnValue:
    return render_template("staff/campaigns/index.html",
                           results=services.campaign_results(current_session(), utcnow()))


@bp.route("/new", methods=["GET", "POST"])
@staff_required(Permission.CAMPAIGNS)
def new() -> ResponseReturnValue:
    form = make_campaign_form(list(currency_rules()), translation_locales())
    saved = _save(form, None)
    if saved is not None:
        return saved
    return render_template("staff/campaigns/form.html", form=form, campaign=None), 422 if form.errors else 200


@bp.route("/<int:campaign_id>", methods=["GET", "POST"])
@staff_required(Permission.CAMPAIGNS)
def edit(campaign_id: int) -> ResponseReturnValue:
    session = current_session()
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        abort(404)
    data = {"title": campaign.title, "slug": campaign.slug, "text": campaign.text,
            "goal_kind": campaign.goal_kind.value, "goal_currency": campaign.goal_currency,
            "goal_amount": to_major_text(campaign.goal_minor, campaign.goal_currency)
            if campaign.goal_minor and campaign.goal_currency else "",
            "goal_patrons": campaign.goal_patrons, "starts_on": campaign.starts_at.date(),
            "ends_on": (campaign.ends_at - timedelta(microseconds=1)).date(),
            "matching_text": campaign.matching_text, "on_support_page": campaign.on_support_page}
    for locale, texts in (campaign.translations or {}).items():
        data.update({translation_field(name, locale): text for name, text in texts.items()})
    form = make_campaign_form(list(currency_rules()), translation_locales(), data=data)
    saved = _save(form, campaign)
    if saved is not None:
        return saved
    return render_template("staff/campaigns/form.html", form=form, campaign=campaign,
                           result=progress(session, campaign, utcnow())), 422 if form.errors else 200
