"""/healthz, /readyz and /metrics: what load balancers and Prometheus ask every process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from membership import create_app
from stripe_double import DoubleServer
from tests.support.giving import start_gift
from tests.support.settings import app_settings

ROOT = Path(__file__).resolve().parents[1]


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus's text format, whatever the labels' order (0 when it isn't there)."""
    for line in metrics.splitlines():
        match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if match and match.group(1) == name and dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or "")) == labels:
            return float(match.group(3))
    return 0.0


def test_healthz_answers_without_touching_anything_or_setting_a_cookie(client: FlaskClient) -> None:
    with client.session_transaction() as session:  # a signed-in patron's permanent session is re-sent on each page
        session["patron"] = 1
        session.permanent = True
    assert "Set-Cookie" in client.get("/give").headers
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json == {"status": "ok"}
    assert "Set-Cookie" not in health.headers
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json == {"status": "ok", "checks": {"database": "ok"}}
    assert "Set-Cookie" not in ready.headers


def test_readyz_answers_503_naming_what_failed(database_uri: str, tmp_path: Path) -> None:
    broken = create_app(app_settings(f"sqlite:///{tmp_path}/missing/dir/db.sqlite", api_base="",
                                     REDIS_URL="redis://127.0.0.1:1/0"))
    answer = broken.test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.json is not None and answer.json["status"] == "unavailable"
    assert answer.json["checks"]["database"].startswith("failed: ")
    assert answer.json["checks"]["redis"] == "failed: ConnectionError"
    assert broken.test_client().get("/healthz").status_code == 200  # alive, just not ready


def test_readyz_checks_redis_when_it_is_set(app: Flask, client: FlaskClient, queue: object) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 200 and answer.json == {"status": "ok", "checks": {"database": "ok",
                                                                                     "redis": "ok"}}


def test_metrics_only_for_the_allowed_addresses_or_the_bearer_token(app: Flask, client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1, allowed by default
    app.config.update(METRICS_ALLOWED_IPS="10.0.0.0/8", METRICS_TOKEN="s3cret-token")
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    allowed = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert allowed.status_code == 200 and allowed.mimetype == "text/plain"
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    assert "Set-Cookie" not in allowed.headers


def test_metrics_count_checkouts_stripe_requests_and_show_the_backlog(
    app: Flask, client: FlaskClient, double: DoubleServer
) -> None:
    before = client.get("/metrics").get_data(as_text=True)
    start_gift(client, frequency="monthly")
    after = client.get("/metrics").get_data(as_text=True)
    assert sample(after, "membership_checkouts_started_total", frequency="monthly") == \
        sample(before, "membership_checkouts_started_total", frequency="monthly") + 1
    assert sample(after, "membership_stripe_requests_total", resource="checkout", status="200") > \
        sample(before, "membership_stripe_requests_total", resource="checkout", status="200")
    assert sample(after, "membership_emails_queued_total", message="thank_you") == \
        sample(before, "membership_emails_queued_total", message="thank_you")  # nothing paid yet
    assert sample(after, "membership_backlog", what="stripe_events") >= 0
    assert 'membership_backlog{what="emails"}' in after


def test_every_worker_process_counts_in_multiprocess_mode(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), "PYTHONPATH": str(ROOT)}
    count_one = ("from membership.metrics import EXPORTS\n"
                 "EXPORTS.labels('payments', 'queued', 'written').inc()")
    for _ in range(2):  # two processes, as two gunicorn workers would be
        subprocess.run([sys.executable, "-c", count_one], env=env, cwd=ROOT, check=True, timeout=120)
    scraped = subprocess.run([sys.executable, "-c", "from membership.metrics import exposition\n"
                              "print(exposition().decode())"],
                             env=env, cwd=ROOT, check=True, timeout=120, capture_output=True, text=True).stdout
    assert sample(scraped, "membership_exports_total", kind="payments", how="queued", outcome="written") == 2.0


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_monitoring_is_never_rate_limited(client: FlaskClient, path: str) -> None:
    assert {client.get(path).status_code for _ in range(60)} == {200}
