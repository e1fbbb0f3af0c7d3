"""Hosted pages (Checkout, Billing Portal, invoices), the dashboard, and the /_double control endpoints."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from . import billing, checkout, objects, payments
from .api import current_double
from .billing import describe_price, item_of
from .cards import CardFormError, validate_card
from .locales import words
from .money import format_amount, format_price
from .store import Obj, render

bp = Blueprint("stripe_pages", __name__)
# The pay button as Checkout words it for each submit_type ("auto" and none: by mode): keys of locales.TEXTS.
SUBMIT_LABELS = {"book", "donate", "pay", "subscribe"}


@bp.app_template_filter("money")
def money_filter(amount: int, currency: str) -> str:
    """`{{ 500|money("eur") }}` → €5.00."""
    return format_amount(int(amount), currency)


@bp.app_template_filter("date")
def date_filter(timestamp: int | None) -> str:
    """A unix time as a UTC date and time."""
    if timestamp is None:
        return "—"
    return datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d %H:%M UTC")


# -- Checkout ----------------------------------------------------------------------------------------------


def _session_view(session: Obj) -> dict[str, Any]:
    item = session["_line_items"][0]
    interval = (item["price"].get("recurring") or {}).get("interval")
    said = words(session.get("locale"))
    amount = format_price(int(session["amount_total"]), session["currency"], None)
    price_text = said["t"][f"per_{interval}"].format(amount=amount) if interval in ("month", "year") else \
        format_price(int(session["amount_total"]), session["currency"], interval)
    button = session["submit_type"] if session["submit_type"] in SUBMIT_LABELS else (
        "subscribe" if session["mode"] == "subscription" else "pay")
    return {"session": session, "item": item, "price_text": price_text, "button": said["t"][button], **said}


@bp.get("/c/pay/<session_id>")
def checkout_page(session_id: str) -> str:
    """The hosted payment form."""
    d = current_double()
    with d.store.lock:
        session = d.store.get(session_id, "checkout.session")
        if session is None:
            abort(404)
        if session["status"] != "open":
            return render_template("checkout_closed.html", session=session, **words(session.get("locale")))
        return render_template(
            "checkout.html",
            **_session_view(session),
            error=None,
            field=None,
            email=checkout.prefilled_email(d, session) or "",
            form={},
            email_locked=bool(session["customer"]),
        )


def _after_payment(session_id: str, result: checkout.PayResult, form: dict[str, str]) -> str | BaseResponse:
    d = current_double()
    if result.ok:
        return redirect(result.redirect_url or url_for("stripe_pages.checkout_page", session_id=session_id), 303)
    if result.status == "closed":
        return render_template("checkout_closed.html", session=result.session,
                               **words(result.session.get("locale")))
    if result.status == "requires_action":
        return render_template("authenticate.html", **_session_view(result.session))
    return render_template(
        "checkout.html",
        **_session_view(result.session),
        error=result.message,
        field=result.field,
        email=form.get("email", "") or checkout.prefilled_email(d, result.session) or "",
        form=form,
        email_locked=bool(result.session["customer"]),
    )


@bp.post("/c/pay/<session_id>")
def checkout_submit(session_id: str) -> str | BaseResponse:
    """Pay with the card typed into the form."""
    d = current_double()
    form = request.form.to_dict()
    if d.store.get(session_id, "checkout.session") is None:
        abort(404)
    result = checkout.pay(
        d,
        session_id,
        card_number=form.get("card_number", ""),
        expiry=form.get("card_expiry", ""),
        cvc=form.get("card_cvc", ""),
        name=form.get("card_name") or None,
        email=form.get("email"),
    )
    form.pop("card_cvc", None)
    return _after_payment(session_id, result, form)


@bp.post("/c/pay/<session_id>/authenticate")
def checkout_authenticate(session_id: str) -> str | BaseResponse:
    """The 3D Secure page's answer."""
    d = current_double()
    if d.store.get(session_id, "checkout.session") is None:
        abort(404)
    result = checkout.authenticate(d, session_id, approve=request.form.get("outcome") == "approve")
    return _after_payment(session_id, result, {})


# -- Billing Portal ----------------------------------------------------------------------------------------


def _portal(session_id: str) -> tuple[Obj, Obj]:
    d = current_double()
    session = d.store.get(session_id, "billing_portal.session")
    if session is None:
        abort(404)
    customer = d.store.get(session["customer"], "customer")
    if customer is None:
        abort(404)
    return session, customer


