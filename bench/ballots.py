"""Ballot throughput: patrons vote over HTTP against the app under gunicorn on PostgreSQL; then the tally.

    .venv/bin/python -m bench.ballots [--patrons N] [--concurrency C] [--workers W] [--tally-votes V]

1. A fresh `bench_ballots` database, migrated to head. N patrons are bulk-inserted: supporters, active
   monthly memberships and a membership payment 60 days ago each (so the default "paid before the ballot
   opened" rule lets them vote), and one open single-choice ballot with five topics.
2. One signed session cookie per patron, made with the app's SECRET_KEY exactly as signing in stores it
   (`membership.patrons.auth.sign_in_session`), with the CSRF secret Flask-WTF keeps in the session, and
   the matching CSRF token for the form.
3. The app under gunicorn (sync workers, as deployed). Every patron POSTs one vote to /ballots/<id>/vote,
   C clients at once, each request on its own connection; every latency is recorded.
4. Checks: every answer is the 303 back to the ballot, the database holds N votes, and the tally adds up.
5. The tally at V votes: patrons are added up to V, a second open ballot gets V votes and their choices by
   bulk insert, ANALYZE runs, then `membership.ballots.services.tally` is timed: the first (cold) call and
   the median of five more. The ballot is open, so every call also counts the eligible patrons.

Prints votes/s, p50/p99 latency, and the tally times. Exits 1 if a vote was refused or lost.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from flask import Flask, g, session
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import generate_csrf

from bench.webhooks import (
    cpu_meter,
    drive,
    free_port,
    gunicorn,
    post,
    recreate_database,
    running,
    wait_until_up,
    warm_up,
    worker_model,
)
from membership import create_app
from membership.ballots.models import Ballot, BallotOption, ResultsVisibility, VotingMethod
from membership.ballots.services import tally
from membership.db import db, utcnow
from membership.giving.models import Membership, MembershipStatus, Payment, PaymentKind, PaymentStatus
from membership.patrons.auth import sign_in_session
from membership.supporters.models import Supporter

ROOT = Path(__file__).resolve().parent.parent
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
DATABASE = "bench_ballots"
DATABASE_URL = f"{PG_SERVER}/{DATABASE}"
SECRET_KEY = "bench-ballots-secret-key-that-is-long-enough-0123"  # noqa: S105 - a throwaway bench key
TOPICS = 5
BATCH = 5000
GRACE = timedelta(days=7)


# Data -----------------------------------------------------------------------------------------------------


def prepare_database(env: dict[str, str]) -> None:
    """Drop and recreate the bench database and migrate it to head."""
    recreate_database(DATABASE, env, seed=False)


def add_patrons(first: int, last: int) -> list[int]:
    """Patrons numbered first..last-1 by bulk insert (the models' defaults fill the other columns)."""
    now = utcnow()
    paid = now - timedelta(days=60)
    ids: list[int] = []
    for start in range(first, last, BATCH):
        numbers = range(start, min(start + BATCH, last))
        db.session.execute(sa.insert(Supporter), [
            {"email": f"patron{n}@bench.example", "name": f"Patron {n}", "created_at": paid, "updated_at": paid}
            for n in numbers])
        batch = list(db.session.scalars(
            sa.select(Supporter.id).where(Supporter.email.in_([f"patron{n}@bench.example" for n in numbers]))
            .order_by(Supporter.id)))
        db.session.execute(sa.insert(Membership), [
            {"supporter_id": sid, "stripe_subscription_id": f"sub_bench_{sid}", "status": MembershipStatus.ACTIVE,
             "amount_minor": 500, "currency": "EUR", "interval": "month", "started_at": paid,
             "current_period_end": now + timedelta(days=20), "updated_at": now}
            for sid in batch])
        db.session.execute(sa.insert(Payment), [
            {"supporter_id": sid, "kind": PaymentKind.MEMBERSHIP, "stripe_payment_intent_id": f"pi_bench_{sid}",
             "amount_minor": 500, "fee_minor": 33, "net_minor": 467, "currency": "EUR", "status": PaymentStatus.PAID,
             "paid_at": paid, "created_at": paid}
            for sid in batch])
        db.session.commit()
        ids.extend(batch)
    return ids


def add_open_ballot(title: str) -> Ballot:
    now = utcnow()
    ballot = Ballot(title=title, introduction="Benchmark ballot.", opens_at=now - timedelta(days=1),
                    closes_at=now + timedelta(days=14), published_at=now - timedelta(days=2),
                    method=VotingMethod.SINGLE, max_choices=1, results_visibility=ResultsVisibility.AFTER_CLOSE,
                    tier_weights={}, min_monthly={},
                    options=[BallotOption(title=f"Topic {n}", position=n) for n in range(1, TOPICS + 1)])
    db.session.add(ballot)
    db.session.commit()
    return ballot


def bulk_votes(ballot: Ballot) -> int:
    """A vote from every patron for one of the ballot's topics, in two INSERT … SELECTs."""
    options = [option.id for option in ballot.options]
    now = utcnow()
    db.session.execute(sa.text(
        "INSERT INTO votes (ballot_id, supporter_id, weight, created_at, updated_at) "
        "SELECT :ballot, id, 1, :now, :now FROM supporters"), {"ballot": ballot.id, "now": now})
    db.session.execute(sa.text(
        "INSERT INTO vote_choices (ballot_id, vote_id, option_id) "
        "SELECT :ballot, v.id, (:options)[1 + v.id % :count] FROM votes v WHERE v.ballot_id = :ballot"),
        {"ballot": ballot.id, "options": options, "count": len(options)})
    db.session.commit()
    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute("ANALYZE")
    return int(db.session.scalar(sa.text("SELECT count(*) FROM votes WHERE ballot_id = :b"), {"b": ballot.id}) or 0)


def signed_in_form(app: Flask, supporter: Supporter, choice: int) -> tuple[str, bytes]:
    """The session cookie a signed-in patron's browser holds, and the vote form it would post."""
    with app.test_request_context():
        g.pop("csrf_token", None)  # Flask-WTF caches the token in `g`, which outlives this request here
        sign_in_session(supporter)  # the session the sign-in link starts, epoch and all
        token = generate_csrf()
        assert isinstance(app.session_interface, SecureCookieSessionInterface)
        serializer = app.session_interface.get_signing_serializer(app)
        assert serializer is not None
        cookie = serializer.dumps(dict(session))
    body = urllib.parse.urlencode({"choice": str(choice), "csrf_token": token}).encode()
    return f"{app.config['SESSION_COOKIE_NAME']}={cookie}", body


# Load -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    latencies: list[float]
    statuses: list[int]
    wall_seconds: float
    cpu_seconds: dict[str, float]  # gunicorn (workers included), postgres backends, load client
    machine_busy_seconds: float  # every CPU of the machine, whoever used it

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.wall_seconds

    @property
    def server_bound_per_second(self) -> float:
        """Votes/s if gunicorn and PostgreSQL had every CPU to themselves and never waited."""
        server = self.cpu_seconds["gunicorn"] + self.cpu_seconds["postgres backends"]
        return (os.cpu_count() or 1) * len(self.latencies) / (server or 1)

    def percentile_ms(self, percent: int) -> float:
        return 1000 * statistics.quantiles(self.latencies, n=100, method="inclusive")[percent - 1]


def vote_all(port: int, path: str, forms: list[tuple[str, bytes]], concurrency: int,
             measure_cpu: Callable[[], tuple[dict[str, float], dict[str, float]]]) -> Run:
    """Every form posted once by `concurrency` client threads that start together."""

    def vote(form: tuple[str, bytes]) -> tuple[int, float]:
        cookie, body = form
        return post(port, path, body, {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})

    load = drive(forms, vote, concurrency, measure_cpu)
    return Run([latency for _, latency in load.results], [status for status, _ in load.results], load.wall_seconds,
               load.cpu_seconds, load.machine_seconds["busy"])


def time_tally(ballot: Ballot, runs: int = 5) -> tuple[float, float, Any]:
    """(first call, median of the next `runs`) in seconds, and the last tally."""
    timings = []
    result = None
    for _ in range(runs + 1):
        db.session.expire_all()
        started = time.perf_counter()
        result = tally(db.session(), ballot, utcnow(), GRACE)
        timings.append(time.perf_counter() - started)
        db.session.rollback()
    return timings[0], statistics.median(timings[1:]), result


# Main -------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ballots", description=__doc__.split("\n")[0])
    parser.add_argument("--patrons", type=int, default=10_000, help="patrons who vote over HTTP (default 10000)")
    parser.add_argument("--concurrency", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (default 4)")
    parser.add_argument("--tally-votes", type=int, default=100_000, help="votes for the tally timing (default 100000)")
    args = parser.parse_args(argv)
    if args.patrons < 1 or args.concurrency < 1 or args.workers < 1 or args.tally_votes < args.patrons:
        parser.error("--patrons, --concurrency and --workers must be at least 1; --tally-votes at least --patrons")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logs = Path(tempfile.mkdtemp(prefix="bench-ballots-"))
    port = free_port()
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "SECRET_KEY": SECRET_KEY, "MEMBERSHIP_ENV": "development",
           "PUBLIC_URL": f"http://127.0.0.1:{port}"}
    print(f"Preparing database {DATABASE!r} (logs in {logs})", flush=True)
    prepare_database(env)
    app = create_app({"SQLALCHEMY_DATABASE_URI": DATABASE_URL.replace("postgresql://", "postgresql+psycopg://"),
                      "SECRET_KEY": SECRET_KEY})
    with app.app_context():
        started = time.perf_counter()
        patrons = add_patrons(0, args.patrons)
        ballot = add_open_ballot("Benchmark: what should we investigate next?")
        options = [option.id for option in ballot.options]
        supporters = {supporter.id: supporter for supporter in db.session.scalars(
            sa.select(Supporter).where(Supporter.id.in_(patrons)))}
        forms = [signed_in_form(app, supporters[sid], options[n % TOPICS]) for n, sid in enumerate(patrons)]
        print(f"{len(patrons)} patrons and their sessions ready in {time.perf_counter() - started:.1f} s; voting",
              flush=True)

        path = f"/ballots/{ballot.id}/vote"
        with running("app", gunicorn("membership:create_app()", port, args.workers), env, logs) as server:
            wait_until_up(f"http://127.0.0.1:{port}/ballots", server)
            warm_up(f"http://127.0.0.1:{port}/ballots/{ballot.id}", args.workers)
            run = vote_all(port, path, forms, args.concurrency, cpu_meter({"gunicorn": server.pid}, DATABASE_URL))

        db.session.expire_all()
        stored = int(db.session.scalar(sa.text("SELECT count(*) FROM votes WHERE ballot_id = :b"),
                                       {"b": ballot.id}) or 0)
        first, median, http_tally = time_tally(ballot, runs=3)
        refused = sum(1 for status in run.statuses if status != 303)
        counted = sum(result.voters for result in http_tally.options)

        print(f"Adding patrons up to {args.tally_votes} and {args.tally_votes} votes by bulk insert", flush=True)
        add_patrons(args.patrons, args.tally_votes)
        big = add_open_ballot("Benchmark: the tally at scale")
        votes = bulk_votes(big)
        cold, warm, big_tally = time_tally(big)

    print(f"\nMachine: {platform.node()} · {os.cpu_count()} CPUs · {platform.platform()} · Python "
          f"{platform.python_version()} · PostgreSQL at {PG_SERVER}")
    print(f"{len(forms)} patrons voted over HTTP, {args.concurrency} clients, "
          f"{worker_model(args.workers)}\n")
    print(f"{'':28}{'votes/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'not 303':>10}")
    print(f"{'POST /ballots/<id>/vote':28}{run.per_second:10.1f}{run.percentile_ms(50):10.1f}"
          f"{run.percentile_ms(99):10.1f}{refused:10d}")
    per_vote = {name: 1000 * seconds / len(forms) for name, seconds in run.cpu_seconds.items()}
    others = 1000 * max(0.0, run.machine_busy_seconds - sum(run.cpu_seconds.values())) / len(forms)
    print("\nCPU milliseconds per vote: " + ", ".join(f"{name} {ms:.1f}" for name, ms in per_vote.items())
          + f", everything else on the machine {others:.1f} (wall {run.wall_seconds:.0f} s)")
    print(f"Bound from gunicorn's and PostgreSQL's CPU time alone, as if nothing else ran on the "
          f"{os.cpu_count()} CPUs: {run.server_bound_per_second:.0f} votes/s")
    print(f"\nVotes stored: {stored}; the tally counts {counted} and {http_tally.eligible} eligible "
          f"(turnout {http_tally.turnout:.1%}); tally at {stored} votes: {1000 * first:.1f} ms first, "
          f"{1000 * median:.1f} ms median")
    print(f"Tally at {votes} votes ({TOPICS} topics, {big_tally.eligible} eligible patrons): "
          f"{1000 * cold:.1f} ms first call, {1000 * warm:.1f} ms median of 5")
    ok = refused == 0 and stored == len(forms) == counted and big_tally.voters == votes
    if not ok:
        print(f"FAILED: refused {refused} (statuses {sorted(Counter(run.statuses).items())}), stored {stored}, "
              f"counted {counted}; see {logs}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
