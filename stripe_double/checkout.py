"""Checkout Sessions: create them as the API does, and pay them as the hosted page does."""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import objects
from .billing import expire_session, invoice_prefix, price_from_data, start_subscription
from .cards import AUTH_FAILED, CARDS, CardFormError, CardInput, decline_for, validate_card
from .core import Double
from .money import format_amount
from .payments import ChargeResult, charge_card, create_payment_method, open_pending_disputes
from .store import Obj, render
from .wire import (
    StripeError,
    get_bool,
    get_dict,
    get_int,
    get_metadata,
    get_str,
    invalid,
    missing,
    not_found,
    reject_unknown,
)

CREATE_PARAMS = (
    "mode",
    "adaptive_pricing",
    "line_items",
    "customer",
    "customer_email",
    "customer_creation",
    "client_reference_id",
    "metadata",
    "payment_intent_data",
    "subscription_data",
    "success_url",
    "cancel_url",
    "submit_type",
    "locale",
    "payment_method_types",
    "allow_promotion_codes",
    "billing_address_collection",
    "expires_at",
    "custom_text",
    "consent_collection",
    "ui_mode",
    "automatic_tax",
    "currency",
    "customer_update",
    "phone_number_collection",
    "payment_method_collection",
    "invoice_creation",
    "tax_id_collection",
    "discounts",
    "custom_fields",
    "saved_payment_method_options",
    "payment_method_options",
)
# Stripe's minimum charge per currency (minor units); below it Checkout refuses the session.
MINIMUM_AMOUNTS = {"eur": 50, "usd": 50, "gbp": 30}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _metadata(params: Obj, name: str) -> Obj:
    return {k: v for k, v in get_metadata(params, name).items() if v is not None}


def _validate_mode(params: Obj) -> str:
    mode = get_str(params, "mode", required=True)
    if mode not in ("payment", "subscription"):
        raise invalid(
            "mode", f"Invalid mode: must be one of payment or subscription (got {mode}).", "parameter_invalid"
        )
    other = "subscription" if mode == "payment" else "payment"
    only_in = {
        "payment_intent_data": "payment",
        "customer_creation": "payment",
        "subscription_data": "subscription",
    }
    for param, allowed_mode in only_in.items():
        if allowed_mode == other and params.get(param) not in (None, "", {}):
            raise invalid(param, f"`{param}` can only be used in `{allowed_mode}` mode.", "parameter_invalid")
    return mode


# Stripe's limits on `invoice_creation[invoice_data]`.
MAX_CUSTOM_FIELDS = 4
CUSTOM_FIELD_LIMITS = {"name": 40, "value": 140}
TEXT_LIMITS = {"description": 1500, "footer": 5000}


def _invoice_creation(params: Obj, mode: str) -> Obj | None:
    """The session's `invoice_creation`: payment mode only (a subscription bills with its own invoices)."""
    wanted = get_dict(params, "invoice_creation")
    if mode == "subscription":
        if wanted:
            raise invalid(
                "invoice_creation",
                "`invoice_creation` can only be used in `payment` mode.",
                "parameter_invalid",
            )
        return None
    enabled = get_bool(wanted, "enabled") if wanted else False
    if enabled is None:
        raise missing("invoice_creation[enabled]")
    data = get_dict(wanted, "invoice_data")
    for name, limit in TEXT_LIMITS.items():
        text = get_str(data, name)
        if text is not None and len(text) > limit:
            raise invalid(
                f"invoice_creation[invoice_data][{name}]",
                f"Invalid string: must be at most {limit} characters long.",
                "parameter_invalid_string",
            )
    fields = data.get("custom_fields") or []
    if not isinstance(fields, list) or len(fields) > MAX_CUSTOM_FIELDS:
        raise invalid(
            "invoice_creation[invoice_data][custom_fields]",
            f"Invalid array: must have at most {MAX_CUSTOM_FIELDS} elements.",
            "parameter_invalid",
        )
    for index, field in enumerate(fields):
        for key, limit in CUSTOM_FIELD_LIMITS.items():
            text = get_str(field, key, required=True) if isinstance(field, dict) else None
            if text is None or len(text) > limit:
                raise invalid(
                    f"invoice_creation[invoice_data][custom_fields][{index}][{key}]",
                    f"Invalid string: must be 1 to {limit} characters long.",
                    "parameter_invalid_string",
                )
    return {
        "enabled": enabled,
        "invoice_data": {
            "account_tax_ids": None,
            "custom_fields": [{"name": f["name"], "value": f["value"]} for f in fields] or None,
            "description": get_str(data, "description"),
            "footer": get_str(data, "footer"),
            "issuer": None,
            "metadata": _metadata(data, "metadata"),
            "rendering_options": None,
        },
    }


