"""The service on several hosts (`bench.cluster`, run small): three gunicorn hosts behind HAProxy, two workers,
PostgreSQL, Redis, an S3 server and the double. Every step of a reader's, a patron's and a staff member's visit
succeeds while one host is killed; requests are spread; an export asked for on one host downloads from another;
the rate limits hold across hosts. Runs in the PostgreSQL run; without HAProxy it fails in CI."""

from __future__ import annotations

import os
import shutil

import pytest
import redis

from bench import cluster
from tests.support.settings import REDIS_TEST_URL

pytestmark = pytest.mark.postgres_only


def needs(available: bool, what: str) -> None:
    if available:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is missing; CI needs it for the multi-host test (see the Makefile's cluster-deps).")
    pytest.skip(f"{what} is missing")


def test_the_service_on_three_hosts(capsys: pytest.CaptureFixture[str]) -> None:
    database = os.environ.get("TEST_DATABASE_URL", "")
    if not database.startswith("postgresql"):
        pytest.skip("the cluster runs on PostgreSQL: run with TEST_DATABASE_URL=postgresql://… (make test-postgres)")
    needs(bool(shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")), "HAProxy")
    try:
        redis.Redis.from_url(REDIS_TEST_URL).ping()
    except redis.RedisError:
        needs(False, f"Redis at {REDIS_TEST_URL}")

    assert cluster.main(["--readers", "2", "--database-url", database, "--redis-url", REDIS_TEST_URL]) == 0, \
        capsys.readouterr().err
    report = capsys.readouterr().out
    assert "(web2 killed midway)" in report
    assert "40 simultaneous sign-in requests for one address: {429: 38, 200: 2}" in report \
        or "40 simultaneous sign-in requests for one address: {200: 2, 429: 38}" in report
