"""Process every Stripe event waiting on the queue, in this process's main thread, as the worker does; print the
count, the wall time, this process's CPU time (in all, in the first events, the warm-up, and by event type), the SQL
statements and commits it ran, and its full garbage collections (how many, and their CPU seconds) as one JSON line.
Run by `bench.webhooks` with the app's environment (DATABASE_URL, REDIS_URL, STRIPE_API_BASE…).

    python -m bench.drain_events [--profile N [--profile-out FILE]]

`--profile N` runs under cProfile and prints the N functions with the most time of their own to stderr;
`--profile-out` also saves the raw profile (for `python -m pstats FILE`: sort by cumulative time, callers…).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import pstats
import sys
import time
from collections.abc import Callable

from sqlalchemy import event, select

from membership import create_app
from membership.db import current_session, db
from membership.giving import events
from membership.giving.models import StripeEvent
from membership.giving.stripe_gateway import gateway
from membership.queue import STRIPE_EVENTS, queue_key, redis_queue

# The first events of a fresh process pay for what it does once (statements compiled into SQLAlchemy's cache,
# templates compiled, lazy imports, connections opened): their CPU is reported apart, and the steady state
# (what a worker that has been running spends on each event) is measured after them.
WARM_UP_EVENTS = 100


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.drain_events")
    parser.add_argument("--profile", type=int, default=0, help="print the N costliest functions (cProfile)")
    parser.add_argument("--profile-out", default="", help="with --profile, also save the raw profile to this file")
    args = parser.parse_args(argv)
    app = create_app()
    with app.app_context():
        queue = redis_queue()
        assert queue is not None, "REDIS_URL must be set"
        key = queue_key(STRIPE_EVENTS)
        ids = [raw.decode() if isinstance(raw, bytes) else str(raw) for raw in queue.lrange(key, 0, -1)]
        queue.delete(key)
        policy = events.retry_policy()
        counts = {"statements": 0, "commits": 0}

        def counter(name: str) -> Callable[..., None]:
            return lambda *_: counts.__setitem__(name, counts[name] + 1)

        session, stripe = current_session(), gateway()
        types = {row.id: row.type for row in session.execute(select(StripeEvent.id, StripeEvent.type)
                                                             .where(StripeEvent.id.in_(ids)))}
        session.rollback()
        event.listen(db.engine, "before_cursor_execute", counter("statements"))
        event.listen(db.engine, "commit", counter("commits"))
        # As a running worker does (membership.cli): start-up's objects frozen, out of full collections' reach.
        gc.collect()
        gc.freeze()
        collections = {"full_collections": 0, "full_collection_seconds": 0.0}
        started: list[float] = []

        def timed_collection(phase: str, info: dict[str, int]) -> None:
            if info["generation"] != 2:
                return
            if phase == "start":
                started.append(time.process_time())
            elif started:
                collections["full_collections"] += 1
                collections["full_collection_seconds"] += time.process_time() - started.pop()

        gc.callbacks.append(timed_collection)
        # CPU time, not wall time: what the worker spends, not what it waits for (Stripe, the database, the pace).
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        by_type: dict[str, list[float]] = {}
        done = failed = 0
        warm_up = min(WARM_UP_EVENTS, len(ids) // 10)
        warm_up_cpu = 0.0
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        for number, event_id in enumerate(ids):
            if number == warm_up:
                warm_up_cpu = time.process_time() - cpu
            event_started = time.process_time()
            result = events.process_queued_event(session, stripe, event_id, policy)
            done += result is True
            failed += result is False
            kind = by_type.setdefault(types.get(event_id, "?"), [0, 0.0])
            kind[0] += 1
            kind[1] += time.process_time() - event_started
        if profiler is not None:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if profiler is not None:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(args.profile)
        if args.profile_out:
            profiler.dump_stats(args.profile_out)
    print(json.dumps({"events": len(ids), "done": done, "failed": failed, "cpu_seconds": cpu, "wall_seconds": wall,
                      "warm_up_events": warm_up, "warm_up_cpu_seconds": warm_up_cpu, "by_type": by_type,
                      **counts, **collections}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
