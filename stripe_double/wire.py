"""Stripe's wire format: bracket-encoded params, JSON errors, `expand[]`, and list pagination."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from .store import Obj, Store, render

_BRACKETS = re.compile(r"\[([^\]]*)\]")


class StripeError(Exception):
    """An API error rendered as Stripe renders it: `{"error": {type, code, param, message, ...}}`."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.type = type
        self.code = code
        self.param = param
        self.decline_code = decline_code

    def body(self) -> Obj:
        """The JSON body Stripe would answer with."""
        error: Obj = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        if self.decline_code:
            error["decline_code"] = self.decline_code
        return {"error": error}


def not_found(object_label: str, object_id: str, param: str = "id") -> StripeError:
    """Stripe's 404 for an unknown id."""
    return StripeError(f"No such {object_label}: '{object_id}'", status=404, code="resource_missing", param=param)


def missing(param: str) -> StripeError:
    """Stripe's 400 for a required parameter that was not sent."""
    return StripeError(f"Missing required param: {param}.", code="parameter_missing", param=param)


def invalid(param: str, message: str, code: str = "parameter_invalid_empty") -> StripeError:
    """A 400 about one parameter's value."""
    return StripeError(message, code=code, param=param)


def _insert(root: Obj, path: list[str], value: str) -> None:
    node: Obj = root
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if part == "":
            # `expand[]=a&expand[]=b`: an empty bracket appends, so number it after what is there.
            part = str(len(node))
        if last:
            node[part] = value
            return
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise invalid(path[0], f"Invalid parameter nesting for {path[0]}.", code="parameter_invalid")
        node = child


def _listify(value: Any, key: str = "") -> Any:
    if not isinstance(value, dict):
        return value
    converted = {k: _listify(v, k) for k, v in value.items()}
    # Metadata keys are free text, so "0" there is a key, not a list index.
    if key != "metadata" and converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def parse_params(pairs: Iterable[tuple[str, str]]) -> Obj:
    """Turn `line_items[0][price_data][currency]=eur` style pairs into nested dicts and lists."""
    root: Obj = {}
    for key, value in pairs:
        base = key.split("[", 1)[0]
        path = [base, *_BRACKETS.findall(key[len(base) :])]
        _insert(root, path, value)
    result = _listify(root)
    assert isinstance(result, dict)
    return result


def get_str(params: Obj, name: str, *, required: bool = False) -> str | None:
    """A string parameter; an empty string counts as absent, as in Stripe."""
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise missing(name)
        return None
    if not isinstance(value, str):
        raise invalid(name, f"Invalid string: {name}", code="parameter_invalid_string")
    return value


def get_int(params: Obj, name: str, *, required: bool = False, param: str | None = None) -> int | None:
    """An integer parameter (Stripe answers parameter_invalid_integer for anything else)."""
    label = param or name
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise missing(label)
        return None
    if not isinstance(value, str) or not re.fullmatch(r"-?\d+", value):
        raise invalid(label, f"Invalid integer: {value}", code="parameter_invalid_integer")
    return int(value)


def get_bool(params: Obj, name: str) -> bool | None:
    """A boolean parameter sent as "true"/"false"."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if value not in ("true", "false"):
        raise invalid(name, f"Invalid boolean: {value}", code="parameter_invalid_boolean")
    return bool(value == "true")


def get_dict(params: Obj, name: str) -> Obj:
    """A nested hash parameter (absent = empty)."""
    value = params.get(name)
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid(name, f"Invalid object: {name}", code="parameter_invalid")
    return value


def get_metadata(params: Obj, name: str = "metadata") -> Obj:
    """Metadata with Stripe's rule that an empty value deletes the key (returned as None)."""
    meta = get_dict(params, name)
    return {str(k): (v if v != "" else None) for k, v in meta.items()}


def updated_metadata(current: Obj, params: Obj) -> Obj:
    """An object's metadata after an update request: an empty `metadata` unsets every key."""
    if params.get("metadata") == "":
        return {}
    return merge_metadata(current, get_metadata(params))


def merge_metadata(current: Obj, update: Obj) -> Obj:
    """Apply a metadata update: new keys set, empty values remove."""
    merged = dict(current)
    for key, value in update.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def reject_unknown(params: Obj, allowed: Iterable[str]) -> None:
    """Stripe refuses parameters it does not know; that catches typos in the gateway early."""
    known = set(allowed) | {"expand"}
    for key in params:
        if key not in known:
            raise StripeError(f"Received unknown parameter: {key}", code="parameter_unknown", param=key)


