"""Every object the double returns has the shape of Stripe's own example object for its type.

Stripe's examples (`../shared/stripe/fixtures3.json`, beside the clone; README there) are compared key by
key with what the double answers after a run through everything the app does: every key of the example is
present with the same JSON type, recursively (null in the example matches anything; a null from the
double only where the stripe SDK types the field as nullable; list elements by the shape of the example's
first element). String values that the SDK types as an enum must be one of its values for our API version,
which is what catches a value that was right in an older API (the examples are from late 2025). Anything
the double does differently on purpose is in ALLOWED_DIFFERENCES, with the reason.
"""

from __future__ import annotations

import json
import os
import typing
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path
from typing import Any, Literal, Union

import pytest
import stripe
from stripe._object_classes import OBJECT_CLASSES
from stripe._stripe_object import UntypedStripeObject

from stripe_double import DoubleServer
from stripe_double.store import render

from .conftest import payment_params, subscription_params

REPO_ROOT = Path(__file__).resolve().parents[2]
# CI puts a copy of shared/ beside the clone; STRIPE_FIXTURES points elsewhere (a worktree, say).
FIXTURES = Path(os.environ.get("STRIPE_FIXTURES") or REPO_ROOT.parent / "shared" / "stripe" / "fixtures3.json")
START = 1_767_225_600

# "<object type>.<path>": why the double differs from Stripe's example there. Keep it short and true.
ALLOWED_DIFFERENCES: dict[str, str] = {}


@pytest.fixture(scope="module")
def examples() -> dict[str, Any]:
    if not FIXTURES.exists():
        if os.environ.get("CI"):
            pytest.fail(f"Stripe's example objects are missing at {FIXTURES} (CI copies shared/ beside the clone).")
        pytest.skip(f"Stripe's example objects are not at {FIXTURES}; set STRIPE_FIXTURES to compare shapes.")
    resources: dict[str, Any] = json.loads(FIXTURES.read_text())["resources"]
    return resources


def _sdk_class(object_type: str) -> type | None:
    entry = OBJECT_CLASSES.get(object_type)
    return _sdk_class_at(*entry) if entry else None


def _field_type(owner: Any, key: str) -> Any:
    """The SDK's annotation for `owner.key` (None when the SDK says nothing there)."""
    origin = typing.get_origin(owner)
    if isinstance(origin, type) and issubclass(origin, stripe.ListObject):
        return list[typing.get_args(owner)[0]] if key == "data" else None  # type: ignore[misc]
    if not isinstance(owner, type):
        return None
    for cls in owner.__mro__:
        annotation = getattr(cls, "__annotations__", {}).get(key)
        if annotation is not None:
            return annotation
    return None


def _options(annotation: Any) -> list[Any]:
    if annotation is None:
        return []
    if typing.get_origin(annotation) is Union:
        return list(typing.get_args(annotation))
    return [annotation]


def _sdk_class_named(name: str) -> type | None:
    """A resource class the SDK refers to by name (`"Plan"`): the top-level one when names repeat."""
    matches = [entry for entry in OBJECT_CLASSES.values() if entry[1] == name]
    if len(matches) > 1:
        matches = [entry for entry in matches if entry[0].count(".") == 1]
    return _sdk_class_at(*matches[0]) if len(matches) == 1 else None


def _sdk_class_at(module: str, name: str) -> type:
    cls: type = getattr(import_module(module), name)
    return cls


def _nested_class(annotation: Any) -> Any:
    """The StripeObject class a field holds (or a list of holds), for the next level down."""
    for option in _options(annotation):
        if typing.get_origin(option) in (list, typing.List):  # noqa: UP006
            return _nested_class(typing.get_args(option)[0])
        if isinstance(option, typing.ForwardRef | str):
            return _sdk_class_named(option.__forward_arg__ if isinstance(option, typing.ForwardRef) else option)
        origin = typing.get_origin(option)
        if isinstance(origin, type) and issubclass(origin, stripe.ListObject):
            return option
        if isinstance(option, type) and issubclass(option, stripe.StripeObject):
            return option
    return None


def _removed_from_api(sdk_type: Any, key: str) -> bool:
    """A key of the (older) example that the SDK for our API version no longer has, such as
    `invoice.subscription` (now `invoice.parent.subscription_details.subscription`)."""
    if not isinstance(sdk_type, type) or not getattr(sdk_type, "__annotations__", None):
        return False
    return _field_type(sdk_type, key) is None


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    names = {dict: "object", list: "array", str: "string"}
    return next((name for kind, name in names.items() if isinstance(value, kind)), "null")


