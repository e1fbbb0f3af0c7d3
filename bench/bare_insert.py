"""The ceiling for one transaction per event: a bare WSGI app whose POST stores the raw body and does nothing else.

No signature check, no JSON parsing, no Stripe calls, no ORM: one INSERT in its own transaction on one
psycopg connection per gunicorn worker. Served by `bench.webhooks` with the same gunicorn settings as the app.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from wsgiref.types import StartResponse, WSGIEnvironment

import psycopg

TABLE = "bench_raw_events"
CREATE_TABLE = f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, body text NOT NULL)"
DATABASE_URL_VARIABLE = "BENCH_DATABASE_URL"


@functools.cache
def connection() -> psycopg.Connection[tuple[object, ...]]:
    """This worker's connection, opened on first use, after gunicorn has forked the worker."""
    # Autocommit: each execute() is a transaction of its own, committed (and fsynced) before we answer.
    return psycopg.connect(os.environ[DATABASE_URL_VARIABLE], autocommit=True)


def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """POST: insert the body, answer 200. GET: open the connection (a warm-up), answer 200."""
    if environ["REQUEST_METHOD"] == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length).decode("utf-8")
        connection().execute(f"INSERT INTO {TABLE} (body) VALUES (%s)", (body,))
        reply = b'{"received": true}'
    else:
        connection().execute("SELECT 1")
        reply = b'{"ready": true}'
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(reply)))])
    return [reply]
