"""Settings of the Stripe double: where to send webhooks, how to retry them, which fees to charge, which
currency the account settles in."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit, urlunsplit

from stripe._api_version import _ApiVersion

# The API version the installed stripe SDK's typed classes describe. The membership gateway pins the same
# one (from the same place), so the double always answers in the shapes the app asks for.
API_VERSION: str = _ApiVersion.CURRENT


@dataclass(frozen=True)
class FeeRule:
    """Stripe's card pricing for one currency: a percentage of the amount plus a fixed part in minor units."""

    percent: Decimal
    fixed: int


def _default_fees() -> dict[str, FeeRule]:
    # Stripe's published standard pricing for domestic cards (EEA, UK, US; UAH as an international card).
    return {
        "eur": FeeRule(Decimal("1.5"), 25),
        "gbp": FeeRule(Decimal("1.5"), 20),
        "usd": FeeRule(Decimal("2.9"), 30),
        "uah": FeeRule(Decimal("2.9"), 1000),
    }


def _default_exchange_rates() -> dict[str, Decimal]:
    # One major unit of each currency in euros (the default settlement currency), roughly as in late 2026.
    return {"usd": Decimal("0.92"), "gbp": Decimal("1.17"), "uah": Decimal("0.0226")}


def parse_exchange_rates(text: str) -> dict[str, Decimal]:
    """`usd=0.92,uah=0.0226` → {"usd": Decimal("0.92"), "uah": Decimal("0.0226")}."""
    rates: dict[str, Decimal] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        code, _, value = part.partition("=")
        try:
            rate = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"Exchange rate {part!r} is not CODE=RATE, e.g. usd=0.92.") from None
        if len(code.strip()) != 3 or not rate.is_finite() or rate <= 0:
            raise ValueError(f"Exchange rate {part!r} is not CODE=RATE, e.g. usd=0.92.")
        rates[code.strip().lower()] = rate
    return rates


def parse_rate_limit(text: str) -> int | None:
    """`25` → 25 requests a second; `0` → no limit."""
    try:
        limit = int(text.strip())
    except ValueError:
        raise ValueError(f"Rate limit {text!r} is not a whole number of requests a second, e.g. 25.") from None
    if limit < 0:
        raise ValueError(f"Rate limit {text!r} is negative; use 0 for no limit.")
    return limit or None


@dataclass
class DoubleConfig:
    """Everything that can be tuned; tests shorten the timings, the CLI fills it from flags and env vars."""

    host: str = "127.0.0.1"
    port: int = 0
    webhook_url: str | None = None
    webhook_secret: str = "whsec_stripe_double"  # noqa: S105 - test-mode default, overridden by config
    api_key: str | None = None
    state_file: str | None = None
    public_url: str | None = None
    # Where browsers reach the Billing Portal. Stripe serves it from its own origin (billing.stripe.com),
    # apart from Checkout (checkout.stripe.com), so the double does too; unset = the address Checkout uses
    # with its loopback name swapped (127.0.0.1 <-> localhost), which is the same server.
    portal_url: str | None = None
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 3600.0
    max_delivery_attempts: int = 8
    delivery_timeout_seconds: float = 10.0
    # How many webhook deliveries are in flight at once (Stripe sends many concurrently to one endpoint).
    delivery_concurrency: int = 1
    tick_seconds: float = 5.0
    fees: dict[str, FeeRule] = field(default_factory=_default_fees)
    default_fee: FeeRule = field(default_factory=lambda: FeeRule(Decimal("2.9"), 30))
    # The account's balance: charges in other currencies are converted into it at `exchange_rates` (one major
    # unit of the charge currency in the settlement currency), and Stripe adds its conversion fee. A currency
    # with no rate settles in its own currency, as on an account with a bank account in that currency.
    settlement_currency: str = "eur"
    exchange_rates: dict[str, Decimal] = field(default_factory=_default_exchange_rates)
    conversion_fee_percent: Decimal = Decimal("2")
    # The Dashboard's Adaptive Pricing setting: what a Checkout Session gets unless the request says otherwise
    # (on by default for new accounts).
    adaptive_pricing: bool = True
    quiet: bool = True
    # The account, as `GET /v1/account` and its country's `country_specs` show it. Tests make it "wrong"
    # for `flask stripe check`: a currency it can't charge, Adaptive Pricing on (the Dashboard setting the
    # API doesn't expose: it shows on each Checkout Session created without `adaptive_pricing`).
    account_country: str = "IE"
    account_default_currency: str = "eur"
    unsupported_currencies: frozenset[str] = frozenset()
    # Restricted keys (rk_test_...) and the permissions each was granted, e.g. {"charge_read",
    # "checkout_session_write"} (write includes read); an rk_ key not listed here may do everything.
    restricted_keys: dict[str, frozenset[str]] = field(default_factory=dict)
    # Demo convenience (`make run`): customers created by Checkout join one shared test clock, so the
    # dashboard's "Advance 1 month" renews every demo membership. Real Stripe never does this on its own.
    demo_clock: bool = False
    # Stripe's global rate limiter: at most this many API requests in any one second (None: no limit). A request
    # over it gets Stripe's 429 (`rate_limit`). Stripe allows about 25 in test mode and 100 live.
    rate_limit: int | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DoubleConfig:
        """A config from STRIPE_DOUBLE_* variables and STRIPE_WEBHOOK_SECRET (unset ones keep defaults)."""
        env = os.environ if environ is None else environ
        config = cls(port=12111)
        if env.get("STRIPE_DOUBLE_HOST"):
            config.host = env["STRIPE_DOUBLE_HOST"]
        if env.get("STRIPE_DOUBLE_PORT"):
            config.port = int(env["STRIPE_DOUBLE_PORT"])
        config.webhook_url = env.get("STRIPE_DOUBLE_WEBHOOK_URL") or None
        if env.get("STRIPE_WEBHOOK_SECRET"):
            config.webhook_secret = env["STRIPE_WEBHOOK_SECRET"]
        config.state_file = env.get("STRIPE_DOUBLE_STATE_FILE") or None
        config.api_key = env.get("STRIPE_DOUBLE_API_KEY") or None
        config.public_url = env.get("STRIPE_DOUBLE_PUBLIC_URL") or None
        config.portal_url = env.get("STRIPE_DOUBLE_PORTAL_URL") or None
        if env.get("STRIPE_DOUBLE_RATE_LIMIT"):
            config.rate_limit = parse_rate_limit(env["STRIPE_DOUBLE_RATE_LIMIT"])
        if env.get("STRIPE_DOUBLE_SETTLEMENT_CURRENCY"):
            config.settlement_currency = env["STRIPE_DOUBLE_SETTLEMENT_CURRENCY"].strip().lower()
        if env.get("STRIPE_DOUBLE_EXCHANGE_RATES"):
            config.exchange_rates = parse_exchange_rates(env["STRIPE_DOUBLE_EXCHANGE_RATES"])
        return config


LOOPBACK_TWINS = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}


def loopback_twin(url: str) -> str:
    """`url` under the other loopback name (127.0.0.1 <-> localhost): the same server, another origin."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    twin = LOOPBACK_TWINS.get(host)
    if twin is None:
        return url
    netloc = f"{twin}:{parts.port}" if parts.port else twin
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
