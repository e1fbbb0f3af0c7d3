"""Shared fixtures: a migrated database (SQLite by default, PostgreSQL with TEST_DATABASE_URL), the app,
the offline Stripe double, and a live app server for the double's webhooks to reach.

Each test starts from empty tables: rows are deleted after every test, because the code under test
commits (as the real request, webhook and CLI do) and a rolled-back outer transaction would hide that.
Likewise one Stripe double serves the whole run, emptied after every test.
"""

from __future__ import annotations

import os
import time
import uuid
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from membership import catalogs, create_app
from membership.config import database_url
from membership.db import db
from membership.queue import PRIORITY_KEYS, QUEUE_KEYS, init_queue
from membership.staff.accounts import services as staff_services
from membership.staff.accounts.models import Role, StaffUser
from stripe_double import DoubleConfig, DoubleServer
from tests.support.database import empty_tables
from tests.support.engines import share_engines
from tests.support.routing import share_compiled_url_builders
from tests.support.servers import S3_CREDENTIALS, LiveServer, S3Server, SmtpSink, free_port
from tests.support.settings import REDIS_TEST_URL, WEBHOOK_SECRET, app_settings
from tests.support.staff import PASSWORD, sign_in_as
from tests.support.templates import share_compiled_templates

# Every test's app loads the templates earlier tests' apps compiled (tests/support/templates.py).
share_compiled_templates()
# And the engine of an earlier test's app, with the SQL it compiled (tests/support/engines.py).
SHARED_ENGINES = share_engines(db)
# And the URL builders Werkzeug generated for the same rules of an earlier app (tests/support/routing.py).
share_compiled_url_builders()


def _database_url(tmp_root: Path) -> str:
    raw = os.environ.get("TEST_DATABASE_URL")
    return database_url(raw, tmp_root) if raw else f"sqlite:///{tmp_root / 'test.db'}"


def pytest_configure(config: pytest.Config) -> None:
    """Compile the gettext catalogs when a .po is newer than its .mo (atomically: xdist workers may race), and
    stop at once, with the reason, when TEST_DATABASE_URL can't be reached (before any xdist worker starts)."""
    catalogs.compile_catalogs()
    raw = os.environ.get("TEST_DATABASE_URL")
    if not raw or os.environ.get("PYTEST_XDIST_WORKER"):
        return
    engine = sa.create_engine(database_url(raw, Path("instance")))
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        pytest.exit(f"TEST_DATABASE_URL={raw} is not reachable: {exc}", returncode=3)
    finally:
        engine.dispose()


def _private_postgres_database(uri: str) -> tuple[str, Callable[[], None]]:
    """A fresh database beside TEST_DATABASE_URL's, so concurrent test runs never share tables.

    Falls back to emptying TEST_DATABASE_URL's own schema when the role may not create databases.
    """
    admin = sa.create_engine(uri, isolation_level="AUTOCOMMIT")
    name = f"{sa.engine.make_url(uri).database}_run_{os.getpid()}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.ProgrammingError:
        if os.environ.get("PYTEST_XDIST_WORKER"):
            pytest.exit(f"{uri} may not create databases, so parallel workers would share one: run with -n 0",
                        returncode=3)
        with admin.connect() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        admin.dispose()
        return uri, lambda: None

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return sa.engine.make_url(uri).set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(autouse=True)
def _close_every_pool_a_test_opened() -> Iterator[None]:
    """Close the pooled connections of every engine a test opened (a second app for "another host", a broken
    app, a CLI run), after its own fixtures are done. Otherwise an engine dropped without `dispose()` leaves
    its connections to the garbage collector, and psycopg's ResourceWarning lands in whichever later test is
    running, as an error of that test. Then the shared engines the test's apps borrowed are taken back, their
    connections closed too (tests/support/engines.py)."""
    engines: weakref.WeakSet[sa.Engine] = weakref.WeakSet()

    def connected(connection: sa.Connection) -> None:
        engines.add(connection.engine)

    sa.event.listen(sa.Engine, "engine_connect", connected)
    try:
        yield
    finally:
        sa.event.remove(sa.Engine, "engine_connect", connected)
        for engine in list(engines):
            engine.dispose()
        SHARED_ENGINES.release()


@pytest.fixture(scope="session")
def database_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty database upgraded to the newest migration, once per test run."""
    uri = _database_url(tmp_path_factory.mktemp("db"))
    cleanup: Callable[[], None] = lambda: None  # noqa: E731
    if uri.startswith("postgresql"):
        try:
            uri, cleanup = _private_postgres_database(uri)
        except sa.exc.OperationalError as exc:
            pytest.exit(f"TEST_DATABASE_URL={uri} is not reachable: {exc}", returncode=3)
    app = create_app(app_settings(uri, api_base=""))
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    yield uri
    cleanup()


@pytest.fixture
def live_port() -> Iterator[int]:
    """A free port reserved for the live app, known before the double starts."""
    yield free_port()


@pytest.fixture(scope="session")
def running_double() -> Iterator[DoubleServer]:
    """The Stripe double, started once per run (per xdist worker); tests use `double`, which empties it."""
    server = DoubleServer(
        DoubleConfig(webhook_secret=WEBHOOK_SECRET, retry_base_seconds=0.05, max_delivery_attempts=6)
    ).start()
    yield server
    server.stop()


@pytest.fixture
def double(running_double: DoubleServer, live_port: int) -> Iterator[DoubleServer]:
    """A Stripe double with nothing in it, delivering its webhooks to this test's `live_port`."""
    running_double.config.webhook_url = f"http://127.0.0.1:{live_port}/stripe/webhook"
    running_double.double.reset_endpoints()
    yield running_double
    # Stopping the webhook worker lets a delivery in flight finish, so nothing reaches the next test's app.
    running_double.double.dispatcher.stop()
    running_double.state.reset()
    running_double.config.rate_limit = None
    running_double.limits.clear()
    running_double.double.dispatcher.start()


