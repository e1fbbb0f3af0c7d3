"""Builders for every object the double emits, with the field names and nesting of Stripe's fixtures.

Builders only shape dicts; the services decide the values. Private notes of the double use "_" keys,
which `store.render` strips before anything leaves the process.
"""

from __future__ import annotations

from typing import Any

from .config import API_VERSION
from .store import Obj

EMPTY_ADDRESS: Obj = {
    "city": None,
    "country": None,
    "line1": None,
    "line2": None,
    "postal_code": None,
    "state": None,
}


def _address() -> Obj:
    return dict(EMPTY_ADDRESS)


def customer(
    id: str,
    created: int,
    *,
    email: str | None,
    name: str | None,
    metadata: Obj,
    test_clock: str | None,
    invoice_prefix: str,
) -> Obj:
    """A customer (fixture: customer)."""
    return {
        "id": id,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": created,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": email,
        "invoice_prefix": invoice_prefix,
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": metadata,
        "name": name,
        "next_invoice_sequence": 1,
        "phone": None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": test_clock,
    }


def product(id: str, created: int, name: str) -> Obj:
    """A product made from `price_data[product_data]`."""
    return {
        "id": id,
        "object": "product",
        "active": True,
        "created": created,
        "default_price": None,
        "description": None,
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": {},
        "name": name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
        "updated": created,
        "url": None,
    }


def price(id: str, created: int, *, product_id: str, currency: str, unit_amount: int, interval: str | None) -> Obj:
    """A price; `recurring` only for subscription prices."""
    recurring = None
    if interval:
        recurring = {
            "interval": interval,
            "interval_count": 1,
            "meter": None,
            "usage_type": "licensed",
            "trial_period_days": None,
        }
    return {
        "id": id,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": currency,
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "product": product_id,
        "recurring": recurring,
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if interval else "one_time",
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }


