"""Amounts in minor units, shown the way the hosted pages show them."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from .config import FeeRule

ZERO_DECIMAL = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)
SYMBOLS = {"eur": "€", "gbp": "£", "usd": "$", "uah": "₴", "jpy": "¥"}


def decimals(currency: str) -> int:
    """How many decimals the currency's minor unit has (as Stripe counts them)."""
    return 0 if currency.lower() in ZERO_DECIMAL else 2


def format_amount(amount: int, currency: str) -> str:
    """`500, "eur"` → `€5.00`."""
    code = currency.lower()
    number = f"{amount:,}" if code in ZERO_DECIMAL else f"{Decimal(amount) / 100:,.2f}"
    symbol = SYMBOLS.get(code)
    return f"{symbol}{number}" if symbol else f"{number} {code.upper()}"


def format_price(amount: int, currency: str, interval: str | None) -> str:
    """`€5.00 per month`, or just `€10.00` for a one-time payment."""
    text = format_amount(amount, currency)
    return f"{text} per {interval}" if interval else text


def stripe_fee(amount: int, rule: FeeRule) -> int:
    """Stripe's processing fee: percent of the amount rounded half up, plus the fixed part."""
    variable = (Decimal(amount) * rule.percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(variable) + rule.fixed
