"""Webhook throughput: signed gift and renewal events posted to the app under gunicorn on PostgreSQL.

    .venv/bin/python -m bench.webhooks [--events N] [--concurrency C] [--workers W] [--threads T] [--rounds R]
                                       [--inline] [--profile N [--profile-out FILE]] [--drains N] [--compare-with DIR]
                                       [--compare-python PY] [--client-threads]

By default the app runs with REDIS_URL (a Redis database of the bench's own), so the webhook only acknowledges:
the load run measures storing and queueing, and then one worker process (`bench.drain_events`, the worker's own
code in one thread) processes every queued event: its rate and its CPU time per event. `--inline` measures the
embedded default instead, each event processed inside its request. `--profile N` prints the worker's N
costliest functions (cProfile). `--drains N` drains the same events N times and reports each drain, the median and
the worst; `--compare-with DIR` and `--compare-python PY` alternate those drains with another checkout's code or another
interpreter (see `bench.drains`).

1. A fresh `bench` database, migrated and seeded; the Stripe double in a subprocess with no webhook
   endpoint, because this script delivers the events itself.
2. Realistic events: checkouts opened by the app's own `start_checkout` service and paid in the double,
   half of the events from one-time gifts and half from monthly memberships on a test clock advanced one
   month, so every membership renews. The events of the types the app handles are read from /v1/events.
3. The app under gunicorn (W sync workers, default 4; `--threads T`: gthread workers of T threads, as the
   project's gunicorn configuration deploys), warmed up (25 posts per worker of events it stores and then
   forgets, so each worker's first webhook is not measured): every event posted once, oldest first, signed as
   Stripe signs, by C clients, each a process of its own (`--client-threads`: threads of this one, as before).
4. The ceiling: `bench.bare_insert` (one INSERT of the body per request) under the same gunicorn
   settings, with the same bodies and clients. The two are served side by side and the events posted in R
   rounds (`--rounds`, default 5), each slice to the app and then to the ceiling, so that a machine whose speed
   drifts slows both alike; the report gives each round's ratio as well as the whole run's.

Prints events/s and p50/p99/max latency for both and their ratio, the worker's events/s and CPU ms per event, then
where the time went: CPU seconds per process, the machine's busy/iowait/steal time, and what PostgreSQL's
connections were doing. Exits 1 if a request was not answered 2xx or the database does not hold the expected
rows.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import multiprocessing
import os
import queue
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from itertools import pairwise
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import redis
import stripe

from bench.bare_insert import CREATE_TABLE, DATABASE_URL_VARIABLE, TABLE
from bench.drains import Side, drain, failed, report_drains
from membership import create_app
from membership.config import EMAIL_PRIORITY_QUEUE_KEY, EMAIL_QUEUE_KEY, STRIPE_EVENT_QUEUE_KEY
from membership.db import db
from membership.giving.events import HANDLERS
from membership.giving.models import Frequency
from membership.giving.services import GiftChoice, currency_rules, start_checkout
from membership.giving.stripe_gateway import gateway
from membership.supporters.services import find_or_create_supporter, link_stripe_customer

ROOT = Path(__file__).resolve().parent.parent
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
# The database and the Redis keys' prefix: BENCH_NAME (default "bench") lets runs from other checkouts on the same
# machine keep apart (each run drops and recreates its database and empties its queues).
DATABASE = os.environ.get("BENCH_NAME", "bench")
DATABASE_URL = f"{PG_SERVER}/{DATABASE}"
# A Redis database of the benches' own (the tests use 15), emptied of this run's queues before it starts.
REDIS_URL = "redis://127.0.0.1:6379/13"
STRIPE_KEY = "sk_test_bench_webhooks"
WEBHOOK_SECRET = "whsec_bench_webhooks_secret"  # noqa: S105 - a throwaway test-mode secret
SECRET_KEY = "bench-secret-key-that-is-long-enough-0123456789"  # noqa: S105 - same
MONTH = 31 * 24 * 3600
# Stripe allows three customers per test clock (and the double's clock advance slows down with more).
CUSTOMERS_PER_CLOCK = 3
# A monthly membership bought and renewed once: customer.subscription.created, customer.subscription.updated
# (incomplete → active), invoice.paid and checkout.session.completed, then at the renewal
# customer.subscription.updated (new period) and invoice.paid. A gift is one checkout.session.completed.
EVENTS_PER_MEMBERSHIP = 6
# A gift is checkout.session.completed and the invoice.paid of its receipt (Checkout's invoice_creation), which
# bills no subscription and so is no payment of its own.
EVENTS_PER_GIFT = 2
CURRENCIES = ("EUR", "USD", "GBP")
GIFT_AMOUNTS = (1000, 2500, 5000, 10000, 1500)
MONTHLY_AMOUNTS = (300, 500, 1000, 2500, 700)
TEST_CARD = "4242424242424242"
# The Redis keys a drain reads (the event queue, first) and fills: emptied before each repeated drain.
DRAIN_KEYS = (STRIPE_EVENT_QUEUE_KEY, EMAIL_QUEUE_KEY, EMAIL_PRIORITY_QUEUE_KEY)
# Posts per gunicorn worker before each measured run (see `warm_up_bodies`), and their events' ids.
WARM_UP_PER_WORKER = 25
WARM_UP_PREFIX = "evt_warmup_"
T = TypeVar("T")


# Plan and processes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How many gifts and memberships make about `events` events, half from each."""

    gifts: int
    memberships: int

    @classmethod
    def for_events(cls, events: int) -> Plan:
        memberships = max(1, round(events / 2 / EVENTS_PER_MEMBERSHIP))
        gifts = max(1, round((events - memberships * EVENTS_PER_MEMBERSHIP) / EVENTS_PER_GIFT))
        return cls(gifts=gifts, memberships=memberships)

    @property
    def events(self) -> int:
        return self.gifts * EVENTS_PER_GIFT + self.memberships * EVENTS_PER_MEMBERSHIP

    @property
    def payments(self) -> int:
        """Each gift is one payment; each membership two (the first invoice and the renewal)."""
        return self.gifts + 2 * self.memberships


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(name: str, command: list[str], env: Mapping[str, str], logs: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A subprocess with its output in `logs/<name>.log`, always stopped on the way out."""
    with (logs / f"{name}.log").open("wb") as log:
        process = subprocess.Popen(command, env=dict(env), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}; see its log")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - a local URL we built
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


def gunicorn(app_spec: str, port: int, workers: int, threads: int = 1) -> list[str]:
    """The gunicorn command line every bench serves with: `workers` sync workers, or with `threads` > 1 gthread
    workers of that many threads (as `membership.gunicorn_config` deploys). The thread count is always given:
    run from a checkout, gunicorn reads its `gunicorn.conf.py` (the project's settings, GUNICORN_THREADS threads
    by default), and gunicorn runs a "sync" worker with more than one thread as gthread."""
    return [sys.executable, "-m", "gunicorn", "--workers", str(workers),
            "--worker-class", "sync" if threads == 1 else "gthread", "--threads", str(threads),
            "--bind", f"127.0.0.1:{port}", "--timeout", "120", app_spec]


def worker_model(workers: int, threads: int = 1) -> str:
    """How the report names `gunicorn(…, workers, threads)`'s workers."""
    return f"gunicorn --workers {workers} ({'sync' if threads == 1 else f'gthread, {threads} threads each'})"


def recreate_database(database: str, env: Mapping[str, str], *, seed: bool) -> None:
    """Drop and recreate `database` on the local server, migrate it to head and, with `seed`, seed the catalogue.
    (`env` names it in DATABASE_URL for the flask commands.)"""
    server = ["-h", "127.0.0.1", "-U", "postgres"]
    flask = [sys.executable, "-m", "flask", "--app", "membership"]
    commands = [["dropdb", *server, "--if-exists", "--force", database], ["createdb", *server, database],
                [*flask, "db", "upgrade"]]
    if seed:
        commands.append([*flask, "seed-demo"])
    for command in commands:
        done = subprocess.run(command, env=dict(env), cwd=ROOT, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")


def prepare_database(env: Mapping[str, str]) -> None:
    """Drop and recreate `bench`, migrate it to head, seed the catalogue, add the ceiling's table."""
    recreate_database(DATABASE, env, seed=True)
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute(CREATE_TABLE)


# Generating the events ------------------------------------------------------------------------------


def double_call(double_url: str, method: str, path: str, payload: Mapping[str, Any] | None = None) -> Any:
    """A JSON request to the double, authenticated like the app's."""
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(  # noqa: S310 - a local URL we built
        f"{double_url}{path}", data=data, method=method,
        headers={"Authorization": f"Bearer {STRIPE_KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        return json.loads(response.read())


def open_checkouts(double_url: str, app_url: str, plan: Plan, clock_ids: list[str]) -> list[tuple[str, str]]:
    """Open every checkout through the app's own service; returns (session id, email) pairs.

    Members' Stripe customers are created on a test clock first and linked to their supporter, as
    after an earlier gift, so that Checkout bills their subscription on that clock.
    """
    sdk = stripe.StripeClient(STRIPE_KEY, base_addresses={"api": double_url})
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": DATABASE_URL.replace("postgresql://", "postgresql+psycopg://"),
        "SECRET_KEY": SECRET_KEY,
        "STRIPE_SECRET_KEY": STRIPE_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": double_url,
        "PUBLIC_URL": app_url,
    })
    opened: list[tuple[str, str]] = []
    with app.app_context():
        session = db.session()
        for number in range(plan.gifts + plan.memberships):
            monthly = number < plan.memberships
            email, name = f"reader{number}@example.org", f"Reader {number}"
            supporter = find_or_create_supporter(session, email, name)
            if monthly:
                clock_id = clock_ids[number // CUSTOMERS_PER_CLOCK]
                customer = sdk.v1.customers.create({"email": email, "name": name, "test_clock": clock_id})
                link_stripe_customer(session, supporter, customer.id)
            amounts = MONTHLY_AMOUNTS if monthly else GIFT_AMOUNTS
            choice = GiftChoice(
                email=email,
                name=name,
                frequency=Frequency.MONTHLY if monthly else Frequency.ONCE,
                amount_minor=amounts[number % len(amounts)],
                currency=CURRENCIES[number % len(CURRENCIES)],
                cover_fees=number % 3 == 0,
            )
            checkout, _ = start_checkout(
                session, gateway(), choice, currency_rules(), newsroom="Bench Newsroom",
                success_url=f"{app_url}/give/thanks?session_id={{CHECKOUT_SESSION_ID}}",
                cancel_url=lambda checkout_id: f"{app_url}/give/cancelled?ref={checkout_id}",
            )
            session.commit()
            assert checkout.stripe_session_id is not None
            opened.append((checkout.stripe_session_id, email))
        db.engine.dispose()
    return opened


def handled_events(double_url: str) -> list[dict[str, Any]]:
    """Every event of a type the app handles, oldest first, read page by page from /v1/events."""
    params: dict[str, str] = {"limit": "100"}
    params.update({f"types[{i}]": event_type for i, event_type in enumerate(sorted(HANDLERS))})
    newest_first: list[dict[str, Any]] = []
    while True:
        page = double_call(double_url, "GET", "/v1/events?" + urllib.parse.urlencode(params))
        newest_first.extend(page["data"])
        if not page["has_more"] or not page["data"]:
            return list(reversed(newest_first))
        params["starting_after"] = page["data"][-1]["id"]


def expected_payments(events: list[dict[str, Any]]) -> int:
    """One payment per paid one-time Checkout and per paid invoice of a subscription (a gift's invoice is its
    receipt, not a payment of its own): what the app must end up with."""
    gifts = sum(1 for e in events if e["type"] == "checkout.session.completed"
                and e["data"]["object"]["mode"] == "payment" and e["data"]["object"]["payment_status"] == "paid")
    invoices = sum(1 for e in events if e["type"] == "invoice.paid" and e["data"]["object"]["amount_paid"] > 0
                   and _bills_a_subscription(e["data"]["object"]))
    return gifts + invoices


def _bills_a_subscription(invoice: dict[str, Any]) -> bool:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return bool(details.get("subscription") or invoice.get("subscription"))


def generate_events(double_url: str, app_url: str, plan: Plan) -> list[dict[str, Any]]:
    """Gifts and memberships paid in the double, the members' clocks advanced a month: their events."""
    sdk = stripe.StripeClient(STRIPE_KEY, base_addresses={"api": double_url})
    now = int(time.time())
    phases = [time.perf_counter()]
    clocks = [sdk.v1.test_helpers.test_clocks.create({"frozen_time": now, "name": f"bench {n}"})
              for n in range(-(-plan.memberships // CUSTOMERS_PER_CLOCK))]
    opened = open_checkouts(double_url, app_url, plan, [clock.id for clock in clocks])
    phases.append(time.perf_counter())
    for session_id, email in opened:
        result = double_call(double_url, "POST", f"/_double/checkout/{session_id}/pay",
                             {"card": TEST_CARD, "email": email})
        if result["status"] != "succeeded":
            raise RuntimeError(f"paying {session_id} gave {result['status']}: {result['message']}")
    phases.append(time.perf_counter())
    for clock in clocks:
        sdk.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": now + MONTH})
    phases.append(time.perf_counter())
    events = handled_events(double_url)
    phases.append(time.perf_counter())
    steps = ("opening checkouts", "paying", "advancing clocks", "listing events")
    durations = (end - start for start, end in pairwise(phases))
    print("  " + ", ".join(f"{step} {seconds:.1f} s" for step, seconds in zip(steps, durations, strict=True)),
          flush=True)
    if len(events) != plan.events or expected_payments(events) != plan.payments:
        raise RuntimeError(f"the double produced {len(events)} events for {expected_payments(events)} payments; "
                           f"expected {plan.events} for {plan.payments}")
    return events


# Load -----------------------------------------------------------------------------------------------


def sign(body: bytes, secret: str) -> str:
    """A Stripe-Signature header as Stripe computes it: t=<unix>,v1=<HMAC-SHA256 of "<t>.<body>">."""
    timestamp = int(time.time())
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


@dataclass(frozen=True)
class Run:
    """One load run: per-request latencies (seconds) and statuses, the wall time of the whole run, the CPU
    seconds each process and the machine used, and what PostgreSQL's connections did (samples per state)."""

    latencies: list[float]
    statuses: list[int]
    wall_seconds: float
    cpu_seconds: dict[str, float]
    machine_seconds: dict[str, float]
    activity: dict[str, int] = field(default_factory=dict)

    @classmethod
    def combined(cls, runs: list[Run]) -> Run:
        """One server's rounds as one run: every request, and the rounds' wall and CPU time added up."""
        def added(parts: Iterator[Mapping[str, float]]) -> dict[str, Any]:
            total: Counter[str] = Counter()
            for part in parts:
                total.update(part)
            return dict(total)

        return cls(latencies=[latency for run in runs for latency in run.latencies],
                   statuses=[status for run in runs for status in run.statuses],
                   wall_seconds=sum(run.wall_seconds for run in runs),
                   cpu_seconds=added(run.cpu_seconds for run in runs),
                   machine_seconds=added(run.machine_seconds for run in runs),
                   activity=added(run.activity for run in runs))

    @property
    def cpu_bound_per_second(self) -> float:
        """Events/s if the processes measured had every CPU of the machine to themselves and never waited."""
        return (os.cpu_count() or 1) * len(self.latencies) / (sum(self.cpu_seconds.values()) or 1)

    @property
    def others_seconds(self) -> float:
        """Busy CPU time of everything else: other programs, PostgreSQL's shared processes, the kernel."""
        return max(0.0, self.machine_seconds["busy"] - sum(self.cpu_seconds.values()))

    def machine_percent(self, kind: str) -> float:
        """Share of all the machine's CPU time during the run that was `kind` (busy, iowait, steal, idle)."""
        return 100 * self.machine_seconds[kind] / (sum(self.machine_seconds.values()) or 1)

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.wall_seconds

    def percentile_ms(self, percent: int) -> float:
        cut_points = statistics.quantiles(self.latencies, n=100, method="inclusive")
        return 1000 * cut_points[percent - 1]

    @property
    def failures(self) -> int:
        return sum(1 for status in self.statuses if not 200 <= status < 300)


def post(port: int, path: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, float]:
    """POST once on a new connection (gunicorn's sync workers close each one anyway): (status, seconds).
    A connection that fails counts as status 0."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("POST", path, body=body, headers=dict(headers))
        response = conn.getresponse()
        response.read()
        status = response.status
    except OSError:
        status = 0
    finally:
        conn.close()
    return status, time.perf_counter() - started


def post_once(port: int, path: str, body: bytes) -> tuple[int, float]:
    """POST one event, signed as Stripe signs it at the moment it is sent."""
    return post(port, path, body, {"Content-Type": "application/json; charset=utf-8",
                                   "User-Agent": "Stripe/1.0 (bench)", "Stripe-Signature": sign(body, WEBHOOK_SECRET)})


@dataclass(frozen=True)
class Load:
    """What `drive` measured: (status, seconds) per request, the wall time, and the CPU seconds each measured
    process and the machine (busy, iowait, steal, idle) used meanwhile."""

    results: list[tuple[int, float]]
    wall_seconds: float
    cpu_seconds: dict[str, float]
    machine_seconds: dict[str, float]


def drive(items: list[T], send: Callable[[T], tuple[int, float]], concurrency: int,
          measure_cpu: Callable[[], tuple[dict[str, float], dict[str, float]]], *, processes: bool = False) -> Load:
    """`send` every item once, in order, from `concurrency` clients that start together: threads of this process,
    or with `processes` forked processes of one thread each."""
    if processes:
        return _drive_processes(items, send, concurrency, measure_cpu)
    work: queue.SimpleQueue[T] = queue.SimpleQueue()
    for item in items:
        work.put(item)
    results: list[tuple[int, float]] = []
    results_lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)

    def client() -> None:
        mine: list[tuple[int, float]] = []
        start.wait()
        while True:
            try:
                item = work.get_nowait()
            except queue.Empty:
                break
            mine.append(send(item))
        with results_lock:
            results.extend(mine)

    threads = [threading.Thread(target=client, name=f"client-{n}") for n in range(concurrency)]
    for thread in threads:
        thread.start()

    def run() -> list[tuple[int, float]]:
        start.wait()
        for thread in threads:
            thread.join()
        return results

    return _measured(run, measure_cpu)


def _measured(run: Callable[[], list[tuple[int, float]]],
              measure_cpu: Callable[[], tuple[dict[str, float], dict[str, float]]]) -> Load:
    """`run` the clients (ready and waiting for it to start them), timed, with the CPU they made others spend."""
    cpu_before, machine_before = measure_cpu()
    started = time.perf_counter()
    results = run()
    wall = time.perf_counter() - started
    cpu_after, machine_after = measure_cpu()
    return Load(results, wall, {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after},
                {name: machine_after[name] - machine_before[name] for name in machine_after})


def _drive_processes(items: list[T], send: Callable[[T], tuple[int, float]], concurrency: int,
                     measure_cpu: Callable[[], tuple[dict[str, float], dict[str, float]]]) -> Load:
    """As `drive`, from forked client processes: Stripe's deliveries don't come from one Python process, and client
    threads sharing one interpreter lock may wait for it between sending a request and reading its answer, which
    the latencies would count as the server's. (On the 2-CPU machine of docs/benchmarks.md the two kinds of client
    gave p99s within the run-to-run noise.)"""
    context = multiprocessing.get_context("fork")  # the children inherit `items` and `send`; nothing is pickled
    next_item = context.Value("q", 0)
    start = context.Barrier(concurrency + 1)
    receivers, clients = [], []

    def client(sender: Connection) -> None:
        mine: list[tuple[int, float]] = []
        start.wait()
        while True:
            with next_item.get_lock():
                number = next_item.value
                next_item.value += 1
            if number >= len(items):
                break
            mine.append(send(items[number]))
        sender.send(mine)
        sender.close()

    for n in range(concurrency):
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=client, args=(sender,), name=f"client-{n}")
        process.start()
        sender.close()
        receivers.append(receiver)
        clients.append(process)

    def run() -> list[tuple[int, float]]:
        start.wait()
        return [result for receiver in receivers for result in receiver.recv()]

    load = _measured(run, measure_cpu)
    for process in clients:
        process.join()
    return load


def post_all(port: int, path: str, bodies: list[bytes], concurrency: int,
             measure_cpu: Callable[[], tuple[dict[str, float], dict[str, float]]], *, processes: bool = True) -> Run:
    """Every body posted once, in order, by `concurrency` clients that start together (forked processes, or
    threads of this one)."""
    load = drive(bodies, lambda body: post_once(port, path, body), concurrency, measure_cpu, processes=processes)
    return Run(
        latencies=[latency for _, latency in load.results],
        statuses=[status for status, _ in load.results],
        wall_seconds=load.wall_seconds,
        cpu_seconds=load.cpu_seconds,
        machine_seconds=load.machine_seconds,
    )


def warm_up(url: str, workers: int) -> None:
    """A few GETs so every worker has imported its code and opened its database connection."""
    for _ in range(4 * workers):
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - a local URL we built
            response.read()


# CPU accounting from /proc --------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[str, int, float] | None:
    """(command name, parent pid, CPU seconds used) of a process, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = raw[raw.index("(") + 1:raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2:].split()
    # After the name: state, ppid, ... utime is field 14 and stime field 15 of the whole line.
    return name, int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _all_processes() -> dict[int, tuple[str, int, float]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            found[int(entry.name)] = stat
    return found


def _machine_seconds() -> dict[str, float]:
    """CPU seconds of the whole machine (all CPUs) so far, from /proc/stat: busy, iowait, steal, idle."""
    user, nice, system, idle, iowait, irq, softirq, steal = (
        int(value) / CLOCK_TICKS for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]
    )
    return {"busy": user + nice + system + irq + softirq, "iowait": iowait, "steal": steal, "idle": idle}


def cpu_meter(groups: Mapping[str, int],
              database_url: str = DATABASE_URL) -> Callable[[], tuple[dict[str, float], dict[str, float]]]:
    """CPU seconds used so far by each named process and its children, by the PostgreSQL backends serving
    the servers under test (on `database_url`) and by this script; and by the whole machine, to see what
    anything else took."""

    def measure() -> tuple[dict[str, float], dict[str, float]]:
        processes = _all_processes()
        usage = {name: sum(cpu for pid, (_, ppid, cpu) in processes.items() if root in (pid, ppid))
                 for name, root in groups.items()}
        usage["postgres backends"] = sum(processes[pid][2] for pid in bench_backends(database_url)
                                         if pid in processes)
        mine = resource.getrusage(resource.RUSAGE_SELF)
        usage["load client"] = mine.ru_utime + mine.ru_stime
        return usage, _machine_seconds()

    return measure


# What PostgreSQL's connections are doing ------------------------------------------------------------

SAMPLER = "bench-sampler"
# The connections of the servers under test: not this one, not the sampler's.
SERVER_BACKENDS = f"""
    FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'
    AND pid <> pg_backend_pid() AND application_name <> '{SAMPLER}'
"""


def bench_backends(database_url: str = DATABASE_URL) -> list[int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return [int(pid) for (pid,) in conn.execute(f"SELECT pid {SERVER_BACKENDS}")]



def _activity_label(state: str | None, wait_type: str | None, wait_event: str | None) -> str:
    if state == "idle in transaction":
        return "idle in transaction (app busy)"
    if state != "active":
        return "idle (between requests)"
    if wait_type == "Lock":
        return "waiting for a lock"
    if wait_event and wait_event.startswith("WAL"):
        return "writing WAL (commit)"
    return "running a statement"


@contextmanager
def database_activity(every_seconds: float = 0.02) -> Iterator[Counter[str]]:
    """Sample pg_stat_activity for the bench database while the block runs: connection samples per state."""
    samples: Counter[str] = Counter()
    stop = threading.Event()

    def sample() -> None:
        with psycopg.connect(DATABASE_URL, autocommit=True, application_name=SAMPLER) as conn:
            while not stop.wait(every_seconds):
                for state, wait_type, wait_event in conn.execute(f"SELECT state, wait_event_type, wait_event "
                                                                 f"{SERVER_BACKENDS}"):
                    samples[_activity_label(state, wait_type, wait_event)] += 1

    sampler = threading.Thread(target=sample, name="pg-activity", daemon=True)
    sampler.start()
    try:
        yield samples
    finally:
        stop.set()
        sampler.join()


# The runs ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AppCheck:
    payments: int
    processed: int
    events: int
    memberships: int


def check_app_database() -> AppCheck:
    with psycopg.connect(DATABASE_URL) as conn:
        payments = conn.execute("SELECT count(*) FROM payments").fetchone()
        processed = conn.execute("SELECT count(*) FROM stripe_events WHERE status = 'processed'").fetchone()
        events = conn.execute("SELECT count(*) FROM stripe_events").fetchone()
        memberships = conn.execute("SELECT count(*) FROM memberships WHERE status = 'active'").fetchone()
    assert payments and processed and events and memberships
    return AppCheck(int(payments[0]), int(processed[0]), int(events[0]), int(memberships[0]))


def count_ceiling_rows() -> int:
    with psycopg.connect(DATABASE_URL) as conn:
        row = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()
    assert row is not None
    return int(row[0])


def stripe_calls(double_url: str) -> int:
    return len(double_call(double_url, "GET", "/_double/requests"))


@dataclass(frozen=True)
class Bench:
    """What both load runs share."""

    args: argparse.Namespace
    env: Mapping[str, str]
    double: subprocess.Popen[bytes]
    logs: Path
    bodies: list[bytes]


def warm_up_bodies(count: int) -> list[bytes]:
    """Events of a type the app stores but handles no further, posted before the measured run so every worker
    has been down the webhook's path once (its lazy imports, its connections): the run then measures the steady
    state, not each worker's first request. `forget_warm_up` deletes them."""
    return [json.dumps({"id": f"{WARM_UP_PREFIX}{n}", "object": "event", "type": "customer.created",
                        "created": int(time.time()), "livemode": False, "api_version": "2026-10-28.endive",
                        "data": {"object": {"id": f"cus_warmup_{n}", "object": "customer"}}}).encode()
            for n in range(count)]


def forget_warm_up(env: Mapping[str, str]) -> None:
    """Delete what the warm-up stored and queued, in the app's tables and the ceiling's."""
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute("DELETE FROM stripe_events WHERE id LIKE %s", (f"{WARM_UP_PREFIX}%",))
        conn.execute(f"TRUNCATE {TABLE}")
    if env.get("REDIS_URL"):
        redis.Redis.from_url(REDIS_URL).delete(STRIPE_EVENT_QUEUE_KEY.format(prefix=DATABASE))


@contextmanager
def serving(bench: Bench, name: str, app_spec: str, port: int, ready_path: str,
            post_path: str) -> Iterator[Callable[[list[bytes]], Run]]:
    """Serve `app_spec` under gunicorn, warmed up with GETs of `ready_path` and warm-up posts to `post_path`;
    yields `load(bodies)`, which posts them to `post_path`, measured."""
    ready = f"http://127.0.0.1:{port}{ready_path}"
    command = gunicorn(app_spec, port, bench.args.workers, bench.args.threads)
    with running(name, command, bench.env, bench.logs) as server:
        wait_until_up(ready, server)
        warm_up(ready, bench.args.workers)
        warm_up_posts = post_all(port, post_path, warm_up_bodies(WARM_UP_PER_WORKER * bench.args.workers),
                                 bench.args.concurrency, lambda: ({}, _machine_seconds()),
                                 processes=not bench.args.client_threads)
        if warm_up_posts.failures:
            raise RuntimeError(f"{warm_up_posts.failures} warm-up posts to {name} failed")
        meter = cpu_meter({"gunicorn": server.pid, "stripe double": bench.double.pid})

        def load(bodies: list[bytes]) -> Run:
            with database_activity() as activity:
                run = post_all(port, post_path, bodies, bench.args.concurrency, meter,
                               processes=not bench.args.client_threads)
            return replace(run, activity=dict(activity))

        yield load


def load_in_rounds(bench: Bench, app_port: int) -> list[tuple[Run, Run]]:
    """The app and the ceiling served side by side, and the bodies posted in `--rounds` slices, oldest first:
    each slice to the app, then the same slice to the ceiling. A shared machine's speed drifts (here by a third
    within minutes); measured minutes apart, the app and the ceiling could each meet a different machine, and
    their ratio said more about the drift than about the app. Interleaved, both meet the same."""
    rounds = []
    with (serving(bench, "app", "membership:create_app()", app_port, "/give", "/stripe/webhook") as app,
          serving(bench, "ceiling", "bench.bare_insert:app", free_port(), "/", "/") as ceiling):
        forget_warm_up(bench.env)
        size = -(-len(bench.bodies) // bench.args.rounds)
        for start in range(0, len(bench.bodies), size):
            bodies = bench.bodies[start:start + size]
            rounds.append((app(bodies), ceiling(bodies)))
    return rounds


# Report -----------------------------------------------------------------------------------------------


def report(plan: Plan, args: argparse.Namespace, rounds: list[tuple[Run, Run]], calls: int, check: AppCheck,
           ceiling_rows: int) -> bool:
    """Print the comparison; True if every request succeeded and the database holds what it should."""
    app, ceiling = Run.combined([pair[0] for pair in rounds]), Run.combined([pair[1] for pair in rounds])
    ratio = app.per_second / ceiling.per_second
    mode = "processed in the request (inline)" if args.inline else "acknowledged (stored and queued; REDIS_URL set)"
    print(f"\n{plan.events} events ({plan.gifts} gifts; {plan.memberships} monthly memberships of "
          f"{EVENTS_PER_MEMBERSHIP} events each, renewal included), {args.concurrency} clients, "
          f"{worker_model(args.workers, args.threads)}; the app's webhook: {mode}\n")
    print(f"{'':34}{'events/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'non-2xx':>10}")
    for label, run in (("app  POST /stripe/webhook", app), ("ceiling  one INSERT per request", ceiling)):
        print(f"{label:34}{run.per_second:10.1f}{run.percentile_ms(50):10.1f}{run.percentile_ms(99):10.1f}"
              f"{1000 * max(run.latencies):10.1f}{run.failures:10d}")
    verdict = "met" if ratio >= 0.5 and app.percentile_ms(99) < 50 else "NOT met"
    print(f"\napp / ceiling: {ratio:.2f} (target at least 0.50 with p99 under 50 ms: {verdict})")
    ratios = [pair[0].per_second / pair[1].per_second for pair in rounds]
    print(f"in {len(rounds)} rounds, each slice of the events posted to the app and then to the ceiling: "
          + ", ".join(f"{pair[0].per_second:.0f}/{pair[1].per_second:.0f} ({each:.2f})"
                      for pair, each in zip(rounds, ratios, strict=True))
          + f"; median {statistics.median(ratios):.2f}, worst {min(ratios):.2f}")
    print(f"Stripe API calls from the app (requests and worker): {calls} ({calls / plan.events:.2f} per event)\n")
    print(f"{'CPU seconds per 1000 events':34}{'app run':>10}{'ceiling':>10}")
    for name in app.cpu_seconds:
        per_app = 1000 * app.cpu_seconds[name] / plan.events
        per_ceiling = 1000 * ceiling.cpu_seconds.get(name, 0.0) / plan.events
        print(f"  {name:32}{per_app:10.2f}{per_ceiling:10.2f}")
    print(f"  {'other processes on the machine':32}{1000 * app.others_seconds / plan.events:10.2f}"
          f"{1000 * ceiling.others_seconds / plan.events:10.2f}")
    print(f"  {'(wall seconds of the run)':32}{app.wall_seconds:10.2f}{ceiling.wall_seconds:10.2f}")
    print(f"\nBound from the CPU time above alone, as if nothing else ran on the {os.cpu_count()} CPUs: "
          f"app {app.cpu_bound_per_second:.0f} events/s, ceiling {ceiling.cpu_bound_per_second:.0f} events/s, "
          f"ratio {app.cpu_bound_per_second / ceiling.cpu_bound_per_second:.2f}")
    print(f"\n{f'Machine CPU, {os.cpu_count()} CPUs (% of time)':34}{'app run':>10}{'ceiling':>10}")
    for kind in ("busy", "iowait", "steal", "idle"):
        print(f"  {kind:32}{app.machine_percent(kind):10.1f}{ceiling.machine_percent(kind):10.1f}")
    print(f"\n{'PostgreSQL connections (% samples)':34}{'app run':>10}{'ceiling':>10}")
    app_total, ceiling_total = sum(app.activity.values()) or 1, sum(ceiling.activity.values()) or 1
    for state in sorted(set(app.activity) | set(ceiling.activity)):
        print(f"  {state:32}{100 * app.activity.get(state, 0) / app_total:10.1f}"
              f"{100 * ceiling.activity.get(state, 0) / ceiling_total:10.1f}")
    ok = (app.failures == 0 and ceiling.failures == 0 and check.payments == plan.payments
          and check.processed == check.events == plan.events and check.memberships == plan.memberships
          and ceiling_rows == plan.events)
    print(f"\nDatabase after the app run: {check.payments} payments (expected {plan.payments}), "
          f"{check.processed} of {check.events} events processed, {check.memberships} active memberships "
          f"(expected {plan.memberships}); ceiling table: {ceiling_rows} rows. {'OK' if ok else 'MISMATCH'}")
    return ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="about how many events to post (default 2000)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers for both servers (default 4)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="post the events in N slices, each to the app and then to the ceiling (default 5)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads per gunicorn worker: 1 (default) for sync workers, more for gthread workers "
                             "(the project's gunicorn configuration deploys 8)")
    parser.add_argument("--inline", action="store_true",
                        help="process each event in its request (no REDIS_URL), as the embedded default does")
    parser.add_argument("--profile", type=int, default=0,
                        help="print the processing worker's N costliest functions (cProfile)")
    parser.add_argument("--profile-out", default="",
                        help="with --profile, also save the worker's raw profile to this file (python -m pstats)")
    parser.add_argument("--client-threads", action="store_true",
                        help="post from threads of this process (as before) rather than one process per client")
    parser.add_argument("--compare-python", default=None, metavar="PY",
                        help="alternate the drains with another Python interpreter (its venv: requirements.lock)")
    parser.add_argument("--drains", type=int, default=1,
                        help="drain the same queued events N times (the database put back each time; default 1)")
    parser.add_argument("--compare-with", type=Path, default=None, metavar="DIR",
                        help="alternate the drains with another checkout's code (A/B), and print both")
    args = parser.parse_args(argv)
    if args.compare_with is not None and not (args.compare_with / "membership").is_dir():
        parser.error(f"--compare-with: {args.compare_with} is not a checkout of this project")
    if args.drains < 1:
        parser.error("--drains must be at least 1")
    if (args.events < 2 * EVENTS_PER_MEMBERSHIP or args.concurrency < 1 or args.workers < 1 or args.threads < 1
            or args.rounds < 1):
        parser.error(f"--events must be at least {2 * EVENTS_PER_MEMBERSHIP}; --concurrency, --workers, --threads "
                     "and --rounds >= 1")
    return args


def compared_side(args: argparse.Namespace) -> Side | None:
    """The other side of an A/B drain (--compare-with, --compare-python), if any."""
    if args.compare_with is None and args.compare_python is None:
        return None
    return Side(checkout=args.compare_with or ROOT, python=args.compare_python or sys.executable)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = Plan.for_events(args.events)
    logs = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
    double_port, app_port = free_port(), free_port()
    double_url, app_url = f"http://127.0.0.1:{double_port}", f"http://127.0.0.1:{app_port}"
    env = {name: value for name, value in os.environ.items() if not name.startswith("STRIPE_DOUBLE_")}
    env.update({
        "DATABASE_URL": DATABASE_URL, DATABASE_URL_VARIABLE: DATABASE_URL, "SECRET_KEY": SECRET_KEY,
        "STRIPE_SECRET_KEY": STRIPE_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "STRIPE_API_BASE": double_url,
        "PUBLIC_URL": app_url, "MEMBERSHIP_ENV": "development",
    })
    # The app's own rate, not Stripe's: the double sets no limit here, so neither does the app (bench.burst paces).
    env["STRIPE_MAX_REQUESTS_PER_SECOND"] = "10000"
    if not args.inline:
        env.update(REDIS_URL=REDIS_URL, REDIS_KEY_PREFIX=DATABASE)
        redis.Redis.from_url(REDIS_URL).delete(*(key.format(prefix=DATABASE)
                                                 for key in (STRIPE_EVENT_QUEUE_KEY, EMAIL_QUEUE_KEY)))
    print(f"Preparing database {DATABASE!r} (logs in {logs})", flush=True)
    prepare_database(env)
    with ExitStack() as stack:
        # No --webhook-url: the double keeps its events and delivers none; this script posts them.
        double = stack.enter_context(running(
            "stripe-double",
            [sys.executable, "-m", "stripe_double", "--host", "127.0.0.1", "--port", str(double_port),
             "--tick-seconds", "86400"],
            env, logs,
        ))
        wait_until_up(f"{double_url}/", double)
        started = time.perf_counter()
        events = generate_events(double_url, app_url, plan)
        print(f"Generated {len(events)} events in {time.perf_counter() - started:.1f} s; posting them to the app "
              "and to the ceiling",
              flush=True)
        bench = Bench(args, env, double, logs, [json.dumps(event, indent=2).encode() for event in events])
        calls_before = stripe_calls(double_url)
        rounds = load_in_rounds(bench, app_port)
        processing = None
        if not args.inline:
            print("Processing the queued events in one worker process", flush=True)
            processing = drain(env, database_url=DATABASE_URL, redis_url=REDIS_URL,
                               queue_keys=[key.format(prefix=DATABASE) for key in DRAIN_KEYS],
                               repeats=args.drains, compare_with=compared_side(args),
                               profile=args.profile, profile_out=args.profile_out)
        calls = stripe_calls(double_url) - calls_before
        check = check_app_database()
    ok = report(plan, args, rounds, calls, check, count_ceiling_rows())
    if processing is not None:
        report_drains(processing)
        ok = ok and failed(processing) == 0
    if not ok:
        print(f"See the server logs in {logs}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
