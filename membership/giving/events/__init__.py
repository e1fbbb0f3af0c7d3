"""Stripe webhooks: verify, store, then process each event once in its own transaction.

Stripe is the source of truth. Events may arrive twice, concurrently and out of order, so every
handler re-reads the object it concerns from Stripe and writes rows with unique Stripe ids: the final
state does not depend on the order of delivery, and a duplicate changes nothing.

Each handler has three steps. `prepare` reads our rows to decide whether Stripe needs asking and what;
`fetch` makes the Stripe calls, with no transaction open; `apply` then writes, in one transaction that holds
the event row's lock and, where it touches a supporter's rows, that supporter's. No lock or transaction is
ever held across an HTTP call.

The pipeline (`pipeline`) stores, processes and reconciles events; the handlers live in one module per Stripe
object: `checkout_sessions`, `subscriptions`, `invoices` and `charges` (refunds and disputes included). With a
queue (REDIS_URL), the request only stores and enqueues, and `worker` processes, retries and re-queues.
"""

from membership.giving.events.pipeline import (
    HANDLERS,
    process_event,
    receive_event,
    reconcile,
    redact,
)
from membership.giving.events.subscriptions import apply_subscription, read_subscription, sync_membership
from membership.giving.events.worker import (
    FailedEvent,
    acknowledge_event,
    failed_events,
    process_queued_event,
    queued_processing,
    requeue_due_events,
    retry_policy,
)

__all__ = [
    "HANDLERS",
    "FailedEvent",
    "acknowledge_event",
    "apply_subscription",
    "failed_events",
    "process_event",
    "process_queued_event",
    "queued_processing",
    "read_subscription",
    "receive_event",
    "reconcile",
    "redact",
    "requeue_due_events",
    "retry_policy",
    "sync_membership",
]
