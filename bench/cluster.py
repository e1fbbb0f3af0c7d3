"""The service on several hosts: three gunicorn web processes behind HAProxy (round robin, health-checked), two
workers, one PostgreSQL database, Redis, an S3-compatible store (moto's server) and the Stripe double.

    python -m bench.cluster [--readers N] [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

Each "host" is a process of its own with an export directory of its own, so nothing passes between them except
through PostgreSQL, Redis and S3. HAProxy names the host that answered in `X-Served-By`. The run:

1. N readers give a monthly membership through the double's Checkout (paid by script);
2. each patron signs in with the link emailed to them (the SMTP sink), votes in a ballot, changes the amount;
   one web host is killed midway (HAProxy's health check takes it out; nothing may fail);
3. a staff member exports payments (queued, written to S3 by a worker) and downloads it: asked for on one host,
   downloaded from another, through the presigned address;
4. 40 simultaneous sign-in requests for one address through the proxy: the per-address limit holds across hosts.

Prints what each host served and how long each phase took; exits 1 (and says why) if any check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from bench.webhooks import free_port, running, wait_until_up
from stripe_double import DoubleConfig, DoubleServer

ROOT = Path(__file__).resolve().parents[1]
SECRET_KEY = "cluster-bench-secret-key-0123456789abcdef"  # noqa: S105 - a throwaway secret
STRIPE_KEY = "sk_test_cluster_bench"
WEBHOOK_SECRET = "whsec_cluster_bench"  # noqa: S105 - same
STAFF_EMAIL, STAFF_PASSWORD = "analyst@newsroom.example", "cluster bench staff password"
WEB_HOSTS = 3
WORKERS = 2
SIGN_IN_LIMIT = 3  # SIGN_IN_LIMIT_PER_ADDRESS in the cluster
SIMULTANEOUS = 40
S3_ENV = {"AWS_ACCESS_KEY_ID": "cluster", "AWS_SECRET_ACCESS_KEY": "cluster", "AWS_DEFAULT_REGION": "us-east-1"}
TIMEOUT = 60.0
RUN = uuid.uuid4().hex[:8]


class ClusterFailed(Exception):
    """A pass criterion that did not hold."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise ClusterFailed(message)


def wait_for(what: str, predicate: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise ClusterFailed(f"{what}: not within {timeout:.0f} s")


class Mailbox:
    """The SMTP sink every host sends to."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


HAPROXY_CONFIG = """global
    maxconn 512
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 3
    # A host that vanishes mid-request (killed) is retried on another: refused or reset connections and empty
    # answers are retried, every attempt after the first on another host.
    option redispatch 1
    retry-on all-retryable-errors
    http-reuse never
frontend web
    bind 127.0.0.1:{port}
    default_backend hosts
backend hosts
    balance roundrobin
    option forwardfor
    option httpchk GET /appeal
    http-response set-header X-Served-By %[srv_name]
{servers}
"""


def haproxy_config(port: int, web_ports: list[int]) -> str:
    servers = "\n".join(f"    server web{n} 127.0.0.1:{p} check inter 300ms fall 2 rise 2"
                        for n, p in enumerate(web_ports, 1))
    return HAPROXY_CONFIG.format(port=port, servers=servers)


def tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if found is None:
        raise ClusterFailed(f"{name} is not installed (Debian: apt-get install {name}); the cluster needs it.")
    return found


@dataclass
class Cluster:
    proxy_url: str
    database_url: str
    bucket: str
    s3_url: str
    mailbox: Mailbox
    double: DoubleServer
    web: dict[str, subprocess.Popen[bytes]]
    served: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def session(self) -> ClusterClient:
        return ClusterClient(self)


class ClusterClient:
    """A person's browser, scripted: cookies, CSRF tokens from the forms, and a tally of which host answered."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.http = requests.Session()

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = self.http.request(method, f"{self.cluster.proxy_url}{path}", allow_redirects=False,
                                     timeout=TIMEOUT, **kwargs)
        host = response.headers.get("X-Served-By", "?")
        with self.cluster.lock:
            self.cluster.served[host] += 1
        check(response.status_code < 500, f"{method} {path} answered {response.status_code} (host {host})")
        return response

    def csrf(self, path: str) -> str:
        page = self.request("GET", path)
        check(page.status_code == 200, f"GET {path} answered {page.status_code}")
        found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text) or \
            re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        check(found is not None, f"no CSRF token on {path}")
        assert found is not None
        return found.group(1)

    def submit(self, path: str, data: Mapping[str, Any], form_at: str | None = None) -> requests.Response:
        token = self.csrf(form_at or path)
        return self.request("POST", path, data={**data, "csrf_token": token})