@pytest.fixture
def app(database_uri: str, double: DoubleServer, live_port: int, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(app_settings(database_uri, api_base=double.url, PUBLIC_URL=f"http://127.0.0.1:{live_port}",
                                MEMBERSHIP_EXPORT_DIR=str(tmp_path / "exports")))

    # The test holds one app context across many requests, so `g` outlives each request here (it never
    # does in production). Flask-WTF caches the CSRF token in `g`, and Flask-Babel the page's language: drop
    # both per request, as production would.
    @app.before_request
    def fresh_csrf_cache() -> None:
        g.pop("csrf_token", None)
        g.pop("_flask_babel", None)

    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    empty_tables(database_uri)


@pytest.fixture
def live_app(app: Flask, live_port: int) -> Iterator[LiveServer]:
    """The app listening on `live_port`, where the double delivers its webhooks."""
    live = LiveServer(app, live_port)
    yield live
    live.stop()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def db_session(app: Flask) -> Session:
    """The plain Session that services take: `db.session` is Flask-SQLAlchemy's scoped proxy, and calling it,
    `db.session()`, gives this app context's session (what tests pass to services)."""
    return db.session()




@pytest.fixture
def smtp_server(app: Flask) -> Iterator[SmtpSink]:
    """A real SMTP server on loopback; the app (and the live app, which is the same object) sends to it."""
    sink = SmtpSink()
    sink.port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{sink.port}"
    yield sink
    controller.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """An S3-compatible server (moto's, in a process of its own), started once per run (per xdist worker)."""
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def s3(app: Flask, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """The app keeping queued exports in a bucket of this test's own on the S3 server; the bucket's name.
    Credentials come to boto3 the way production's do, from the environment."""
    for name, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    bucket = s3_server.new_bucket()
    app.config.update(EXPORT_STORAGE_URL=f"s3://{bucket}/queued-exports", AWS_ENDPOINT_URL=s3_server.url)
    return bucket


@pytest.fixture
def queue(app: Flask) -> Iterator[redis.Redis]:
    """The app pointed at a Redis queue of its own (lists and rate-limit keys named for this test, so parallel
    runs keep apart)."""
    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis is not reachable at {REDIS_TEST_URL} ({exc}); CI needs it for the queue tests.")
        pytest.skip(f"Redis is not reachable at {REDIS_TEST_URL}: set REDIS_TEST_URL or start Redis")
    test = uuid.uuid4().hex
    keys = {config_key: f"membership-test:{name}:{test}" for name, config_key in QUEUE_KEYS.items()}
    keys.update({config_key: f"membership-test:{name}-priority:{test}" for name, config_key in PRIORITY_KEYS.items()})
    keys["STRIPE_PACE_KEY"] = f"membership-test:stripe-pace:{test}"
    # With REDIS_URL the rate limits are counted in Redis too: under this test's own prefix.
    rate_limits = f"membership-test:ratelimit:{test}"
    app.config.update(REDIS_URL=REDIS_TEST_URL, RATE_LIMIT_KEY_PREFIX=rate_limits, **keys)
    init_queue(app)
    yield client
    client.delete(*keys.values(), *client.scan_iter(f"{rate_limits}:*"))
    app.config["REDIS_URL"] = ""
    init_queue(app)


@pytest.fixture
def make_staff(app: Flask) -> Callable[..., StaffUser]:
    def make(role: Role = Role.ADMIN, email: str | None = None, password: str = PASSWORD) -> StaffUser:
        user, _ = staff_services.create_staff(db.session(), email or f"{role.value}-{time.time_ns()}@newsroom.example",
                                              role, name=role.value.title(), password=password)
        db.session.commit()
        return user

    return make


@pytest.fixture
def staff_client(client: FlaskClient, make_staff: Callable[..., StaffUser]) -> Callable[[Role], FlaskClient]:
    """`staff_client(Role.ANALYST)`: the test client signed in as a new staff member of that role."""

    def signed_in(role: Role) -> FlaskClient:
        return sign_in_as(client, make_staff(role))

    return signed_in


@pytest.fixture(params=["database", "redis"])
def limits_in(request: pytest.FixtureRequest, app: Flask) -> str:
    """Where the rate limits are counted: the database (SQLite or PostgreSQL, as the run uses), or Redis (the
    `queue` fixture's, under key names of this test's own)."""
    if request.param == "redis":
        request.getfixturevalue("queue")
    return str(request.param)
