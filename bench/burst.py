"""The first of the month: N memberships renew at once, and nothing is lost.

    .venv/bin/python -m bench.burst [--memberships 5000] [--rate-limit 100] [--kill-worker-at 0.3]
                                     [--give-up-after SECONDS]

1. A fresh `bench_burst` database; the Stripe double in a subprocess, answering at most `--rate-limit` API
   requests a second (Stripe's 429 past it) and delivering webhooks 32 at a time.
2. N memberships on one test clock, set up in the double at once (its control endpoint) and recorded in the app's
   database as after their signup, as if their first month's events had been processed long ago.
3. The app under gunicorn with REDIS_URL (the webhook acknowledges) and two `flask --app membership worker`
   processes; the double's webhook endpoint subscribes to the event types the app handles.
4. One advance of the clock by a month renews every membership: the double delivers each renewal's events.
   Midway, one worker is killed with SIGKILL (its event is taken again once its lease runs out).

Reports delivered/s, the webhook's ack p50/p99 as the double measured them, the queue depth over time, the drain
time, Stripe calls/s and the 429s. Passes (exit 0) when every renewal invoice the double paid is one payment and
one renewal receipt, exactly once; no delivery failed; every event was processed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any, cast

import psycopg
import redis
import stripe

from bench.webhooks import (
    PG_SERVER,
    SECRET_KEY,
    STRIPE_KEY,
    double_call,
    free_port,
    gunicorn,
    recreate_database,
    running,
    wait_until_up,
    worker_model,
)
from membership import create_app
from membership.config import EMAIL_PRIORITY_QUEUE_KEY, EMAIL_QUEUE_KEY, STRIPE_EVENT_QUEUE_KEY, STRIPE_PACE_KEY
from membership.db import db
from membership.giving.events import HANDLERS
from membership.giving.models import Membership, MembershipStatus
from membership.supporters.models import Supporter

DATABASE = "bench_burst"
DATABASE_URL = f"{PG_SERVER}/{DATABASE}"
REDIS_URL = "redis://127.0.0.1:6379/12"
# The app's Redis keys in this run (REDIS_KEY_PREFIX): the queue whose depth is watched, and what is emptied first.
REDIS_PREFIX = "bench-burst"
EVENT_QUEUE = STRIPE_EVENT_QUEUE_KEY.format(prefix=REDIS_PREFIX)
MONTH = 31 * 24 * 3600
AMOUNT, CURRENCY = 500, "EUR"
LEASE_SECONDS = 20


def seed_app(memberships: list[dict[str, str]]) -> None:
    """Supporters and active memberships matching the double's customers and subscriptions."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": DATABASE_URL.replace("postgresql://", "postgresql+psycopg://"),
                      "SECRET_KEY": SECRET_KEY})
    with app.app_context():
        session = db.session()
        for start in range(0, len(memberships), 1000):
            for item in memberships[start:start + 1000]:
                supporter = Supporter(email=item["email"], name="Member", stripe_customer_id=item["customer"])
                session.add(supporter)
                session.add(Membership(supporter=supporter, stripe_subscription_id=item["subscription"],
                                       status=MembershipStatus.ACTIVE, amount_minor=AMOUNT, currency=CURRENCY,
                                       interval="month"))
            session.commit()
        db.engine.dispose()


def counts() -> dict[str, int]:
    with psycopg.connect(DATABASE_URL) as conn:
        def one(sql: str) -> int:
            row = conn.execute(sql).fetchone()
            return int(row[0]) if row else 0

        return {
            "events": one("SELECT count(*) FROM stripe_events"),
            "done": one("SELECT count(*) FROM stripe_events WHERE status IN ('processed', 'ignored')"),
            "failed": one("SELECT count(*) FROM stripe_events WHERE status = 'failed'"),
            "renewal_payments": one("SELECT count(*) FROM payments WHERE stripe_invoice_id IS NOT NULL"),
            "distinct_invoices": one("SELECT count(DISTINCT stripe_invoice_id) FROM payments"),
            "receipts": one("SELECT count(*) FROM outbound_emails WHERE message = 'renewal_receipt'"),
            "receipt_recipients": one("SELECT count(DISTINCT to_address) FROM outbound_emails "
                                      "WHERE message = 'renewal_receipt'"),
        }