def _adaptive_pricing(d: Double, params: Obj) -> bool:
    """The request's `adaptive_pricing[enabled]`, else the account's Dashboard setting."""
    wanted = get_bool(get_dict(params, "adaptive_pricing"), "enabled")
    return d.config.adaptive_pricing if wanted is None else wanted


def create_session(d: Double, params: Obj) -> Obj:
    """POST /v1/checkout/sessions: validate like Stripe, create the Product and Price, return the session."""
    reject_unknown(params, CREATE_PARAMS)
    mode = _validate_mode(params)
    now = d.now()
    customer_id = get_str(params, "customer")
    customer_email = get_str(params, "customer_email")
    if customer_id and customer_email:
        raise invalid(
            "customer_email",
            "You may only specify one of these parameters: customer, customer_email.",
            "parameter_invalid",
        )
    if customer_id is not None:
        customer = d.store.get(customer_id, "customer")
        if customer is None or customer.get("_deleted"):
            raise not_found("customer", customer_id, "customer")
    if customer_email is not None and not EMAIL.match(customer_email):
        raise invalid("customer_email", f"Invalid email address: {customer_email}", "email_invalid")
    creation = get_str(params, "customer_creation")
    if creation is not None and creation not in ("always", "if_required"):
        raise invalid("customer_creation", f"Invalid customer_creation: {creation}", "parameter_invalid")
    # Its values are checked against the SDK's enum with every request (schema.py); payment and
    # subscription mode both take it.
    submit_type = get_str(params, "submit_type")
    ui_mode = get_str(params, "ui_mode") or "hosted_page"
    if ui_mode != "hosted_page":
        raise invalid(
            "ui_mode", f"The Stripe double serves only hosted_page Checkout, not {ui_mode}.", "parameter_invalid"
        )
    success_url = get_str(params, "success_url")
    for url_param in ("success_url", "cancel_url"):
        url = get_str(params, url_param)
        if url is not None and not re.match(r"^https?://", url):
            raise invalid(url_param, "Not a valid URL", "url_invalid")
    line_items = params.get("line_items")
    if not line_items:
        raise missing("line_items")
    if not isinstance(line_items, list) or len(line_items) != 1 or not isinstance(line_items[0], dict):
        raise invalid("line_items", "The double supports exactly one line item.", "parameter_invalid")
    entry = line_items[0]
    quantity = get_int(entry, "quantity", param="line_items[0][quantity]")
    if quantity is None:
        raise StripeError(
            "Quantity is required. Add `quantity` to `line_items[0]`",
            code="parameter_missing",
            param="line_items[0][quantity]",
        )
    if quantity < 1:
        raise invalid("line_items[0][quantity]", "Quantity must be at least 1.", "parameter_invalid_integer")
    data = get_dict(entry, "price_data")
    if not data:
        raise missing("line_items[0][price_data]")
    price_obj = price_from_data(d, data, "line_items[0][price_data]", now, recurring_required=False)
    if mode == "subscription" and price_obj["recurring"] is None:
        raise invalid(
            "line_items",
            "You must provide at least one recurring price in `subscription` mode when using prices.",
            "parameter_invalid",
        )
    if mode == "payment" and price_obj["recurring"] is not None:
        raise invalid(
            "line_items[0][price_data][recurring]",
            "You specified `payment` mode but passed a "
            "recurring price. Either switch to `subscription` mode or use only one-time prices.",
            "parameter_invalid",
        )
    total = int(price_obj["unit_amount"]) * quantity
    minimum = MINIMUM_AMOUNTS.get(price_obj["currency"])
    if minimum is not None and total < minimum:
        raise StripeError(
            f"The Checkout Session's total amount due must add up to at least "
            f"{format_amount(minimum, price_obj['currency'])} {price_obj['currency']}",
            code="amount_too_small",
            param="line_items[0][price_data][unit_amount]",
        )
    expires_at = get_int(params, "expires_at") or now + 24 * 3600
    if not now + 1800 <= expires_at <= now + 24 * 3600:
        raise invalid(
            "expires_at",
            "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.",
            "parameter_invalid_integer",
        )
    invoice_creation = _invoice_creation(params, mode)
    session_id = d.new("cs_test_")
    product = d.store.get(price_obj["product"], "product")
    description = product["name"] if product else "Item"
    item = objects.line_item(d.new("li_"), price_obj=render(price_obj), description=description, quantity=quantity)
    session = objects.checkout_session(
        session_id,
        now,
        mode=mode,
        amount_subtotal=total,
        amount_total=total,
        currency=price_obj["currency"],
        cancel_url=get_str(params, "cancel_url"),
        success_url=success_url,
        client_reference_id=get_str(params, "client_reference_id"),
        customer=customer_id,
        customer_email=customer_email,
        customer_creation=creation,
        expires_at=expires_at,
        locale=get_str(params, "locale"),
        metadata=_metadata(params, "metadata"),
        submit_type=submit_type,
        adaptive_pricing={"enabled": _adaptive_pricing(d, params)},
        ui_mode=ui_mode,
        url=f"{d.base_url}/c/pay/{session_id}",
        invoice_creation=invoice_creation,
    )
    session["_line_items"] = [item]
    session["_pi_metadata"] = _metadata(get_dict(params, "payment_intent_data"), "metadata")
    session["_sub_metadata"] = _metadata(get_dict(params, "subscription_data"), "metadata")
    session["_price"] = price_obj["id"]
    d.store.add(session)
    return session


