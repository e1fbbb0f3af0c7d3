"""The /v1 API: Stripe's routes for what the membership gateway calls, in Stripe's wire format.

`dispatch` does what every Stripe request shares (auth, params, idempotency, expand, request log, the
Request-Id header) and checks the params against the SDK's types for the route (schema.py); each handler
below applies the rules beyond types and calls a service.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, request

from . import billing, checkout, objects, payments, schema
from .config import API_VERSION
from .core import Double
from .limits import Refusal
from .permissions import ACCOUNT_ID, permission_error
from .store import Obj, random_token, render
from .wire import (
    StripeError,
    checkout_line_items,
    expand,
    expand_paths,
    get_bool,
    get_dict,
    get_int,
    get_metadata,
    get_str,
    invalid,
    list_page,
    missing,
    newest_first,
    not_found,
    parse_params,
    reject_unknown,
    updated_metadata,
)

Handler = Callable[..., Obj]
bp = Blueprint("stripe_api", __name__)


def current_double() -> Double:
    """The Double this app serves."""
    double: Double = current_app.extensions["stripe_double"]
    return double


def _api_key() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value).decode().split(":", 1)[0] or None
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def _auth_error(d: Double) -> StripeError | None:
    key = _api_key()
    if key is None:
        return StripeError(
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY').",
            status=401,
        )
    wrong = key != d.config.api_key if d.config.api_key else not key.startswith(("sk_test_", "rk_test_"))
    if wrong:
        return StripeError(f"Invalid API Key provided: {key[:8]}{'*' * max(0, len(key) - 12)}{key[-4:]}", status=401)
    return None


def _fingerprint(params: Obj) -> str:
    return json.dumps({"method": request.method, "path": request.path, "params": params}, sort_keys=True)


def dispatch(handler: Handler, path_args: dict[str, Any]) -> Response:
    """Serve one API request through `handler(d, params, **path_args)`."""
    d = current_double()
    request_id = "req_" + random_token(14)
    refusal = d.limits.check(request.path, d.config.rate_limit)
    if refusal is not None:
        return _refused(d, refusal, request_id)
    idempotency_key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
    replayed = False
    with d.store.lock:
        if not d.config.public_url:
            d.base_url = request.host_url.rstrip("/")
        parse_error: StripeError | None = None
        try:
            params = parse_params([*request.args.items(multi=True), *request.form.items(multi=True)])
        except StripeError as exc:
            params, parse_error = {}, exc
        stored = d.store.idempotency.get(idempotency_key) if idempotency_key else None
        auth_error = _auth_error(d) or permission_error(d.config, _api_key() or "", request.method, request.path)
        if auth_error or parse_error:
            error = auth_error or parse_error
            assert error is not None
            status, body = error.status, error.body()
        elif stored is not None and stored["fingerprint"] != _fingerprint(params):
            status, body = (
                400,
                StripeError(
                    "Keys for idempotent requests can only be used with the same parameters they were first "
                    f"used with. Try using a key other than '{idempotency_key}' if you meant to execute a "
                    "different request.",
                    type="idempotency_error",
                ).body(),
            )
        elif stored is not None:
            status, body, replayed = stored["status"], stored["body"], True
        else:
            status, body = _run(d, handler, params, path_args, request_id, idempotency_key)
            # Stripe saves the result once the endpoint ran, success or not (but not 5xx).
            if idempotency_key and status < 500:
                d.store.idempotency[idempotency_key] = {
                    "fingerprint": _fingerprint(params),
                    "status": status,
                    "body": body,
                }
        d.store.requests.append(
            {
                "id": request_id,
                "method": request.method,
                "path": request.path,
                "params": params,
                "idempotency_key": idempotency_key,
                "status": status,
                "replayed": replayed,
                "api_key": _api_key(),
                "stripe_version": request.headers.get("Stripe-Version"),
            }
        )
        if request.method != "GET":
            d.persist()
    response = Response(json.dumps(body, indent=2), status=status, mimetype="application/json")
    response.headers["Request-Id"] = request_id
    response.headers["Stripe-Version"] = request.headers.get("Stripe-Version", API_VERSION)
    if idempotency_key:
        response.headers["Idempotency-Key"] = idempotency_key
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _refused(d: Double, refusal: Refusal, request_id: str) -> Response:
    """A 429 before the request runs: logged, not executed, its idempotency key left unused."""
    error = refusal.error
    with d.store.lock:
        d.store.requests.append({
            "id": request_id, "method": request.method, "path": request.path, "params": {},
            "idempotency_key": request.headers.get("Idempotency-Key"), "status": error.status, "replayed": False,
            "api_key": _api_key(), "stripe_version": request.headers.get("Stripe-Version"), "code": error.code,
        })
    response = Response(json.dumps(error.body(), indent=2), status=error.status, mimetype="application/json")
    response.headers["Request-Id"] = request_id
    response.headers["Stripe-Version"] = request.headers.get("Stripe-Version", API_VERSION)
    response.headers.update(refusal.headers)
    return response


def _run(
    d: Double,
    handler: Handler,
    params: Obj,
    path_args: dict[str, Any],
    request_id: str,
    idempotency_key: str | None,
) -> tuple[int, Obj]:
    with d.request_context(request_id, idempotency_key):
        try:
            schema.check(request.method, request.url_rule.rule if request.url_rule else "", params)
            paths = expand_paths(params)  # refused before anything changes
            result = handler(d, params, **path_args)
            return 200, expand(d.store, render(result), paths)
        except StripeError as exc:
            return exc.status, exc.body()


def route(rule: str, methods: list[str]) -> Callable[[Handler], Handler]:
    """Register a handler for a /v1 route."""

    def decorator(handler: Handler) -> Handler:
        def view(**path_args: Any) -> Response:
            return dispatch(handler, path_args)

        bp.add_url_rule(rule, endpoint=f"{handler.__name__}_{'_'.join(methods)}", view_func=view, methods=methods)
        return handler

    return decorator


def _get(d: Double, object_id: str, object_type: str, label: str | None = None, param: str = "id") -> Obj:
    obj = d.store.get(object_id, object_type)
    if obj is None:
        raise not_found(label or object_type, object_id, param)
    return obj


def _list(items: list[Obj], params: Obj, url: str) -> Obj:
    return list_page(newest_first(items), params, url)


# -- checkout ----------------------------------------------------------------------------------------------


@route("/v1/checkout/sessions", ["POST"])
def create_checkout_session(d: Double, params: Obj) -> Obj:
    return checkout.create_session(d, params)


@route("/v1/checkout/sessions", ["GET"])
def list_checkout_sessions(d: Double, params: Obj) -> Obj:
    filters = {k: params[k] for k in ("customer", "payment_intent", "subscription", "status") if params.get(k)}
    return _list(d.store.find("checkout.session", **filters), params, "/v1/checkout/sessions")


@route("/v1/checkout/sessions/<session_id>", ["GET"])
def retrieve_checkout_session(d: Double, params: Obj, session_id: str) -> Obj:
    return checkout.require_session(d, session_id)  # its line items when expanded: wire.INCLUDABLE


@route("/v1/checkout/sessions/<session_id>/line_items", ["GET"])
def list_checkout_line_items(d: Double, params: Obj, session_id: str) -> Obj:
    return checkout_line_items(d.store, checkout.require_session(d, session_id))


@route("/v1/checkout/sessions/<session_id>/expire", ["POST"])
def expire_checkout_session(d: Double, params: Obj, session_id: str) -> Obj:
    return checkout.expire(d, checkout.require_session(d, session_id))


# -- customers ---------------------------------------------------------------------------------------------

CUSTOMER_PARAMS = (
    "email",
    "name",
    "metadata",
    "description",
    "phone",
    "preferred_locales",
    "address",
    "invoice_settings",
)


def _require_customer(d: Double, customer_id: str, param: str = "id") -> Obj:
    customer = _get(d, customer_id, "customer", param=param)
    if customer.get("_deleted"):
        raise not_found("customer", customer_id, param)
    return customer


@route("/v1/customers", ["POST"])
def create_customer(d: Double, params: Obj) -> Obj:
    reject_unknown(params, [*CUSTOMER_PARAMS, "test_clock", "payment_method"])
    clock_id = get_str(params, "test_clock")
    if clock_id is not None:
        _get(d, clock_id, "test_helpers.test_clock", "test_clock", "test_clock")
    meta = {k: v for k, v in get_metadata(params).items() if v is not None}
    customer = objects.customer(
        d.new("cus_"),
        d.now(),
        email=get_str(params, "email"),
        name=get_str(params, "name"),
        metadata=meta,
        test_clock=clock_id,
        invoice_prefix=billing.invoice_prefix(),
    )
    customer["description"] = get_str(params, "description")
    d.store.add(customer)
    d.emit("customer.created", customer)
    return customer


@route("/v1/customers", ["GET"])
def list_customers(d: Double, params: Obj) -> Obj:
    items = [c for c in d.store.all("customer") if not c.get("_deleted")]
    email = get_str(params, "email")
    if email is not None:
        items = [c for c in items if c["email"] == email]
    clock = get_str(params, "test_clock")
    if clock is not None:
        items = [c for c in items if c["test_clock"] == clock]
    return _list(items, params, "/v1/customers")


@route("/v1/customers/<customer_id>", ["GET"])
def retrieve_customer(d: Double, params: Obj, customer_id: str) -> Obj:
    customer = _get(d, customer_id, "customer")
    if customer.get("_deleted"):
        return {"id": customer_id, "object": "customer", "deleted": True}
    return customer


@route("/v1/customers/<customer_id>", ["POST"])
def update_customer(d: Double, params: Obj, customer_id: str) -> Obj:
    reject_unknown(params, CUSTOMER_PARAMS)
    customer = _require_customer(d, customer_id)
    before = render(customer)
    for field in ("email", "name", "description", "phone"):
        if field in params:
            customer[field] = get_str(params, field)
    if "metadata" in params:
        customer["metadata"] = updated_metadata(customer["metadata"], params)
    pm_id = get_str(get_dict(params, "invoice_settings"), "default_payment_method")
    if pm_id is not None:
        pm = d.store.get(pm_id, "payment_method")
        if pm is None or pm["customer"] != customer_id:
            raise invalid(
                "invoice_settings[default_payment_method]",
                f"No such PaymentMethod: '{pm_id}'",
                "resource_missing",
            )
        customer["invoice_settings"]["default_payment_method"] = pm_id
    d.emit_update("customer.updated", customer, before)
    return customer


@route("/v1/customers/<customer_id>", ["DELETE"])
def delete_customer(d: Double, params: Obj, customer_id: str) -> Obj:
    customer = _require_customer(d, customer_id)
    now = d.now_for_customer(customer_id)
    for sub in d.store.find("subscription", customer=customer_id):
        billing.cancel_subscription(d, sub, now, reason="cancellation_requested")
    customer["_deleted"] = True
    d.emit("customer.deleted", customer)
    return {"id": customer_id, "object": "customer", "deleted": True}


# -- subscriptions -----------------------------------------------------------------------------------------


@route("/v1/subscriptions", ["GET"])
def list_subscriptions(d: Double, params: Obj) -> Obj:
    items = d.store.all("subscription")
    customer = get_str(params, "customer")
    if customer is not None:
        items = [s for s in items if s["customer"] == customer]
    status = get_str(params, "status")
    if status is None:
        # Stripe hides canceled subscriptions unless asked for them.
        items = [s for s in items if s["status"] != "canceled"]
    elif status != "all":
        items = [s for s in items if s["status"] == status]
    clock = get_str(params, "test_clock")
    if clock is not None:
        items = [s for s in items if s["test_clock"] == clock]
    return _list(items, params, "/v1/subscriptions")


@route("/v1/subscriptions/<sub_id>", ["GET"])
def retrieve_subscription(d: Double, params: Obj, sub_id: str) -> Obj:
    return _get(d, sub_id, "subscription")


@route("/v1/subscriptions/<sub_id>", ["POST"])
def update_subscription(d: Double, params: Obj, sub_id: str) -> Obj:
    return billing.update_subscription(d, _get(d, sub_id, "subscription"), params)


@route("/v1/subscriptions/<sub_id>", ["DELETE"])
def cancel_subscription(d: Double, params: Obj, sub_id: str) -> Obj:
    reject_unknown(params, ["invoice_now", "prorate", "cancellation_details"])
    sub = _get(d, sub_id, "subscription")
    if sub["status"] == "canceled":
        raise StripeError(f"No such subscription: '{sub_id}'", status=404, code="resource_missing", param="id")
    comment = get_str(get_dict(params, "cancellation_details"), "comment")
    return billing.cancel_subscription(
        d, sub, d.now_for_customer(sub["customer"]), reason="cancellation_requested", comment=comment
    )


# -- invoices ----------------------------------------------------------------------------------------------


@route("/v1/invoices", ["GET"])
def list_invoices(d: Double, params: Obj) -> Obj:
    items = d.store.all("invoice")
    sub = get_str(params, "subscription")
    if sub is not None:
        items = [i for i in items if ((i["parent"] or {}).get("subscription_details") or {}).get("subscription") == sub]
    for field in ("customer", "status"):
        value = get_str(params, field)
        if value is not None:
            items = [i for i in items if i[field] == value]
    return _list(items, params, "/v1/invoices")


@route("/v1/invoices/<invoice_id>", ["GET"])
def retrieve_invoice(d: Double, params: Obj, invoice_id: str) -> Obj:
    return _get(d, invoice_id, "invoice")


@route("/v1/invoices/<invoice_id>/pay", ["POST"])
def pay_invoice(d: Double, params: Obj, invoice_id: str) -> Obj:
    reject_unknown(params, ["paid_out_of_band", "off_session", "payment_method", "source", "forgive", "mandate"])
    invoice = _get(d, invoice_id, "invoice")
    return billing.pay_invoice(d, invoice, out_of_band=get_bool(params, "paid_out_of_band") is True)


@route("/v1/invoice_payments", ["GET"])
def list_invoice_payments(d: Double, params: Obj) -> Obj:
    invoice = get_str(params, "invoice")
    if invoice is None:
        items = d.store.all("invoice_payment")
    else:
        items = d.store.children("invoice_payment", "invoice", invoice)
    pi = get_dict(params, "payment").get("payment_intent")
    if pi:
        items = [p for p in items if p["payment"]["payment_intent"] == pi]
    status = get_str(params, "status")
    if status is not None:
        items = [p for p in items if p["status"] == status]
    return _list(items, params, "/v1/invoice_payments")


@route("/v1/invoice_payments/<payment_id>", ["GET"])
def retrieve_invoice_payment(d: Double, params: Obj, payment_id: str) -> Obj:
    return _get(d, payment_id, "invoice_payment")


# -- money -------------------------------------------------------------------------------------------------


@route("/v1/payment_intents/<pi_id>", ["GET"])
def retrieve_payment_intent(d: Double, params: Obj, pi_id: str) -> Obj:
    return _get(d, pi_id, "payment_intent")


@route("/v1/charges", ["GET"])
def list_charges(d: Double, params: Obj) -> Obj:
    filters = {k: params[k] for k in ("customer", "payment_intent") if params.get(k)}
    return _list(d.store.find("charge", **filters), params, "/v1/charges")


@route("/v1/charges/<charge_id>", ["GET"])
def retrieve_charge(d: Double, params: Obj, charge_id: str) -> Obj:
    return _get(d, charge_id, "charge")


@route("/v1/balance_transactions/<txn_id>", ["GET"])
def retrieve_balance_transaction(d: Double, params: Obj, txn_id: str) -> Obj:
    return _get(d, txn_id, "balance_transaction")


@route("/v1/payment_methods/<pm_id>", ["GET"])
def retrieve_payment_method(d: Double, params: Obj, pm_id: str) -> Obj:
    return _get(d, pm_id, "payment_method", "PaymentMethod")


@route("/v1/products/<product_id>", ["GET"])
def retrieve_product(d: Double, params: Obj, product_id: str) -> Obj:
    return _get(d, product_id, "product")


@route("/v1/prices/<price_id>", ["GET"])
def retrieve_price(d: Double, params: Obj, price_id: str) -> Obj:
    return _get(d, price_id, "price")


@route("/v1/refunds", ["POST"])
def create_refund(d: Double, params: Obj) -> Obj:
    return payments.create_refund(d, params)


@route("/v1/refunds", ["GET"])
def list_refunds(d: Double, params: Obj) -> Obj:
    filters = {k: params[k] for k in ("charge", "payment_intent") if params.get(k)}
    return _list(d.store.find("refund", **filters), params, "/v1/refunds")


@route("/v1/refunds/<refund_id>", ["GET"])
def retrieve_refund(d: Double, params: Obj, refund_id: str) -> Obj:
    return _get(d, refund_id, "refund")


@route("/v1/disputes", ["GET"])
def list_disputes(d: Double, params: Obj) -> Obj:
    filters = {k: params[k] for k in ("charge", "payment_intent") if params.get(k)}
    return _list(d.store.find("dispute", **filters), params, "/v1/disputes")


@route("/v1/disputes/<dispute_id>", ["GET"])
def retrieve_dispute(d: Double, params: Obj, dispute_id: str) -> Obj:
    return _get(d, dispute_id, "dispute")


@route("/v1/disputes/<dispute_id>", ["POST"])
def update_dispute(d: Double, params: Obj, dispute_id: str) -> Obj:
    reject_unknown(params, ["evidence", "metadata", "submit"])
    dispute = _get(d, dispute_id, "dispute")
    evidence = get_dict(params, "evidence")
    dispute["evidence"].update({k: v for k, v in evidence.items() if isinstance(v, str)})
    # Stripe's test convention: this evidence text wins the dispute, "losing_evidence" loses it.
    text = evidence.get("uncategorized_text")
    if text in ("winning_evidence", "losing_evidence") and get_bool(params, "submit") is not False:
        return payments.close_dispute(d, dispute, won=text == "winning_evidence")
    return dispute


@route("/v1/disputes/<dispute_id>/close", ["POST"])
def close_dispute(d: Double, params: Obj, dispute_id: str) -> Obj:
    return payments.close_dispute(d, _get(d, dispute_id, "dispute"), won=False)


# -- events ------------------------------------------------------------------------------------------------


def _created_filter(params: Obj) -> Callable[[int], bool]:
    created = params.get("created")
    if created is None or created == "":
        return lambda _: True
    if isinstance(created, str):
        exact = get_int(params, "created")
        return lambda value: value == exact
    bounds = {op: get_int(created, op, param=f"created[{op}]") for op in ("gt", "gte", "lt", "lte")}
    checks: dict[str, Callable[[int, int], bool]] = {
        "gt": lambda v, b: v > b,
        "gte": lambda v, b: v >= b,
        "lt": lambda v, b: v < b,
        "lte": lambda v, b: v <= b,
    }
    return lambda value: all(b is None or checks[op](value, b) for op, b in bounds.items())


def _type_matches(event_type: str, pattern: str) -> bool:
    if pattern.endswith(".*"):
        return event_type.startswith(pattern[:-1])
    return event_type == pattern


@route("/v1/events", ["GET"])
def list_events(d: Double, params: Obj) -> Obj:
    single = get_str(params, "type")
    many = params.get("types")
    if single is not None and many:
        raise invalid("types", "You may only specify one of these parameters: type, types.", "parameter_invalid")
    patterns = [single] if single else [str(t) for t in many] if isinstance(many, list) else []
    created_ok = _created_filter(params)
    events = [d.store.objects[i] for i in d.store.event_ids]
    items = [
        e
        for e in events
        if created_ok(int(e["created"])) and (not patterns or any(_type_matches(e["type"], p) for p in patterns))
    ]
    return _list(items, params, "/v1/events")


@route("/v1/events/<event_id>", ["GET"])
def retrieve_event(d: Double, params: Obj, event_id: str) -> Obj:
    return _get(d, event_id, "event")


# -- billing portal, test clocks, webhook endpoints --------------------------------------------------------


@route("/v1/billing_portal/sessions", ["POST"])
def create_portal_session(d: Double, params: Obj) -> Obj:
    reject_unknown(params, ["customer", "return_url", "flow_data", "locale", "configuration", "on_behalf_of"])
    customer_id = get_str(params, "customer", required=True)
    assert customer_id is not None
    _require_customer(d, customer_id, "customer")
    flow_data = get_dict(params, "flow_data")
    flow = None
    if flow_data:
        flow_type = get_str(flow_data, "type")
        if flow_type is None:
            raise missing("flow_data[type]")
        if flow_type not in (
            "payment_method_update",
            "subscription_cancel",
            "subscription_update",
            "subscription_update_confirm",
        ):
            raise invalid("flow_data[type]", f"Invalid flow_data[type]: {flow_type}", "parameter_invalid")
        flow = {
            "type": flow_type,
            "after_completion": {"type": "portal_homepage", "hosted_confirmation": None, "redirect": None},
            "subscription_cancel": None,
            "subscription_update": None,
            "subscription_update_confirm": None,
        }
    config_id = get_str(params, "configuration")
    if config_id is not None:
        config = _get(d, config_id, "billing_portal.configuration", "configuration", "configuration")
        if not config["active"]:
            raise invalid("configuration", f"The configuration {config_id} is not active.", "parameter_invalid")
    session_id = d.new("bps_")
    session = objects.portal_session(
        session_id,
        d.now(),
        customer=customer_id,
        return_url=get_str(params, "return_url"),
        url=f"{d.portal_base_url}/p/session/{session_id}",
        flow=flow,
        locale=get_str(params, "locale"),
    )
    if config_id is not None:
        session["configuration"] = config_id
    return d.store.add(session)


@route("/v1/test_helpers/test_clocks", ["POST"])
def create_test_clock(d: Double, params: Obj) -> Obj:
    return billing.create_clock(d, params)


@route("/v1/test_helpers/test_clocks", ["GET"])
def list_test_clocks(d: Double, params: Obj) -> Obj:
    return _list(
        [c for c in d.store.all("test_helpers.test_clock") if not c.get("_deleted")],
        params,
        "/v1/test_helpers/test_clocks",
    )


def _require_clock(d: Double, clock_id: str) -> Obj:
    clock = _get(d, clock_id, "test_helpers.test_clock", "test_clock")
    if clock.get("_deleted"):
        raise not_found("test_clock", clock_id)
    return clock


@route("/v1/test_helpers/test_clocks/<clock_id>", ["GET"])
def retrieve_test_clock(d: Double, params: Obj, clock_id: str) -> Obj:
    return _require_clock(d, clock_id)


@route("/v1/test_helpers/test_clocks/<clock_id>", ["DELETE"])
def delete_test_clock(d: Double, params: Obj, clock_id: str) -> Obj:
    _require_clock(d, clock_id)["_deleted"] = True
    return {"id": clock_id, "object": "test_helpers.test_clock", "deleted": True}


@route("/v1/test_helpers/test_clocks/<clock_id>/advance", ["POST"])
def advance_test_clock(d: Double, params: Obj, clock_id: str) -> Obj:
    reject_unknown(params, ["frozen_time"])
    frozen = get_int(params, "frozen_time", required=True)
    assert frozen is not None
    return billing.advance_clock(d, _require_clock(d, clock_id), frozen)


def _enabled_events(params: Obj) -> list[str] | None:
    events = params.get("enabled_events")
    if events is None:
        return None
    enabled = [str(e) for e in events] if isinstance(events, list) else [str(events)]
    if not enabled or "" in enabled:
        raise invalid("enabled_events", "Invalid array: enabled_events must list at least one event type.")
    return enabled


@route("/v1/webhook_endpoints", ["POST"])
def create_webhook_endpoint(d: Double, params: Obj) -> Obj:
    reject_unknown(params, ["url", "enabled_events", "description", "metadata", "api_version", "connect"])
    url = get_str(params, "url", required=True)
    assert url is not None
    enabled = _enabled_events(params)
    if enabled is None:
        raise missing("enabled_events")
    api_version = get_str(params, "api_version")
    if api_version is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}(\.[a-z]+)?", api_version):
        raise invalid("api_version", f"Invalid api_version: {api_version}", "parameter_invalid")
    secret = "whsec_" + random_token(32)
    endpoint = objects.webhook_endpoint(
        d.new("we_"),
        d.now(),
        url=url,
        enabled_events=enabled,
        secret=secret,
        description=get_str(params, "description"),
        api_version=api_version,
        metadata={k: v for k, v in get_metadata(params).items() if v is not None},
    )
    d.store.add(endpoint)
    body: Obj = render(endpoint)
    body["secret"] = secret
    return body


@route("/v1/webhook_endpoints/<endpoint_id>", ["POST"])
def update_webhook_endpoint(d: Double, params: Obj, endpoint_id: str) -> Obj:
    reject_unknown(params, ["url", "enabled_events", "description", "metadata", "disabled"])
    endpoint = _get(d, endpoint_id, "webhook_endpoint")
    url = get_str(params, "url")
    if url is not None:
        endpoint["url"] = url
    enabled = _enabled_events(params)
    if enabled is not None:
        endpoint["enabled_events"] = enabled
    if "description" in params:
        endpoint["description"] = get_str(params, "description")
    if "metadata" in params:
        endpoint["metadata"] = updated_metadata(endpoint["metadata"], params)
    disabled = get_bool(params, "disabled")
    if disabled is not None:
        endpoint["status"] = "disabled" if disabled else "enabled"
    return endpoint


@route("/v1/webhook_endpoints", ["GET"])
def list_webhook_endpoints(d: Double, params: Obj) -> Obj:
    return _list(d.store.all("webhook_endpoint"), params, "/v1/webhook_endpoints")


@route("/v1/webhook_endpoints/<endpoint_id>", ["GET"])
def retrieve_webhook_endpoint(d: Double, params: Obj, endpoint_id: str) -> Obj:
    return _get(d, endpoint_id, "webhook_endpoint")


@route("/v1/webhook_endpoints/<endpoint_id>", ["DELETE"])
def delete_webhook_endpoint(d: Double, params: Obj, endpoint_id: str) -> Obj:
    _get(d, endpoint_id, "webhook_endpoint")
    d.store.remove(endpoint_id)
    return {"id": endpoint_id, "object": "webhook_endpoint", "deleted": True}


# -- the account and its Billing Portal configurations ------------------------------------------------


@route("/v1/account", ["GET"])
def retrieve_account(d: Double, params: Obj) -> Obj:
    return objects.account(
        ACCOUNT_ID, 1_700_000_000, country=d.config.account_country, default_currency=d.config.account_default_currency
    )


@route("/v1/country_specs/<country>", ["GET"])
def retrieve_country_spec(d: Double, params: Obj, country: str) -> Obj:
    if country != d.config.account_country:
        raise not_found("country_spec", country)
    return objects.country_spec(
        country, default_currency=d.config.account_default_currency, unsupported=d.config.unsupported_currencies
    )


PORTAL_FEATURES = {
    "customer_update": ("enabled", "allowed_updates"),
    "invoice_history": ("enabled",),
    "payment_method_update": ("enabled", "payment_method_configuration"),
    "subscription_cancel": ("enabled", "mode", "proration_behavior", "cancellation_reason"),
    "subscription_update": ("enabled", "default_allowed_updates", "proration_behavior", "products",
                            "billing_cycle_anchor", "schedule_at_period_end", "trial_update_behavior"),
}
CANCELLATION_REASONS = ("customer_service", "low_quality", "missing_features", "other", "switched_service",
                        "too_complex", "too_expensive", "unused")


def _set_bool(target: Obj, params: Obj, name: str, label: str) -> None:
    if name in params:
        value = get_bool(params, name)
        if value is None:
            raise invalid(label, f"Invalid boolean: {params[name]}", "parameter_invalid_boolean")
        target[name] = value


def _apply_portal_features(config: Obj, features: Obj) -> None:
    reject_unknown(features, [*PORTAL_FEATURES, "subscription_pause"])
    for name, value in features.items():
        if name == "subscription_pause":
            continue
        label = f"features[{name}]"
        if not isinstance(value, dict):
            raise invalid(label, f"Invalid object: {label}", "parameter_invalid")
        reject_unknown(value, PORTAL_FEATURES[name])
        target = config["features"][name]
        _set_bool(target, value, "enabled", f"{label}[enabled]")
        for key in ("mode", "proration_behavior"):
            text = get_str(value, key)
            if text is not None:
                target[key] = text
        reason = get_dict(value, "cancellation_reason")
        if reason:
            reject_unknown(reason, ["enabled", "options", "feedback_options"])
            _set_bool(target["cancellation_reason"], reason, "enabled", f"{label}[cancellation_reason][enabled]")
            options = reason.get("options")
            if options is not None:
                chosen = [str(o) for o in options] if isinstance(options, list) else []
                wrong = [o for o in chosen if o not in CANCELLATION_REASONS]
                if wrong:
                    raise invalid(f"{label}[cancellation_reason][options]", f"Invalid option: {wrong[0]}",
                                  "parameter_invalid")
                target["cancellation_reason"]["options"] = chosen


def _apply_portal_configuration(d: Double, config: Obj, params: Obj) -> Obj:
    features = get_dict(params, "features")
    if features:
        _apply_portal_features(config, features)
    if "default_return_url" in params:
        config["default_return_url"] = get_str(params, "default_return_url")
    if "name" in params:
        config["name"] = get_str(params, "name")
    if "metadata" in params:
        config["metadata"] = updated_metadata(config["metadata"], params)
    _set_bool(config, params, "active", "active")
    config["updated"] = d.now()
    return config


PORTAL_CONFIGURATION_PARAMS = ["business_profile", "default_return_url", "features", "login_page", "metadata", "name"]


@route("/v1/billing_portal/configurations", ["POST"])
def create_portal_configuration(d: Double, params: Obj) -> Obj:
    reject_unknown(params, PORTAL_CONFIGURATION_PARAMS)
    if not params.get("features"):
        raise missing("features")
    config = _apply_portal_configuration(d, objects.portal_configuration(d.new("bpc_"), d.now()), params)
    return d.store.add(config)


@route("/v1/billing_portal/configurations", ["GET"])
def list_portal_configurations(d: Double, params: Obj) -> Obj:
    items = d.store.all("billing_portal.configuration")
    for name in ("active", "is_default"):
        wanted = get_bool(params, name)
        if wanted is not None:
            items = [c for c in items if c[name] is wanted]
    return _list(items, params, "/v1/billing_portal/configurations")


@route("/v1/billing_portal/configurations/<config_id>", ["GET"])
def retrieve_portal_configuration(d: Double, params: Obj, config_id: str) -> Obj:
    return _get(d, config_id, "billing_portal.configuration", "configuration")


@route("/v1/billing_portal/configurations/<config_id>", ["POST"])
def update_portal_configuration(d: Double, params: Obj, config_id: str) -> Obj:
    reject_unknown(params, [*PORTAL_CONFIGURATION_PARAMS, "active"])
    config = _get(d, config_id, "billing_portal.configuration", "configuration")
    return _apply_portal_configuration(d, config, params)


def _unknown_route(d: Double, params: Obj, path: str) -> Obj:
    raise StripeError(
        f"Unrecognized request URL ({request.method}: /v1/{path}). Please see "
        f"https://stripe.com/docs or we can help at https://support.stripe.com/.",
        status=404,
    )


bp.add_url_rule(
    "/v1/<path:path>",
    endpoint="unknown",
    view_func=lambda path: dispatch(_unknown_route, {"path": path}),
    methods=["GET", "POST", "DELETE"],
)