def database_rows(url: str, query: str, **params: Any) -> list[Any]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(query), params).all())
    finally:
        engine.dispose()


# The scenario -----------------------------------------------------------------------------------------------


def give(cluster: Cluster, number: int) -> str:
    email = f"reader{number}-{RUN}@example.org"
    reader = cluster.session()
    started = reader.submit("/give", {"frequency": "monthly", "currency": "EUR", "amount": "5", "email": email,
                                      "name": f"Reader {number}"})
    check(started.status_code == 303 and "/c/pay/cs_test_" in started.headers.get("Location", ""),
          f"the give form answered {started.status_code}, not a redirect to Checkout")
    session_id = started.headers["Location"].rsplit("/", 1)[-1].split("?")[0]
    paid = requests.post(f"{cluster.double.url}/_double/checkout/{session_id}/pay",
                         json={"card": "4242424242424242", "email": email}, timeout=TIMEOUT)
    check(paid.status_code == 200, f"paying {session_id} in the double answered {paid.status_code}")
    wait_for(f"{email}'s membership", lambda: database_rows(
        cluster.database_url, "SELECT 1 FROM memberships m JOIN supporters s ON s.id = m.supporter_id "
        "WHERE s.email = :email AND m.status = 'active'", email=email))
    return email


def sign_in_links(cluster: Cluster, email: str) -> list[str]:
    return [found.group(1) for m in cluster.mailbox.to(email)
            if (found := re.search(r"(http://\S+/account/sign-in/\S+)", body_text(m)))]


def sign_in(cluster: Cluster, email: str) -> ClusterClient:
    patron = cluster.session()
    def links() -> list[str]:
        return sign_in_links(cluster, email)

    before = len(links())
    asked = patron.submit("/account/sign-in", {"email": email})
    check(asked.status_code == 200, f"asking for a sign-in link answered {asked.status_code}")
    link = wait_for(f"the sign-in email to {email}", lambda: links()[before:] and links()[-1])
    path = link.removeprefix(cluster.proxy_url)
    signed_in = patron.submit(path, {})
    check(signed_in.status_code == 303, f"using the sign-in link answered {signed_in.status_code}")
    check(patron.request("GET", "/account").status_code == 200, "the account page after signing in")
    return patron


def vote_and_change(cluster: Cluster, patron: ClusterClient, email: str, ballot_id: int, option_id: int) -> None:
    voted = patron.submit(f"/ballots/{ballot_id}/vote", {"choice": str(option_id)}, form_at=f"/ballots/{ballot_id}")
    reason = re.search(r"[^>]*Nothing was recorded\.", voted.text)
    check(voted.status_code in (302, 303), f"voting answered {voted.status_code}: {reason and reason.group(0)}")
    check(bool(database_rows(cluster.database_url, "SELECT 1 FROM votes v JOIN supporters s ON s.id = v.supporter_id "
                             "WHERE s.email = :email AND v.ballot_id = :ballot", email=email, ballot=ballot_id)),
          f"{email}'s vote is not recorded")
    changed = patron.submit("/account/amount", {"amount": "7", "currency": "EUR"})
    check(changed.status_code == 303, f"changing the amount answered {changed.status_code}")
    amounts = database_rows(cluster.database_url, "SELECT m.amount_minor FROM memberships m JOIN supporters s "
                            "ON s.id = m.supporter_id WHERE s.email = :email", email=email)
    check([a for (a,) in amounts] == [700], f"{email}'s membership amount is {amounts}, not 700")


