"""What checking a pooled connection before each use costs: SQLAlchemy's `pool_pre_ping` against the app's check of
a rested connection only (`membership.db.ping_when_idle`), in CPU per checkout.

One process, two engines on the same PostgreSQL database. Each round takes N connections from each pool in turn
(alternating, so both share the machine's ups and downs), each running one `SELECT 1`, and measures the process's
CPU time. Prints every round, the medians and the difference.

    .venv/bin/python -m bench.pool_ping [--url postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import statistics
import time

import sqlalchemy as sa

from membership.db import ping_when_idle

SELECT_ONE = sa.text("SELECT 1")


def cpu_per_checkout(engine: sa.Engine, checkouts: int) -> float:
    """Microseconds of this process's CPU for one checkout and its statement."""
    started = time.process_time()
    for _ in range(checkouts):
        with engine.connect() as connection:
            connection.execute(SELECT_ONE).scalar()
    return (time.process_time() - started) / checkouts * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--checkouts", type=int, default=5000, help="checkouts per engine per round")
    args = parser.parse_args()
    engines = {"pool_pre_ping": sa.create_engine(args.url, pool_pre_ping=True),
               "rested only": sa.create_engine(args.url)}
    ping_when_idle(engines["rested only"])
    for engine in engines.values():
        cpu_per_checkout(engine, 500)  # connections opened, statements prepared
    figures: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(args.rounds):
        for name, engine in engines.items():
            figures[name].append(cpu_per_checkout(engine, args.checkouts))
    for name, values in figures.items():
        rounds = ", ".join(f"{value:.1f}" for value in values)
        print(f"{name:>14}: {rounds} µs of CPU per checkout; median {statistics.median(values):.1f}")
    saved = statistics.median(figures["pool_pre_ping"]) - statistics.median(figures["rested only"])
    print(f"the check at every checkout costs {saved:.1f} µs of CPU (medians)")
    for engine in engines.values():
        engine.dispose()


if __name__ == "__main__":
    main()
