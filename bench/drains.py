"""The worker's side of `bench.webhooks`: one worker process (`bench.drain_events`) drains the queued events, once or
several times over the same events, and optionally alternating with another checkout's code or interpreter.

Repeating is what makes the CPU per event a figure rather than a sample: on a shared machine one drain can be 20 %
off the next. Before the first drain the database is copied (`CREATE DATABASE … TEMPLATE`) with the queue's ids;
before each later one it is put back from that copy and the ids queued again, so every drain does the same work
against the same double. With `--compare-with DIR` the drains alternate between this checkout and DIR (another
checkout of the project, for example `git worktree add`, with its translations compiled), with `--compare-python
PY` between this interpreter and another (a virtualenv with the same requirements.lock), and both sides' figures
are printed: an A/B comparison whose two sides shared the machine's ups and downs. Either way the measuring is
this checkout's `bench.drain_events`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 6.0


@dataclass(frozen=True)
class Processing:
    """One worker process draining the queue: events taken, done, failed, its CPU and wall seconds, and the SQL
    statements and commits it ran."""

    events: int
    done: int
    failed: int
    cpu_seconds: float
    wall_seconds: float
    statements: int
    commits: int
    full_collections: int
    full_collection_seconds: float
    warm_up_events: int = 0
    warm_up_cpu_seconds: float = 0.0
    by_type: dict[str, tuple[int, float]] = field(default_factory=dict)  # event type: (events, CPU seconds)

    @property
    def cpu_ms_per_event(self) -> float:
        """The steady state: CPU per event after the warm-up (the process's first events)."""
        return 1000 * (self.cpu_seconds - self.warm_up_cpu_seconds) / ((self.events - self.warm_up_events) or 1)

    @property
    def overall_ms_per_event(self) -> float:
        """CPU per event over the whole drain, warm-up included."""
        return 1000 * self.cpu_seconds / (self.events or 1)


@dataclass(frozen=True)
class Drains:
    """What `drain` returned: each side's drains in the order they ran (`compared` empty without another side)."""

    this: list[Processing]
    compared: list[Processing]
    compared_with: str = ""


@dataclass(frozen=True)
class Side:
    """What one side of a comparison runs: a checkout's code, on a Python interpreter."""

    checkout: Path = ROOT
    python: str = sys.executable

    def label(self) -> str:
        parts = [] if self.checkout == ROOT else [str(self.checkout)]
        if self.python != sys.executable:
            parts.append(self.python)
        return " on ".join(parts) or "this checkout"


def drain_once(env: Mapping[str, str], side: Side, profile: int = 0, profile_out: str = "") -> Processing:
    """Run `bench.drain_events` (one worker process, one thread) with `side`'s code and Python on everything
    queued."""
    checkout = side.checkout
    # This checkout's bench.drain_events, with `checkout`'s own `membership` first on the path: both sides of a
    # comparison are measured the same way.
    runner = (f"import runpy, sys; sys.path.insert(0, {str(checkout)!r}); "
              f"runpy.run_path({str(ROOT / 'bench' / 'drain_events.py')!r}, run_name='__main__')")
    command = [side.python, "-c", runner]
    if profile:
        command += ["--profile", str(profile)]
        if profile_out:
            command += ["--profile-out", profile_out]
    done = subprocess.run(command, env=dict(env), cwd=checkout, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench.drain_events ({checkout}) failed:\n{done.stdout}{done.stderr}")
    if profile:
        print(done.stderr, flush=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return Processing(figures["events"], figures["done"], figures["failed"], figures["cpu_seconds"],
                      figures["wall_seconds"], figures["statements"], figures["commits"], figures["full_collections"],
                      figures["full_collection_seconds"], figures["warm_up_events"], figures["warm_up_cpu_seconds"],
                      {kind: (int(n), float(seconds)) for kind, (n, seconds) in figures["by_type"].items()})


def _server(database_url: str) -> tuple[str, str]:
    """The maintenance database's URL and the database's name, from the database's URL."""
    server, _, name = database_url.rpartition("/")
    return f"{server}/postgres", name


def _drop_database(conn: psycopg.Connection[Any], name: str) -> None:
    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _copy_database(database_url: str, source: str, target: str) -> None:
    maintenance, _ = _server(database_url)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        _drop_database(conn, target)
        # A template must have no other connection: this process's own pool may still hold one (it reconnects).
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                     "AND pid <> pg_backend_pid()", (source,))
        conn.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')


def drain(env: Mapping[str, str], *, database_url: str, redis_url: str, queue_keys: Sequence[str], repeats: int = 1,
          compare_with: Side | None = None, profile: int = 0, profile_out: str = "") -> Drains:
    """Drain the queued events `repeats` times on each side (this checkout, and `compare_with` when given,
    alternating, this one first), putting the database and the queue back as they were before each drain.
    `queue_keys`: the event queue first, then the keys drains fill and the next one should find empty."""
    _, name = _server(database_url)
    snapshot = f"{name}_before_drain"
    event_queue = redis.Redis.from_url(redis_url)
    ids = event_queue.lrange(queue_keys[0], 0, -1)
    this = Side()
    sides = [this] if compare_with is None else [this, compare_with]
    results: dict[Side, list[Processing]] = {side: [] for side in sides}
    runs = [side for _ in range(repeats) for side in sides]
    if len(runs) > 1:
        _copy_database(database_url, name, snapshot)
    try:
        for number, side in enumerate(runs):
            if number:
                _copy_database(database_url, snapshot, name)
                event_queue.delete(*queue_keys)
                event_queue.rpush(queue_keys[0], *ids)
            results[side].append(drain_once(env, side, profile, profile_out))
    finally:
        if len(runs) > 1:
            maintenance, _ = _server(database_url)
            with psycopg.connect(maintenance, autocommit=True) as conn:
                _drop_database(conn, snapshot)
    compared = results[compare_with] if compare_with is not None else []
    return Drains(results[this], compared, compare_with.label() if compare_with is not None else "")


def _summary(label: str, drains: list[Processing]) -> str:
    per_event = [run.cpu_ms_per_event for run in drains]
    median = statistics.median(per_event)
    verdict = "met" if median <= TARGET_MS else "NOT met"
    first = drains[0]
    statements, commits = first.statements / (first.events or 1), first.commits / (first.events or 1)
    rate = statistics.median(run.events / (run.wall_seconds or 1) for run in drains)
    overall = statistics.median(run.overall_ms_per_event for run in drains)
    warm_up = statistics.median(1000 * run.warm_up_cpu_seconds / (run.warm_up_events or 1) for run in drains)
    return (f"  {label}: app CPU per event after the first {first.warm_up_events} (the steady state) "
            f"{', '.join(f'{ms:.2f}' for ms in per_event)} ms: median {median:.2f}, worst {max(per_event):.2f} "
            f"(target at most {TARGET_MS:g}, median: {verdict}); the first {first.warm_up_events} "
            f"{warm_up:.2f} ms each, the whole drain {overall:.2f} (medians); {rate:.1f} events/s (median); "
            f"{statements:.2f} SQL statements and {commits:.2f} commits per event; "
            f"{sum(run.full_collections for run in drains)} full garbage collections in all\n"
            f"    by event type (events, CPU ms per event over the whole drain, median): {_by_type(drains)}")


def _by_type(drains: list[Processing]) -> str:
    def median_ms(kind: str, events: int) -> float:
        return statistics.median(1000 * run.by_type.get(kind, (events, 0.0))[1] / events for run in drains)

    return "; ".join(f"{kind} {n}, {median_ms(kind, n):.2f}" for kind, (n, _) in sorted(drains[0].by_type.items()))


def report_drains(drains: Drains) -> None:
    first = drains.this[0]
    print(f"\nOne worker process draining the queue, {len(drains.this)} time(s): {first.events} events "
          f"({first.done} done, {first.failed} failed in the first drain)")
    print(_summary("this checkout", drains.this))
    if drains.compared:
        print(_summary(f"compared with {drains.compared_with}", drains.compared))
        ratio = statistics.median(run.cpu_ms_per_event for run in drains.this) / statistics.median(
            run.cpu_ms_per_event for run in drains.compared)
        print(f"  this checkout / compared: {ratio:.3f} (medians)")


def failed(drains: Drains) -> int:
    return sum(run.failed for run in drains.this + drains.compared)
