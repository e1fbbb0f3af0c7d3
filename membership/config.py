"""Settings, read from environment variables and checked at start-up.

Every setting the app reads is mapped here explicitly; docs/configuration.md lists them all. `load_settings()`
returns a plain mapping for `app.config`; `check_settings()` refuses unsafe combinations with a message
that names the variable to fix.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from flask import current_app

from membership.money import AmountLimits, FeeRule, check_stripe_charge, parse_major_amount

DEFAULT_CURRENCIES = ("EUR", "USD", "GBP", "UAH")
# Minimum and maximum gift per currency, in major units. UAH is roughly 40 to the euro.
DEFAULT_LIMITS = "EUR:1-10000,USD:1-10000,GBP:1-10000,UAH:40-400000"
# Stripe's published card pricing: percent in basis points plus a fixed fee in minor units.
DEFAULT_FEES = "EUR:150+25,USD:290+30,GBP:150+20,UAH:290+1000"
DEFAULT_OTHER_WAYS = (
    "Share our reporting with a friend who would value it.\n\n"
    "Send us a tip or a story idea: our newsroom reads every message.\n\n"
    "Organisations and foundations can write to us about grants and partnerships."
)
# The font the yearly statement PDF is written in: Debian's fonts-dejavu-core (Cyrillic, the hryvnia sign).
DEFAULT_STATEMENT_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
# The Redis lists the worker takes ids from (when REDIS_URL is set), the prefix of the keys that hold rate
# limits and the key of Stripe's pace, all under REDIS_KEY_PREFIX (default "membership"), so installations
# sharing a Redis keep apart. Tests also set each key themselves, so parallel test runs keep apart.
EMAIL_QUEUE_KEY = "{prefix}:emails"
EMAIL_PRIORITY_QUEUE_KEY = "{prefix}:emails:priority"  # sign-in and fix-card links, taken before the rest
EXPORT_QUEUE_KEY = "{prefix}:exports"
STRIPE_EVENT_QUEUE_KEY = "{prefix}:stripe-events"
WEBHOOK_QUEUE_KEY = "{prefix}:webhooks-out"
RATE_LIMIT_KEY_PREFIX = "{prefix}:ratelimit"
STRIPE_PACE_KEY = "{prefix}:stripe-pace"
REDIS_KEY_PREFIX = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# Werkzeug's method for staff password hashes (its scrypt default, spelt out). Not an environment variable:
# only tests lower it, through create_app(overrides), since every hash stores its own parameters.
STAFF_PASSWORD_HASH = "scrypt:32768:8:1"  # noqa: S105 - a hash method, not a password
# Request bodies: forms are small (the largest, a ballot with 40 option rows in Cyrillic, is under 250 KiB
# URL-encoded); Stripe's events are larger (an invoice with many lines runs to a megabyte or two), and refusing a
# genuine one would make Stripe retry it for days, so the webhook gets a generous limit of its own.
DEFAULT_MAX_REQUEST_KB = 512
DEFAULT_WEBHOOK_MAX_KB = 8192
# Strict-Transport-Security max-age (production with an https PUBLIC_URL): one year, as browsers' preload lists ask.
DEFAULT_HSTS_MAX_AGE = 31_536_000
# Web exports with more rows than this are queued (with REDIS_URL) rather than streamed in the request.
DEFAULT_EXPORT_INLINE_ROWS = 50_000


class ConfigError(RuntimeError):
    """A setting is missing or invalid; the message names the environment variable."""


@dataclass(frozen=True)
class CurrencyRules:
    """What the give form accepts for one currency."""

    code: str
    limits: AmountLimits
    fee: FeeRule


# A site allowed to frame /appeal: a scheme and host (a leading `*.` for its subdomains), an optional port.
EMBED_ORIGIN = re.compile(r"https?://(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:\d{1,5})?")


def _flag(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be 1 or 0 (got {raw!r}).")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number (got {raw!r}).") from None


def _pairs(raw: str, name: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for chunk in raw.split(","):
        code, sep, value = chunk.strip().partition(":")
        if not sep or not code or not value:
            raise ConfigError(f"{name} must look like 'EUR:…,USD:…' (bad part {chunk!r}).")
        pairs[code.strip().upper()] = value.strip()
    return pairs


def parse_currency_rules(currencies: str, limits: str, fees: str) -> dict[str, CurrencyRules]:
    """Build the per-currency rules from the three settings, or raise ConfigError."""
    codes = [c.strip().upper() for c in currencies.split(",") if c.strip()]
    if not codes:
        raise ConfigError("MEMBERSHIP_CURRENCIES must list at least one currency, e.g. EUR,USD.")
    limit_text = _pairs(limits, "MEMBERSHIP_AMOUNT_LIMITS")
    fee_text = _pairs(fees, "MEMBERSHIP_FEES")
    rules: dict[str, CurrencyRules] = {}
    for code in codes:
        if len(code) != 3 or not code.isalpha():
            raise ConfigError(f"MEMBERSHIP_CURRENCIES: {code!r} is not an ISO 4217 code.")
        if code not in limit_text:
            raise ConfigError(f"MEMBERSHIP_AMOUNT_LIMITS has no limits for {code} (e.g. {code}:1-10000).")
        if code not in fee_text:
            raise ConfigError(f"MEMBERSHIP_FEES has no fee for {code} (e.g. {code}:150+25).")
        low, dash, high = limit_text[code].partition("-")
        try:
            minimum = parse_major_amount(low, code)
            maximum = parse_major_amount(high, code)
        except ValueError:
            raise ConfigError(f"MEMBERSHIP_AMOUNT_LIMITS for {code} must be 'min-max'.") from None
        if not dash or minimum <= 0 or maximum < minimum:
            raise ConfigError(f"MEMBERSHIP_AMOUNT_LIMITS for {code} must be 'min-max' with 0 < min <= max.")
        for bound in (minimum, maximum):
            try:
                check_stripe_charge(bound, code)
            except ValueError as exc:
                raise ConfigError(f"MEMBERSHIP_AMOUNT_LIMITS for {code}: {exc}") from None
        percent, plus, fixed = fee_text[code].partition("+")
        if not plus or not percent.isdigit() or not fixed.isdigit() or int(percent) >= 10_000:
            raise ConfigError(
                f"MEMBERSHIP_FEES for {code} must be '<basis points>+<fixed minor units>', e.g. 150+25."
            )
        rules[code] = CurrencyRules(
            code=code,
            limits=AmountLimits(minimum_minor=minimum, maximum_minor=maximum),
            fee=FeeRule(percent_bps=int(percent), fixed_minor=int(fixed)),
        )
    return rules


def database_url(raw: str | None, instance: Path) -> str:
    """DATABASE_URL with PostgreSQL pointed at psycopg 3; SQLite in instance/ when unset."""
    if not raw:
        return f"sqlite:///{(instance / 'membership.db').resolve()}"
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix):]
    return raw


@dataclass(frozen=True)
class MailServer:
    """Where MAIL_URL says to send mail: smtp://user:password@host:587?starttls=1 or smtps://host:465."""

    host: str
    port: int
    username: str
    password: str
    use_ssl: bool
    use_starttls: bool


