"""Events as an endpoint pinned to an older API version receives them.

Stripe renders each event's object at the endpoint's API version (or the account's default). The double
keeps its objects in today's shape and converts on the way out, for the one change the app must survive:
before 2025-03-31.basil an invoice named its subscription at the top level (`subscription`,
`subscription_details`) and had no `parent`.
"""

from __future__ import annotations

import copy

from .config import API_VERSION
from .store import Obj

INVOICE_PARENT_SINCE = "2025-03-31.basil"
OLDER_API_VERSION = "2024-06-20"  # the last version before invoices grew `parent`


def render_event_at(event: Obj, version: str | None) -> Obj:
    """A copy of a rendered event as an endpoint pinned to `version` (None: ours) receives it."""
    version = version or API_VERSION
    rendered = copy.deepcopy(event)
    if version == API_VERSION:
        return rendered
    rendered["api_version"] = version
    obj = rendered.get("data", {}).get("object")
    if version < INVOICE_PARENT_SINCE and isinstance(obj, dict) and obj.get("object") == "invoice":
        rendered["data"]["object"] = _invoice_before_basil(obj)
    return rendered


def _invoice_before_basil(invoice: Obj) -> Obj:
    parent = invoice.pop("parent", None) or {}
    details = parent.get("subscription_details") or {}
    invoice["subscription"] = details.get("subscription")
    invoice["subscription_details"] = {"metadata": details.get("metadata")} if details else None
    invoice["paid"] = invoice.get("status") == "paid"
    invoice["paid_out_of_band"] = False
    invoice.setdefault("charge", None)
    invoice.setdefault("payment_intent", None)
    for line in (invoice.get("lines") or {}).get("data", []):
        item = (line.pop("parent", None) or {}).get("subscription_item_details") or {}
        line["type"] = "subscription"
        line["subscription"] = item.get("subscription", line.get("subscription"))
        line["subscription_item"] = item.get("subscription_item")
    return invoice
