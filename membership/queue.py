"""The Redis queue (REDIS_URL): lists of row ids that `flask --app membership worker` takes work from.

The row (an email, an export job) is the truth; the list only says "this row is waiting". A row is
committed first and its id pushed only afterwards (`push_after_commit`, pushed by `push_committed` once
the commit point has passed), so a worker always finds the row it is handed. Workers claim a row with a
conditional update before working on it, so an id handed over twice is worked on once, and an id lost with
Redis leaves its row waiting for the periodic `jobs run`.

Each queue has a name (`emails`, `exports`, `stripe_events`) and a Redis list, named by a config key. Emails
and exports are named by integer row ids, Stripe events by Stripe's own ids (`evt_…`). The worker serves each
queue from a thread of its own, so an export that takes minutes to write never holds up a sign-in link. A
queue may also have a priority list (`emails`: sign-in and fix-card links), which its thread always takes
from first (one BLPOP over both lists, priority first, which Redis answers from the first non-empty list),
so a link waits at most for the one message in hand, however many receipts are queued behind it.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import redis
from flask import Flask, current_app
from sqlalchemy.orm import Session

from membership.db import after_commit, committed, sends_after_commit

log = logging.getLogger(__name__)

EMAILS = "emails"
EXPORTS = "exports"
STRIPE_EVENTS = "stripe_events"
WEBHOOKS = "webhooks"  # deliveries to the newsroom's own webhook endpoints (membership.webhooks_out)
# Queue name → the config key naming its Redis list (see membership/config.py).
QUEUE_KEYS = {EMAILS: "EMAIL_QUEUE_KEY", EXPORTS: "EXPORT_QUEUE_KEY", STRIPE_EVENTS: "STRIPE_EVENT_QUEUE_KEY",
              WEBHOOKS: "WEBHOOK_QUEUE_KEY"}
# Queue name → the config key naming its priority list, for the queues that have one.
PRIORITY_KEYS = {EMAILS: "EMAIL_PRIORITY_QUEUE_KEY"}
# The queues whose items are text ids (Stripe's); the others carry integer row ids.
TEXT_IDS = frozenset({STRIPE_EVENTS})

ItemId = int | str
# Takes one id off a queue and does its work: True done, False failed (left for a retry), None nothing to do
# (the row was taken by someone else, or is gone).
Handler = Callable[[ItemId], bool | None]
# Run by a queue's thread when the queue is empty (no item within the wait): periodic work such as re-queueing
# what is due again.
IdleWork = Callable[[], None]


def init_queue(app: Flask) -> None:
    """Connect (lazily) to the Redis REDIS_URL names; without it there is no queue and requests do the work."""
    url = str(app.config.get("REDIS_URL") or "")
    app.extensions["queue"] = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2) if url else None


def redis_queue() -> redis.Redis | None:
    """The Redis client, or None on the embedded default (no REDIS_URL)."""
    queue: redis.Redis | None = current_app.extensions.get("queue")
    return queue


def queue_key(name: str) -> str:
    """The Redis list of the queue called `name`."""
    return str(current_app.config[QUEUE_KEYS[name]])


def priority_key(name: str) -> str:
    """The priority list of the queue called `name` (it must have one)."""
    return str(current_app.config[PRIORITY_KEYS[name]])


def queue_keys(name: str) -> list[str]:
    """The lists a worker takes the queue's ids from, in the order it takes them: priority first."""
    return [priority_key(name), queue_key(name)] if name in PRIORITY_KEYS else [queue_key(name)]


def push(name: str, ids: Iterable[ItemId], *, priority: bool = False) -> None:
    """Put ids on a queue (on its priority list with `priority`) now; redis.RedisError if Redis can't take them."""
    queue = redis_queue()
    assert queue is not None, "only with REDIS_URL"
    queue.rpush(priority_key(name) if priority else queue_key(name), *ids)


def queue_length(name: str) -> int:
    """How many ids wait on the queue `name` (redis.RedisError if Redis can't say)."""
    queue = redis_queue()
    assert queue is not None, "only with REDIS_URL"
    return int(queue.llen(queue_key(name)))


def push_after_commit(session: Session, name: str, item_id: ItemId) -> None:
    """Hand the row `item_id` to the queue `name` once the session's transaction has committed (nothing if it
    rolls back). `push_committed` does the pushing, after the commit point."""
    after_commit(session, f"queue:{name}", item_id)


@sends_after_commit
def push_committed(session: Session) -> None:
    """Push the ids whose rows the session has committed (run by `membership.db.unit_of_work`). If Redis can't
    take them, log it and leave the rows waiting: each queue's periodic job (`jobs run`) takes what is still
    waiting."""
    for name in QUEUE_KEYS:
        ids: list[ItemId] = committed(session, f"queue:{name}")
        if not ids:
            continue
        try:
            push(name, ids)
        except redis.RedisError as exc:
            log.warning("The %s queue is unreachable (%s); %s waiting for `jobs run`: %s", name, exc,
                        "it is" if len(ids) == 1 else "they are", ", ".join(map(str, ids)))