def plan_from_price(p: Obj) -> Obj:
    """The legacy `plan` view of a recurring price, still present on subscription items."""
    recurring = p["recurring"] or {}
    return {
        "id": p["id"],
        "object": "plan",
        "active": True,
        "amount": p["unit_amount"],
        "amount_decimal": p["unit_amount_decimal"],
        "billing_scheme": "per_unit",
        "created": p["created"],
        "currency": p["currency"],
        "interval": recurring.get("interval"),
        "interval_count": 1,
        "livemode": False,
        "metadata": {},
        "meter": None,
        "nickname": None,
        "product": p["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }


def checkout_session(id: str, created: int, **fields: Any) -> Obj:
    """A checkout session; `fields` carries the values taken from the create request."""
    session: Obj = {
        "id": id,
        "object": "checkout.session",
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": None,
        "amount_subtotal": None,
        "amount_total": None,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "cancel_url": None,
        "client_reference_id": None,
        "client_secret": None,
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "currency_conversion": None,
        "created": created,
        "currency": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer": None,
        "customer_creation": None,
        "customer_details": None,
        "customer_email": None,
        "discounts": [],
        "expires_at": created + 24 * 3600,
        "invoice": None,
        "invoice_creation": None,
        "livemode": False,
        "locale": None,
        "metadata": {},
        "mode": "payment",
        "origin_context": None,
        "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always",
        "payment_method_configuration_details": None,
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "status": "open",
        "submit_type": None,
        "subscription": None,
        "success_url": None,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted_page",
        "url": None,
        "wallet_options": None,
    }
    session.update(fields)
    return session


def customer_details(email: str | None, name: str | None) -> Obj:
    """The `customer_details` a completed session reports."""
    return {
        "address": _address(),
        "business_name": None,
        "email": email,
        "individual_name": None,
        "name": name,
        "phone": None,
        "tax_exempt": "none",
        "tax_ids": [],
    }


def line_item(id: str, *, price_obj: Obj, description: str, quantity: int) -> Obj:
    """A checkout session line item (item object)."""
    amount = int(price_obj["unit_amount"]) * quantity
    return {
        "id": id,
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": amount,
        "amount_tax": 0,
        "amount_total": amount,
        "currency": price_obj["currency"],
        "description": description,
        "price": price_obj,
        "quantity": quantity,
    }


def payment_method(
    id: str,
    created: int,
    *,
    brand: str,
    last4: str,
    exp_month: int,
    exp_year: int,
    fingerprint: str,
    name: str | None,
    email: str | None,
) -> Obj:
    """A card payment method (fixture: payment_method)."""
    return {
        "id": id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": _address(),
            "email": email,
            "name": name,
            "phone": None,
            "tax_id": None,
        },
        "card": {
            "brand": brand,
            "checks": {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"},
            "country": "US",
            "display_brand": brand,
            "exp_month": exp_month,
            "exp_year": exp_year,
            "fingerprint": fingerprint,
            "funding": "credit",
            "generated_from": None,
            "last4": last4,
            "networks": {"available": [brand], "preferred": None},
            "regulated_status": "unregulated",
            "three_d_secure_usage": {"supported": True},
            "wallet": None,
        },
        "created": created,
        "customer": None,
        "livemode": False,
        "metadata": {},
        "type": "card",
    }


def payment_intent(
    id: str,
    created: int,
    *,
    amount: int,
    currency: str,
    customer: str | None,
    payment_method: str,
    description: str | None,
    metadata: Obj,
) -> Obj:
    """A payment intent (fixture: payment_intent), status set by the caller."""
    return {
        "id": id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": None,
        "cancellation_reason": None,
        "capture_method": "automatic",
        "client_secret": f"{id}_secret_x",
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": customer,
        "description": description,
        "excluded_payment_method_types": None,
        "last_payment_error": None,
        "latest_charge": None,
        "livemode": False,
        "metadata": metadata,
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": payment_method,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "requires_payment_method",
        "transfer_data": None,
        "transfer_group": None,
    }


def charge(
    id: str,
    created: int,
    *,
    amount: int,
    currency: str,
    customer: str | None,
    pi: Obj,
    pm: Obj,
    description: str | None,
    metadata: Obj,
) -> Obj:
    """A card charge (fixture: charge); outcome fields are filled by the caller."""
    card = pm["card"]
    return {
        "id": id,
        "object": "charge",
        "amount": amount,
        "amount_captured": 0,
        "amount_refunded": 0,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": None,
        "billing_details": pm["billing_details"],
        "calculated_statement_descriptor": "STRIPE DOUBLE",
        "captured": False,
        "created": created,
        "currency": currency,
        "customer": customer,
        "description": description,
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "fraud_details": {},
        "livemode": False,
        "metadata": metadata,
        "on_behalf_of": None,
        "outcome": None,
        "paid": False,
        "payment_intent": pi["id"],
        "payment_method": pm["id"],
        "payment_method_details": {
            "card": {
                "amount_authorized": amount,
                "authorization_code": None,
                "brand": card["brand"],
                "checks": card["checks"],
                "country": card["country"],
                "exp_month": card["exp_month"],
                "exp_year": card["exp_year"],
                "extended_authorization": {"status": "disabled"},
                "fingerprint": card["fingerprint"],
                "funding": card["funding"],
                "incremental_authorization": {"status": "unavailable"},
                "installments": None,
                "last4": card["last4"],
                "mandate": None,
                "multicapture": {"status": "unavailable"},
                "network": card["brand"],
                "network_token": {"used": False},
                "network_transaction_id": None,
                "overcapture": {"maximum_amount_capturable": amount, "status": "unavailable"},
                "regulated_status": "unregulated",
                "three_d_secure": None,
                "wallet": None,
            },
            "type": "card",
        },
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": None,
        "refunded": False,
        "refunds": {"object": "list", "data": [], "has_more": False, "url": f"/v1/charges/{id}/refunds"},
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "pending",
        "transfer_data": None,
        "transfer_group": None,
    }


def outcome(*, ok: bool, reason: str | None = None, message: str | None = None) -> Obj:
    """A charge's `outcome` (network verdict)."""
    return {
        "advice_code": None if ok else "try_again_later",
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "approved_by_network" if ok else "declined_by_network",
        "reason": reason,
        "risk_level": "normal",
        "risk_score": 20,
        "seller_message": "Payment complete."
        if ok
        else (message or "The bank did not return any further details with this decline."),
        "type": "authorized" if ok else "issuer_declined",
    }


def balance_transaction(
    id: str,
    created: int,
    *,
    amount: int,
    currency: str,
    fee: int,
    source: str,
    type: str,
    description: str | None,
    exchange_rate: float | None = None,
) -> Obj:
    """A balance transaction with Stripe's fee breakdown (fixture: balance_transaction), in the settlement currency."""
    fee_details = []
    if fee:
        fee_details = [
            {
                "amount": fee,
                "application": None,
                "currency": currency,
                "description": "Stripe processing fees",
                "type": "stripe_fee",
            }
        ]
    category = {"charge": "charge", "refund": "refund", "adjustment": "dispute"}[type]
    return {
        "id": id,
        "object": "balance_transaction",
        "amount": amount,
        "available_on": created + 7 * 86400,
        "balance_type": "payments",
        "created": created,
        "currency": currency,
        "description": description,
        "exchange_rate": exchange_rate,
        "fee": fee,
        "fee_details": fee_details,
        "net": amount - fee,
        "reporting_category": category,
        "source": source,
        "status": "pending",
        "type": type,
    }


def refund(
    id: str,
    created: int,
    *,
    amount: int,
    charge_obj: Obj,
    reason: str | None,
    metadata: Obj,
    balance_transaction: str,
) -> Obj:
    """A succeeded card refund (fixture: refund)."""
    return {
        "id": id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": balance_transaction,
        "charge": charge_obj["id"],
        "created": created,
        "currency": charge_obj["currency"],
        "destination_details": {
            "card": {
                "reference": None,
                "reference_status": "pending",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
            "type": "card",
        },
        "metadata": metadata,
        "payment_intent": charge_obj["payment_intent"],
        "reason": reason,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }


def dispute(id: str, created: int, *, charge_obj: Obj, balance_transactions: list[Obj]) -> Obj:
    """A dispute as 4000000000000259 raises it (fixture: dispute)."""
    return {
        "id": id,
        "object": "dispute",
        "amount": charge_obj["amount"],
        "balance_transactions": balance_transactions,
        "charge": charge_obj["id"],
        "created": created,
        "currency": charge_obj["currency"],
        "enhanced_eligibility_types": [],
        "evidence": {
            "access_activity_log": None,
            "billing_address": None,
            "cancellation_policy": None,
            "cancellation_policy_disclosure": None,
            "cancellation_rebuttal": None,
            "customer_communication": None,
            "customer_email_address": None,
            "customer_name": None,
            "customer_purchase_ip": None,
            "customer_signature": None,
            "duplicate_charge_documentation": None,
            "duplicate_charge_explanation": None,
            "duplicate_charge_id": None,
            "enhanced_evidence": {},
            "product_description": None,
            "receipt": None,
            "refund_policy": None,
            "refund_policy_disclosure": None,
            "refund_refusal_explanation": None,
            "service_date": None,
            "service_documentation": None,
            "shipping_address": None,
            "shipping_carrier": None,
            "shipping_date": None,
            "shipping_documentation": None,
            "shipping_tracking_number": None,
            "uncategorized_file": None,
            "uncategorized_text": None,
        },
        "evidence_details": {
            "due_by": created + 7 * 86400,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "payment_intent": charge_obj["payment_intent"],
        "payment_method_details": {
            "card": {
                "brand": charge_obj["payment_method_details"]["card"]["brand"],
                "case_type": "chargeback",
                "network_reason_code": "10.4",
            },
            "type": "card",
        },
        "reason": "fraudulent",
        "status": "needs_response",
    }


def subscription(
    id: str,
    created: int,
    *,
    customer: str,
    currency: str,
    item: Obj,
    metadata: Obj,
    default_payment_method: str | None,
    test_clock: str | None,
) -> Obj:
    """A subscription in today's shape: periods on the items, not on the subscription."""
    return {
        "id": id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
        "billing_cycle_anchor": created,
        "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": None, "type": "classic", "updated_at": None},
        "billing_thresholds": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": created,
        "currency": currency,
        "customer": customer,
        "days_until_due": None,
        "default_payment_method": default_payment_method,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": [item],
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={id}",
        },
        "latest_invoice": None,
        "livemode": False,
        "metadata": metadata,
        "next_pending_invoice_item_invoice": None,
        "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {
            "payment_method_options": None,
            "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "schedule": None,
        "start_date": created,
        "status": "incomplete",
        "test_clock": test_clock,
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None,
    }


def subscription_item(
    id: str, created: int, *, subscription_id: str, price_obj: Obj, period_start: int, period_end: int
) -> Obj:
    """A subscription item carrying the current period."""
    return {
        "id": id,
        "object": "subscription_item",
        "billing_thresholds": None,
        "created": created,
        "current_period_end": period_end,
        "current_period_start": period_start,
        "discounts": [],
        "metadata": {},
        "plan": plan_from_price(price_obj),
        "price": price_obj,
        "quantity": 1,
        "subscription": subscription_id,
        "tax_rates": [],
    }


def invoice(
    id: str,
    created: int,
    *,
    customer_obj: Obj,
    sub: Obj | None,
    billing_reason: str,
    amount: int,
    currency: str,
    number: str,
    hosted_url: str,
    period_start: int,
    period_end: int,
    lines: list[Obj],
) -> Obj:
    """A draft invoice. A subscription's links it at `parent.subscription_details.subscription`; a one-time
    payment's (Checkout's `invoice_creation`) has no parent."""
    parent = (
        {
            "quote_details": None,
            "subscription_details": {"metadata": dict(sub["metadata"]), "subscription": sub["id"]},
            "type": "subscription_details",
        }
        if sub is not None
        else None
    )
    return {
        "id": id,
        "object": "invoice",
        "account_country": "IE",
        "account_name": "Stripe double",
        "account_tax_ids": None,
        "amount_due": amount,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": amount,
        "amount_shipping": 0,
        "application": None,
        "attempt_count": 0,
        "attempted": False,
        "auto_advance": True,
        "automatic_tax": {
            "disabled_reason": None,
            "enabled": False,
            "liability": None,
            "provider": None,
            "status": None,
        },
        "automatically_finalizes_at": None,
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "created": created,
        "currency": currency,
        "custom_fields": None,
        "customer": customer_obj["id"],
        "customer_address": None,
        "customer_email": customer_obj["email"],
        "customer_name": customer_obj["name"],
        "customer_phone": None,
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discounts": [],
        "due_date": None,
        "effective_at": None,
        "ending_balance": None,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": hosted_url,
        "invoice_pdf": f"{hosted_url}/pdf",
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {"object": "list", "data": lines, "has_more": False, "url": f"/v1/invoices/{id}/lines"},
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": None,
        "number": number,
        "on_behalf_of": None,
        "parent": parent,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": period_end,
        "period_start": period_start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": "draft",
        "status_transitions": {
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": amount,
        "subtotal_excluding_tax": amount,
        "test_clock": sub["test_clock"] if sub is not None else customer_obj.get("test_clock"),
        "total": amount,
        "total_discount_amounts": [],
        "total_excluding_tax": amount,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": None,
    }


def invoice_line(
    id: str,
    *,
    invoice_id: str,
    sub: Obj,
    item: Obj,
    price_obj: Obj,
    description: str,
    period_start: int,
    period_end: int,
) -> Obj:
    """An invoice line for one subscription item (fixture: line_item, parent subscription_item_details)."""
    return {
        "id": id,
        "object": "line_item",
        "amount": price_obj["unit_amount"],
        "currency": price_obj["currency"],
        "description": description,
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": dict(sub["metadata"]),
        "parent": {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": sub["id"],
                "subscription_item": item["id"],
            },
            "type": "subscription_item_details",
        },
        "period": {"end": period_end, "start": period_start},
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": {"price": price_obj["id"], "product": price_obj["product"]},
            "type": "price_details",
            "unit_amount_decimal": price_obj["unit_amount_decimal"],
        },
        "quantity": 1,
        "subscription": sub["id"],
        "taxes": [],
    }


def one_time_invoice_line(id: str, *, invoice_id: str, price_obj: Obj, description: str, quantity: int,
                          metadata: Obj, now: int) -> Obj:
    """The line of a one-time payment's invoice (Checkout's `invoice_creation`): an invoice item's."""
    return {
        "id": id,
        "object": "line_item",
        "amount": int(price_obj["unit_amount"]) * quantity,
        "currency": price_obj["currency"],
        "description": description,
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": dict(metadata),
        "parent": {
            "invoice_item_details": {
                "invoice_item": id.replace("il_", "ii_", 1),
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": None,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        },
        "period": {"end": now, "start": now},
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": {"price": price_obj["id"], "product": price_obj["product"]},
            "type": "price_details",
            "unit_amount_decimal": price_obj["unit_amount_decimal"],
        },
        "quantity": quantity,
        "subscription": None,
        "taxes": [],
    }


def invoice_payment(id: str, created: int, *, invoice_obj: Obj, payment_intent_id: str) -> Obj:
    """The link between an invoice and the payment intent that paid it."""
    return {
        "id": id,
        "object": "invoice_payment",
        "amount_paid": invoice_obj["amount_due"],
        "amount_requested": invoice_obj["amount_due"],
        "created": created,
        "currency": invoice_obj["currency"],
        "invoice": invoice_obj["id"],
        "is_default": True,
        "livemode": False,
        "payment": {"payment_intent": payment_intent_id, "type": "payment_intent"},
        "status": "paid",
        "status_transitions": {"canceled_at": None, "paid_at": created},
    }


def event(
    id: str,
    created: int,
    *,
    type: str,
    data_object: Obj,
    previous: Obj | None,
    request: Obj,
    pending_webhooks: int,
) -> Obj:
    """A snapshot event (fixture: event) at today's API version."""
    data: Obj = {"object": data_object}
    if previous is not None:
        data["previous_attributes"] = previous
    return {
        "id": id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": pending_webhooks,
        "request": request,
        "type": type,
    }


def portal_session(
    id: str,
    created: int,
    *,
    customer: str,
    return_url: str | None,
    url: str,
    flow: Obj | None,
    locale: str | None,
) -> Obj:
    """A billing portal session (fixture: billing_portal.session)."""
    return {
        "id": id,
        "object": "billing_portal.session",
        "configuration": "bpc_double_default",
        "created": created,
        "customer": customer,
        "flow": flow,
        "livemode": False,
        "locale": locale,
        "on_behalf_of": None,
        "return_url": return_url,
        "url": url,
    }


def test_clock(id: str, created: int, *, frozen_time: int, name: str | None) -> Obj:
    """A test clock (fixture: test_helpers.test_clock)."""
    return {
        "id": id,
        "object": "test_helpers.test_clock",
        "created": created,
        "deletes_after": created + 30 * 86400,
        "frozen_time": frozen_time,
        "livemode": False,
        "name": name,
        "status": "ready",
        "status_details": {},
    }


def webhook_endpoint(
    id: str,
    created: int,
    *,
    url: str,
    enabled_events: list[str],
    secret: str,
    description: str | None,
    api_version: str | None = None,
    metadata: Obj | None = None,
) -> Obj:
    """A webhook endpoint; the secret is private (Stripe shows it only in the create response).

    `api_version` None means the account's default version, as Stripe shows it."""
    return {
        "id": id,
        "object": "webhook_endpoint",
        "api_version": api_version,
        "application": None,
        "created": created,
        "description": description,
        "enabled_events": enabled_events,
        "livemode": False,
        "metadata": metadata or {},
        "status": "enabled",
        "url": url,
        "_secret": secret,
    }


def portal_configuration(id: str, created: int) -> Obj:
    """A Billing Portal configuration with Stripe's defaults for what the create request leaves out
    (fixture: billing_portal.configuration); the API layer applies the request's values."""
    return {
        "id": id,
        "object": "billing_portal.configuration",
        "active": True,
        "application": None,
        "business_profile": {"headline": None, "privacy_policy_url": None, "terms_of_service_url": None},
        "created": created,
        "default_return_url": None,
        "features": {
            "customer_update": {"allowed_updates": [], "enabled": False},
            "invoice_history": {"enabled": False},
            "payment_method_update": {"enabled": False, "payment_method_configuration": None},
            "subscription_cancel": {
                "cancellation_reason": {"enabled": False, "options": []},
                "enabled": False,
                "mode": "at_period_end",
                "proration_behavior": "none",
            },
            "subscription_update": {
                "default_allowed_updates": [],
                "enabled": False,
                "proration_behavior": "none",
                "schedule_at_period_end": {"conditions": []},
                "trial_update_behavior": "end_trial",
            },
        },
        "is_default": False,
        "livemode": False,
        "login_page": {"enabled": False, "url": None},
        "metadata": {},
        "name": None,
        "updated": created,
    }


def account(id: str, created: int, *, country: str, default_currency: str) -> Obj:
    """The account the key belongs to (fixture: account), as a test-mode newsroom's looks."""
    requirements: Obj = {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": [],
        "disabled_reason": None,
        "errors": [],
        "eventually_due": [],
        "past_due": [],
        "pending_verification": [],
    }
    return {
        "id": id,
        "object": "account",
        "business_profile": {
            "annual_revenue": {"amount": None, "currency": None, "fiscal_year_end": None},
            "estimated_worker_count": None,
            "mcc": "5994",
            "minority_owned_business_designation": None,
            "name": "Stripe double newsroom",
            "product_description": None,
            "support_address": {
                "city": None, "country": None, "line1": None, "line2": None, "postal_code": None, "state": None,
            },
            "support_email": None,
            "support_phone": None,
            "support_url": None,
            "url": None,
        },
        "business_type": "company",
        "capabilities": {"card_payments": "active", "transfers": "active"},
        "charges_enabled": True,
        "controller": {"type": "account"},
        "country": country,
        "created": created,
        "default_currency": default_currency,
        "details_submitted": True,
        "email": "newsroom@example.com",
        "external_accounts": {
            "object": "list", "data": [], "has_more": False, "url": f"/v1/accounts/{id}/external_accounts",
        },
        "future_requirements": dict(requirements),
        "metadata": {},
        "payouts_enabled": True,
        "requirements": dict(requirements),
        "settings": {
            "bacs_debit_payments": {"display_name": None, "service_user_number": None},
            "branding": {"icon": None, "logo": None, "primary_color": None, "secondary_color": None},
            "card_issuing": {"tos_acceptance": {"date": None, "ip": None}},
            "card_payments": {
                "decline_on": {"avs_failure": False, "cvc_failure": True},
                "statement_descriptor_prefix": None,
                "statement_descriptor_prefix_kana": None,
                "statement_descriptor_prefix_kanji": None,
            },
            "dashboard": {"display_name": "Stripe double newsroom", "timezone": "Etc/UTC"},
            "invoices": {"default_account_tax_ids": None, "hosted_payment_method_save": None},
            "payments": {
                "statement_descriptor": None,
                "statement_descriptor_kana": None,
                "statement_descriptor_kanji": None,
                "statement_descriptor_prefix_kana": None,
                "statement_descriptor_prefix_kanji": None,
            },
            "payouts": {"debit_negative_balances": True, "schedule": {"delay_days": 7, "interval": "daily"},
                        "statement_descriptor": None},
            "sepa_debit_payments": {},
        },
        "tos_acceptance": {"date": created, "ip": "127.0.0.1", "user_agent": None},
        "type": "standard",
    }


# Stripe's card presentment currencies (docs.stripe.com/currencies), the list a country spec gives.
PAYMENT_CURRENCIES = (
    "aed", "afn", "all", "amd", "ang", "aoa", "ars", "aud", "awg", "azn", "bam", "bbd", "bdt", "bgn", "bif", "bmd",
    "bnd", "bob", "brl", "bsd", "bwp", "byn", "bzd", "cad", "cdf", "chf", "clp", "cny", "cop", "crc", "cve", "czk",
    "djf", "dkk", "dop", "dzd", "egp", "etb", "eur", "fjd", "fkp", "gbp", "gel", "gip", "gmd", "gnf", "gtq", "gyd",
    "hkd", "hnl", "htg", "huf", "idr", "ils", "inr", "isk", "jmd", "jpy", "kes", "kgs", "khr", "kmf", "krw", "kyd",
    "kzt", "lak", "lbp", "lkr", "lrd", "lsl", "mad", "mdl", "mga", "mkd", "mmk", "mnt", "mop", "mur", "mvr", "mwk",
    "mxn", "myr", "mzn", "nad", "ngn", "nio", "nok", "npr", "nzd", "pab", "pen", "pgk", "php", "pkr", "pln", "pyg",
    "qar", "ron", "rsd", "rub", "rwf", "sar", "sbd", "scr", "sek", "sgd", "shp", "sle", "sos", "srd", "std", "szl",
    "thb", "tjs", "top", "try", "ttd", "twd", "tzs", "uah", "ugx", "usd", "uyu", "uzs", "vnd", "vuv", "wst", "xaf",
    "xcd", "xof", "xpf", "yer", "zar", "zmw",
)


def country_spec(country: str, *, default_currency: str, unsupported: frozenset[str]) -> Obj:
    """What a country's accounts can do (fixture: country_spec); `unsupported` currencies are left out."""
    return {
        "id": country,
        "object": "country_spec",
        "default_currency": default_currency,
        "supported_bank_account_currencies": {default_currency: [country]},
        "supported_payment_currencies": [c for c in PAYMENT_CURRENCIES if c not in unsupported],
        "supported_payment_methods": ["card", "stripe"],
        "supported_transfer_countries": [country],
        "verification_fields": {
            "company": {"additional": [], "minimum": ["business_profile.url", "external_account"]},
            "individual": {"additional": [], "minimum": ["business_profile.url", "external_account"]},
        },
    }
