"""The worker's side of `bench.webhooks`: one worker process (`bench.drain_events`) drains the queued events, once or
several times over the same events, and optionally alternating with another checkout's code.

Repeating is what makes the CPU per event a figure rather than a sample: on a shared machine one drain can be 20 %
off the next. Before the first drain the database is copied (`CREATE DATABASE … TEMPLATE`) with the queue's ids;
before each later one it is put back from that copy and the ids queued again, so every drain does the same work
against the same double. With `--compare-with DIR` the drains alternate between this checkout and DIR (another
checkout of the project, for example `git worktree add`, with its translations compiled), and both sides'
figures are printed: an A/B comparison whose two sides shared the machine's ups and downs.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

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

    @property
    def cpu_ms_per_event(self) -> float:
        return 1000 * self.cpu_seconds / (self.events or 1)


@dataclass(frozen=True)
class Drains:
    """What `drain` returned: each side's drains in the order they ran (`compared` empty without --compare-with)."""

    this: list[Processing]
    compared: list[Processing]
    compared_with: str = ""


def drain_once(env: Mapping[str, str], checkout: Path, profile: int = 0, profile_out: str = "") -> Processing:
    """Run `bench.drain_events` (one worker process, one thread) from `checkout` on everything queued."""
    command = [sys.executable, "-m", "bench.drain_events"]
    if profile:
        command += ["--profile", str(profile)]
        if profile_out:
            command += ["--profile-out", profile_out]
    # From `checkout`: python -m puts the working directory first on the path, so its own `membership` is imported.
    done = subprocess.run(command, env=dict(env), cwd=checkout, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench.drain_events ({checkout}) failed:\n{done.stdout}{done.stderr}")
    if profile:
        print(done.stderr, flush=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return Processing(figures["events"], figures["done"], figures["failed"], figures["cpu_seconds"],
                      figures["wall_seconds"], figures["statements"], figures["commits"], figures["full_collections"],
                      figures["full_collection_seconds"])


def _server(database_url: str) -> tuple[str, str]:
    """The maintenance database's URL and the database's name, from the database's URL."""
    server, _, name = database_url.rpartition("/")
    return f"{server}/postgres", name


def _copy_database(database_url: str, source: str, target: str) -> None:
    maintenance, _ = _server(database_url)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')


def drain(env: Mapping[str, str], *, database_url: str, redis_url: str, queue_keys: Sequence[str], repeats: int = 1,
          compare_with: Path | None = None, profile: int = 0, profile_out: str = "") -> Drains:
    """Drain the queued events `repeats` times on each side (this checkout, and `compare_with` when given,
    alternating, this one first), putting the database and the queue back as they were before each drain.
    `queue_keys`: the event queue first, then the keys drains fill and the next one should find empty."""
    _, name = _server(database_url)
    snapshot = f"{name}_before_drain"
    event_queue = redis.Redis.from_url(redis_url)
    ids = event_queue.lrange(queue_keys[0], 0, -1)
    sides = [ROOT] if compare_with is None else [ROOT, compare_with]
    results: dict[Path, list[Processing]] = {side: [] for side in sides}
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
                conn.execute(f'DROP DATABASE IF EXISTS "{snapshot}" WITH (FORCE)')
    compared = results[compare_with] if compare_with is not None else []
    return Drains(results[ROOT], compared, str(compare_with or ""))


def _summary(label: str, drains: list[Processing]) -> str:
    per_event = [run.cpu_ms_per_event for run in drains]
    median = statistics.median(per_event)
    verdict = "met" if median <= TARGET_MS else "NOT met"
    first = drains[0]
    statements, commits = first.statements / (first.events or 1), first.commits / (first.events or 1)
    rate = statistics.median(run.events / (run.wall_seconds or 1) for run in drains)
    return (f"  {label}: app CPU per event {', '.join(f'{ms:.2f}' for ms in per_event)} ms: median {median:.2f}, "
            f"worst {max(per_event):.2f} (target at most {TARGET_MS:g}, median: {verdict}); {rate:.1f} events/s "
            f"(median); {statements:.2f} SQL statements and {commits:.2f} commits per event; "
            f"{sum(run.full_collections for run in drains)} full garbage collections in all")


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
