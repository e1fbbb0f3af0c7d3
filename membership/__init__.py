"""Reader-support membership service: the Flask app factory."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from membership import i18n, logs
from membership.config import check_settings, ensure_secret_key, load_settings, signing_keys, stripe_requests_per_second
from membership.db import current_session, db, ping_when_idle
from membership.extensions import csrf, migrate
from membership.installation import installation_id
from membership.pace import Pace
from membership.queue import init_queue
from membership.web import App

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
log = logging.getLogger(__name__)


def resource_dir(name: str) -> Path:
    """`templates` or `migrations`: inside the package when installed from the wheel (setup.py maps them there),
    else at the top of the checkout, where they are kept."""
    packaged = PACKAGE / name
    return packaged if packaged.is_dir() else ROOT / name


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the app from environment settings, with `overrides` on top (tests use these).

    Settings are checked here, so a bad configuration stops start-up with a message naming the
    variable. Migrations are never run here: `flask --app membership db upgrade` does that.
    """
    app = App(
        __name__,
        template_folder=str(resource_dir("templates")),
        static_folder=str(PACKAGE / "static"),
        # Unset, Flask picks `instance/` beside the package in a checkout, `<venv>/var/membership-instance`
        # when installed.
    )
    app.config.update(load_settings(instance_path=app.instance_path))
    app.config.update(overrides or {})
    generated_key = ensure_secret_key(app.config)
    app.extensions["currency_rules"] = check_settings(app.config)
    logs.init_app(app)  # first: every line after this one is formatted as LOG_FORMAT says
    # Flask-WTF signs CSRF tokens with this key list (newest last), so a form opened before a SECRET_KEY rotation
    # still sends; Flask's sessions read SECRET_KEY_FALLBACKS themselves.
    app.config.setdefault("WTF_CSRF_SECRET_KEY", signing_keys(app.config))
    app.config["PERMANENT_SESSION_LIFETIME"] = int(app.config["PATRON_SESSION_DAYS"]) * 86400  # signed-in patrons
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["MEMBERSHIP_MAX_REQUEST_KB"]) * 1024  # 413 beyond
    app.config["STRIPE_WEBHOOK_MAX_BYTES"] = int(app.config["STRIPE_WEBHOOK_MAX_KB"]) * 1024
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if generated_key:
        log.warning("SECRET_KEY is not set: using a random development key (sessions end on restart).")

    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            ping_when_idle(engine)
    migrate.init_app(app, db, directory=str(resource_dir("migrations")))
    csrf.init_app(app)
    i18n.init_app(app)

    from membership import cli, errors, models, monitoring, outbox, web  # noqa: F401  (models: every table on the metadata)
    from membership.ballots import views as ballots_views
    from membership.giving import acknowledge
    from membership.giving import views as giving_views
    from membership.giving.stripe_gateway import StripeGateway
    from membership.patrons import views as patrons_views
    from membership.staff import views as staff_views  # noqa: F401  (the home page and menu, on the accounts' blueprint)
    from membership.staff.accounts import views as staff_accounts_views
    from membership.staff.appeal import views as staff_appeal_views
    from membership.staff.ballots import views as staff_ballots_views
    from membership.staff.campaigns import views as staff_campaigns_views
    from membership.staff.dashboard import views as staff_dashboard_views
    from membership.staff.reports import views as staff_reports_views
    from membership.staff.supporters import views as staff_supporters_views
    from membership.staff.tiers import views as staff_tiers_views
    from membership.staff.wall import views as staff_wall_views
    from membership.staff.webhooks import views as staff_webhooks_views
    from membership.wall import views as wall_views

    app.extensions["stripe_gateway"] = StripeGateway(
        app.config["STRIPE_SECRET_KEY"],
        api_base=app.config["STRIPE_API_BASE"],
        timeout_seconds=app.config["STRIPE_TIMEOUT_SECONDS"],
        installation_id=lambda: installation_id(current_session()),
        pace=Pace(stripe_requests_per_second(app.config), redis_client=lambda: app.extensions.get("queue"),
                  key=lambda: str(app.config["STRIPE_PACE_KEY"])),
    )
    web.init_app(app)
    errors.init_app(app)
    app.register_blueprint(monitoring.bp)
    app.register_blueprint(giving_views.bp)
    app.register_blueprint(patrons_views.bp)
    app.register_blueprint(ballots_views.bp)
    app.register_blueprint(staff_accounts_views.bp)
    app.register_blueprint(staff_dashboard_views.bp)
    app.register_blueprint(staff_reports_views.bp)
    app.register_blueprint(staff_supporters_views.bp)
    app.register_blueprint(staff_tiers_views.bp)
    app.register_blueprint(wall_views.bp)
    app.register_blueprint(staff_wall_views.bp)
    app.register_blueprint(staff_appeal_views.bp)
    app.register_blueprint(staff_ballots_views.bp)
    app.register_blueprint(staff_webhooks_views.bp)
    app.register_blueprint(staff_campaigns_views.bp)
    if app.config["MEMBERSHIP_ENV"] != "production":
        # The development outbox shows every email instead of sending it; production never serves it.
        app.register_blueprint(outbox.bp)
    cli.init_app(app)
    init_queue(app)
    acknowledge.install(app)  # with a queue, webhooks are acknowledged before Flask (membership.giving.acknowledge)
    proxies = int(app.config["MEMBERSHIP_TRUSTED_PROXIES"])
    if proxies:
        # Behind a reverse proxy, take the client's address, scheme and host from the X-Forwarded-* headers
        # that many proxies set (and only those), so per-IP limits and audit entries see the reader, not
        # the proxy. Without a proxy these headers are anyone's to forge, so it is off by default.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    return app
