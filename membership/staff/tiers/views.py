"""Tiers and amounts (admin): the tiers on the support page, the give form's presets, each currency's bounds."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from membership.config import default_currency_rules
from membership.db import current_session
from membership.formatting import to_major_text
from membership.giving.models import Frequency, Tier
from membership.giving.services import currency_rules
from membership.i18n import gettext as _
from membership.i18n import translation_field, translation_locales
from membership.staff.auth import Permission, client_ip, signed_in_staff, staff_required
from membership.staff.tiers import services
from membership.staff.tiers.forms import (
    CurrencyAmountsForm,
    ImpactForm,
    TierForm,
    TierMoveForm,
    TierStatusForm,
    impact_field,
    make_impact_form,
    make_tier_form,
    tier_amount_field,
)

bp = Blueprint("staff_tiers", __name__, url_prefix="/staff/tiers")


def _tier(tier_id: int) -> Tier:
    tier = current_session().get(Tier, tier_id)
    if tier is None:
        abort(404)
    return tier


def _amounts_form(code: str) -> CurrencyAmountsForm:
    """A currency's panel, filled with what is in force now."""
    rules = currency_rules()[code]
    presets = services.presets_by_frequency(current_session(), code)
    marked = services.most_chosen_by_frequency(current_session(), code)
    data = {
        "minimum": to_major_text(rules.limits.minimum_minor, code),
        "maximum": to_major_text(rules.limits.maximum_minor, code),
        **{f.value: ", ".join(to_major_text(amount, code) + ("*" if amount == marked.get(f) else "")
                              for amount in presets[f]) for f in Frequency},
    }
    return CurrencyAmountsForm(code, [], formdata=None, data=data, prefix=code.lower())


def _impact_form(code: str, formdata: bool = False) -> ImpactForm:
    """A currency's impact texts: filled with those in force, or (`formdata`) with what staff submitted."""
    data: dict[str, str] = {}
    for (frequency, amount), (text, others) in services.preset_impacts(current_session(), code).items():
        data[impact_field(frequency, amount)] = text
        data.update({impact_field(frequency, amount, locale): other for locale, other in others.items()})
    presets = services.presets_by_frequency(current_session(), code)
    extra: dict[str, Any] = {} if formdata else {"formdata": None}
    return make_impact_form(code, presets, translation_locales(), data=data, prefix=f"{code.lower()}-impact", **extra)


def _render_index(status: int = 200, failed: CurrencyAmountsForm | None = None,
                  error: str | None = None, failed_impact: ImpactForm | None = None) -> ResponseReturnValue:
    panels = [(code, failed if failed is not None and failed.code == code else _amounts_form(code),
               failed_impact if failed_impact is not None and failed_impact.code == code else _impact_form(code))
              for code in currency_rules()]
    return render_template(
        "staff/tiers/index.html",
        tiers=services.all_tiers(current_session()),
        panels=panels,
        defaults=default_currency_rules(),
        move=TierMoveForm(),
        status_form=TierStatusForm(),
        error=error,
    ), status


@bp.get("")
@staff_required(Permission.TIERS)
def index() -> ResponseReturnValue:
    return _render_index()


def _values(form: TierForm) -> services.TierValues:
    return services.TierValues(
        name=form.name.data,
        description=form.description.data or "",
        benefits=form.benefits.data or "",
        active=bool(form.active.data),
        amounts=form.amounts,
        translations=form.translations,
    )


@bp.route("/new", methods=["GET", "POST"])
@staff_required(Permission.TIERS)
def new() -> ResponseReturnValue:
    form = make_tier_form(currency_rules(), translation_locales())
    if form.validate_on_submit():
        tier = services.create_tier(current_session(), signed_in_staff(), _values(form), ip=client_ip())
        flash(_("Added the tier %(name)s. It shows on the support page now.", name=tier.name) if tier.active
              else _("Added the tier %(name)s, hidden from the support page.", name=tier.name))
        return redirect(url_for("staff_tiers.index"))
    return render_template("staff/tiers/form.html", form=form, tier=None), 400 if form.errors else 200