def _enum(annotation: Any) -> list[str]:
    return [v for o in _options(annotation) if typing.get_origin(o) is Literal for v in typing.get_args(o)]


def compare(example: Any, actual: Any, sdk_type: Any, path: str, annotation: Any = None) -> Iterator[str]:
    """Differences between Stripe's example and the double's object, as `path: what` lines."""
    if example is None:
        return
    if actual is None:
        if type(None) not in typing.get_args(annotation):
            yield f"{path}: null where Stripe has {_json_type(example)} (and the SDK says it is never null)"
        return
    if isinstance(example, str) and isinstance(actual, dict) and isinstance(actual.get("object"), str):
        return  # an expanded id: the object is compared under its own type
    if _json_type(example) != _json_type(actual):
        yield f"{path}: {_json_type(actual)} where Stripe has {_json_type(example)}"
        return
    if isinstance(actual, str) and _enum(annotation) and actual not in _enum(annotation):
        yield f"{path}: {actual!r} is not one of the SDK's values {_enum(annotation)}"
    if isinstance(example, dict):
        if path.endswith(("metadata", "previous_attributes")):
            return  # free-form
        if path.endswith("data.object") and isinstance(actual.get("object"), str):
            return  # an event's object: compared under its own type
        if any(typing.get_origin(option) in (dict, UntypedStripeObject) for option in _options(annotation)):
            # A map keyed by data (e.g. a currency), typed as one in the SDK: its keys are the account's
            # own, so each value is compared with the example's first.
            for key, item in actual.items():
                if example:
                    yield from compare(next(iter(example.values())), item, None, f"{path}.{key}")
            return
        for key, value in example.items():
            child = f"{path}.{key}"
            if _removed_from_api(sdk_type, key):
                continue
            if key not in actual:
                yield f"{child}: missing"
            else:
                field = _field_type(sdk_type, key)
                yield from compare(value, actual[key], _nested_class(field), child, field)
    elif isinstance(example, list) and example:
        element = _nested_class(annotation)
        element_annotation = next(
            (typing.get_args(o)[0] for o in _options(annotation) if typing.get_origin(o) is list), None
        )
        for item in actual:
            yield from compare(example[0], item, element, f"{path}[]", element_annotation)


def _differences(examples: dict[str, Any], obj: dict[str, Any]) -> list[str]:
    object_type = str(obj["object"])
    name = f"deleted_{object_type}" if obj.get("deleted") else object_type
    if name not in examples:
        return [f"{name}: Stripe has no example object of this type"]
    return list(compare(examples[name], obj, _sdk_class(object_type), name, _sdk_class(object_type)))


def _lists(value: Any) -> Iterator[dict[str, Any]]:
    """Every list object inside a response."""
    if isinstance(value, dict):
        if value.get("object") == "list":
            yield value
        for item in value.values():
            yield from _lists(item)
    elif isinstance(value, list):
        for item in value:
            yield from _lists(item)


def _list_objects(value: Any) -> Iterator[dict[str, Any]]:
    """Every object with an `object` field inside a response, the response included."""
    if isinstance(value, dict):
        if isinstance(value.get("object"), str) and value.get("object") != "list":
            yield value
        for item in value.values():
            yield from _list_objects(item)
    elif isinstance(value, list):
        for item in value:
            yield from _list_objects(item)