def _render_portal(
    session_id: str, *, message: str | None = None, error: str | None = None, card_form: bool = False
) -> str:
    d = current_double()
    with d.store.lock:
        session, customer = _portal(session_id)
        subs = [s for s in d.store.find("subscription", customer=customer["id"]) if s["status"] != "canceled"]
        rows = [
            {
                "sub": s,
                "price": describe_price(item_of(s)["price"]),
                "renews": item_of(s)["current_period_end"],
            }
            for s in subs
        ]
        invoices = [i for i in reversed(d.store.find("invoice", customer=customer["id"]))]
        pm_id = customer["invoice_settings"]["default_payment_method"] or next(
            (s["default_payment_method"] for s in subs if s["default_payment_method"]), None
        )
        pm = d.store.get(pm_id, "payment_method") if pm_id else None
        flow = (session.get("flow") or {}).get("type")
        return render_template(
            "portal.html",
            session=session,
            customer=customer,
            rows=rows,
            invoices=invoices,
            card=pm["card"] if pm else None,
            message=message,
            error=error,
            card_form=card_form or flow == "payment_method_update",
            **words(session.get("locale")),
        )


@bp.get("/p/session/<session_id>")
def portal_page(session_id: str) -> str:
    """The customer's subscriptions, invoices and card."""
    return _render_portal(session_id, message=request.args.get("message"))


@bp.post("/p/session/<session_id>/card")
def portal_update_card(session_id: str) -> str | BaseResponse:
    """Save a new default card; a past_due subscription's open invoice is retried with it at once."""
    d = current_double()
    form = request.form
    with d.store.lock:
        _, customer = _portal(session_id)
        try:
            card = validate_card(form.get("card_number", ""), form.get("card_expiry", ""), form.get("card_cvc", ""))
        except CardFormError as exc:
            return _render_portal(session_id, error=exc.message, card_form=True)
        if card.card.behavior in ("decline", "insufficient_funds"):
            # Saving a card runs a zero-amount check, which these cards fail.
            message = (
                "Your card has insufficient funds."
                if card.card.behavior == "insufficient_funds"
                else ("Your card was declined.")
            )
            return _render_portal(session_id, error=message, card_form=True)
        pm = payments.create_payment_method(
            d,
            card,
            name=form.get("card_name") or None,
            email=customer["email"],
            customer_id=customer["id"],
            now=d.now_for_customer(customer["id"]),
        )
        retried = billing.set_default_card(d, customer, pm)
        d.persist()
    failed = [i for i in retried if i["status"] != "paid"]
    if failed:
        return _render_portal(
            session_id,
            error="Your card was saved, but the payment of your open invoice failed: your card was declined.",
        )
    message = "Card updated; your overdue invoice is paid." if retried else "Card updated."
    return redirect(url_for("stripe_pages.portal_page", session_id=session_id, message=message), 303)


@bp.post("/p/session/<session_id>/subscriptions/<sub_id>/<action>")
def portal_subscription_action(session_id: str, sub_id: str, action: str) -> BaseResponse:
    """Cancel at period end, or resume."""
    d = current_double()
    with d.store.lock:
        _, customer = _portal(session_id)
        sub = d.store.get(sub_id, "subscription")
        if sub is None or sub["customer"] != customer["id"] or action not in ("cancel", "resume"):
            abort(404)
        billing.set_cancel_at_period_end(d, sub, action == "cancel", d.now_for_customer(customer["id"]))
        d.persist()
    message = (
        "Your subscription will end at the end of the period."
        if action == "cancel"
        else ("Your subscription will renew.")
    )
    return redirect(url_for("stripe_pages.portal_page", session_id=session_id, message=message), 303)


@bp.get("/i/<invoice_id>")
def invoice_page(invoice_id: str) -> str:
    """The hosted invoice page."""
    d = current_double()
    invoice = d.store.get(invoice_id, "invoice")
    if invoice is None:
        abort(404)
    return render_template("invoice.html", invoice=invoice)


@bp.get("/i/<invoice_id>/pdf")
def invoice_pdf(invoice_id: str) -> Response:
    """A plain-text stand-in for the invoice PDF."""
    d = current_double()
    invoice = d.store.get(invoice_id, "invoice")
    if invoice is None:
        abort(404)
    text = (
        f"Invoice {invoice['number']}\nTotal {format_amount(invoice['total'], invoice['currency'])}\n"
        f"Status {invoice['status']}\n"
    )
    return Response(text, mimetype="text/plain")


