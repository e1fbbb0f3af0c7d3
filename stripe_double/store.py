"""The in-memory state of the double: every object by id, the events, the request log, webhook deliveries.

One re-entrant lock guards all of it; API requests, hosted pages, the clock ticker and the webhook worker take
it for every read or write, so the double behaves as one serialised Stripe account.
"""

from __future__ import annotations

import json
import os
import secrets
import string
import tempfile
import threading
from typing import Any

Obj = dict[str, Any]

_ALPHABET = string.ascii_letters + string.digits


def random_token(length: int = 24) -> str:
    """A Stripe-looking random suffix (base62)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def render(value: Any) -> Any:
    """A deep copy of an object as the API shows it: keys starting with "_" are the double's private notes."""
    if isinstance(value, dict):
        return {k: render(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [render(v) for v in value]
    return value


# Objects the app lists by their parent (an invoice's payments, `GET /v1/invoice_payments?invoice=`), indexed by
# that field, which never changes once set: a list then reads the parent's few children instead of scanning every
# object of the type. A renewal of 50,000 memberships made that scan the double's whole time.
INDEXED_PARENTS = {"invoice_payment": "invoice"}


class Store:
    """All state of one fake Stripe account."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.objects: dict[str, Obj] = {}
        self._by_type: dict[str, dict[str, Obj]] = {}  # the same objects, by type, so `all` reads only its own
        self._by_parent: dict[str, dict[str, dict[str, Obj]]] = {}  # type -> parent id -> children (INDEXED_PARENTS)
        self.event_ids: list[str] = []
        self.requests: list[Obj] = []
        self.idempotency: dict[str, Obj] = {}
        self.deliveries: list[Obj] = []
        self._seq = 0

    def new_id(self, prefix: str) -> str:
        """A fresh id with Stripe's prefix for the object type (cus_, sub_, cs_test_ ...)."""
        return prefix + random_token(24 if prefix != "cs_test_" else 58)

    def add(self, obj: Obj) -> Obj:
        """Store a new object; the sequence number keeps creation order when `created` seconds tie."""
        with self.lock:
            self._seq += 1
            obj["_seq"] = self._seq
            self.objects[obj["id"]] = obj
            self._index(obj)
            if obj.get("object") == "event":
                self.event_ids.append(obj["id"])
            return obj

    def remove(self, object_id: str) -> None:
        """Forget one object (a deleted webhook endpoint)."""
        with self.lock:
            obj = self.objects.pop(object_id)
            self._by_type.get(str(obj.get("object")), {}).pop(object_id, None)
            field = INDEXED_PARENTS.get(str(obj.get("object")))
            if field is not None:
                self._by_parent.get(str(obj.get("object")), {}).get(str(obj.get(field)), {}).pop(object_id, None)

    def _index(self, obj: Obj) -> None:
        object_type = str(obj.get("object"))
        self._by_type.setdefault(object_type, {})[obj["id"]] = obj
        field = INDEXED_PARENTS.get(object_type)
        if field is not None:
            self._by_parent.setdefault(object_type, {}).setdefault(str(obj.get(field)), {})[obj["id"]] = obj

    def get(self, object_id: str, object_type: str | None = None) -> Obj | None:
        """The stored object with this id (and type, if given), or None."""
        obj = self.objects.get(object_id)
        if obj is None or (object_type is not None and obj.get("object") != object_type):
            return None
        return obj

    def all(self, object_type: str) -> list[Obj]:
        """Stored objects of one type, oldest first."""
        with self.lock:
            found = list(self._by_type.get(object_type, {}).values())
        return sorted(found, key=lambda o: int(o["_seq"]))  # already in order, unless an id was stored again

    def events(self, event_type: str | None = None) -> list[Obj]:
        """Events as the API shows them, oldest first, optionally of one type (handy in assertions)."""
        with self.lock:
            found = [self.objects[i] for i in self.event_ids]
            return [render(e) for e in found if event_type is None or e["type"] == event_type]

    def children(self, object_type: str, field: str, parent_id: str) -> list[Obj]:
        """Stored objects of one type whose `field` names `parent_id`, oldest first (by the index when the type's
        parent field is indexed)."""
        if INDEXED_PARENTS.get(object_type) != field:
            return [o for o in self.all(object_type) if o.get(field) == parent_id]
        with self.lock:
            found = list(self._by_parent.get(object_type, {}).get(parent_id, {}).values())
        return sorted(found, key=lambda o: int(o["_seq"]))

    def find(self, object_type: str, **fields: Any) -> list[Obj]:
        """Objects of one type whose top-level fields equal the given values, oldest first."""
        return [o for o in self.all(object_type) if all(o.get(k) == v for k, v in fields.items())]

    def reset(self) -> None:
        """Forget everything (the /_double/reset control endpoint)."""
        with self.lock:
            self.objects.clear()
            self._by_type.clear()
            self._by_parent.clear()
            self.event_ids.clear()
            self.requests.clear()
            self.idempotency.clear()
            self.deliveries.clear()

    def dump(self) -> Obj:
        """Everything as one JSON-able dict."""
        with self.lock:
            return {
                "seq": self._seq,
                "objects": self.objects,
                "event_ids": self.event_ids,
                "idempotency": self.idempotency,
                "deliveries": self.deliveries,
            }

    def save(self, path: str) -> None:
        """Write the state atomically, so a crash never leaves half a file."""
        with self.lock:
            data = json.dumps(self.dump())
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".stripe-double-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
        os.replace(tmp, path)

    def load(self, path: str) -> None:
        """Read a state file written by `save` (a missing file means a fresh account)."""
        if not os.path.exists(path):
            return
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        with self.lock:
            self._seq = int(data["seq"])
            self.objects = data["objects"]
            self._by_type, self._by_parent = {}, {}
            for obj in sorted(self.objects.values(), key=lambda o: int(o["_seq"])):
                self._index(obj)
            self.event_ids = data["event_ids"]
            self.idempotency = data["idempotency"]
            self.deliveries = data["deliveries"]
