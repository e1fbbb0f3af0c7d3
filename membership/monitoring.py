"""What load balancers and monitoring ask every process: `/healthz`, `/readyz` and `/metrics`.

None of the three sets a cookie or counts against a rate limit, and gunicorn's access log leaves the first two
out (load balancers ask every few seconds). `/metrics` answers only the addresses in METRICS_ALLOWED_IPS, or a
request carrying `Authorization: Bearer <METRICS_TOKEN>`.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator
from ipaddress import ip_address, ip_network

import redis
from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from membership.db import db
from membership.email import EmailStatus, OutboundEmail
from membership.giving.models import EventStatus, StripeEvent
from membership.metrics import exposition
from membership.queue import QUEUE_KEYS, redis_queue
from membership.staff.reports.models import ExportJob, ExportJobStatus
from membership.web import sessionless

log = logging.getLogger(__name__)
bp = Blueprint("monitoring", __name__)


@bp.get("/healthz")
@sessionless
def healthz() -> Response:
    """The process is alive and answering; nothing else is touched."""
    return jsonify(status="ok")


def _check_database() -> str:
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("Readiness: the database does not answer: %s", type(exc).__name__)
        return f"failed: {type(exc).__name__}"
    return "ok"


def _check_redis(client: redis.Redis) -> str:
    try:
        client.ping()
    except redis.RedisError as exc:
        log.warning("Readiness: Redis does not answer: %s", type(exc).__name__)
        return f"failed: {type(exc).__name__}"
    return "ok"


@bp.get("/readyz")
@sessionless
def readyz() -> tuple[Response, int]:
    """Ready for traffic: the database answers and, with REDIS_URL, Redis does. 503 naming what failed."""
    checks = {"database": _check_database()}
    if (client := redis_queue()) is not None:
        checks["redis"] = _check_redis(client)
    ready = all(result == "ok" for result in checks.values())
    return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503


class Backlog(Collector):
    """How much work waits, read when scraped: the Redis queues' lengths and the rows still to do."""

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("membership_queue_depth", "Ids waiting on each Redis queue (REDIS_URL).",
                                  labels=["queue"])
        if (client := redis_queue()) is not None:
            for name, key in QUEUE_KEYS.items():
                try:
                    depth.add_metric([name], int(client.llen(str(current_app.config[key]))))
                except redis.RedisError:
                    continue
        yield depth
        waiting = GaugeMetricFamily(
            "membership_backlog", "Rows waiting for work: emails queued, Stripe events not yet processed, "
            "exports not yet written.", labels=["what"])
        try:
            counts = self._waiting_rows()
        except SQLAlchemyError as exc:  # /readyz says the database is down; the counters still help meanwhile
            log.warning("Metrics: the backlog could not be counted: %s", type(exc).__name__)
            return
        for what, count in counts.items():
            waiting.add_metric([what], count)
        yield waiting

    @staticmethod
    def _waiting_rows() -> dict[str, int]:
        counts = {}
        with db.engine.connect() as connection:
            for what, query in (
                ("emails", select(func.count()).select_from(OutboundEmail)
                 .where(OutboundEmail.status == EmailStatus.QUEUED.value)),
                ("stripe_events", select(func.count()).select_from(StripeEvent)
                 .where(StripeEvent.status.in_([EventStatus.RECEIVED.value, EventStatus.FAILED.value]))),
                ("exports", select(func.count()).select_from(ExportJob)
                 .where(ExportJob.status.in_([ExportJobStatus.QUEUED, ExportJobStatus.RUNNING]))),
            ):
                counts[what] = int(connection.execute(query).scalar_one())
        return counts


def _metrics_allowed() -> bool:
    token = str(current_app.config["METRICS_TOKEN"])
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    try:
        client = ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(client in ip_network(allowed, strict=False)
               for allowed in str(current_app.config["METRICS_ALLOWED_IPS"]).split())


@bp.get("/metrics")
@sessionless
def metrics() -> Response:
    """Prometheus's text format: every worker's counters, and the backlog as it stands now."""
    if not _metrics_allowed():
        return Response("Metrics are only for the monitoring system.\n", status=403, mimetype="text/plain")
    backlog = CollectorRegistry()
    backlog.register(Backlog())
    return Response(exposition() + generate_latest(backlog), mimetype="text/plain; version=0.0.4; charset=utf-8")