# -- dashboard and control endpoints -----------------------------------------------------------------------


@bp.get("/")
def dashboard() -> str:
    """Everything the double holds, newest first, with delivery status per event."""
    d = current_double()
    with d.store.lock:
        deliveries: dict[str, list[Obj]] = {}
        for delivery in d.store.deliveries:
            deliveries.setdefault(delivery["event"], []).append(delivery)
        events = [d.store.objects[i] for i in reversed(d.store.event_ids[-100:])]
        return render_template(
            "dashboard.html",
            sessions=list(reversed(d.store.all("checkout.session")))[:50],
            customers=list(reversed(d.store.all("customer")))[:50],
            subscriptions=[
                {
                    "sub": s,
                    "price": describe_price(item_of(s)["price"]),
                    "period_end": item_of(s)["current_period_end"],
                }
                for s in reversed(d.store.all("subscription"))
            ][:50],
            clocks=[c for c in d.store.all("test_helpers.test_clock") if not c.get("_deleted")],
            disputes=d.store.all("dispute"),
            events=events,
            deliveries=deliveries,
            endpoints=d.store.all("webhook_endpoint"),
        )


@bp.post("/_double/test_clocks/<clock_id>/advance")
def control_advance_clock(clock_id: str) -> BaseResponse:
    """Dashboard form: advance a clock by `months` and/or `days`."""
    d = current_double()
    with d.store.lock:
        clock = d.store.get(clock_id, "test_helpers.test_clock")
        if clock is None:
            abort(404)
        months = int(request.form.get("months") or 0)
        days = int(request.form.get("days") or 0)
        target = billing.add_interval(int(clock["frozen_time"]), "month", months) + days * 86400
        if target > clock["frozen_time"]:
            billing.advance_clock(d, clock, target)
            d.persist()
    return redirect(url_for("stripe_pages.dashboard"), 303)


@bp.post("/_double/checkout/<session_id>/pay")
def control_pay(session_id: str) -> tuple[Response, int]:
    """Pay a session from a script: form or JSON with card, three_ds, email, name (default 4242)."""
    d = current_double()
    data = request.get_json(silent=True) or request.form.to_dict()
    if d.store.get(session_id, "checkout.session") is None:
        return jsonify({"error": "no such session"}), 404
    result = checkout.pay(
        d,
        session_id,
        card_number=str(data.get("card", "4242424242424242")),
        expiry=str(data.get("expiry", "12 / 34")),
        cvc=str(data.get("cvc", "123")),
        name=data.get("name", "Test Reader"),
        email=data.get("email", "reader@example.com"),
        three_ds=data.get("three_ds", "approve"),
    )
    body = {
        "status": result.status,
        "message": result.message,
        "redirect_url": result.redirect_url,
        "session": render(result.session),
    }
    return jsonify(body), 200 if result.ok else 402


@bp.post("/_double/test_clocks/<clock_id>/memberships")
def control_bulk_memberships(clock_id: str) -> tuple[Response, int]:
    """Set up many memberships at once on one test clock, for load tests: JSON `count`, `amount` (minor units),
    `currency`, `interval` (month), `card` (4242…), `email_prefix`. Each gets a customer on the clock, a card and
    a subscription whose first invoice is paid, as after Checkout, with its events. Answers
    `[{customer, subscription, email}]`."""
    d = current_double()
    data = request.get_json(silent=True) or {}
    count = int(data.get("count", 1))
    if not 1 <= count <= 100_000:
        return jsonify({"error": "count must be 1 to 100000"}), 400
    try:
        card = validate_card(str(data.get("card", "4242424242424242")), "12 / 34", "123")
    except CardFormError as exc:
        return jsonify({"error": str(exc)}), 400
    created = []
    with d.store.lock:
        clock = d.store.get(clock_id, "test_helpers.test_clock")
        if clock is None:
            return jsonify({"error": "no such test clock"}), 404
        now = int(clock["frozen_time"])
        price_data = {"currency": str(data.get("currency", "eur")).lower(),
                      "unit_amount": str(int(data.get("amount", 500))),
                      "recurring": {"interval": str(data.get("interval", "month"))},
                      "product_data": {"name": "Membership"}}
        price_obj = billing.price_from_data(d, price_data, "price_data", now, recurring_required=True)
        prefix = str(data.get("email_prefix", "member"))
        for number in range(count):
            email = f"{prefix}{number}@example.org"
            customer = objects.customer(d.new("cus_"), now, email=email, name=f"Member {number}", metadata={},
                                        test_clock=clock_id, invoice_prefix=billing.invoice_prefix())
            d.store.add(customer)
            d.emit("customer.created", customer)
            pm = payments.create_payment_method(d, card, name=customer["name"], email=email,
                                                customer_id=customer["id"], now=now)
            sub, _, _ = billing.start_subscription(d, customer=customer, price_obj=price_obj, pm=pm,
                                                   metadata=dict(data.get("metadata") or {}), now=now)
            created.append({"customer": customer["id"], "subscription": sub["id"], "email": email})
        d.persist()
    return jsonify(created), 200