def percentile(values: list[float], percent: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1] if len(values) > 1 else values[0]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.burst", description=__doc__.split("\n")[0])
    parser.add_argument("--memberships", type=int, default=5000)
    parser.add_argument("--rate-limit", type=int, default=100, help="the double's requests/s (0: none)")
    parser.add_argument("--app-pace", type=int, default=80, help="STRIPE_MAX_REQUESTS_PER_SECOND for the app")
    parser.add_argument("--concurrency", type=int, default=32, help="deliveries in flight")
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--kill-worker-at", type=float, default=0.3,
                        help="SIGKILL one worker once this share of events is processed (0: never)")
    parser.add_argument("--give-up-after", type=int, default=0, metavar="SECONDS",
                        help="stop waiting for the drain after this long (default: 3,600 s, and 0.15 s a membership "
                             "past 20,000: a 50,000 run drains in about an hour on 2 CPUs)")
    args = parser.parse_args(argv)
    if args.give_up_after <= 0:
        args.give_up_after = 3600 + max(0, args.memberships - 20000) * 0.15
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logs = Path(tempfile.mkdtemp(prefix="bench-burst-"))
    double_port, app_port = free_port(), free_port()
    double_url, app_url = f"http://127.0.0.1:{double_port}", f"http://127.0.0.1:{app_port}"
    env = {name: value for name, value in os.environ.items() if not name.startswith("STRIPE_DOUBLE_")}
    env.update({"DATABASE_URL": DATABASE_URL, "SECRET_KEY": SECRET_KEY, "STRIPE_SECRET_KEY": STRIPE_KEY,
                "STRIPE_API_BASE": double_url, "PUBLIC_URL": app_url, "MEMBERSHIP_ENV": "development",
                "REDIS_URL": REDIS_URL, "REDIS_KEY_PREFIX": REDIS_PREFIX,
                "STRIPE_MAX_REQUESTS_PER_SECOND": str(args.app_pace),
                "STRIPE_EVENT_LEASE_SECONDS": str(LEASE_SECONDS), "RENEWAL_RECEIPTS": "1"})
    queue = redis.Redis.from_url(REDIS_URL)
    queue.delete(*(key.format(prefix=REDIS_PREFIX) for key in (STRIPE_EVENT_QUEUE_KEY, EMAIL_QUEUE_KEY,
                                                              EMAIL_PRIORITY_QUEUE_KEY, STRIPE_PACE_KEY)))
    print(f"Preparing database {DATABASE!r} (logs in {logs})", flush=True)
    recreate_database(DATABASE, env, seed=True)
    double_command = [sys.executable, "-m", "stripe_double", "--host", "127.0.0.1", "--port", str(double_port),
                      "--tick-seconds", "86400", "--webhook-concurrency", str(args.concurrency)]
    if args.rate_limit:
        double_command += ["--rate-limit", str(args.rate_limit)]
    with ExitStack() as stack:
        double = stack.enter_context(running("stripe-double", double_command, env, logs))
        wait_until_up(f"{double_url}/", double)
        sdk = stripe.StripeClient(STRIPE_KEY, base_addresses={"api": double_url}, max_network_retries=5)
        started = time.perf_counter()
        clock = sdk.v1.test_helpers.test_clocks.create({"frozen_time": int(time.time()), "name": "burst"})
        created: list[dict[str, str]] = []
        for batch in range(0, args.memberships, 1000):
            created += double_call(double_url, "POST", f"/_double/test_clocks/{clock.id}/memberships",
                                   {"count": min(1000, args.memberships - batch), "amount": AMOUNT,
                                    "currency": CURRENCY.lower(), "email_prefix": f"member{batch}-"})
        seed_app(created)
        endpoint = sdk.v1.webhook_endpoints.create({"url": f"{app_url}/stripe/webhook",
                                                    "enabled_events": cast(Any, sorted(HANDLERS))})
        env["STRIPE_WEBHOOK_SECRET"] = str(endpoint.secret)
        print(f"{len(created)} memberships set up in {time.perf_counter() - started:.1f} s", flush=True)
        server = stack.enter_context(running("app", gunicorn("membership:create_app()", app_port,
                                                             args.web_workers), env, logs))
        wait_until_up(f"{app_url}/give", server)
        flask = [sys.executable, "-m", "flask", "--app", "membership", "worker"]
        workers = [stack.enter_context(running(f"worker-{n}", flask, env, logs)) for n in (1, 2)]
        stats_before = double_call(double_url, "GET", "/_double/stats")
        burst_started = time.perf_counter()
        advance = urllib.request.Request(  # noqa: S310 - a local URL we built
            f"{double_url}/v1/test_helpers/test_clocks/{clock.id}/advance", method="POST",
            data=urllib.parse.urlencode({"frozen_time": int(clock.frozen_time) + MONTH}).encode(),
            headers={"Authorization": f"Bearer {STRIPE_KEY}"})
        with urllib.request.urlopen(advance, timeout=3600) as response:  # noqa: S310 - renewing N takes a while
            response.read()
        print(f"Clock advanced in {time.perf_counter() - burst_started:.1f} s; delivering", flush=True)
        depth: list[tuple[float, int, int]] = []
        killed = False
        while True:
            now = time.perf_counter() - burst_started
            state = counts()
            depth.append((now, int(queue.llen(EVENT_QUEUE)), state["done"]))
            pending = double_call(double_url, "GET", "/_double/stats").get("pending_deliveries")
            expected = len(created) * 2
            if not killed and args.kill_worker_at and state["done"] >= args.kill_worker_at * expected:
                workers[0].send_signal(signal.SIGKILL)
                killed = True
                print(f"  {now:6.1f} s: SIGKILL to worker 1 (pid {workers[0].pid})", flush=True)
            if len(depth) % 10 == 1:
                print(f"  {now:6.1f} s: queue {depth[-1][1]}, processed {state['done']} of {state['events']} "
                      f"stored", flush=True)
            if state["events"] >= expected and state["done"] + state["failed"] >= state["events"] and not pending:
                break
            if now > args.give_up_after:
                print(f"Gave up after {args.give_up_after:.0f} s", flush=True)
                break
            time.sleep(1)
        drain_seconds = time.perf_counter() - burst_started
        stats_after = double_call(double_url, "GET", "/_double/stats")
        # A summary, not /_double/events: rendering 100,000 events and their deliveries outlasted any timeout.
        summary = double_call(double_url, "GET", "/_double/summary")
    failed_deliveries = summary["deliveries"] - summary["succeeded"]
    acks = summary["ack_ms"]
    delivery_seconds = (summary["last_attempt_at"] - summary["first_attempt_at"] + 1) if acks else 1
    renewals = int(summary["paid_invoices"].get("subscription_cycle", 0))
    state = counts()
    calls = stats_after["requests"] - stats_before["requests"]
    refused = stats_after["refused_429"] - stats_before["refused_429"]
    print(f"\n{len(created)} memberships renewed at once; {summary['deliveries']} deliveries, "
          f"{args.concurrency} in flight; "
          f"the double limited to {args.rate_limit or 'no'} requests/s, the app paced at {args.app_pace}/s; "
          f"{worker_model(args.web_workers)} and 2 worker processes (one killed: {killed})\n")
    print(f"delivered/s: {summary['succeeded'] / delivery_seconds:.1f}; ack p50 {percentile(acks, 50):.1f} ms, "
          f"p99 {percentile(acks, 99):.1f} ms; failed deliveries: {failed_deliveries}")
    print(f"drain time (advance to the last event processed): {drain_seconds:.1f} s")
    print(f"Stripe calls: {calls} ({calls / drain_seconds:.1f}/s on average); 429s answered (and retried): {refused}")
    print("queue depth over time (s: waiting, processed):")
    step = max(1, len(depth) // 20)
    print("  " + "; ".join(f"{t:.0f}: {d}, {p}" for t, d, p in depth[::step]))
    ok = (renewals == len(created) and state["renewal_payments"] == renewals == state["distinct_invoices"]
          and state["receipts"] == renewals == state["receipt_recipients"] and not failed_deliveries
          and state["failed"] == 0 and state["done"] == state["events"])
    print(f"\nRenewal invoices paid in the double: {renewals}; payments recorded: {state['renewal_payments']} "
          f"({state['distinct_invoices']} distinct invoices); renewal receipts: {state['receipts']} "
          f"({state['receipt_recipients']} distinct recipients); events {state['done']} of {state['events']} done, "
          f"{state['failed']} failed. {'PASS' if ok else 'FAIL'}")
    json.dump({"depth": depth}, (logs / "depth.json").open("w"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
