"""The reader pages every article links to (/, /give, /appeal) under gunicorn on PostgreSQL.

    .venv/bin/python -m bench.pages [--requests N] [--warm-up N] [--workers N] [--skip-load]

1. A fresh `bench_pages` database, migrated and seeded with `seed-demo` (the catalogue, and 300 demo supporters
   with 14 months of payments, so the support page's wall shows real entries).
2. SQL statements per page: each page requested twice through the app in this process (Flask's test client runs
   the same code as gunicorn), the second counted with a SQLAlchemy `before_cursor_execute` listener; the first
   request of a process also loads the catalogue into its cache, so its count is printed too.
3. The app under gunicorn with sync workers, as deployed (default 2, one a CPU). Each page in turn is warmed
   up, then requested N times, one request at a time on a new connection (sync workers close
   each one anyway), timed by the client: p50, p99 and worst per page, so the figures are the latency of one
   request, not a queue's. And the CPU time per request of the gunicorn workers and of their PostgreSQL backends
   (from /proc/<pid>/stat): on a machine other work keeps busy the latencies grow, the CPU times hardly do, and
   on an idle machine a request's latency is about their sum.

Prints the figures and whether each target is met (p50 under 10 ms, at most 3 statements a page); exits 1 if one
is missed or a page answers anything but 200.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from bench.exports import cpu_seconds
from bench.webhooks import free_port, gunicorn, recreate_database, running, wait_until_up
from membership import create_app
from membership.db import db

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
DATABASE = "bench_pages"
DATABASE_URL = f"{PG_SERVER}/{DATABASE}"
SECRET_KEY = "bench-secret-key-that-is-long-enough-0123456789"  # noqa: S105 - a throwaway local secret
PAGES = ("/", "/give", "/appeal")
TARGET_P50_MS, TARGET_STATEMENTS = 10.0, 3


def statements_per_page() -> dict[str, tuple[int, int]]:
    """Per page: the statements of a process's first request (which loads the catalogue) and of the next."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": DATABASE_URL.replace("postgresql://", "postgresql+psycopg://"),
                      "SECRET_KEY": SECRET_KEY})
    counts: dict[str, tuple[int, int]] = {}
    with app.app_context():
        sent: list[str] = []

        def record(*args: Any) -> None:
            sent.append(args[2])

        sa.event.listen(db.engine, "before_cursor_execute", record)
        client = app.test_client()
        for path in PAGES:
            app.extensions.pop("giving.catalogue", None)  # as a fresh worker process would start
            sent.clear()
            assert client.get(path).status_code == 200, path
            first = len(sent)
            sent.clear()
            client.get(path)
            counts[path] = (first, len(sent))
        db.engine.dispose()
    return counts


def processes(master: int) -> list[int]:
    """The gunicorn master's workers, and the PostgreSQL backends serving the bench database (the workers')."""
    workers = [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        backends = [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (DATABASE,))]
    return workers + backends


def cpu_of(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def get(port: int, path: str) -> tuple[int, float]:
    """GET once on a new connection: (status, seconds)."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        status = response.status
    finally:
        conn.close()
    return status, time.perf_counter() - started


def percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(percent / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="Measured requests per page.")
    parser.add_argument("--warm-up", type=int, default=200, help="Unmeasured requests per page first.")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers.")
    parser.add_argument("--skip-load", action="store_true", help="Reuse the database a previous run seeded.")
    args = parser.parse_args()
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "SECRET_KEY": SECRET_KEY, "MEMBERSHIP_ENV": "development",
           "STRIPE_SECRET_KEY": "", "STRIPE_API_BASE": "", "REDIS_URL": ""}
    if not args.skip_load:
        recreate_database(DATABASE, env, seed=True)
    counts = statements_per_page()
    port = free_port()
    load_before = os.getloadavg()
    timings: dict[str, list[float]] = {path: [] for path in PAGES}
    cpu: dict[str, tuple[float, float]] = {}
    failures = 0
    with tempfile.TemporaryDirectory() as logs:
        server_command = gunicorn("membership:create_app()", port, args.workers)
        with running("gunicorn", server_command, env, Path(logs)) as server:
            wait_until_up(f"http://127.0.0.1:{port}/appeal", server)
            for path in PAGES:
                for _ in range(args.warm_up):
                    get(port, path)
                pids = processes(server.pid)
                workers, backends = pids[:args.workers], pids[args.workers:]
                before = cpu_of(workers), cpu_of(backends)
                for _ in range(args.requests):
                    status, seconds = get(port, path)
                    failures += status != 200
                    timings[path].append(seconds * 1000)
                cpu[path] = ((cpu_of(workers) - before[0]) / args.requests * 1000,
                             (cpu_of(backends) - before[1]) / args.requests * 1000)
    print(f"{args.requests:,} requests a page (after {args.warm_up} to warm up), one at a time, to gunicorn with "
          f"{args.workers} sync workers; CPU per request of the workers (app) and their PostgreSQL backends (db)")
    checks: dict[str, bool] = {"every response 200": failures == 0}
    for path in PAGES:
        ms = timings[path]
        first, steady = counts[path]
        p50 = statistics.median(ms)
        print(f"  {path:8} p50 {p50:5.1f} ms  p99 {percentile(ms, 99):5.1f} ms  worst {max(ms):6.1f} ms  "
              f"CPU app {cpu[path][0]:4.1f} ms + db {cpu[path][1]:3.1f} ms  "
              f"SQL statements {steady} ({first} on a process's first request, which loads the catalogue)")
        checks[f"{path} p50 under {TARGET_P50_MS:.0f} ms"] = p50 < TARGET_P50_MS
        checks[f"{path} at most {TARGET_STATEMENTS} statements"] = steady <= TARGET_STATEMENTS
    print("Load average (1, 5, 15 min) before and after: "
          f"{' '.join(f'{x:.1f}' for x in load_before)} / {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'MISS'} {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