def require_session(d: Double, session_id: str) -> Obj:
    """The session or Stripe's 404."""
    session = d.store.get(session_id, "checkout.session")
    if session is None:
        raise not_found("checkout.session", session_id)
    return session


def expire(d: Double, session: Obj) -> Obj:
    """POST /v1/checkout/sessions/{id}/expire: only an open session can expire."""
    if session["status"] != "open":
        raise StripeError(
            f'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout '
            f'Session has a status of "{session["status"]}".',
            code="checkout_session_not_open",
        )
    return expire_session(d, session)


def _issue_paid_invoice(d: Double, session: Obj, customer_id: str, result: ChargeResult, now: int) -> Obj:
    """The invoice Checkout's `invoice_creation` issues for a one-time payment, already paid: the reader's
    receipt (hosted page and PDF). Stripe announces it with invoice.created, .finalized, .paid and
    .payment_succeeded."""
    customer = d.store.get(customer_id, "customer")
    assert customer is not None
    settings = session["invoice_creation"]["invoice_data"]
    entry = session["_line_items"][0]
    price_obj = d.store.get(session["_price"], "price")
    assert price_obj is not None
    invoice_id = d.new("in_")
    line = objects.one_time_invoice_line(
        d.new("il_"), invoice_id=invoice_id, price_obj=price_obj, description=entry["description"],
        quantity=int(entry["quantity"]), metadata=settings["metadata"], now=now,
    )
    sequence = int(customer["next_invoice_sequence"])
    customer["next_invoice_sequence"] = sequence + 1
    invoice = objects.invoice(
        invoice_id, now, customer_obj=customer, sub=None, billing_reason="manual",
        amount=int(session["amount_total"]), currency=session["currency"],
        number=f"{customer['invoice_prefix']}-{sequence:04d}", hosted_url=f"{d.base_url}/i/{invoice_id}",
        period_start=now, period_end=now, lines=[line],
    )
    invoice.update(
        collection_method="charge_automatically", custom_fields=settings["custom_fields"],
        description=settings["description"], footer=settings["footer"], metadata=dict(settings["metadata"]),
    )
    d.store.add(invoice)
    d.emit("invoice.created", invoice)
    invoice.update(status="open", effective_at=now)
    invoice["status_transitions"]["finalized_at"] = now
    d.emit("invoice.finalized", invoice)
    invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0, attempted=True,
                   attempt_count=1)
    invoice["status_transitions"]["paid_at"] = now
    d.store.add(objects.invoice_payment(d.new("inpay_"), now, invoice_obj=invoice,
                                        payment_intent_id=result.payment_intent["id"]))
    d.emit("invoice.paid", invoice)
    d.emit("invoice.payment_succeeded", invoice)
    return invoice


@dataclass
class PayResult:
    """What paying a session did.

    status: succeeded | declined | invalid | requires_action | closed; `field` names the form field an
    `invalid` message belongs to; `redirect_url` is the success_url with the session id substituted.
    """

    status: str
    session: Obj
    message: str | None = None
    field: str | None = None
    redirect_url: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the session got paid."""
        return self.status == "succeeded"


def prefilled_email(d: Double, session: Obj) -> str | None:
    """The email the page shows: the customer's, else customer_email."""
    if session["customer"]:
        customer = d.store.get(session["customer"], "customer")
        if customer is not None:
            return customer.get("email")
    return session.get("customer_email")