def parse_mail_url(url: str) -> MailServer:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError("MAIL_URL must look like smtp://user:password@host:587?starttls=1 or smtps://host:465.")
    query = dict(parse_qsl(parts.query))
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
    except ValueError:
        raise ConfigError("MAIL_URL has an invalid port.") from None
    return MailServer(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        use_ssl=parts.scheme == "smtps",
        use_starttls=query.get("starttls", "0").lower() in ("1", "true", "yes"),
    )


STRIPE_HOSTED_ORIGINS = ("https://checkout.stripe.com", "https://billing.stripe.com")
LOOPBACK_TWINS = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}


def stripe_page_origins(api_base: str) -> str:
    """The origins of the hosted pages Stripe sends browsers to (Checkout, then the Billing Portal).

    With the double (`api_base` set) its Checkout is at `api_base` and its Portal at the same address under
    the other loopback name (127.0.0.1 <-> localhost), an origin of its own as billing.stripe.com is.
    """
    if not api_base:
        return " ".join(STRIPE_HOSTED_ORIGINS)
    parts = urlsplit(api_base)
    checkout = f"{parts.scheme}://{parts.netloc}"
    twin = LOOPBACK_TWINS.get(parts.hostname or "")
    if twin is None:
        return checkout
    return f"{checkout} {parts.scheme}://{twin}{f':{parts.port}' if parts.port else ''}"