@dataclass
class Tally:
    """What a worker did on one queue."""

    done: int = 0
    failed: int = 0

    def count(self, result: bool | None) -> None:
        if result is True:
            self.done += 1
        elif result is False:
            self.failed += 1


def _take(name: str, raw: Any) -> ItemId | None:
    try:
        if name in TEXT_IDS:
            text = raw.decode() if isinstance(raw, bytes) else str(raw)
            if not text.isascii() or not text.strip():
                raise ValueError(text)
            return text
        return int(raw)
    except (TypeError, ValueError):
        log.warning("Ignoring %r on the %s queue: not an id.", raw, name)
        return None


def _pop_now(queue: redis.Redis, keys: list[str]) -> Any:
    """The next id on the first non-empty list, without waiting (None if all are empty)."""
    for key in keys:
        if (raw := queue.lpop(key)) is not None:
            return raw
    return None


def _drain(name: str, handler: Handler, tally: Tally, idle: IdleWork) -> None:
    queue = redis_queue()
    assert queue is not None
    keys = queue_keys(name)
    try:
        while (raw := _pop_now(queue, keys)) is not None:
            if (item_id := _take(name, raw)) is not None:
                tally.count(handler(item_id))
    finally:
        idle()


def _serve(app: Flask, name: str, handler: Handler, idle: IdleWork, tally: Tally, stop: threading.Event,
           wait_seconds: float, errors: list[BaseException]) -> None:
    """One queue's loop, in its own thread and app context (so its own database session), until `stop`. `idle`
    runs each time the queue has stood empty for `wait_seconds`, and when the loop ends (the email sender closes
    its connection; the Stripe events' thread re-queues what is due again)."""
    try:
        with app.app_context():
            queue = redis_queue()
            assert queue is not None
            keys = queue_keys(name)
            try:
                while not stop.is_set():
                    raw = _pop_now(queue, keys)
                    if raw is None:
                        popped = queue.blpop(keys, timeout=wait_seconds)
                        if popped is None:
                            idle()
                            continue
                        raw = popped[1]
                    if (item_id := _take(name, raw)) is not None:
                        tally.count(handler(item_id))
            finally:
                idle()
    except Exception as exc:  # the worker stops with it (its supervisor restarts it), not one queue silently
        errors.append(exc)
        stop.set()


def _nothing() -> None:
    return


def _join(threads: list[threading.Thread]) -> None:
    # In short waits, so that Ctrl-C and signal handlers run in the main thread meanwhile.
    while any(thread.is_alive() for thread in threads):
        for thread in threads:
            thread.join(timeout=0.5)


def run_worker(handlers: Mapping[str, Handler], *, drain: bool = False, wait_seconds: float = 2,
               stop: threading.Event | None = None, idle: Mapping[str, IdleWork] | None = None) -> dict[str, Tally]:
    """Take ids off the named queues and hand each to its queue's handler, until stopped (Ctrl-C, SIGTERM as
    from `systemctl stop`, or `stop`). Stopping lets each thread finish the item in hand (an export being
    written is finished, not left for `jobs run` to retake after its lease); a second Ctrl-C doesn't wait.

    Each queue is served by a thread of its own. With `drain`, the queues are emptied one after the other in
    this thread, in the order given, and then it returns (for one-off runs and tests): put the queues whose
    work queues more work (exports email when they are ready) before the queues they feed. `idle[name]`, if
    given, runs whenever that queue has stood empty for `wait_seconds`, and when its thread (or drain) stops.
    """
    idle = idle or {}
    if redis_queue() is None:
        raise RuntimeError("REDIS_URL is not set: there is no queue to work on.")
    tallies = {name: Tally() for name in handlers}
    if drain:
        for name, handler in handlers.items():
            _drain(name, handler, tallies[name], idle.get(name, _nothing))
        return tallies
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    stop = stop or threading.Event()
    errors: list[BaseException] = []
    threads = [threading.Thread(target=_serve, args=(app, name, handler, idle.get(name, _nothing), tallies[name],
                                                     stop, wait_seconds, errors),
                                name=f"worker-{name}", daemon=True) for name, handler in handlers.items()]
    # The handler goes in before any thread takes work: a SIGTERM arriving as the worker starts must stop it
    # the gentle way too, not kill it (Python's default) with an item half done.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if in_main_thread else None
    try:
        for thread in threads:
            thread.start()
        _join(threads)
    except KeyboardInterrupt:
        log.info("Stopping: finishing the work in hand (Ctrl-C again to stop at once).")
        stop.set()
        _join(threads)
    finally:
        stop.set()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if errors:
        raise errors[0]
    return tallies
