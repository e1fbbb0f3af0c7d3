"""Restricted keys (`rk_test_...`): each API route needs one resource's read or write permission.

Stripe checks the permission before anything else about the request, and answers 403 naming the
permission that would let it through; the SDK raises `stripe.PermissionError` for it.
"""

from __future__ import annotations

from .config import DoubleConfig
from .wire import StripeError

ACCOUNT_ID = "acct_double"

# Path prefix -> the resource whose permission it needs, most specific first (the Dashboard's names in
# docs/real-stripe.md).
ROUTE_RESOURCES = (
    ("/v1/checkout/sessions", "checkout_session"),
    ("/v1/customers", "customer"),
    ("/v1/subscriptions", "subscription"),
    ("/v1/invoice_payments", "invoice"),
    ("/v1/invoices", "invoice"),
    ("/v1/payment_intents", "payment_intent"),
    ("/v1/payment_methods", "payment_method"),
    ("/v1/charges", "charge"),
    ("/v1/refunds", "refund"),
    ("/v1/disputes", "dispute"),
    ("/v1/balance_transactions", "balance"),
    ("/v1/events", "event"),
    ("/v1/products", "product"),
    ("/v1/prices", "price"),
    ("/v1/billing_portal/", "customer_portal"),
    ("/v1/webhook_endpoints", "webhook_endpoint"),
    ("/v1/test_helpers/test_clocks", "test_clock"),
    ("/v1/account", "account"),
)


def required_permission(method: str, path: str) -> str | None:
    """`<resource>_read` or `<resource>_write` for a route, or None for routes any key may call."""
    for prefix, resource in ROUTE_RESOURCES:
        if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
            return f"{resource}_{'read' if method.upper() == 'GET' else 'write'}"
    return None


def permission_error(config: DoubleConfig, key: str, method: str, path: str) -> StripeError | None:
    """Stripe's 403 when `key` is a restricted key that lacks the route's permission, else None."""
    granted = config.restricted_keys.get(key)
    if granted is None:
        return None
    needed = required_permission(method, path)
    if needed is None or needed in granted or needed.replace("_read", "_write") in granted:
        return None
    masked = f"{key[:8]}{'*' * max(0, len(key) - 12)}{key[-4:]}"
    return StripeError(
        f"The provided key '{masked}' does not have the required permissions for this endpoint on account "
        f"'{ACCOUNT_ID}'. Having the 'rak_{needed}' permission would allow this request to continue.",
        status=403,
    )