def _exercise(sdk: stripe.StripeClient, srv: DoubleServer) -> list[dict[str, Any]]:
    """Everything the app does, and what the double answered: gift, membership with renewal, refund,
    dispute, expiry, portal, test clock, webhook endpoint, deletions and lists."""
    answers: list[Any] = []
    gift = sdk.v1.checkout.sessions.create(params=payment_params())  # type: ignore[arg-type]
    assert srv.pay_checkout(gift.id).ok
    answers.append(sdk.v1.checkout.sessions.retrieve(gift.id, params={"expand": ["line_items"]}))
    pi = str(sdk.v1.checkout.sessions.retrieve(gift.id).payment_intent)
    intent = sdk.v1.payment_intents.retrieve(pi, params={"expand": ["latest_charge.balance_transaction"]})
    answers.append(intent)
    answers.append(sdk.v1.refunds.create(params={"payment_intent": pi, "amount": 300}))

    disputed = sdk.v1.checkout.sessions.create(params=payment_params())  # type: ignore[arg-type]
    assert srv.pay_checkout(disputed.id, card="4000000000000259").ok
    answers.append(sdk.v1.disputes.list())

    expired = sdk.v1.checkout.sessions.create(params=payment_params())  # type: ignore[arg-type]
    answers.append(sdk.v1.checkout.sessions.expire(expired.id))

    clock = sdk.v1.test_helpers.test_clocks.create(params={"frozen_time": START, "name": "shapes"})
    customer = sdk.v1.customers.create(params={"email": "patron@example.com", "test_clock": clock.id})
    params = subscription_params(customer=customer.id)
    params.pop("customer_email")
    member = sdk.v1.checkout.sessions.create(params=params)  # type: ignore[arg-type]
    assert srv.pay_checkout(member.id).ok
    sub_id = str(sdk.v1.checkout.sessions.retrieve(member.id).subscription)
    answers.append(sdk.v1.test_helpers.test_clocks.advance(clock.id, params={"frozen_time": START + 32 * 86400}))
    answers.append(sdk.v1.subscriptions.retrieve(sub_id, params={"expand": ["default_payment_method"]}))
    invoices = sdk.v1.invoices.list(params={"subscription": sub_id})
    answers.append(invoices)
    answers.append(sdk.v1.invoice_payments.list(params={"invoice": invoices.data[0].id}))
    price = sdk.v1.subscriptions.retrieve(sub_id)["items"].data[0].price
    answers.append(sdk.v1.prices.retrieve(price.id))
    answers.append(sdk.v1.products.retrieve(str(price.product)))
    answers.append(
        sdk.v1.billing_portal.sessions.create(params={"customer": customer.id, "return_url": "https://news.example/a"})
    )
    endpoint = sdk.v1.webhook_endpoints.create(
        params={"url": "https://news.example/stripe/webhook", "enabled_events": ["invoice.paid"]}
    )
    answers.append(endpoint)
    answers.append(sdk.v1.webhook_endpoints.update(endpoint.id, params={"metadata": {"membership": "webhook"}}))
    answers.append(sdk.v1.webhook_endpoints.delete(endpoint.id))
    configuration = sdk.v1.billing_portal.configurations.create(params={
        "features": {"payment_method_update": {"enabled": True}, "invoice_history": {"enabled": True}},
        "metadata": {"membership": "billing_portal"},
    })
    answers.append(configuration)
    answers.append(sdk.v1.billing_portal.configurations.update(configuration.id, params={"active": True}))
    answers.append(sdk.v1.billing_portal.configurations.list())
    account = sdk.v1.accounts.retrieve_current()
    answers.append(account)
    answers.append(sdk.v1.country_specs.retrieve(str(account.country)))
    answers.append(sdk.v1.customers.delete(sdk.v1.customers.create(params={"email": "gone@example.com"}).id))
    answers.append(sdk.v1.test_helpers.test_clocks.delete(sdk.v1.test_helpers.test_clocks.create(
        params={"frozen_time": START}).id))
    answers.append(sdk.v1.events.list(params={"limit": 100}))
    # The JSON as sent: the SDK's own objects turn decimal strings into Decimal.
    bodies = [json.loads(a.last_response.body) for a in answers]
    # And whatever else the double keeps, rendered as a retrieve returns it.
    bodies.extend(render(o) for o in srv.state.objects.values() if not o.get("_deleted"))
    return bodies


def test_every_object_matches_stripes_example(
    examples: dict[str, Any], sdk: stripe.StripeClient, srv: DoubleServer
) -> None:
    seen: set[str] = set()
    problems: set[str] = set()
    for body in _exercise(sdk, srv):
        for obj in _list_objects(body):
            seen.add(f"deleted_{obj['object']}" if obj.get("deleted") else str(obj["object"]))
            problems.update(_differences(examples, obj))
        for page in _lists(body):
            shape = {key: _json_type(page.get(key)) for key in ("object", "data", "has_more", "url")}
            assert shape == {"object": "string", "data": "array", "has_more": "boolean", "url": "string"}, page
            seen.add("list")
    allowed = {p for p in problems if p.split(":")[0] in ALLOWED_DIFFERENCES}
    unexpected = sorted(problems - allowed)
    assert not unexpected, "\n".join(unexpected)
    stale = set(ALLOWED_DIFFERENCES) - {p.split(":")[0] for p in problems}
    assert stale == set(), "allowed differences that no longer occur"
    assert {
        "checkout.session", "customer", "subscription", "subscription_item", "invoice", "line_item",
        "invoice_payment", "charge", "payment_intent", "payment_method", "balance_transaction", "refund",
        "dispute", "event", "billing_portal.session", "test_helpers.test_clock", "price", "product", "plan",
        "item", "webhook_endpoint", "deleted_customer", "deleted_webhook_endpoint", "billing_portal.configuration",
        "account", "country_spec",
        "deleted_test_helpers.test_clock", "list",
    } <= seen