DEFAULT_SUPPORTED_LOCALES = "en,uk"
DEFAULT_ACCENT_COLOR = "#0b5394"  # the buttons' and links' blue (membership/branding.py)
# Our language → the `locale` Stripe's Checkout and Billing Portal are given. Stripe's pages don't offer Ukrainian
# (the API refuses `uk`), so a Ukrainian reader's payment page follows their browser (`auto`).
DEFAULT_STRIPE_LOCALES = "en=en,uk=auto"


def _locales(value: str) -> list[str]:
    return [item.strip().replace("-", "_") for item in value.split(",") if item.strip()]


def _locale_pairs(value: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in value.split(","):
        if item.strip():
            key, _, target = item.partition("=")
            pairs[key.strip().replace("-", "_")] = target.strip()
    return pairs


def load_settings(env: Mapping[str, str] | None = None, instance_path: str | None = None) -> dict[str, Any]:
    """Map environment variables to Flask config keys. Nothing here validates safety: see check_settings."""
    env = os.environ if env is None else env
    instance = Path(instance_path or "instance")
    currencies = env.get("MEMBERSHIP_CURRENCIES") or ",".join(DEFAULT_CURRENCIES)
    default_currency = (env.get("MEMBERSHIP_DEFAULT_CURRENCY") or currencies.split(",")[0]).strip().upper()
    production = (env.get("MEMBERSHIP_ENV") or "development").strip().lower() == "production"
    redis_prefix = (env.get("REDIS_KEY_PREFIX") or "membership").strip()
    settings: dict[str, Any] = {
        "MEMBERSHIP_ENV": "production" if production else "development",
        "SECRET_KEY": env.get("SECRET_KEY") or "",
        # Earlier keys, still accepted when reading signed data (sessions, links), for a rotation.
        "SECRET_KEY_FALLBACKS": (env.get("SECRET_KEY_FALLBACKS") or "").split(),
        "SQLALCHEMY_DATABASE_URI": database_url(env.get("DATABASE_URL"), instance),
        "PUBLIC_URL": (env.get("PUBLIC_URL") or "http://127.0.0.1:5000").rstrip("/"),
        "STRIPE_SECRET_KEY": env.get("STRIPE_SECRET_KEY") or "",
        "STRIPE_WEBHOOK_SECRET": env.get("STRIPE_WEBHOOK_SECRET") or "",
        "STRIPE_API_BASE": (env.get("STRIPE_API_BASE") or "").rstrip("/"),
        "STRIPE_TIMEOUT_SECONDS": _int(env, "STRIPE_TIMEOUT_SECONDS", 20),
        # 0 (unset) = by the key: stripe_requests_per_second() below.
        "STRIPE_MAX_REQUESTS_PER_SECOND": _int(env, "STRIPE_MAX_REQUESTS_PER_SECOND", 0),
        "STRIPE_PACE_KEY": STRIPE_PACE_KEY.format(prefix=redis_prefix),
        # Unset = stripe_page_origins(STRIPE_API_BASE), worked out when the CSP is written.
        "STRIPE_PAGE_ORIGINS": " ".join((env.get("STRIPE_PAGE_ORIGINS") or "").split()),
        "MEMBERSHIP_ALLOW_LIVE_KEYS": _flag(env, "MEMBERSHIP_ALLOW_LIVE_KEYS"),
        "MEMBERSHIP_CURRENCIES": currencies,
        "MEMBERSHIP_DEFAULT_CURRENCY": default_currency,
        "MEMBERSHIP_AMOUNT_LIMITS": env.get("MEMBERSHIP_AMOUNT_LIMITS") or DEFAULT_LIMITS,
        "MEMBERSHIP_FEES": env.get("MEMBERSHIP_FEES") or DEFAULT_FEES,
        "SUPPORTED_LOCALES": _locales(env.get("SUPPORTED_LOCALES") or DEFAULT_SUPPORTED_LOCALES),
        "DEFAULT_LOCALE": (env.get("DEFAULT_LOCALE") or "en").strip(),
        "STRIPE_LOCALES": _locale_pairs(env.get("STRIPE_LOCALES") or DEFAULT_STRIPE_LOCALES),
        "NEWSROOM_NAME": env.get("NEWSROOM_NAME") or "The Independent Newsroom",
        "NEWSROOM_ADDRESS": env.get("NEWSROOM_ADDRESS") or "1 Example Street, 01001 Kyiv, Ukraine",
        "NEWSROOM_OTHER_WAYS": env.get("NEWSROOM_OTHER_WAYS") or DEFAULT_OTHER_WAYS,
        "NEWSROOM_REGISTRATION": (env.get("NEWSROOM_REGISTRATION") or "").strip(),
        # The header's and emails' logo and the buttons' and links' colour: checked in membership/branding.py.
        "NEWSROOM_LOGO_URL": (env.get("NEWSROOM_LOGO_URL") or "").strip(),
        "NEWSROOM_ACCENT_COLOR": (env.get("NEWSROOM_ACCENT_COLOR") or DEFAULT_ACCENT_COLOR).strip().lower(),
        "STATEMENT_FONT_PATH": env.get("STATEMENT_FONT_PATH") or DEFAULT_STATEMENT_FONT,
        "MAIL_URL": env.get("MAIL_URL") or "",
        "REDIS_URL": env.get("REDIS_URL") or "",
        "REDIS_KEY_PREFIX": redis_prefix,
        "EMAIL_QUEUE_KEY": EMAIL_QUEUE_KEY.format(prefix=redis_prefix),
        "EMAIL_PRIORITY_QUEUE_KEY": EMAIL_PRIORITY_QUEUE_KEY.format(prefix=redis_prefix),
        "EXPORT_QUEUE_KEY": EXPORT_QUEUE_KEY.format(prefix=redis_prefix),
        "STRIPE_EVENT_QUEUE_KEY": STRIPE_EVENT_QUEUE_KEY.format(prefix=redis_prefix),
        "WEBHOOK_QUEUE_KEY": WEBHOOK_QUEUE_KEY.format(prefix=redis_prefix),
        "STRIPE_EVENT_MAX_ATTEMPTS": _int(env, "STRIPE_EVENT_MAX_ATTEMPTS", 8),
        "STRIPE_EVENT_RETRY_SECONDS": _int(env, "STRIPE_EVENT_RETRY_SECONDS", 60),
        "STRIPE_EVENT_LEASE_SECONDS": _int(env, "STRIPE_EVENT_LEASE_SECONDS", 300),
        "RATE_LIMIT_KEY_PREFIX": RATE_LIMIT_KEY_PREFIX.format(prefix=redis_prefix),
        "MEMBERSHIP_EXPORT_INLINE_ROWS": _int(env, "MEMBERSHIP_EXPORT_INLINE_ROWS", DEFAULT_EXPORT_INLINE_ROWS),
        "MEMBERSHIP_EXPORT_DIR": str(Path(env.get("MEMBERSHIP_EXPORT_DIR") or instance / "exports").resolve()),
        "MEMBERSHIP_EXPORT_KEEP_DAYS": _int(env, "MEMBERSHIP_EXPORT_KEEP_DAYS", 7),
        # Unset: queued exports' files stay in MEMBERSHIP_EXPORT_DIR. s3://bucket/prefix: in object storage.
        "EXPORT_STORAGE_URL": (env.get("EXPORT_STORAGE_URL") or "").strip(),
        "AWS_ENDPOINT_URL": (env.get("AWS_ENDPOINT_URL") or "").strip().rstrip("/"),
        "EXPORT_DOWNLOAD_URL_SECONDS": _int(env, "EXPORT_DOWNLOAD_URL_SECONDS", 60),
        "STRIPE_EVENT_RETENTION_DAYS": _int(env, "STRIPE_EVENT_RETENTION_DAYS", 90),
        "EMAIL_BODY_RETENTION_DAYS": _int(env, "EMAIL_BODY_RETENTION_DAYS", 30),
        "MAIL_FROM": env.get("MAIL_FROM") or "Newsroom supporters <supporters@localhost>",
        "RENEWAL_RECEIPTS": _flag(env, "RENEWAL_RECEIPTS", default=True),
        "SUPPORTER_WALL_REVIEW": _flag(env, "SUPPORTER_WALL_REVIEW", default=True),
        "APPEAL_EMBED_ORIGINS": " ".join((env.get("APPEAL_EMBED_ORIGINS") or "").split()),
        "SIGN_IN_LINK_MINUTES": _int(env, "SIGN_IN_LINK_MINUTES", 15),
        "SIGN_IN_LIMIT_PER_ADDRESS": _int(env, "SIGN_IN_LIMIT_PER_ADDRESS", 3),
        "SIGN_IN_LIMIT_PER_IP": _int(env, "SIGN_IN_LIMIT_PER_IP", 20),
        "CHECKOUT_LIMIT_PER_IP": _int(env, "CHECKOUT_LIMIT_PER_IP", 10),
        "CHECKOUT_LIMIT_PER_ADDRESS": _int(env, "CHECKOUT_LIMIT_PER_ADDRESS", 5),
        "PATRON_SESSION_DAYS": _int(env, "PATRON_SESSION_DAYS", 30),
        "PATRON_GRACE_DAYS": _int(env, "PATRON_GRACE_DAYS", 7),
        "DUNNING_REMINDER_DAYS": _int(env, "DUNNING_REMINDER_DAYS", 3),
        "STAFF_SESSION_HOURS": _int(env, "STAFF_SESSION_HOURS", 12),
        "MEMBERSHIP_TRUSTED_PROXIES": _int(env, "MEMBERSHIP_TRUSTED_PROXIES", 0),
        "STAFF_LOCKOUT_ATTEMPTS": _int(env, "STAFF_LOCKOUT_ATTEMPTS", 5),
        "STAFF_LOCKOUT_MINUTES": _int(env, "STAFF_LOCKOUT_MINUTES", 15),
        "STAFF_SIGN_IN_LIMIT_PER_IP": _int(env, "STAFF_SIGN_IN_LIMIT_PER_IP", 20),
        "STAFF_PASSWORD_HASH": STAFF_PASSWORD_HASH,
        "MEMBERSHIP_MAX_REQUEST_KB": _int(env, "MEMBERSHIP_MAX_REQUEST_KB", DEFAULT_MAX_REQUEST_KB),
        "STRIPE_WEBHOOK_MAX_KB": _int(env, "STRIPE_WEBHOOK_MAX_KB", DEFAULT_WEBHOOK_MAX_KB),
        "HSTS_MAX_AGE": _int(env, "HSTS_MAX_AGE", DEFAULT_HSTS_MAX_AGE),
        "LOG_FORMAT": (env.get("LOG_FORMAT") or ("json" if production else "text")).strip().lower(),
        "LOG_LEVEL": (env.get("LOG_LEVEL") or "INFO").strip().upper(),
        "METRICS_ALLOWED_IPS": " ".join((env.get("METRICS_ALLOWED_IPS") or "127.0.0.1 ::1").replace(",", " ").split()),
        "METRICS_TOKEN": env.get("METRICS_TOKEN") or "",
        "SENTRY_DSN": env.get("SENTRY_DSN") or "",
        "SENTRY_ENVIRONMENT": env.get("SENTRY_ENVIRONMENT") or ("production" if production else "development"),
        "WTF_CSRF_TIME_LIMIT": None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "SQLALCHEMY_ENGINE_OPTIONS": {},  # the pool checks a rested connection before use (db.ping_when_idle)
    }
    settings.update(_localized_settings(env, settings["SUPPORTED_LOCALES"]))
    return settings


# Settings staff write in each language: NEWSROOM_NAME_UK, NEWSROOM_OTHER_WAYS_PL…, one per SUPPORTED_LOCALES
# entry, falling back to the plain setting (the default language's) when unset (`membership.i18n.localized_setting`).
LOCALIZED_SETTINGS = ("NEWSROOM_NAME", "NEWSROOM_ADDRESS", "NEWSROOM_OTHER_WAYS")


def _localized_settings(env: Mapping[str, str], locales: list[str]) -> dict[str, str]:
    found = {}
    for name in LOCALIZED_SETTINGS:
        for locale in locales:
            key = f"{name}_{locale.upper()}"
            if env.get(key, "").strip():
                found[key] = str(env[key])
    return found


def ensure_secret_key(config: dict[str, Any]) -> bool:
    """In development only, invent a per-process SECRET_KEY when none is set. True if one was invented."""
    if config.get("SECRET_KEY") or config.get("MEMBERSHIP_ENV") == "production":
        return False
    config["SECRET_KEY"] = secrets.token_hex(32)
    return True


def signing_keys(config: Mapping[str, Any]) -> list[str]:
    """The keys signed data (sessions, CSRF tokens, links) is checked against, oldest first: SECRET_KEY_FALLBACKS,
    then SECRET_KEY, the newest, which signs everything new (itsdangerous's order for a list of keys)."""
    return [*(str(key) for key in config.get("SECRET_KEY_FALLBACKS") or ()), str(config["SECRET_KEY"])]


def check_settings(config: Mapping[str, Any]) -> dict[str, CurrencyRules]:
    """Refuse to start on an unsafe or inconsistent configuration; return the currency rules."""
    key = str(config.get("STRIPE_SECRET_KEY") or "")
    if key.startswith(("sk_live_", "rk_live_")) and not config.get("MEMBERSHIP_ALLOW_LIVE_KEYS"):
        raise ConfigError(
            "STRIPE_SECRET_KEY is a live key (sk_live_…). Live keys are refused unless "
            "MEMBERSHIP_ALLOW_LIVE_KEYS=1 is set deliberately."
        )
    if key and not key.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_")):
        raise ConfigError("STRIPE_SECRET_KEY must be a Stripe secret key (sk_test_… or sk_live_…).")
    if config.get("MEMBERSHIP_ENV") == "production":
        missing = [name for name in ("SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_SECRET_KEY", "MAIL_URL")
                   if not config.get(name)]
        if missing:
            raise ConfigError(
                "MEMBERSHIP_ENV=production needs " + ", ".join(missing) + " to be set."
            )
        if len(str(config["SECRET_KEY"])) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters in production.")
        if any(len(str(key)) < 32 for key in config.get("SECRET_KEY_FALLBACKS") or ()):
            raise ConfigError("SECRET_KEY_FALLBACKS must list earlier keys of at least 32 characters each, "
                              "separated by spaces.")
    from membership.branding import check_branding  # both import ConfigError from here: when used
    from membership.i18n import check_locales  # i18n is imported by modules config imports: when used

    check_locales(config)
    check_branding(config)
    if config.get("MAIL_URL"):
        parse_mail_url(str(config["MAIL_URL"]))
    if not REDIS_KEY_PREFIX.fullmatch(str(config.get("REDIS_KEY_PREFIX", "membership"))):
        raise ConfigError("REDIS_KEY_PREFIX must be 1 to 64 letters, digits, '_', '-' or '.' (the start of this "
                          "installation's Redis keys).")
    if config.get("REDIS_URL") and urlsplit(str(config["REDIS_URL"])).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("REDIS_URL must look like redis://host:6379/0 (or rediss://… or unix://…).")
    for name in ("SIGN_IN_LINK_MINUTES", "SIGN_IN_LIMIT_PER_ADDRESS", "SIGN_IN_LIMIT_PER_IP",
                 "CHECKOUT_LIMIT_PER_IP", "CHECKOUT_LIMIT_PER_ADDRESS",
                 "PATRON_SESSION_DAYS", "DUNNING_REMINDER_DAYS", "STAFF_SESSION_HOURS",
                 "STAFF_LOCKOUT_ATTEMPTS", "STAFF_LOCKOUT_MINUTES", "STAFF_SIGN_IN_LIMIT_PER_IP",
                 "MEMBERSHIP_EXPORT_KEEP_DAYS", "MEMBERSHIP_MAX_REQUEST_KB", "STRIPE_WEBHOOK_MAX_KB",
                 "STRIPE_EVENT_MAX_ATTEMPTS", "STRIPE_EVENT_RETRY_SECONDS", "STRIPE_EVENT_LEASE_SECONDS",
                 "STRIPE_EVENT_RETENTION_DAYS", "EMAIL_BODY_RETENTION_DAYS"):
        if int(config[name]) < 1:
            raise ConfigError(f"{name} must be at least 1.")
    if int(config.get("STRIPE_MAX_REQUESTS_PER_SECOND") or 0) < 0:
        raise ConfigError("STRIPE_MAX_REQUESTS_PER_SECOND must be a number of requests a second (unset: 20 with a "
                          "test key, 80 with a live one).")
    if config.get("LOG_FORMAT") not in ("json", "text"):
        raise ConfigError(f"LOG_FORMAT must be json or text (got {config.get('LOG_FORMAT')!r}).")
    if config.get("LOG_LEVEL") not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL "
                          f"(got {config.get('LOG_LEVEL')!r}).")
    for network in str(config.get("METRICS_ALLOWED_IPS") or "").split():
        try:
            ip_network(network, strict=False)
        except ValueError:
            raise ConfigError(f"METRICS_ALLOWED_IPS must list addresses or networks such as 10.0.0.0/8 "
                              f"(got {network!r}).") from None
    if config.get("SENTRY_DSN") and urlsplit(str(config["SENTRY_DSN"])).scheme not in ("http", "https"):
        raise ConfigError("SENTRY_DSN must be the DSN Sentry shows for the project, https://key@host/project.")
    if int(config["PATRON_GRACE_DAYS"]) < 0:
        raise ConfigError("PATRON_GRACE_DAYS must be 0 or more.")
    if int(config["HSTS_MAX_AGE"]) < 0:
        raise ConfigError("HSTS_MAX_AGE must be 0 (send no Strict-Transport-Security) or a number of seconds.")
    for origin in str(config.get("APPEAL_EMBED_ORIGINS") or "").split():
        if not EMBED_ORIGIN.fullmatch(origin):
            raise ConfigError(f"APPEAL_EMBED_ORIGINS must list the sites that may embed the appeal, like "
                              f"'https://news.example https://*.news.example' (got {origin!r}).")
    if int(config["MEMBERSHIP_EXPORT_INLINE_ROWS"]) < 0:
        raise ConfigError("MEMBERSHIP_EXPORT_INLINE_ROWS must be 0 or more: the most rows a web export may have "
                          "and still download at once (0 queues every export when REDIS_URL is set).")
    export_dir = Path(str(config["MEMBERSHIP_EXPORT_DIR"]))
    if export_dir.exists() and not export_dir.is_dir():
        raise ConfigError(f"MEMBERSHIP_EXPORT_DIR ({export_dir}) is a file; it must name a directory for the "
                          "queued exports' files.")
    _check_export_storage(config)
    if not 0 <= int(config["MEMBERSHIP_TRUSTED_PROXIES"]) <= 5:
        raise ConfigError("MEMBERSHIP_TRUSTED_PROXIES must be the number of proxies in front of the app, 0 to 5.")
    rules = parse_currency_rules(
        str(config["MEMBERSHIP_CURRENCIES"]),
        str(config["MEMBERSHIP_AMOUNT_LIMITS"]),
        str(config["MEMBERSHIP_FEES"]),
    )
    if config["MEMBERSHIP_DEFAULT_CURRENCY"] not in rules:
        raise ConfigError("MEMBERSHIP_DEFAULT_CURRENCY must be one of MEMBERSHIP_CURRENCIES.")
    return rules


