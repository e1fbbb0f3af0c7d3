"""deploy/ and the docs keep up with the code: every setting is in the example environment file and in
docs/configuration.md, the units are hardened, and gunicorn's configuration loads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
# The environment variables the code reads: config.py's mapping and gunicorn's configuration.
SETTING_READS = re.compile(r'(?:env\.get\(|_int\(env, |_flag\(env, |os\.environ\.get\(|_env_int\()"([A-Z][A-Z0-9_]+)"')
HARDENING = ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "ProtectHome=yes", "PrivateDevices=yes",
             "CapabilityBoundingSet=", "RestrictNamespaces=yes", "SystemCallFilter=@system-service")


def settings() -> set[str]:
    found: set[str] = set()
    for module in ("config.py", "gunicorn_config.py", "metrics.py"):
        found.update(SETTING_READS.findall((ROOT / "membership" / module).read_text()))
    return found


# gunicorn's command line as the deployment runs it.
CONFIGURED = ["gunicorn", "-c", "python:membership.gunicorn_config", "membership:create_app()"]


def gunicorn_resolves(argv: list[str], printed: str, env: dict[str, str], cwd: Path) -> list[str]:
    """What gunicorn's configuration makes of the command line `argv`: `printed` (expressions of its `cfg`),
    printed by a process of its own and split into words."""
    script = ("from gunicorn.app.wsgiapp import WSGIApplication\n"
              f"import sys; sys.argv = {argv!r}\n"
              "cfg = WSGIApplication().cfg\n"
              f"print({printed})")
    return subprocess.run([sys.executable, "-c", script], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=True).stdout.split()


def test_the_settings_are_found() -> None:
    # A change in how config.py reads the environment must not leave the two tests below checking nothing.
    assert {"SECRET_KEY", "DATABASE_URL", "SECRET_KEY_FALLBACKS", "METRICS_TOKEN", "WEB_CONCURRENCY",
            "PROMETHEUS_MULTIPROC_DIR", "STAFF_LOCKOUT_MINUTES"} <= settings()


def test_every_setting_is_in_the_example_environment_file() -> None:
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", (DEPLOY / "membership.env.example").read_text(), re.MULTILINE))
    assert sorted(settings() - listed) == []


def test_every_setting_is_documented() -> None:
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", (ROOT / "docs" / "configuration.md").read_text(),
                                re.MULTILINE))
    assert sorted(settings() - documented) == []


@pytest.mark.parametrize("unit", ["membership-web.service", "membership-worker.service", "membership-jobs.service"])
def test_the_units_are_hardened_and_read_the_environment_file(unit: str) -> None:
    text = (DEPLOY / unit).read_text()
    assert "EnvironmentFile=/etc/membership/membership.env" in text
    assert "User=membership" in text
    assert [option for option in HARDENING if option not in text.splitlines()] == []


def test_the_timer_runs_the_jobs_and_the_procfile_names_every_process() -> None:
    assert "OnUnitActiveSec=5min" in (DEPLOY / "membership-jobs.timer").read_text()
    processes = dict(line.split(": ", 1) for line in (DEPLOY / "Procfile").read_text().splitlines()
                     if line and not line.startswith("#"))
    assert set(processes) == {"release", "web", "worker"}
    assert "db upgrade" in processes["release"] and "gunicorn" in processes["web"]


def test_gunicorn_configuration_loads_with_gthread_workers_from_the_environment(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WEB_CONCURRENCY": "3", "GUNICORN_THREADS": "5",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    printed = gunicorn_resolves(CONFIGURED, "cfg.worker_class_str, cfg.workers, cfg.threads, cfg.graceful_timeout, "
                                            "cfg.logger_class.__name__", env, tmp_path)
    assert printed == ["gthread", "3", "5", "30", "JsonAccessLogger"]


def test_a_gunicorn_worker_puts_what_it_loaded_out_of_the_collectors_reach(tmp_path: Path) -> None:
    """A full garbage collection walked the ~200,000 objects start-up leaves (140-180 ms mid-request); the worker
    freezes them once the app is loaded, so collections walk only what requests create."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    printed = subprocess.run(
        [sys.executable, "-c", "import gc\n"
         "from gunicorn.app.wsgiapp import WSGIApplication\n"
         "import sys; sys.argv = ['gunicorn', '-c', 'python:membership.gunicorn_config', 'membership:create_app()']\n"
         "cfg = WSGIApplication().cfg\n"
         "from membership import create_app\n"
         "app = create_app()\n"
         "before = gc.get_freeze_count()\n"
         "cfg.post_worker_init(None)\n"
         "print(before, gc.get_freeze_count())"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=True).stdout.split()
    before, after = (int(count) for count in printed)
    assert before == 0
    assert after > 50_000


@pytest.mark.parametrize(("threads", "expected"), [(1, ["sync", "4", "1"]), (3, ["gthread", "4", "3"])])
def test_the_benches_serve_with_the_worker_model_they_report(threads: int, expected: list[str]) -> None:
    """Run from a checkout, gunicorn reads its gunicorn.conf.py (gthread, GUNICORN_THREADS threads), and a "sync"
    worker with more than one thread runs as gthread: the benches' command line must still give the workers it
    names in their reports. (It once gave gthread workers of 8 threads while the reports said sync.)"""
    from bench.webhooks import gunicorn, worker_model

    command = gunicorn("membership:create_app()", 8000, 4, threads)
    assert command[1:3] == ["-m", "gunicorn"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GUNICORN_THREADS": "8"}
    printed = gunicorn_resolves(["gunicorn", *command[3:]], "cfg.worker_class_str, cfg.workers, cfg.threads", env,
                                ROOT)
    assert printed == expected
    assert worker_model(4, threads).startswith(f"gunicorn --workers 4 ({expected[0]}")


@pytest.mark.parametrize(("setting", "expected"), [("", ["True"]), ("/run/membership/gunicorn.ctl",
                                                                    ["False", "/run/membership/gunicorn.ctl"])])
def test_gunicorns_control_socket_is_off_unless_a_path_is_given(tmp_path: Path, setting: str,
                                                                 expected: list[str]) -> None:
    """gunicorn's default control socket is one path per user: a second gunicorn on the host took it over."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
           "GUNICORN_CONTROL_SOCKET": setting}
    printed = gunicorn_resolves(
        CONFIGURED, "cfg.control_socket_disable, *([] if cfg.control_socket_disable else [cfg.control_socket])", env,
        tmp_path)
    assert printed == expected
