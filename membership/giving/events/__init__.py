"""Stripe webhooks: verify, store, then process each event once in its own transaction.

Stripe is the source of truth. Events may arrive twice, concurrently and out of order, so every
handler re-reads the object it concerns from Stripe and writes rows with unique Stripe ids: the final
state does not depend on the order of delivery, and a duplicate changes nothing.

Each handler has three steps. `prepare` reads our rows to decide whether Stripe needs asking and what;
`fetch` makes the Stripe calls, with no transaction open; `apply` then writes, in one transaction that holds
the event row's lock and, where it touches a supporter's rows, that supporter's. No lock or transaction is
ever held across an HTTP call.

The pipeline (`pipeline`) stores, processes and reconciles events; the handlers live in one module per Stripe
object: `checkout_sessions`, `subscriptions`, `invoices` and `charges` (refunds and disputes included).
"""

from membership.giving.events.pipeline import (
    HANDLERS,
    process_event,
    receive_event,
    reconcile,
    redact,
)
from membership.giving.events.subscriptions import apply_subscription, read_subscription, sync_membership

__all__ = [
    "HANDLERS",
    "apply_subscription",
    "process_event",
    "read_subscription",
    "receive_event",
    "reconcile",
    "redact",
    "sync_membership",
]
