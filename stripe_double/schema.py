"""Every /v1 request is checked against the stripe SDK's typed request parameters for its endpoint.

`ROUTE_PARAMS` maps each route the double serves to the SDK's `*Params` TypedDict for that endpoint (a new
route needs one row). `check` walks the parsed bracket params against it the way Stripe's API does:
unknown keys, missing required keys, integers, booleans, enum values, nested hashes, arrays, metadata
and the empty string that only unsettable params accept. Whatever Stripe would refuse, the double refuses
with Stripe's error shape, so the app's tests fail the moment the gateway sends something real Stripe won't
take. Only SDK *types* are used here: the double still talks to nobody.
"""

from __future__ import annotations

import decimal
import re
import sys
import types
import typing
from functools import cache
from typing import Any, ForwardRef, Literal, Union

from stripe._request_options import RequestOptions
from stripe._stripe_object import UntypedStripeObject
from stripe.params import (
    AccountRetrieveCurrentParams,
    BalanceTransactionRetrieveParams,
    ChargeListParams,
    ChargeRetrieveParams,
    CountrySpecRetrieveParams,
    CustomerCreateParams,
    CustomerDeleteParams,
    CustomerListParams,
    CustomerRetrieveParams,
    CustomerUpdateParams,
    DisputeCloseParams,
    DisputeListParams,
    DisputeRetrieveParams,
    DisputeUpdateParams,
    EventListParams,
    EventRetrieveParams,
    InvoiceListParams,
    InvoicePaymentListParams,
    InvoicePaymentRetrieveParams,
    InvoicePayParams,
    InvoiceRetrieveParams,
    PaymentIntentRetrieveParams,
    PaymentMethodRetrieveParams,
    PriceRetrieveParams,
    ProductRetrieveParams,
    RefundCreateParams,
    RefundListParams,
    RefundRetrieveParams,
    SubscriptionCancelParams,
    SubscriptionListParams,
    SubscriptionRetrieveParams,
    SubscriptionUpdateParams,
    WebhookEndpointCreateParams,
    WebhookEndpointDeleteParams,
    WebhookEndpointListParams,
    WebhookEndpointRetrieveParams,
    WebhookEndpointUpdateParams,
)
from stripe.params.billing_portal import (
    ConfigurationCreateParams as PortalConfigurationCreateParams,
)
from stripe.params.billing_portal import (
    ConfigurationListParams as PortalConfigurationListParams,
)
from stripe.params.billing_portal import (
    ConfigurationRetrieveParams as PortalConfigurationRetrieveParams,
)
from stripe.params.billing_portal import (
    ConfigurationUpdateParams as PortalConfigurationUpdateParams,
)
from stripe.params.billing_portal import SessionCreateParams as PortalSessionCreateParams
from stripe.params.checkout import (
    SessionCreateParams,
    SessionExpireParams,
    SessionLineItemListParams,
    SessionListParams,
    SessionRetrieveParams,
)
from stripe.params.test_helpers import (
    TestClockAdvanceParams,
    TestClockCreateParams,
    TestClockDeleteParams,
    TestClockListParams,
    TestClockRetrieveParams,
)

from .store import Obj
from .wire import StripeError, missing