def export_and_download(cluster: Cluster) -> tuple[str, str]:
    """(host that took the export, host that answered the download)."""
    staff = cluster.session()
    signed_in = staff.submit("/staff/sign-in", {"email": STAFF_EMAIL, "password": STAFF_PASSWORD})
    check(signed_in.status_code in (302, 303), f"staff sign-in answered {signed_in.status_code}")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    asked = staff.submit("/staff/reports/export", {"kind": "payments", "format": "csv", "currency": "", "status": "",
                                                   "from": "2026-01-01", "to": today},
                         form_at="/staff/reports")
    check(asked.status_code == 302, f"asking for the export answered {asked.status_code}")
    asked_on = asked.headers.get("X-Served-By", "?")
    [(job_id,)] = database_rows(cluster.database_url, "SELECT id FROM export_jobs")
    wait_for("the export's file", lambda: database_rows(
        cluster.database_url, "SELECT 1 FROM export_jobs WHERE id = :id AND status = 'ready'", id=job_id))
    for _ in range(WEB_HOSTS * 2):  # round robin: some request soon lands on another host
        download = staff.request("GET", f"/staff/reports/exports/{job_id}")
        check(download.status_code == 303, f"the download answered {download.status_code}")
        if download.headers.get("X-Served-By") != asked_on:
            break
    served_by = download.headers.get("X-Served-By", "?")
    check(served_by != asked_on, "every download landed on the host that took the export")
    check(download.headers["Location"].startswith(f"{cluster.s3_url}/{cluster.bucket}/"),
          "the download is not an address in the bucket")
    file = requests.get(download.headers["Location"], timeout=TIMEOUT)
    check(file.status_code == 200 and file.content.decode("utf-8-sig").startswith("Paid at (UTC)"),
          f"the presigned address answered {file.status_code}")
    return asked_on, served_by


def simultaneous_sign_ins(cluster: Cluster, email: str) -> Counter[int]:
    """SIMULTANEOUS sign-in requests for one address, each from a browser of its own, released together."""
    clients = [cluster.session() for _ in range(SIMULTANEOUS)]
    tokens = [c.csrf("/account/sign-in") for c in clients]
    start = threading.Barrier(SIMULTANEOUS)

    def ask(pair: tuple[ClusterClient, str]) -> int:
        client, token = pair
        start.wait()
        return client.request("POST", "/account/sign-in", data={"email": email, "csrf_token": token}).status_code

    with ThreadPoolExecutor(SIMULTANEOUS) as pool:
        return Counter(pool.map(ask, zip(clients, tokens, strict=True)))


# Setting up ---------------------------------------------------------------------------------------------


def prepare_database(admin_url: str, env: Mapping[str, str]) -> str:
    name = f"cluster_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "membership", "db", "upgrade"],
                          env={**env, "DATABASE_URL": url}, cwd=ROOT, capture_output=True, text=True, check=False)
    check(done.returncode == 0, f"migrating the cluster's database failed:\n{done.stderr}")
    return url