@bp.post("/_double/disputes/<dispute_id>/close")
def control_close_dispute(dispute_id: str) -> BaseResponse:
    """Dashboard form: lose a dispute (as accepting it in Stripe's dashboard)."""
    d = current_double()
    with d.store.lock:
        dispute = d.store.get(dispute_id, "dispute")
        if dispute is None:
            abort(404)
        if dispute["status"] not in ("won", "lost"):
            payments.close_dispute(d, dispute, won=request.form.get("outcome") == "won")
            d.persist()
    return redirect(url_for("stripe_pages.dashboard"), 303)


@bp.get("/_double/requests")
def control_requests() -> Response:
    """The API request log."""
    d = current_double()
    with d.store.lock:
        return jsonify(list(d.store.requests))


@bp.get("/_double/events")
def control_events() -> Response:
    """All events, oldest first, with their deliveries."""
    d = current_double()
    return jsonify({"events": d.store.events(), "deliveries": list(d.store.deliveries)})


@bp.post("/_double/tick")
def control_tick() -> Response:
    """Run the real-time heartbeat now."""
    billing.tick(current_double())
    return jsonify({"ok": True})


@bp.post("/_double/errors")
def control_errors() -> Response | tuple[Response, int]:
    """Answer the next `times` API requests under `path` with a 429 of `code` (lock_timeout, rate_limit);
    `should_retry` = true / false / omit sets the lock timeout's Stripe-Should-Retry header."""
    should_retry = {"true": True, "false": False, "omit": None}.get(request.form.get("should_retry", "true"), True)
    try:
        current_double().limits.inject(request.form.get("code", "lock_timeout"),
                                       int(request.form.get("times", "1")), request.form.get("path", ""),
                                       should_retry)
    except ValueError as exc:
        return jsonify({"error": str(exc)}), 400
    return jsonify({"ok": True})


@bp.get("/_double/summary")
def control_summary() -> Response:
    """What a large run needs to check, without rendering every event: the paid invoices by billing reason, and the
    webhook deliveries (how many succeeded or not, when the attempts began and ended, and each 200's milliseconds)."""
    d = current_double()
    with d.store.lock:
        reasons = Counter(str(invoice.get("billing_reason")) for invoice in d.store.all("invoice")
                          if invoice.get("status") == "paid")
        deliveries = list(d.store.deliveries)
        attempts = [attempt for delivery in deliveries for attempt in delivery["attempts"]]
        return jsonify({
            "paid_invoices": dict(reasons),
            "deliveries": len(deliveries),
            "succeeded": sum(1 for delivery in deliveries if delivery["status"] == "succeeded"),
            "first_attempt_at": min((a["at"] for a in attempts), default=None),
            "last_attempt_at": max((a["at"] for a in attempts), default=None),
            "ack_ms": [a["ms"] for a in attempts if a.get("ms") is not None and a["status"] == 200],
        })


@bp.get("/_double/stats")
def control_stats() -> Response:
    """How many API requests were served, and how many were refused with a 429."""
    d = current_double()
    with d.store.lock:
        served = len(d.store.requests)
    return jsonify({"requests": served, "refused_429": d.limits.refused, "rate_limit": d.config.rate_limit,
                    "pending_deliveries": d.dispatcher.pending()})


@bp.post("/_double/reset")
def control_reset() -> Response:
    """Forget all state (keeps the configured webhook endpoint)."""
    d = current_double()
    d.limits.clear()
    with d.store.lock:
        d.store.reset()
        d.reset_endpoints()
        d.persist()
    return jsonify({"ok": True})