# (method, Flask rule) -> the SDK's params TypedDict for that endpoint. One row per route the double serves.
ROUTE_PARAMS: dict[tuple[str, str], type] = {
    ("POST", "/v1/checkout/sessions"): SessionCreateParams,
    ("GET", "/v1/checkout/sessions"): SessionListParams,
    ("GET", "/v1/checkout/sessions/<session_id>"): SessionRetrieveParams,
    ("GET", "/v1/checkout/sessions/<session_id>/line_items"): SessionLineItemListParams,
    ("POST", "/v1/checkout/sessions/<session_id>/expire"): SessionExpireParams,
    ("POST", "/v1/customers"): CustomerCreateParams,
    ("GET", "/v1/customers"): CustomerListParams,
    ("GET", "/v1/customers/<customer_id>"): CustomerRetrieveParams,
    ("POST", "/v1/customers/<customer_id>"): CustomerUpdateParams,
    ("DELETE", "/v1/customers/<customer_id>"): CustomerDeleteParams,
    ("GET", "/v1/subscriptions"): SubscriptionListParams,
    ("GET", "/v1/subscriptions/<sub_id>"): SubscriptionRetrieveParams,
    ("POST", "/v1/subscriptions/<sub_id>"): SubscriptionUpdateParams,
    ("DELETE", "/v1/subscriptions/<sub_id>"): SubscriptionCancelParams,
    ("GET", "/v1/invoices"): InvoiceListParams,
    ("GET", "/v1/invoices/<invoice_id>"): InvoiceRetrieveParams,
    ("GET", "/v1/invoice_payments"): InvoicePaymentListParams,
    ("GET", "/v1/invoice_payments/<payment_id>"): InvoicePaymentRetrieveParams,
    ("GET", "/v1/payment_intents/<pi_id>"): PaymentIntentRetrieveParams,
    ("GET", "/v1/charges"): ChargeListParams,
    ("GET", "/v1/charges/<charge_id>"): ChargeRetrieveParams,
    ("GET", "/v1/balance_transactions/<txn_id>"): BalanceTransactionRetrieveParams,
    ("GET", "/v1/payment_methods/<pm_id>"): PaymentMethodRetrieveParams,
    ("GET", "/v1/products/<product_id>"): ProductRetrieveParams,
    ("GET", "/v1/prices/<price_id>"): PriceRetrieveParams,
    ("POST", "/v1/refunds"): RefundCreateParams,
    ("GET", "/v1/refunds"): RefundListParams,
    ("GET", "/v1/refunds/<refund_id>"): RefundRetrieveParams,
    ("GET", "/v1/disputes"): DisputeListParams,
    ("GET", "/v1/disputes/<dispute_id>"): DisputeRetrieveParams,
    ("POST", "/v1/disputes/<dispute_id>"): DisputeUpdateParams,
    ("POST", "/v1/disputes/<dispute_id>/close"): DisputeCloseParams,
    ("GET", "/v1/events"): EventListParams,
    ("GET", "/v1/events/<event_id>"): EventRetrieveParams,
    ("POST", "/v1/billing_portal/sessions"): PortalSessionCreateParams,
    ("POST", "/v1/test_helpers/test_clocks"): TestClockCreateParams,
    ("GET", "/v1/test_helpers/test_clocks"): TestClockListParams,
    ("GET", "/v1/test_helpers/test_clocks/<clock_id>"): TestClockRetrieveParams,
    ("DELETE", "/v1/test_helpers/test_clocks/<clock_id>"): TestClockDeleteParams,
    ("POST", "/v1/test_helpers/test_clocks/<clock_id>/advance"): TestClockAdvanceParams,
    ("POST", "/v1/webhook_endpoints"): WebhookEndpointCreateParams,
    ("GET", "/v1/webhook_endpoints"): WebhookEndpointListParams,
    ("GET", "/v1/webhook_endpoints/<endpoint_id>"): WebhookEndpointRetrieveParams,
    ("DELETE", "/v1/webhook_endpoints/<endpoint_id>"): WebhookEndpointDeleteParams,
    ("POST", "/v1/webhook_endpoints/<endpoint_id>"): WebhookEndpointUpdateParams,
    ("GET", "/v1/billing_portal/configurations"): PortalConfigurationListParams,
    ("POST", "/v1/billing_portal/configurations"): PortalConfigurationCreateParams,
    ("GET", "/v1/billing_portal/configurations/<config_id>"): PortalConfigurationRetrieveParams,
    ("POST", "/v1/billing_portal/configurations/<config_id>"): PortalConfigurationUpdateParams,
    ("POST", "/v1/invoices/<invoice_id>/pay"): InvoicePayParams,
    ("GET", "/v1/account"): AccountRetrieveCurrentParams,
    ("GET", "/v1/country_specs/<country>"): CountrySpecRetrieveParams,
}

# Client-side options some params classes inherit (api_key, idempotency_key…): the SDK sends them as
# headers, never as parameters.
_CLIENT_OPTIONS = frozenset(RequestOptions.__annotations__)
_DECIMAL = re.compile(r"-?(\d+(\.\d*)?|\.\d+)")
# Form-encoded scalars: (name in Stripe's message, accepted text, error code Stripe gives, if any).
_SCALARS: dict[Any, tuple[str, re.Pattern[str] | None, str | None]] = {
    int: ("integer", re.compile(r"-?\d+"), "parameter_invalid_integer"),
    bool: ("boolean", re.compile(r"true|false"), None),
    float: ("decimal", _DECIMAL, None),
    decimal.Decimal: ("decimal", _DECIMAL, None),
}


def check(method: str, rule: str, params: Obj) -> None:
    """Raise the StripeError Stripe would answer for `params` on this route; a route without a row passes."""
    params_class = ROUTE_PARAMS.get((method, rule))
    if params_class is not None:
        _check_fields(params_class, params, prefix="")


@cache
def _fields(params_class: type) -> tuple[dict[str, Any], frozenset[str]]:
    """A TypedDict's keys with their resolved types, and its required keys (client options left out)."""
    namespace = vars(sys.modules[params_class.__module__])
    fields = {
        key: _resolve(annotation, namespace)
        for key, annotation in params_class.__annotations__.items()
        if key not in _CLIENT_OPTIONS
    }
    required = frozenset(getattr(params_class, "__required_keys__", frozenset())) - _CLIENT_OPTIONS
    return fields, required


def _resolve(annotation: Any, namespace: dict[str, Any]) -> Any:
    """Evaluate the SDK's string annotations (`"Literal['a', 'b']|str"`) and drop NotRequired/Required."""
    if isinstance(annotation, str):
        return _resolve(eval(annotation, namespace), namespace)  # noqa: S307 - the SDK's own annotations
    if isinstance(annotation, ForwardRef):
        return _resolve(annotation.__forward_arg__, namespace)
    origin = typing.get_origin(annotation)
    if origin in (typing.NotRequired, typing.Required):
        return _resolve(typing.get_args(annotation)[0], namespace)
    if origin in (Union, types.UnionType):
        return Union[tuple(_resolve(a, namespace) for a in typing.get_args(annotation))]  # noqa: UP007
    if origin in (list, dict):
        args = tuple(_resolve(a, namespace) for a in typing.get_args(annotation))
        return list[args[0]] if origin is list else dict[args[0], args[1]]  # type: ignore[valid-type]
    return annotation


