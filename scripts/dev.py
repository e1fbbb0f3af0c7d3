"""`make run`: migrate, seed, then serve the Stripe double and the app together until Ctrl-C.

Runs on the embedded default (SQLite in instance/) unless DATABASE_URL says otherwise. The app talks
to the double only through STRIPE_API_BASE, exactly as it would talk to Stripe.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"


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
    subprocess.run([*flask, "seed-demo"], env=env, check=True, cwd=ROOT)

    double = subprocess.Popen(
        [sys.executable, "-m", "stripe_double", "--host", "127.0.0.1", "--port", str(double_port),
         "--webhook-url", f"{app_url}/stripe/webhook", "--webhook-secret", env["STRIPE_WEBHOOK_SECRET"],
         "--state-file", str(INSTANCE / "stripe-double.json"), "--demo-clock"],
        env=env, cwd=ROOT,
    )
    app = subprocess.Popen([*flask, "run", "--host", "127.0.0.1", "--port", str(port)], env=env, cwd=ROOT)
    children = [double, app]

    def stop(*_: object) -> None:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()

    signal.signal(signal.SIGTERM, lambda *_: (stop(), sys.exit(0)))
    try:
        if not (_wait_for(f"{double_url}/") and _wait_for(f"{app_url}/")):
            print("The app or the Stripe double did not start; see the messages above.", file=sys.stderr)
            stop()
            return 1
        print(
            "\n"
            f"  Support page        {app_url}/\n"
            f"  Give form           {app_url}/give\n"
            f"  Monthly, prefilled  {app_url}/give?frequency=monthly&amount=5&currency=EUR\n"
            f"  Stripe double       {double_url}/   (sessions, subscriptions, test clocks, webhook deliveries)\n"
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