def _check_export_storage(config: Mapping[str, Any]) -> None:
    url = str(config.get("EXPORT_STORAGE_URL") or "")
    parts = urlsplit(url)
    if url and (parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment):
        raise ConfigError(f"EXPORT_STORAGE_URL must look like s3://bucket/prefix (got {url!r}); leave it unset to "
                          "keep queued exports in MEMBERSHIP_EXPORT_DIR.")
    endpoint = urlsplit(str(config.get("AWS_ENDPOINT_URL") or ""))
    if config.get("AWS_ENDPOINT_URL") and (endpoint.scheme not in ("http", "https") or not endpoint.netloc):
        raise ConfigError("AWS_ENDPOINT_URL must be the address of an S3-compatible service, like "
                          "https://s3.example.net or http://127.0.0.1:9000.")
    # S3 signs a presigned URL for at most seven days.
    if not 1 <= int(config["EXPORT_DOWNLOAD_URL_SECONDS"]) <= 604_800:
        raise ConfigError("EXPORT_DOWNLOAD_URL_SECONDS must be from 1 to 604800 (seven days): how long the "
                          "address a staff member is sent to for a stored export's file works.")


# Typed settings of the running app -------------------------------------------------------------------


def stripe_requests_per_second(config: Mapping[str, Any]) -> int:
    """STRIPE_MAX_REQUESTS_PER_SECOND, or by the key when unset: 20 in test mode, 80 live (Stripe allows 25 and
    100; the rest is headroom for readers' calls, see membership/pace.py)."""
    chosen = int(config.get("STRIPE_MAX_REQUESTS_PER_SECOND") or 0)
    if chosen:
        return chosen
    return 80 if str(config.get("STRIPE_SECRET_KEY") or "").startswith(("sk_live_", "rk_live_")) else 20


def patron_grace() -> timedelta:
    """How long a past_due membership still makes its supporter a patron (PATRON_GRACE_DAYS)."""
    return timedelta(days=int(current_app.config["PATRON_GRACE_DAYS"]))


def wall_review() -> bool:
    """Whether supporter-wall messages wait for an editor's approval (SUPPORTER_WALL_REVIEW)."""
    return bool(current_app.config["SUPPORTER_WALL_REVIEW"])


def default_currency_rules() -> Mapping[str, CurrencyRules]:
    """The rules as the settings give them (MEMBERSHIP_AMOUNT_LIMITS), before any bounds staff set."""
    return cast(Mapping[str, CurrencyRules], current_app.extensions["currency_rules"])
