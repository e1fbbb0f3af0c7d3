"""gunicorn's configuration: `gunicorn -c python:membership.gunicorn_config 'membership:create_app()'`.

(`gunicorn.conf.py` at the top of a checkout loads this, so a plain `gunicorn 'membership:create_app()'` run from
there uses it too.) Every value comes from the environment, with defaults for a small host:

- gthread workers: a request spends most of its time waiting on Stripe or the mail server, and threads wait
  cheaply. WEB_CONCURRENCY processes (default 2) of GUNICORN_THREADS threads (default 8).
- GUNICORN_CONTROL_SOCKET: the path of gunicorn's control socket (`gunicornc`); unset, there is none.
- GUNICORN_TIMEOUT (default 60 s) ends a worker stuck on one request; GUNICORN_GRACEFUL_TIMEOUT (default 30 s) is
  how long a stopping worker (a deploy, `systemctl reload`) may finish the requests in hand.
- The access log is JSON (or text) lines in the app's format (membership.logs), with the request id the app
  returned, and never a sign-in link's token; `/healthz` and `/readyz` are not logged.
- PROMETHEUS_MULTIPROC_DIR, where the workers' metrics meet (membership.metrics): a fresh temporary directory
  when unset, emptied at start so counts of a previous run don't linger.
"""

from __future__ import annotations

import gc
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from gunicorn.glogging import Logger

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Before anything imports prometheus-client, which reads it once (membership's own modules included).
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="membership-metrics-")

from membership.logs import QUIET_PATHS, REQUEST_ID_HEADER, formatter


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


PRODUCTION = (os.environ.get("MEMBERSHIP_ENV") or "").strip().lower() == "production"
LOG_FORMAT = (os.environ.get("LOG_FORMAT") or ("json" if PRODUCTION else "text")).strip().lower()
# A path segment that is a token (a sign-in or fix-card link's): never written to a log.
TOKEN_SEGMENT = re.compile(r"/[A-Za-z0-9_-]{24,}(?=/|$)")

bind = [os.environ.get("GUNICORN_BIND") or f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"]
worker_class = "gthread"
workers = _env_int("WEB_CONCURRENCY", 2)
threads = _env_int("GUNICORN_THREADS", 8)
timeout = _env_int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = 5
# gunicorn's control socket (`gunicornc`; gunicorn 25.1 and later): off unless GUNICORN_CONTROL_SOCKET names a path.
# Its default path ($XDG_RUNTIME_DIR/gunicorn.ctl or ~/.gunicorn/gunicorn.ctl) is one per user, so a second
# gunicorn on the host (another site, a staging copy) took it over and `gunicornc` drove whichever started last;
# under the hardened unit (ProtectHome) it only logged a failure at every start.
_control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip()
control_socket_disable = not _control_socket
if _control_socket:
    control_socket = _control_socket
accesslog = "-"
errorlog = "-"
loglevel = (os.environ.get("LOG_LEVEL") or "info").lower()


class JsonAccessLogger(Logger):
    """gunicorn's logger, writing its lines (the access log's and its own) in the app's format."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter(LOG_FORMAT))

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.cfg.accesslog or environ.get("PATH_INFO") in QUIET_PATHS:
            return
        headers = {name.lower(): value for name, value in resp.headers}
        self.access_log.info(
            "%s %s %s", environ.get("REQUEST_METHOD"), TOKEN_SEGMENT.sub("/…", environ.get("PATH_INFO", "")),
            resp.status_code,
            extra={
                "request_id": headers.get(REQUEST_ID_HEADER.lower()),
                "method": environ.get("REQUEST_METHOD"),
                "path": TOKEN_SEGMENT.sub("/…", environ.get("PATH_INFO", "")),
                "status": resp.status_code,
                "duration_ms": round(request_time.total_seconds() * 1000, 1),
                "bytes": getattr(resp, "sent", None),
                "remote_addr": environ.get("REMOTE_ADDR"),
            },
        )


logger_class = JsonAccessLogger


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def on_starting(server: Any) -> None:
    """Forget the counts of processes that are gone (an earlier run's workers), keeping those of processes still
    running that share the directory (the queue worker on this host); Prometheus takes the drop as a restart."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for entry in directory.glob("*.db"):
        pid = entry.stem.rpartition("_")[2]
        if not pid.isdigit() or not _alive(int(pid)):
            entry.unlink(missing_ok=True)


def post_worker_init(worker: Any) -> None:
    """With the app loaded, move every object alive now (modules, the app, SQLAlchemy's metadata, the catalogs:
    about 200,000) out of the garbage collector's reach (`gc.freeze`). Otherwise each full collection walked them
    all, 140-180 ms on one CPU in the middle of whichever request it fell in: the tail of the webhook's
    acknowledgement. What the app creates later is collected as before."""
    gc.collect()
    gc.freeze()


def child_exit(server: Any, worker: Any) -> None:
    """A worker that exited stops counting toward its live gauges (its counters stay)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