def drop_database(admin_url: str, url: str) -> None:
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{sa.engine.make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def seed_staff(database_url: str) -> None:
    """The analyst who exports, as an admin would add them."""
    from membership import create_app
    from membership.db import db
    from membership.staff.accounts.models import Role
    from membership.staff.accounts.services import create_staff

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": SECRET_KEY})
    with app.app_context():
        create_staff(db.session(), STAFF_EMAIL, Role.ANALYST, name="Analyst", password=STAFF_PASSWORD)
        db.session.commit()
        db.engine.dispose()


def open_ballot(database_url: str) -> tuple[int, int]:
    """A ballot opening now, for the patrons who gave before (ballot id, an option's id)."""
    from membership import create_app
    from membership.ballots.models import Ballot, BallotOption, ResultsVisibility, VotingMethod
    from membership.db import db, utcnow

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": SECRET_KEY})
    with app.app_context():
        now = utcnow()
        ballot = Ballot(title="What should we investigate next?", introduction="Choose the next story.",
                        opens_at=now, closes_at=now + timedelta(days=7),
                        published_at=now - timedelta(days=2), method=VotingMethod.SINGLE, max_choices=1,
                        results_visibility=ResultsVisibility.AFTER_CLOSE, tier_weights={}, min_monthly={},
                        options=[BallotOption(title=f"Topic {n}", description="About it.", position=n)
                                 for n in (1, 2)])
        db.session.add(ballot)
        db.session.commit()
        ids = ballot.id, ballot.options[0].id
        db.session.remove()
        db.engine.dispose()
    return ids


@contextmanager
def host(name: str, command: list[str], env: Mapping[str, str], logs: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A web host: gunicorn in a process group of its own, so killing the host kills its workers too."""
    with (logs / f"{name}.log").open("wb") as log:
        process = subprocess.Popen(command, env=dict(env), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            yield process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@contextmanager
def cluster_running(args: argparse.Namespace, logs: Path) -> Iterator[Cluster]:
    haproxy = tool("haproxy")
    with ExitStack() as stack:
        mailbox = Mailbox()
        smtp_port = free_port()
        controller = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
        controller.start()
        stack.callback(controller.stop)

        s3_port = free_port()
        s3_url = f"http://127.0.0.1:{s3_port}"
        base_env = {**os.environ, **S3_ENV, "PYTHONPATH": str(ROOT)}
        s3 = stack.enter_context(running("s3", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                                                str(s3_port)], base_env, logs))
        wait_until_up(f"{s3_url}/", s3)
        import boto3

        bucket = f"cluster-{uuid.uuid4().hex[:8]}"
        boto3.session.Session(**{k.lower(): v for k, v in S3_ENV.items() if k != "AWS_DEFAULT_REGION"},
                              region_name="us-east-1").client("s3", endpoint_url=s3_url).create_bucket(Bucket=bucket)

        proxy_port = free_port()
        proxy_url = f"http://127.0.0.1:{proxy_port}"
        double = DoubleServer(DoubleConfig(webhook_url=f"{proxy_url}/stripe/webhook", webhook_secret=WEBHOOK_SECRET,
                                           retry_base_seconds=0.2, max_delivery_attempts=8)).start()
        stack.callback(double.stop)

        env = {
            # Development mode only for the cookies: production marks them Secure, and the proxy speaks plain HTTP.
            **base_env, "SECRET_KEY": SECRET_KEY, "STRIPE_SECRET_KEY": STRIPE_KEY,
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "STRIPE_API_BASE": double.url, "PUBLIC_URL": proxy_url,
            "MAIL_URL": f"smtp://127.0.0.1:{smtp_port}", "REDIS_URL": args.redis_url,
            "REDIS_KEY_PREFIX": f"membership-cluster-{RUN}",  # queues and limits of this run's own
            "EXPORT_STORAGE_URL": f"s3://{bucket}/exports", "AWS_ENDPOINT_URL": s3_url,
            "MEMBERSHIP_EXPORT_INLINE_ROWS": "0", "MEMBERSHIP_TRUSTED_PROXIES": "1",
            "SIGN_IN_LIMIT_PER_ADDRESS": str(SIGN_IN_LIMIT), "SIGN_IN_LIMIT_PER_IP": "1000",
            "CHECKOUT_LIMIT_PER_IP": "1000",
        }
        env["DATABASE_URL"] = prepare_database(args.database_url, env)
        stack.callback(drop_database, args.database_url, env["DATABASE_URL"])
        seed_staff(env["DATABASE_URL"])

        web_ports = [free_port() for _ in range(WEB_HOSTS)]
        web: dict[str, subprocess.Popen[bytes]] = {}
        for n, port in enumerate(web_ports, 1):
            host_env = {**env, "MEMBERSHIP_EXPORT_DIR": str(logs / f"web{n}-exports")}
            web[f"web{n}"] = stack.enter_context(host(f"web{n}", [
                sys.executable, "-m", "gunicorn", "--worker-class", "gthread", "--workers", "1", "--threads", "8",
                "--bind", f"127.0.0.1:{port}", "--access-logfile", "-", "--control-socket",
                str(logs / f"web{n}.ctl"), "membership:create_app()"], host_env, logs))
        for n in range(1, WORKERS + 1):
            stack.enter_context(running(f"worker{n}", [sys.executable, "-m", "flask", "--app", "membership", "worker"],
                                        {**env, "MEMBERSHIP_EXPORT_DIR": str(logs / f"worker{n}-exports")}, logs))
        for (_, process), port in zip(web.items(), web_ports, strict=True):
            wait_until_up(f"http://127.0.0.1:{port}/appeal", process, seconds=TIMEOUT)

        config = logs / "haproxy.cfg"
        config.write_text(haproxy_config(proxy_port, web_ports))
        proxy = stack.enter_context(running("haproxy", [haproxy, "-db", "-f", str(config)], env, logs))
        wait_until_up(f"{proxy_url}/appeal", proxy, seconds=TIMEOUT)
        cluster = Cluster(proxy_url=proxy_url, database_url=env["DATABASE_URL"], bucket=bucket, s3_url=s3_url,
                          mailbox=mailbox, double=double, web=web)
        yield cluster


def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole scenario; returns what was measured. Raises ClusterFailed when a criterion doesn't hold."""
    with tempfile.TemporaryDirectory(prefix="membership-cluster-") as scratch, \
            cluster_running(args, Path(args.logs or scratch)) as cluster:
        timings: dict[str, float] = {}
        started = time.monotonic()
        emails = [give(cluster, n) for n in range(args.readers)]
        timings["give"] = time.monotonic() - started
        ballot_id, option_id = open_ballot(cluster.database_url)

        started = time.monotonic()
        killed = "web2"
        for number, email in enumerate(emails):
            if number == len(emails) // 2:
                os.killpg(cluster.web[killed].pid, signal.SIGKILL)  # mid-run, gunicorn and its workers, unwarned
                cluster.web[killed].wait()
                served_when_killed = cluster.served[killed]
            patron = sign_in(cluster, email)
            vote_and_change(cluster, patron, email, ballot_id, option_id)
        timings["patrons"] = time.monotonic() - started
        check(cluster.served[killed] == served_when_killed, f"{killed} answered after it was killed")

        started = time.monotonic()
        asked_on, downloaded_from = export_and_download(cluster)
        timings["export"] = time.monotonic() - started

        started = time.monotonic()
        outcomes = simultaneous_sign_ins(cluster, emails[0])
        timings["simultaneous"] = time.monotonic() - started
        # The patron's own sign-in was the address's first link: SIGN_IN_LIMIT - 1 more may go, whichever host.
        allowed = SIGN_IN_LIMIT - 1
        check(outcomes[200] == allowed and outcomes[429] == SIMULTANEOUS - allowed,
              f"{SIMULTANEOUS} simultaneous sign-ins through {WEB_HOSTS - 1} hosts: {dict(outcomes)}, not "
              f"{allowed} sent and the rest refused")
        wait_for("the sign-in emails", lambda: len(sign_in_links(cluster, emails[0])) >= SIGN_IN_LIMIT)
        time.sleep(1)  # long enough for a message over the limit to show up here, if one were sent
        check(len(sign_in_links(cluster, emails[0])) == SIGN_IN_LIMIT,
              f"{len(sign_in_links(cluster, emails[0]))} sign-in links were emailed, not {SIGN_IN_LIMIT}")
        check(sorted(h for h, n in cluster.served.items() if n) == [f"web{n}" for n in range(1, WEB_HOSTS + 1)],
              f"requests were not spread across the {WEB_HOSTS} hosts: {dict(cluster.served)}")
        return {"served": dict(cluster.served), "timings": timings, "export": (asked_on, downloaded_from),
                "simultaneous": dict(outcomes), "killed": killed}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readers", type=int, default=6, help="readers who give, then sign in (default 6)")
    parser.add_argument("--database-url", default=os.environ.get("CLUSTER_ADMIN_DATABASE_URL",
                                                                 "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="a PostgreSQL database whose role may create the cluster's own database")
    parser.add_argument("--redis-url", default=os.environ.get("CLUSTER_REDIS_URL", "redis://127.0.0.1:6379/14"))
    parser.add_argument("--logs", help="keep every process's log in this directory (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.readers < 2:
        parser.error("--readers must be at least 2 (a host is killed halfway through them)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = run(args)
    except ClusterFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"Requests answered per host (HAProxy's X-Served-By): {result['served']} ({result['killed']} killed "
          "midway)")
    print(f"Export asked for on {result['export'][0]}, downloaded through {result['export'][1]}")
    print(f"{SIMULTANEOUS} simultaneous sign-in requests for one address: {result['simultaneous']}")
    for phase, seconds in result["timings"].items():
        print(f"{phase}: {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
