"""The double's shared context: config, store, clock and the one way to emit events."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager

from . import objects
from .config import DoubleConfig, loopback_twin
from .limits import Limits
from .store import Obj, Store, render
from .webhooks import WebhookDispatcher

# The API request being served, so events can say which request caused them (`event.request`).
_current_request: contextvars.ContextVar[Obj | None] = contextvars.ContextVar("stripe_double_request", default=None)


DEMO_CLOCK_NAME = "Demo clock (make run)"


class Double:
    """One fake Stripe account: state plus the services' shared helpers."""

    def __init__(self, config: DoubleConfig, store: Store | None = None) -> None:
        self.config = config
        self.store = store or Store()
        if config.state_file:
            self.store.load(config.state_file)
        self.dispatcher = WebhookDispatcher(self.store, config)
        self.limits = Limits()
        # Where hosted pages live; the API layer refreshes it from the address the caller used.
        self.base_url = config.public_url or f"http://{config.host}:{config.port}"
        self.reset_endpoints()

    def reset_endpoints(self) -> None:
        """(Re)install the webhook endpoint given in the config."""
        # The endpoint given on the command line is a webhook_endpoint like any other, marked so a reload
        # from a state file updates it instead of adding a second one.
        with self.store.lock:
            existing = [e for e in self.store.all("webhook_endpoint") if e.get("_from_config")]
            for endpoint in existing:
                self.store.remove(endpoint["id"])
            if self.config.webhook_url:
                endpoint = objects.webhook_endpoint(
                    "we_double_config",
                    self.now(),
                    url=self.config.webhook_url,
                    enabled_events=["*"],
                    secret=self.config.webhook_secret,
                    description="From the double's configuration",
                )
                endpoint["_from_config"] = True
                self.store.add(endpoint)

    @property
    def portal_base_url(self) -> str:
        """Where the Billing Portal's pages live: an origin of their own, as billing.stripe.com is."""
        return (self.config.portal_url or loopback_twin(self.base_url)).rstrip("/")

    def demo_clock_id(self) -> str | None:
        """The shared demo clock's id when `demo_clock` is on (created at first use), else None."""
        if not self.config.demo_clock:
            return None
        with self.store.lock:
            for clock in self.store.all("test_helpers.test_clock"):
                if clock.get("name") == DEMO_CLOCK_NAME and not clock.get("_deleted"):
                    return str(clock["id"])
            clock = objects.test_clock(self.new("clock_"), self.now(), frozen_time=self.now(), name=DEMO_CLOCK_NAME)
            self.store.add(clock)
            self.emit("test_helpers.test_clock.created", clock)
            return str(clock["id"])

    def now(self) -> int:
        """Real time in unix seconds."""
        return int(time.time())

    def now_for_customer(self, customer_id: str | None) -> int:
        """The customer's test clock time if it has one, else real time."""
        customer = self.store.get(customer_id) if customer_id else None
        clock_id = customer.get("test_clock") if customer else None
        clock = self.store.get(clock_id) if clock_id else None
        return int(clock["frozen_time"]) if clock else self.now()

    def new(self, prefix: str) -> str:
        """A new object id."""
        return self.store.new_id(prefix)

    @contextmanager
    def request_context(self, request_id: str | None, idempotency_key: str | None) -> Iterator[None]:
        """Mark events emitted inside as caused by this API request."""
        token = _current_request.set({"id": request_id, "idempotency_key": idempotency_key})
        try:
            yield
        finally:
            _current_request.reset(token)

    def emit(self, event_type: str, obj: Obj, previous: Obj | None = None) -> Obj:
        """Record an event with a snapshot of `obj` and queue it for every interested endpoint."""
        request = _current_request.get() or {"id": None, "idempotency_key": None}
        event = objects.event(
            self.new("evt_"),
            self.now(),
            type=event_type,
            data_object=render(obj),
            previous=previous,
            request=dict(request),
            pending_webhooks=0,
        )
        self.store.add(event)
        event["pending_webhooks"] = self.dispatcher.enqueue(event)
        return event

    def emit_update(self, event_type: str, obj: Obj, before: Obj) -> Obj | None:
        """Emit an `*.updated` event with `previous_attributes` = the top-level fields that changed."""
        after = render(obj)
        previous = {k: v for k, v in before.items() if after.get(k) != v}
        if not previous:
            return None
        return self.emit(event_type, obj, previous)

    def persist(self) -> None:
        """Save the state file, if one is configured."""
        if self.config.state_file:
            self.store.save(self.config.state_file)
