"""The wheel, installed alone in a fresh virtualenv outside the checkout, migrates and serves: `make wheel-smoke`.

Builds the wheel, installs it (with its dependencies from the package index) into a new virtualenv in a temporary
directory, and from there, with no checkout on the path:
1. `flask --app membership db upgrade` on a new SQLite file and on a new PostgreSQL database (beside
   TEST_DATABASE_URL's, dropped afterwards);
2. starts `gunicorn -c python:membership.gunicorn_config 'membership:create_app()'` (two workers) on the
   PostgreSQL database and fetches every page that takes no argument, the static files, `/healthz`, `/readyz`
   and `/metrics` (refused without the token, served with it);
3. checks that gunicorn's log is JSON lines, each request's carrying the request id the response returned, and
   that the health checks are not logged.

Exits 0 when all is well, 1 with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
METRICS_TOKEN = "smoke-metrics-token"  # noqa: S105 - a throwaway token for this run only
# Every GET route without arguments, listed by the installed package itself.
LIST_PAGES = """
from membership import create_app
app = create_app()
for rule in app.url_map.iter_rules():
    if "GET" in rule.methods and not rule.arguments:
        print(rule.rule)
"""

# The Stripe double as installed: its pages are templates of its own, which must be in the wheel too.
DOUBLE_PAGE = """
from stripe_double.app import create_app
response = create_app().test_client().get("/")
print(response.status_code, "Stripe double" in response.get_data(as_text=True))
"""


class SmokeFailed(RuntimeError):
    pass


def run(*args: str, env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise SmokeFailed(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - our own local server
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode("utf-8", "replace")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def postgres_database(venv_python: Path, admin_url: str, name: str, *, drop: bool, env: dict[str, str],
                      cwd: Path) -> None:
    statement = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' if drop else f'CREATE DATABASE "{name}"'
    run(str(venv_python), "-c",
        f"import psycopg\nwith psycopg.connect({admin_url!r}, autocommit=True) as c: c.execute({statement!r})",
        env=env, cwd=cwd)


def serve_and_fetch(venv: Path, env: dict[str, str], work: Path) -> None:
    port = free_port()
    log_path = work / "gunicorn.log"
    with log_path.open("w") as log_file:
        server = subprocess.Popen(
            [str(venv / "bin" / "gunicorn"), "-c", "python:membership.gunicorn_config", "membership:create_app()"],
            env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "2"},
            cwd=work, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while True:
                try:
                    if fetch(base + "/healthz")[0] == 200:
                        break
                except OSError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SmokeFailed(f"gunicorn did not start:\n{log_path.read_text()}")
                time.sleep(0.5)
            check_pages(base, venv, env, work)
        finally:
            server.terminate()
            server.wait(timeout=60)
    check_log(log_path.read_text())


def check_pages(base: str, venv: Path, env: dict[str, str], work: Path) -> None:
    pages = run(str(venv / "bin" / "python"), "-c", LIST_PAGES, env=env, cwd=work).split()
    for path in [*pages, "/static/site.css", "/static/give.js"]:
        if path in ("/healthz", "/readyz", "/metrics"):
            continue
        status, headers, body = fetch(base + path, {"X-Request-ID": f"smoke{abs(hash(path))}"})
        if status >= 500 or status in (404, 405):
            raise SmokeFailed(f"GET {path} answered {status}:\n{body[:2000]}")
        if headers.get("X-Request-ID") != f"smoke{abs(hash(path))}":
            raise SmokeFailed(f"GET {path} did not return its request id: {headers}")
        print(f"ok  {status}  {path}")
    health = fetch(base + "/healthz")
    ready = fetch(base + "/readyz")
    if health[0] != 200 or ready[0] != 200 or json.loads(ready[2])["checks"]["database"] != "ok":
        raise SmokeFailed(f"/healthz {health[0]}, /readyz {ready[0]} {ready[2]}")
    if "Set-Cookie" in health[1] or "Set-Cookie" in ready[1]:
        raise SmokeFailed("A health check set a cookie.")
    print("ok  /healthz, /readyz")
    refused = fetch(base + "/metrics")[0]
    status, _, metrics = fetch(base + "/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"})
    if refused != 403 or status != 200 or "membership_backlog" not in metrics:
        raise SmokeFailed(f"/metrics: {refused} without the token, {status} with it:\n{metrics[:2000]}")
    print("ok  /metrics (403 without the token, 200 with it)")


def check_log(text: str) -> None:
    requests = 0
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            raise SmokeFailed(f"A log line is not JSON: {line!r}") from None
        if entry.get("logger") == "gunicorn.access":
            requests += 1
            if entry.get("path") in ("/healthz", "/readyz"):
                raise SmokeFailed(f"A health check was logged: {line}")
            if not entry.get("request_id"):
                raise SmokeFailed(f"An access log line has no request id: {line}")
    if not requests:
        raise SmokeFailed(f"No access log lines:\n{text[:3000]}")
    print(f"ok  {requests} access log lines, all JSON with a request id")


def main() -> int:
    admin_url = os.environ.get("TEST_DATABASE_URL") or DEFAULT_POSTGRES
    with tempfile.TemporaryDirectory(prefix="membership-wheel-") as temp:
        work = Path(temp)
        base_env = {key: value for key, value in os.environ.items()
                    if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PROMETHEUS_MULTIPROC_DIR")}
        # setuptools builds through `build/` and keeps what an earlier build put there: a file this configuration
        # leaves out of the wheel would still be found in it. The folder is generated (and ignored by git).
        shutil.rmtree(ROOT / "build", ignore_errors=True)
        run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(work / "dist"), str(ROOT),
            env=base_env, cwd=ROOT)
        wheel = next((work / "dist").glob("membership-*.whl"))
        venv = work / "venv"
        run(sys.executable, "-m", "venv", str(venv), env=base_env, cwd=work)
        uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
        if uv:  # the same resolver pip has, an order of magnitude faster (the wheel's own dependencies, pinned)
            run(uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), str(wheel),
                "--constraint", str(ROOT / "requirements.lock"), env=base_env, cwd=work)
        else:
            run(str(venv / "bin" / "pip"), "install", "--quiet", str(wheel), "--constraint",
                str(ROOT / "requirements.lock"), env=base_env, cwd=work)
        where = run(str(venv / "bin" / "python"), "-c", "import membership; print(membership.__file__)",
                    env=base_env, cwd=work)
        if not where.startswith(str(venv)):
            raise SmokeFailed(f"membership was imported from {where}, not the wheel")
        print(f"ok  installed {wheel.name} in a fresh virtualenv")
        double = run(str(venv / "bin" / "python"), "-c", DOUBLE_PAGE, env=base_env, cwd=work).split()
        if double != ["200", "True"]:
            raise SmokeFailed(f"The installed Stripe double's dashboard answered {double}")
        print("ok  the installed Stripe double renders its dashboard")
        env = {**base_env, "SECRET_KEY": "wheel-smoke-secret-key-0123456789abcdef", "LOG_FORMAT": "json",
               "METRICS_TOKEN": METRICS_TOKEN, "METRICS_ALLOWED_IPS": "192.0.2.1",
               "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '')}"}
        flask = str(venv / "bin" / "flask")
        run(flask, "--app", "membership", "db", "upgrade", env={**env, "DATABASE_URL": f"sqlite:///{work}/smoke.db"},
            cwd=work)
        print("ok  db upgrade on SQLite")
        name = f"wheel_smoke_{os.getpid()}"
        postgres = re.sub(r"/[^/]*$", f"/{name}", admin_url)
        postgres_database(venv / "bin" / "python", admin_url, name, drop=False, env=env, cwd=work)
        try:
            run(flask, "--app", "membership", "db", "upgrade", env={**env, "DATABASE_URL": postgres}, cwd=work)
            print("ok  db upgrade on PostgreSQL")
            serve_and_fetch(venv, {**env, "DATABASE_URL": postgres}, work)
        finally:
            postgres_database(venv / "bin" / "python", admin_url, name, drop=True, env=env, cwd=work)
    print("The wheel installs, migrates and serves.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SmokeFailed as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        sys.exit(1)