@bp.route("/<int:tier_id>", methods=["GET", "POST"])
@staff_required(Permission.TIERS)
def edit(tier_id: int) -> ResponseReturnValue:
    tier = _tier(tier_id)
    data: dict[str, Any] = {"name": tier.name, "description": tier.description, "benefits": tier.benefits,
                            "active": tier.active}
    for amount in tier.amounts:
        data[tier_amount_field(amount.currency, amount.frequency)] = to_major_text(amount.amount_minor,
                                                                                   amount.currency)
    for locale, texts in (tier.translations or {}).items():
        data.update({translation_field(name, locale): text for name, text in texts.items()})
    form = make_tier_form(currency_rules(), translation_locales(), data=data)
    if form.validate_on_submit():
        changed = services.update_tier(current_session(), signed_in_staff(), tier, _values(form), ip=client_ip())
        flash(_("Saved the tier %(name)s.", name=tier.name) if changed
              else _("Nothing to save: the tier %(name)s is unchanged.", name=tier.name))
        return redirect(url_for("staff_tiers.index"))
    return render_template("staff/tiers/form.html", form=form, tier=tier), 400 if form.errors else 200


@bp.post("/<int:tier_id>/move")
@staff_required(Permission.TIERS)
def move(tier_id: int) -> ResponseReturnValue:
    tier = _tier(tier_id)
    form = TierMoveForm()
    if not form.validate_on_submit():
        abort(400, _("Choose to move the tier up or down."))
    up = form.direction.data == "up"
    if services.move_tier(current_session(), signed_in_staff(), tier, -1 if up else 1, ip=client_ip()):
        flash(_("Moved %(name)s up.", name=tier.name) if up else _("Moved %(name)s down.", name=tier.name))
    else:
        flash(_("%(name)s is already first.", name=tier.name) if up
              else _("%(name)s is already last.", name=tier.name))
    return redirect(url_for("staff_tiers.index"))


@bp.post("/<int:tier_id>/status")
@staff_required(Permission.TIERS)
def status(tier_id: int) -> ResponseReturnValue:
    tier = _tier(tier_id)
    form = TierStatusForm()
    if not form.validate_on_submit():
        abort(400)
    active = bool(form.active.data)
    services.set_tier_active(current_session(), signed_in_staff(), tier, active, ip=client_ip())
    flash(_("%(name)s is shown on the support page.", name=tier.name) if active else
          _("%(name)s is hidden from the support page. Memberships at this tier are unchanged.", name=tier.name))
    return redirect(url_for("staff_tiers.index"))


@bp.post("/amounts/<currency>")
@staff_required(Permission.TIERS)
def amounts(currency: str) -> ResponseReturnValue:
    rules = currency_rules()
    if currency not in rules:
        return _render_index(400, error=_("%(currency)s isn't one of the currencies offered (%(choices)s); nothing "
                                          "was changed.", currency=currency[:10], choices=", ".join(rules)))
    db = current_session()
    form = CurrencyAmountsForm(currency, services.suggested_amounts(db, currency), prefix=currency.lower())
    if not form.validate_on_submit():
        return _render_index(400, failed=form)
    written = services.save_currency_amounts(db, signed_in_staff(), rules[currency], form.limits, form.presets,
                                            most_chosen=form.most_chosen,
                                             ip=client_ip())
    flash(_("Saved the amounts in %(currency)s; the give form uses them now.", currency=currency) if written
          else _("Nothing to save: the amounts in %(currency)s are unchanged.", currency=currency))
    return redirect(url_for("staff_tiers.index") + f"#amounts-{currency}")


@bp.post("/amounts/<currency>/impact")
@staff_required(Permission.TIERS)
def impact(currency: str) -> ResponseReturnValue:
    """What each preset amount of a currency pays for, shown under the amount on the give form."""
    if currency not in currency_rules():
        abort(404)
    form = _impact_form(currency, formdata=True)
    if not form.validate_on_submit():
        return _render_index(400, failed_impact=form)
    changed = services.save_preset_impacts(current_session(), signed_in_staff(), currency, form.texts, ip=client_ip())
    flash(_("Saved what the amounts in %(currency)s pay for; the give form shows it now.", currency=currency)
          if changed else _("Nothing to save: the impact texts in %(currency)s are unchanged.", currency=currency))
    return redirect(url_for("staff_tiers.index") + f"#impact-{currency}")
