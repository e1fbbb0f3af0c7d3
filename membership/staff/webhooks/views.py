"""/staff/webhooks (admins): register the newsroom's tools, see each one's deliveries, send one again."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from membership.db import current_session
from membership.i18n import gettext
from membership.staff.auth import Permission, client_ip, signed_in_staff, staff_required
from membership.staff.forms import ConfirmForm
from membership.staff.webhooks import services
from membership.staff.webhooks.forms import EVENT_LABELS, EndpointForm
from membership.webhooks_out import WebhookDelivery, WebhookEndpoint

bp = Blueprint("staff_webhooks", __name__, url_prefix="/staff/webhooks")


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    endpoint = current_session().get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        abort(404)
    return endpoint


def _values(form: EndpointForm) -> services.EndpointValues:
    return services.EndpointValues(url=form.url.data or "", description=form.description.data or "",
                                   event_types=list(form.event_types.data or []),
                                   include_email=bool(form.include_email.data), active=bool(form.active.data))


@bp.get("")
@staff_required(Permission.WEBHOOKS)
def index() -> ResponseReturnValue:
    return render_template("staff/webhooks/index.html", endpoints=services.endpoints(current_session()))


@bp.route("/new", methods=["GET", "POST"])
@staff_required(Permission.WEBHOOKS)
def new() -> ResponseReturnValue:
    form = EndpointForm()
    if form.validate_on_submit():
        endpoint = services.create_endpoint(current_session(), signed_in_staff(), _values(form), ip=client_ip())
        flash(gettext("Endpoint added. Give its signing secret to the tool that receives the webhooks."))
        return redirect(url_for("staff_webhooks.detail", endpoint_id=endpoint.id), code=303)
    return render_template("staff/webhooks/form.html", form=form, endpoint=None,
                           labels=EVENT_LABELS), 422 if form.errors else 200


@bp.route("/<int:endpoint_id>", methods=["GET", "POST"])
@staff_required(Permission.WEBHOOKS)
def detail(endpoint_id: int) -> ResponseReturnValue:
    session = current_session()
    endpoint = _endpoint(endpoint_id)
    form = EndpointForm(obj=endpoint)
    if form.validate_on_submit():
        services.update_endpoint(session, signed_in_staff(), endpoint, _values(form), ip=client_ip())
        flash(gettext("Endpoint saved."))
        return redirect(url_for("staff_webhooks.detail", endpoint_id=endpoint.id), code=303)
    return render_template("staff/webhooks/form.html", form=form, endpoint=endpoint, labels=EVENT_LABELS,
                           deliveries=services.recent_deliveries(session, endpoint),
                           confirm=ConfirmForm()), 422 if form.errors else 200


@bp.post("/<int:endpoint_id>/rotate-secret")
@staff_required(Permission.WEBHOOKS)
def rotate_secret(endpoint_id: int) -> ResponseReturnValue:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.rotate_secret(current_session(), signed_in_staff(), _endpoint(endpoint_id), ip=client_ip())
    flash(gettext("New signing secret made: the old one no longer verifies. Give the new one to the tool."))
    return redirect(url_for("staff_webhooks.detail", endpoint_id=endpoint_id), code=303)


@bp.post("/<int:endpoint_id>/delete")
@staff_required(Permission.WEBHOOKS)
def delete(endpoint_id: int) -> ResponseReturnValue:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.delete_endpoint(current_session(), signed_in_staff(), _endpoint(endpoint_id), ip=client_ip())
    flash(gettext("Endpoint deleted, with its deliveries."))
    return redirect(url_for("staff_webhooks.index"), code=303)


@bp.post("/<int:endpoint_id>/deliveries/<int:delivery_id>/resend")
@staff_required(Permission.WEBHOOKS)
def resend(endpoint_id: int, delivery_id: int) -> ResponseReturnValue:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    delivery = current_session().get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint_id:
        abort(404)
    services.resend(current_session(), signed_in_staff(), delivery, ip=client_ip())
    flash(gettext("Delivery %(id)s will be sent again shortly.", id=delivery.message_id))
    return redirect(url_for("staff_webhooks.detail", endpoint_id=endpoint_id), code=303)
