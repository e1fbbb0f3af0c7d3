"""Start-up checks: unsafe or inconsistent settings stop the app with a message naming the variable."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from membership import create_app
from membership.config import (
    ConfigError,
    check_settings,
    database_url,
    ensure_secret_key,
    load_settings,
    stripe_page_origins,
)


def settings(**env: str) -> dict[str, Any]:
    return load_settings(env, instance_path="/tmp/membership-instance")


def test_defaults_run_on_embedded_sqlite_with_generated_dev_key() -> None:
    config = settings()
    assert config["SQLALCHEMY_DATABASE_URI"] == "sqlite:////tmp/membership-instance/membership.db"
    assert ensure_secret_key(config) is True and len(config["SECRET_KEY"]) == 64
    rules = check_settings(config)
    assert list(rules) == ["EUR", "USD", "GBP", "UAH"]
    assert rules["EUR"].limits.minimum_minor == 100 and rules["UAH"].limits.minimum_minor == 4000


def test_postgres_urls_use_psycopg3() -> None:
    assert database_url("postgresql://u@h/db", Path("/x")) == "postgresql+psycopg://u@h/db"
    assert database_url("postgres://u@h/db", Path("/x")) == "postgresql+psycopg://u@h/db"


def test_live_key_is_refused_unless_explicitly_allowed() -> None:
    with pytest.raises(ConfigError, match="MEMBERSHIP_ALLOW_LIVE_KEYS=1"):
        check_settings(settings(STRIPE_SECRET_KEY="sk_live_abc"))
    assert check_settings(settings(STRIPE_SECRET_KEY="sk_live_abc", MEMBERSHIP_ALLOW_LIVE_KEYS="1"))


def test_live_key_refused_by_create_app_too() -> None:
    with pytest.raises(ConfigError, match="live key"):
        create_app({"STRIPE_SECRET_KEY": "sk_live_abc", "SQLALCHEMY_DATABASE_URI": "sqlite://"})


PRODUCTION = {"MEMBERSHIP_ENV": "production", "SECRET_KEY": "k" * 40, "STRIPE_WEBHOOK_SECRET": "whsec_x",
              "STRIPE_SECRET_KEY": "sk_test_x", "MAIL_URL": "smtp://mail.example.org:587?starttls=1"}


def test_complete_production_settings_start() -> None:
    assert check_settings(settings(**PRODUCTION))


@pytest.mark.parametrize("missing", ["SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_SECRET_KEY", "MAIL_URL"])
def test_production_needs_secrets(missing: str) -> None:
    env = dict(PRODUCTION)
    del env[missing]
    with pytest.raises(ConfigError, match=f"needs {missing} to be set"):
        check_settings(settings(**env))


def test_production_does_not_invent_a_secret_key() -> None:
    config = settings(MEMBERSHIP_ENV="production")
    assert ensure_secret_key(config) is False
    assert config["SECRET_KEY"] == "" and config["SESSION_COOKIE_SECURE"] is True


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MEMBERSHIP_CURRENCIES": "EUR,XX"}, "not an ISO 4217 code"),
        ({"MEMBERSHIP_CURRENCIES": "EUR,CHF"}, "no limits for CHF"),
        ({"MEMBERSHIP_AMOUNT_LIMITS": "EUR:10-1,USD:1-2,GBP:1-2,UAH:1-2"}, "0 < min <= max"),
        ({"MEMBERSHIP_FEES": "EUR:abc,USD:1+1,GBP:1+1,UAH:1+1"}, "basis points"),
        ({"MEMBERSHIP_DEFAULT_CURRENCY": "CHF"}, "one of MEMBERSHIP_CURRENCIES"),
        ({"MEMBERSHIP_ALLOW_LIVE_KEYS": "maybe"}, "must be 1 or 0"),
        ({"SUPPORTER_WALL_REVIEW": "later"}, "SUPPORTER_WALL_REVIEW must be 1 or 0"),
        ({"STRIPE_SECRET_KEY": "pk_test_abc"}, "secret key"),
        ({"MAIL_URL": "mail.example.org"}, "MAIL_URL must look like"),
        ({"SIGN_IN_LINK_MINUTES": "0"}, "SIGN_IN_LINK_MINUTES must be at least 1"),
        ({"PATRON_GRACE_DAYS": "soon"}, "PATRON_GRACE_DAYS must be a whole number"),
        ({"MEMBERSHIP_MAX_REQUEST_KB": "0"}, "MEMBERSHIP_MAX_REQUEST_KB must be at least 1"),
        ({"STRIPE_WEBHOOK_MAX_KB": "0"}, "STRIPE_WEBHOOK_MAX_KB must be at least 1"),
        ({"HSTS_MAX_AGE": "-1"}, "HSTS_MAX_AGE must be 0"),
    ],
)
def test_bad_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_settings(settings(**env))


def test_request_body_limits_come_from_their_settings() -> None:
    app = create_app({**settings(MEMBERSHIP_MAX_REQUEST_KB="64", STRIPE_WEBHOOK_MAX_KB="2048"),
                      "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["MAX_CONTENT_LENGTH"] == 64 * 1024
    assert app.config["STRIPE_WEBHOOK_MAX_BYTES"] == 2048 * 1024


def test_currencies_and_bounds_are_configurable() -> None:
    rules = check_settings(settings(MEMBERSHIP_CURRENCIES="EUR,CHF", MEMBERSHIP_AMOUNT_LIMITS="EUR:2-50,CHF:5-500",
                                    MEMBERSHIP_FEES="EUR:150+25,CHF:290+30"))
    assert rules["CHF"].limits.maximum_minor == 50000 and rules["EUR"].limits.minimum_minor == 200


@pytest.mark.parametrize(("limits", "message"), [
    ("EUR:0.40-100", "MEMBERSHIP_AMOUNT_LIMITS for EUR: Stripe can't charge less than €0.50 in one payment."),
    ("GBP:0.25-100", "MEMBERSHIP_AMOUNT_LIMITS for GBP: Stripe can't charge less than £0.30 in one payment."),
    ("JPY:10-1000", "MEMBERSHIP_AMOUNT_LIMITS for JPY: Stripe can't charge less than ¥50 in one payment."),
    ("EUR:1-1000000", "MEMBERSHIP_AMOUNT_LIMITS for EUR: Stripe can't charge more than €999,999.99 in one payment."),
    ("ISK:100.50-1000", "MEMBERSHIP_AMOUNT_LIMITS for ISK must be 'min-max'."),
])
def test_default_bounds_must_be_charges_stripe_takes(limits: str, message: str) -> None:
    code = limits[:3]
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_settings(settings(MEMBERSHIP_CURRENCIES=code, MEMBERSHIP_AMOUNT_LIMITS=limits,
                                MEMBERSHIP_FEES=f"{code}:150+25"))


def test_stripes_minimum_itself_is_a_valid_default_bound() -> None:
    rules = check_settings(settings(MEMBERSHIP_CURRENCIES="GBP,JPY,KWD", MEMBERSHIP_AMOUNT_LIMITS=(
        "GBP:0.30-100,JPY:50-100000,KWD:0.25-1000"), MEMBERSHIP_FEES="GBP:150+20,JPY:360+0,KWD:290+100"))
    assert [rules[c].limits.minimum_minor for c in ("GBP", "JPY", "KWD")] == [30, 50, 250]


@pytest.mark.parametrize(("proxies", "seen"), [(0, "10.0.0.1"), (1, "203.0.113.7")])
def test_the_client_address_comes_from_the_proxy_only_when_told_to_trust_one(proxies: int, seen: str) -> None:
    from flask import request

    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "MEMBERSHIP_TRUSTED_PROXIES": proxies})
    app.add_url_rule("/_seen", "seen", lambda: f"{request.remote_addr} {request.scheme}")
    answer = app.test_client().get("/_seen", environ_base={"REMOTE_ADDR": "10.0.0.1"},
                                   headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    assert answer.get_data(as_text=True) == f"{seen} {'https' if proxies else 'http'}"


def test_trusted_proxies_must_be_a_small_count() -> None:
    with pytest.raises(ConfigError, match="MEMBERSHIP_TRUSTED_PROXIES"):
        check_settings(settings(MEMBERSHIP_TRUSTED_PROXIES="-1"))
    with pytest.raises(ConfigError, match="MEMBERSHIP_TRUSTED_PROXIES must be a whole number"):
        settings(MEMBERSHIP_TRUSTED_PROXIES="yes")


def test_export_settings_defaults() -> None:
    config = settings()
    assert config["MEMBERSHIP_EXPORT_INLINE_ROWS"] == 50_000 and config["MEMBERSHIP_EXPORT_KEEP_DAYS"] == 7
    assert config["MEMBERSHIP_EXPORT_DIR"] == str(Path("/tmp/membership-instance/exports").resolve())
    assert settings(MEMBERSHIP_EXPORT_INLINE_ROWS="0")["MEMBERSHIP_EXPORT_INLINE_ROWS"] == 0  # queue every export


@pytest.mark.parametrize(("env", "message"), [
    ({"MEMBERSHIP_EXPORT_INLINE_ROWS": "-1"}, "MEMBERSHIP_EXPORT_INLINE_ROWS must be 0 or more"),
    ({"MEMBERSHIP_EXPORT_INLINE_ROWS": "50k"}, "MEMBERSHIP_EXPORT_INLINE_ROWS must be a whole number (got '50k')"),
    ({"MEMBERSHIP_EXPORT_KEEP_DAYS": "0"}, "MEMBERSHIP_EXPORT_KEEP_DAYS must be at least 1"),
    ({"MEMBERSHIP_EXPORT_DIR": __file__}, "MEMBERSHIP_EXPORT_DIR (" + __file__ + ") is a file"),
])
def test_bad_export_settings_stop_start_up(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        check_settings(settings(**env))
    assert message in str(refused.value)


@pytest.mark.parametrize(("api_base", "origins"), [
    ("", "https://checkout.stripe.com https://billing.stripe.com"),
    ("http://127.0.0.1:12111", "http://127.0.0.1:12111 http://localhost:12111"),
    ("http://localhost:12111/", "http://localhost:12111 http://127.0.0.1:12111"),
    ("https://stripe-double.internal", "https://stripe-double.internal"),
])
def test_stripe_page_origins_are_checkouts_and_the_portals(api_base: str, origins: str) -> None:
    assert stripe_page_origins(api_base.rstrip("/")) == origins


def test_forms_may_redirect_to_stripes_checkout_and_portal_only(app: Any) -> None:
    app.config["STRIPE_API_BASE"] = ""  # real Stripe
    policy = app.test_client().get("/give").headers["Content-Security-Policy"]
    assert "form-action 'self' https://checkout.stripe.com https://billing.stripe.com;" in policy
    app.config["STRIPE_PAGE_ORIGINS"] = "https://checkout.stripe.com"
    policy = app.test_client().get("/give").headers["Content-Security-Policy"]
    assert "form-action 'self' https://checkout.stripe.com;" in policy
    assert load_settings({"STRIPE_PAGE_ORIGINS": " https://a.example   https://b.example "})["STRIPE_PAGE_ORIGINS"] == (
        "https://a.example https://b.example")