# Stripe expands at most four levels deep (`data.invoice.subscription.default_source` when listing charges).
MAX_EXPAND_DEPTH = 4


def expand_paths(params: Obj) -> list[str]:
    """The `expand[]` list of a request (refused, as Stripe does, past four levels)."""
    value = params.get("expand")
    if value is None:
        return []
    if isinstance(value, str):
        paths = [value]
    elif isinstance(value, list):
        paths = [str(v) for v in value]
    else:
        raise invalid("expand", "Invalid array", code="parameter_invalid")
    for path in paths:
        if path.count(".") >= MAX_EXPAND_DEPTH:
            raise invalid("expand", f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property. "
                          f"Property: {path}", code="parameter_invalid")
    return paths


def _expand_one(store: Store, node: Any, parts: list[str]) -> Any:
    if not parts or node is None:
        return node
    if isinstance(node, list):
        return [_expand_one(store, item, parts) for item in node]
    if not isinstance(node, dict):
        return node
    head, rest = parts[0], parts[1:]
    if head not in node and (node.get("object"), head) in INCLUDABLE:
        node[head] = INCLUDABLE[node["object"], head](store, node)
    if head not in node:
        raise invalid("expand", f"This property cannot be expanded ({head}).", code="parameter_invalid")
    child = node[head]
    if isinstance(child, str):
        target = store.get(child)
        if target is None:
            return node
        child = render(target)
        if target.get("_deleted"):
            child = {"id": target["id"], "object": target["object"], "deleted": True}
    node[head] = _expand_one(store, child, rest)
    return node


# How many of a parent's children an includable list shows: "the first handful" (then `has_more`; the list endpoint
# pages through the rest).
INCLUDED_LIST_SIZE = 10


def _invoice_payments(store: Store, invoice: Obj) -> Obj:
    """An invoice's `payments`: Stripe leaves them out unless `expand[]=payments` asks (an "includable" field);
    the first handful, newest first, as `GET /v1/invoice_payments?invoice=` lists them."""
    payments = newest_first(store.children("invoice_payment", "invoice", str(invoice["id"])))
    return {"object": "list", "data": [render(p) for p in payments[:INCLUDED_LIST_SIZE]],
            "has_more": len(payments) > INCLUDED_LIST_SIZE, "url": "/v1/invoice_payments"}


def checkout_line_items(store: Store, session: Obj) -> Obj:
    """A Checkout Session's `line_items` (includable, and listed by `GET /v1/checkout/sessions/<id>/line_items`)."""
    stored = store.get(str(session["id"])) or session
    return {"object": "list", "data": render(stored.get("_line_items", [])), "has_more": False,
            "url": f"/v1/checkout/sessions/{session['id']}/line_items"}


# Fields an object shows only when a request expands them, by (object type, field).
INCLUDABLE: dict[tuple[Any, str], Callable[[Store, Obj], Obj]] = {
    ("invoice", "payments"): _invoice_payments,
    ("checkout.session", "line_items"): checkout_line_items,
}


def expand(store: Store, body: Obj, paths: list[str]) -> Obj:
    """Replace id strings by their objects along dotted paths (`payment_intent.latest_charge`)."""
    for path in paths:
        body = _expand_one(store, body, path.split("."))
    return body


def list_page(items: list[Obj], params: Obj, url: str) -> Obj:
    """A Stripe list object over `items` (already newest first) with limit/starting_after/ending_before."""
    limit = get_int(params, "limit")
    limit = 10 if limit is None else limit
    if not 1 <= limit <= 100:
        raise invalid("limit", "Invalid integer: limit must be between 1 and 100", "parameter_invalid_integer")
    ids = [i["id"] for i in items]
    after = get_str(params, "starting_after")
    before = get_str(params, "ending_before")
    if after is not None:
        if after not in ids:
            raise not_found("object", after, "starting_after")
        window = items[ids.index(after) + 1 :]
        page, has_more = window[:limit], len(window) > limit
    elif before is not None:
        if before not in ids:
            raise not_found("object", before, "ending_before")
        window = items[: ids.index(before)]
        page, has_more = window[-limit:], len(window) > limit
    else:
        page, has_more = items[:limit], len(items) > limit
    return {"object": "list", "data": [render(i) for i in page], "has_more": has_more, "url": url}


def newest_first(items: list[Obj]) -> list[Obj]:
    """Order stored objects as Stripe lists them."""
    return sorted(items, key=lambda o: (int(o["created"]), int(o["_seq"])), reverse=True)