def _check_fields(params_class: type, value: Obj, prefix: str) -> None:
    fields, required = _fields(params_class)
    for key, item in value.items():
        path = f"{prefix}[{key}]" if prefix else key
        if key not in fields:
            raise StripeError(f"Received unknown parameter: {path}", code="parameter_unknown", param=path)
        _check_value(fields[key], item, path)
    for key in sorted(required - value.keys()):
        raise missing(f"{prefix}[{key}]" if prefix else key)


def _alternatives(expected: Any) -> list[Any]:
    """The types a value may take. An enum's trailing `|str` is the SDK's forward compatibility, not
    Stripe's: the API refuses values outside the enum, so it is dropped when an enum is present."""
    options = list(typing.get_args(expected)) if typing.get_origin(expected) is Union else [expected]
    options = [o for o in options if o is not type(None)]
    if any(typing.get_origin(o) is Literal and any(v != "" for v in typing.get_args(o)) for o in options):
        options = [o for o in options if o is not str]
    typed = [o for o in options if not _is_untyped(o)]
    return typed or options


def _is_untyped(expected: Any) -> bool:
    return expected is Any or expected is object or (typing.get_origin(expected) or expected) is UntypedStripeObject


def _check_value(expected: Any, value: Any, path: str) -> None:
    options = _alternatives(expected)
    if value == "":
        if any(typing.get_origin(o) is Literal and "" in typing.get_args(o) for o in options):
            return
        raise StripeError(
            f"You passed an empty string for '{path}'. We assume empty values are an attempt to unset a "
            f"parameter; however '{path}' cannot be unset. You should remove '{path}' from your request or "
            "supply a non-empty value.",
            code="parameter_invalid_empty",
            param=path,
        )
    options = [o for o in options if typing.get_args(o) != ("",)] or options
    # Several alternatives (`str | SomeHash`): the one matching the value's wire shape decides the error.
    fitting = [o for o in options if _shape(o) == _wire_shape(value)] or options
    errors: list[StripeError] = []
    for option in fitting:
        try:
            _check_one(option, value, path)
            return
        except StripeError as exc:
            errors.append(exc)
    raise errors[0]


def _shape(expected: Any) -> str:
    origin = typing.get_origin(expected) or expected
    if origin is list:
        return "array"
    if origin is dict or _is_typed_dict(expected) or _is_untyped(expected):
        return "hash"
    return "scalar"


def _wire_shape(value: Any) -> str:
    return "array" if isinstance(value, list) else "hash" if isinstance(value, dict) else "scalar"


def _is_typed_dict(expected: Any) -> bool:
    return isinstance(expected, type) and issubclass(expected, dict) and hasattr(expected, "__required_keys__")


def _check_one(expected: Any, value: Any, path: str) -> None:
    origin = typing.get_origin(expected) or expected
    if _is_untyped(expected):
        return
    if _is_typed_dict(expected):
        if not isinstance(value, dict):
            raise StripeError("Invalid hash", param=path)
        _check_fields(expected, value, path)
        return
    if origin is dict:
        if isinstance(value, list):  # `metadata[0]=x`: digits as keys
            value = {str(i): v for i, v in enumerate(value)}
        if not isinstance(value, dict):
            raise StripeError("Invalid hash", param=path)
        value_type = typing.get_args(expected)[1] if typing.get_args(expected) else Any
        for key, item in value.items():
            if item != "":  # `metadata[key]=` unsets that key
                _check_value(value_type, item, f"{path}[{key}]")
        return
    if origin is list:
        if not isinstance(value, list):
            raise StripeError("Invalid array", param=path)
        element = typing.get_args(expected)[0] if typing.get_args(expected) else Any
        for i, item in enumerate(value):
            _check_value(element, item, f"{path}[{i}]")
        return
    if not isinstance(value, str):
        kind = "an array" if isinstance(value, list) else "a hash"
        raise StripeError(f"Invalid {_scalar_name(expected)}: {path} got {kind}", param=path)
    _check_scalar(expected, value, path)


def _scalar_name(expected: Any) -> str:
    return _SCALARS[expected][0] if expected in _SCALARS else "string"


def _check_scalar(expected: Any, value: str, path: str) -> None:
    if typing.get_origin(expected) is Literal:
        allowed = [str(v) for v in typing.get_args(expected) if v != ""] or ["an empty string"]
        if value not in allowed:
            choices = allowed[0] if len(allowed) <= 1 else f"{', '.join(allowed[:-1])}, or {allowed[-1]}"
            raise StripeError(f"Invalid {path}: must be one of {choices}", param=path)
        return
    name, pattern, code = _SCALARS.get(expected, ("string", None, None))
    if pattern is not None and not pattern.fullmatch(value):
        raise StripeError(f"Invalid {name}: {value}", code=code, param=path)