def pay(
    d: Double,
    session_id: str,
    *,
    card_number: str,
    expiry: str,
    cvc: str,
    name: str | None,
    email: str | None,
    three_ds: str | None = None,
) -> PayResult:
    """Submit the hosted payment form: validate, apply the test card's behaviour, and complete on success."""
    with d.store.lock:
        session = require_session(d, session_id)
        if session["status"] != "open":
            return PayResult("closed", session, f"This Checkout Session is {session['status']}.")
        email = prefilled_email(d, session) or (email or "").strip()
        if not EMAIL.match(email):
            return PayResult("invalid", session, "Your email address is incomplete.", "email")
        try:
            card = validate_card(card_number, expiry, cvc)
        except CardFormError as exc:
            return PayResult("invalid", session, exc.message, exc.field)
        decline = decline_for(card.card, off_session=False, in_checkout=True)
        if decline is not None:
            # Declines in Checkout leave nothing behind: the reader just tries another card.
            return PayResult("declined", session, decline.message, "card_number")
        if card.card.behavior == "three_ds":
            session["_pending_3ds"] = {
                "number": card.card.number,
                "exp_month": card.exp_month,
                "exp_year": card.exp_year,
                "name": name,
                "email": email,
            }
            if three_ds is None:
                return PayResult("requires_action", session)
            return authenticate(d, session_id, approve=three_ds == "approve")
        return _complete(d, session, card, name=name, email=email)


def authenticate(d: Double, session_id: str, *, approve: bool) -> PayResult:
    """The reader's answer on the 3D Secure page."""
    with d.store.lock:
        session = require_session(d, session_id)
        if session["status"] != "open":
            return PayResult("closed", session, f"This Checkout Session is {session['status']}.")
        pending = session.pop("_pending_3ds", None)
        if pending is None:
            return PayResult("invalid", session, "There is no authentication in progress.", "card_number")
        if not approve:
            return PayResult("declined", session, AUTH_FAILED.message, "card_number")
        card = CardInput(CARDS[pending["number"]], pending["exp_month"], pending["exp_year"])
        return _complete(d, session, card, name=pending["name"], email=pending["email"])


def _complete(d: Double, session: Obj, card: CardInput, *, name: str | None, email: str) -> PayResult:
    customer_id = session["customer"]
    invoicing = bool((session.get("invoice_creation") or {}).get("enabled"))
    # Stripe makes a customer for a subscription, when asked to always, and for an invoice to be addressed to.
    if customer_id is None and (
        session["mode"] == "subscription" or session["customer_creation"] == "always" or invoicing
    ):
        customer = objects.customer(
            d.new("cus_"),
            d.now(),
            email=email,
            name=name,
            metadata={},
            test_clock=d.demo_clock_id(),
            invoice_prefix=invoice_prefix(),
        )
        d.store.add(customer)
        d.emit("customer.created", customer)
        customer_id = customer["id"]
    now = d.now_for_customer(customer_id)
    pm = create_payment_method(d, card, name=name, email=email, customer_id=customer_id, now=now)
    price_obj = d.store.get(session["_price"], "price")
    assert price_obj is not None
    before_fields: Obj = {}
    if session["mode"] == "payment":
        description = session["_line_items"][0]["description"]
        result = charge_card(
            d,
            pm,
            amount=int(session["amount_total"]),
            currency=session["currency"],
            customer_id=customer_id,
            description=description,
            metadata=session["_pi_metadata"],
            off_session=False,
            in_checkout=True,
            now=now,
        )
        before_fields["payment_intent"] = result.payment_intent["id"]
        if invoicing and result.ok:
            before_fields["invoice"] = _issue_paid_invoice(d, session, str(customer_id), result, now)["id"]
    else:
        owner = d.store.get(str(customer_id), "customer")
        assert owner is not None
        sub, invoice, first = start_subscription(
            d, customer=owner, price_obj=price_obj, pm=pm, metadata=dict(session["_sub_metadata"]), now=now
        )
        assert first is not None
        result = first
        before_fields.update(subscription=sub["id"], invoice=invoice["id"])
    session.update(
        status="complete",
        payment_status="paid",
        customer=customer_id,
        url=None,
        customer_details=objects.customer_details(email, name),
        **before_fields,
    )
    session["collected_information"] = {
        "business_name": None,
        "individual_name": None,
        "shipping_details": None,
    }
    d.emit("checkout.session.completed", session)
    open_pending_disputes(d, result.charge["id"])
    d.persist()
    redirect = None
    if session["success_url"]:
        redirect = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
    return PayResult("succeeded", session, redirect_url=redirect)
