"""Supporters (staff): the list and each supporter's record (analysts and admins); refunds, cancellations,
data export and erasure (admins), each confirmed before it is sent to Stripe."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from membership.config import patron_grace
from membership.db import current_session, utcnow
from membership.formatting import format_money, to_major_text
from membership.giving.models import Membership, Payment, RefundStatus
from membership.giving.services import currency_rules
from membership.giving.stripe_gateway import gateway
from membership.i18n import gettext as _
from membership.staff.auth import Permission, client_ip, signed_in_staff, staff_required
from membership.staff.forms import ConfirmForm
from membership.staff.supporters import actions, personal_data, services
from membership.staff.supporters.forms import CancelMembershipForm, EraseForm, RefundForm, SupporterFilterForm
from membership.supporters.models import Supporter

bp = Blueprint("staff_supporters", __name__, url_prefix="/staff/supporters")


@bp.errorhandler(actions.StripeActionFailed)
def stripe_failed(error: actions.StripeActionFailed) -> tuple[str, int]:
    # Whatever the action had written is undone by the request's unit of work, as for any error: nothing changed here.
    return render_template("staff/supporters/stripe_failed.html", message=str(error)), 502


def _supporter(supporter_id: int) -> Supporter:
    supporter = current_session().get(Supporter, supporter_id)
    if supporter is None:
        abort(404)
    return supporter


def _detail(supporter_id: int) -> str:
    return url_for("staff_supporters.detail", supporter_id=supporter_id)


@bp.get("")
@staff_required(Permission.SUPPORTERS)
def index() -> ResponseReturnValue:
    db_session = current_session()
    form = SupporterFilterForm(request.args, tiers=services.tier_choices(db_session), currencies=list(currency_rules()))
    if not form.validate():
        return render_template("staff/supporters/index.html", form=form, page=None, next_url=None), 400
    page = services.browse_supporters(db_session, signed_in_staff(), form.filters(), form.cursor(), utcnow(),
                                      patron_grace(), ip=client_ip())
    # Page links keep the filters; only the cursor changes.
    kept = [(key, value) for key, value in request.args.items() if key != "after" and value]
    first_url = url_for("staff_supporters.index") + (f"?{urlencode(kept)}" if kept else "")
    next_url = None
    if page.next_after is not None:
        next_url = url_for("staff_supporters.index") + "?" + urlencode([*kept, ("after", str(page.next_after))])
    return render_template("staff/supporters/index.html", form=form, page=page, next_url=next_url, first_url=first_url,
                           paging=form.cursor() is not None)


@bp.get("/<int:supporter_id>")
@staff_required(Permission.SUPPORTERS)
def detail(supporter_id: int) -> ResponseReturnValue:
    record = services.view_supporter(current_session(), signed_in_staff(), supporter_id, utcnow(), patron_grace(),
                                     ip=client_ip())
    if record is None:
        abort(404)
    return render_template("staff/supporters/detail.html", record=record, supporter=record.supporter,
                           can_cancel_now=actions.can_cancel_now)


# Refunds ----------------------------------------------------------------------------------------------


@bp.route("/<int:supporter_id>/payments/<int:payment_id>/refund", methods=["GET", "POST"])
@staff_required(Permission.MANAGE_SUPPORTERS)
def refund(supporter_id: int, payment_id: int) -> ResponseReturnValue:
    db_session = current_session()
    payment = db_session.get(Payment, payment_id)
    if payment is None or payment.supporter_id != supporter_id:
        abort(404)
    left = services.refundable_minor(db_session, payment)
    form = RefundForm(payment.currency, left, data={
        "amount": to_major_text(left, payment.currency) if left else "",
        "seen": actions.refund_requests_count(db_session, payment.id),
    })
    failed = None
    if form.validate_on_submit():
        assert form.amount_minor is not None
        if not form.is_confirmed:
            return render_template("staff/supporters/refund.html", form=form, payment=payment, left=left, review=True)
        try:
            result = actions.refund_payment(db_session, gateway(), signed_in_staff(), payment, form.amount_minor,
                                            form.reason.data, form.seen.data, ip=client_ip())
        except actions.ActionRefused as exc:
            form.amount.errors = [str(exc)]
        else:
            if result.status is not RefundStatus.FAILED:
                flash(_("Stripe accepted the refund of %(amount)s (%(refund)s). The payment shows it once Stripe "
                        "confirms it.", amount=format_money(result.amount_minor, payment.currency),
                        refund=result.stripe_refund_id))
                return redirect(_detail(supporter_id))
            failed = result.error
    status = 502 if failed else 400 if request.method == "POST" else 200
    return render_template("staff/supporters/refund.html", form=form, payment=payment, left=left, review=False,
                           failed=failed), status


# Cancellations ----------------------------------------------------------------------------------------


@bp.route("/<int:supporter_id>/memberships/<int:membership_id>/cancel", methods=["GET", "POST"])
@staff_required(Permission.MANAGE_SUPPORTERS)
def cancel(supporter_id: int, membership_id: int) -> ResponseReturnValue:
    membership = current_session().get(Membership, membership_id)
    if membership is None or membership.supporter_id != supporter_id:
        abort(404)
    form = CancelMembershipForm()
    if form.validate_on_submit():
        if not form.is_confirmed:
            return render_template("staff/supporters/cancel.html", form=form, membership=membership, review=True)
        at_period_end = form.when.data == "period_end"
        try:
            actions.cancel_membership(current_session(), gateway(), signed_in_staff(), membership,
                                      at_period_end=at_period_end, reason=form.reason.data,
                                      comment=form.comment.data or "", ip=client_ip())
        except actions.ActionRefused as exc:
            form.when.errors = [str(exc)]
        else:
            flash(_("The membership will end at the end of its paid period.") if at_period_end
                  else _("The membership has ended. No further charges will be made."))
            return redirect(_detail(supporter_id))
    status = 400 if request.method == "POST" else 200
    return render_template("staff/supporters/cancel.html", form=form, membership=membership, review=False), status


# Export -----------------------------------------------------------------------------------------------


@bp.route("/<int:supporter_id>/export", methods=["GET", "POST"])
@staff_required(Permission.MANAGE_SUPPORTERS)
def export(supporter_id: int) -> ResponseReturnValue:
    supporter = _supporter(supporter_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        return render_template("staff/supporters/export.html", form=form, supporter=supporter), \
            400 if request.method == "POST" else 200
    now = utcnow()
    data = personal_data.export_supporter(current_session(), signed_in_staff(), supporter_id, now, patron_grace(),
                                          ip=client_ip())
    filename = f"supporter-{supporter_id}-{now:%Y-%m-%d}.json"
    return Response(json.dumps(data, indent=2, ensure_ascii=False), mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# Erasure ----------------------------------------------------------------------------------------------


@bp.route("/<int:supporter_id>/erase", methods=["GET", "POST"])
@staff_required(Permission.MANAGE_SUPPORTERS)
def erase(supporter_id: int) -> ResponseReturnValue:
    supporter = _supporter(supporter_id)
    if supporter.erased_at is not None or not supporter.email:
        return render_template("staff/supporters/erase.html", form=None, supporter=supporter), \
            400 if request.method == "POST" else 200
    form = EraseForm(supporter.email)
    if form.validate_on_submit():
        try:
            personal_data.erase_supporter(current_session(), gateway(), signed_in_staff(), supporter, ip=client_ip())
        except actions.ActionRefused as exc:  # a colleague erased them a moment ago
            flash(str(exc))
            return redirect(_detail(supporter_id))
        flash(_("Supporter #%(number)s is erased: their personal data is blanked here, their memberships are ended "
                "and their Stripe customer deleted. Their payments stay in the accounts, anonymous.",
                number=supporter_id))
        return redirect(_detail(supporter_id))
    return render_template("staff/supporters/erase.html", form=form, supporter=supporter), \
        400 if request.method == "POST" else 200
