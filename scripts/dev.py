"""`make run`: migrate, seed, then serve the Stripe double and the app together until Ctrl-C.

Runs on the embedded default (SQLite in instance/) unless DATABASE_URL says otherwise. The app talks
to the double only through STRIPE_API_BASE, exactly as it would talk to Stripe.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"
DEMO_PATRON = "patron@example.org"
# The demo staff admin, for development only: its password is generated once and kept in instance/.
DEMO_ADMIN = "admin@example.org"
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
JOBS_EVERY_SECONDS = 60


def _dev_secret(name: str, prefix: str = "") -> str:
    """A development secret kept in instance/, so sessions and webhook signing survive restarts."""
    path = INSTANCE / name
    if not path.exists():
        path.write_text(prefix + secrets.token_hex(24))
        path.chmod(0o600)
    return path.read_text().strip()


def _wait_for(url: str, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (a local URL we build)
                return True
        except OSError:
            time.sleep(0.2)
    return False


def _start_jobs(flask: list[str], env: dict[str, str], stopping: threading.Event) -> None:
    """Run `flask jobs run` every minute in the background, as cron does in production, until `stopping` is set."""

    def loop() -> None:
        while not stopping.wait(JOBS_EVERY_SECONDS):
            subprocess.run([*flask, "jobs", "run", "--quiet"], env=env, cwd=ROOT, check=False)

    threading.Thread(target=loop, name="jobs", daemon=True).start()


def _demo_patron_has_membership(env: Mapping[str, str]) -> bool:
    """Whether the demo patron has a membership that hasn't ended (read straight from the database)."""
    from membership.config import load_settings
    from membership.giving.models import Membership, MembershipStatus
    from membership.supporters.models import Supporter

    engine = sa.create_engine(load_settings(env, instance_path=str(INSTANCE))["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as conn:
            found = conn.scalar(
                sa.select(Membership.id).join(Supporter, Supporter.id == Membership.supporter_id)
                .where(Supporter.email == DEMO_PATRON, Membership.status.not_in(
                    [MembershipStatus.CANCELED, MembershipStatus.INCOMPLETE_EXPIRED]))
                .limit(1)
            )
    finally:
        engine.dispose()
    return found is not None


def _seed_demo_patron(app_url: str, double_url: str, env: Mapping[str, str]) -> str:
    """Make the demo patron a €5/month member through the real flow: give form → Checkout → webhooks."""
    if _demo_patron_has_membership(env):
        return "already a member"
    with requests.Session() as http:
        form = http.get(f"{app_url}/give", timeout=10)
        match = CSRF_RE.search(form.text)
        if match is None:
            return "the give form had no CSRF token"
        started = http.post(f"{app_url}/give", allow_redirects=False, timeout=30, data={
            "frequency": "monthly", "currency": "EUR", "amount": "5", "email": DEMO_PATRON,
            "name": "Demo Patron", "csrf_token": match.group(1),
        })
        if started.status_code != 303:
            return f"the give form answered {started.status_code}"
        session_id = started.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
        paid = http.post(f"{double_url}/_double/checkout/{session_id}/pay", timeout=30, json={
            "card": "4242424242424242", "email": DEMO_PATRON, "name": "Demo Patron",
        })
        if not paid.ok:
            return f"the double refused the payment ({paid.status_code})"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _demo_patron_has_membership(env):
            return "created"
        time.sleep(0.3)
    return "the webhook did not arrive in time"


def main() -> int:
    INSTANCE.mkdir(exist_ok=True)
    port = int(os.environ.get("PORT", "5000"))
    double_port = int(os.environ.get("STRIPE_DOUBLE_PORT", "12111"))
    app_url = f"http://127.0.0.1:{port}"
    double_url = f"http://127.0.0.1:{double_port}"
    env = dict(os.environ)
    env.setdefault("SECRET_KEY", _dev_secret("dev-secret-key"))
    env.setdefault("STRIPE_SECRET_KEY", "sk_test_double_dev")
    env.setdefault("STRIPE_WEBHOOK_SECRET", _dev_secret("dev-webhook-secret", "whsec_"))
    env.setdefault("STRIPE_API_BASE", double_url)
    env.setdefault("PUBLIC_URL", app_url)
    flask = [sys.executable, "-m", "flask", "--app", "membership"]

    subprocess.run([*flask, "db", "upgrade"], env=env, check=True, cwd=ROOT)
    admin_password = _dev_secret("dev-admin-password")
    subprocess.run([*flask, "seed-demo", "--history", "--admin-email", DEMO_ADMIN,
                    "--admin-password-file", str(INSTANCE / "dev-admin-password")], env=env, check=True, cwd=ROOT)

    double = subprocess.Popen(
        [sys.executable, "-m", "stripe_double", "--host", "127.0.0.1", "--port", str(double_port),
         "--webhook-url", f"{app_url}/stripe/webhook", "--webhook-secret", env["STRIPE_WEBHOOK_SECRET"],
         "--state-file", str(INSTANCE / "stripe-double.json"), "--demo-clock"],
        env=env, cwd=ROOT,
    )
    app = subprocess.Popen([*flask, "run", "--host", "127.0.0.1", "--port", str(port)], env=env, cwd=ROOT)
    children = [double, app]
    stopping = threading.Event()
    _start_jobs(flask, env, stopping)

    def stop(*_: object) -> None:
        stopping.set()
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()

    def stop_and_exit(*_: object) -> None:
        stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop_and_exit)
    try:
        if not (_wait_for(f"{double_url}/") and _wait_for(f"{app_url}/")):
            print("The app or the Stripe double did not start; see the messages above.", file=sys.stderr)
            stop()
            return 1
        seeded = _seed_demo_patron(app_url, double_url, env)
        if seeded not in ("created", "already a member"):
            print(f"Could not seed the demo patron: {seeded}.", file=sys.stderr)
        emails = (
            "  Emails              sent over SMTP to MAIL_URL\n" if env.get("MAIL_URL")
            else f"  Email outbox        {app_url}/dev/outbox/   (every email the app sends; MAIL_URL is unset)\n"
        )
        print(
            "\n"
            f"  Support page        {app_url}/\n"
            f"  Give form           {app_url}/give\n"
            f"  Monthly, prefilled  {app_url}/give?frequency=monthly&amount=5&currency=EUR\n"
            f"  Supporter wall      {app_url}/supporters   (moderated at {app_url}/staff/wall)\n"
            f"  Article appeal      {app_url}/appeal   (its embed code: {app_url}/staff/appeal)\n"
            f"  Stripe double       {double_url}/   (sessions, subscriptions, test clocks, webhook deliveries)\n"
            f"{emails}"
            f"  Periodic jobs       `flask --app membership jobs run` every {JOBS_EVERY_SECONDS} s\n"
            f"  Staff console       {app_url}/staff/   (dashboard, reports and exports, supporters, audit log)\n"
            f"  Demo staff admin    {DEMO_ADMIN} / {admin_password}   (development only: instance/dev-admin-password)\n"
            f"  Demo patron: {DEMO_PATRON} — sign in at {app_url}/account/sign-in, then open the link from "
            f"{'the email (MAIL_URL)' if env.get('MAIL_URL') else f'{app_url}/dev/outbox'}\n"
            "  Test cards          4242 4242 4242 4242 pays · 4000 0000 0000 0002 declines ·\n"
            "                      4000 0027 6000 3184 asks for 3D Secure · 4000 0000 0000 0341 fails on renewal\n"
            "\n  Press Ctrl-C to stop both.\n",
            flush=True,
        )
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("A process stopped; shutting down the other.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop()


if __name__ == "__main__":
    raise SystemExit(main())
