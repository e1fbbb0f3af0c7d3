"""Money: integer minor units plus an ISO 4217 code. The only place that parses, formats or grosses up.

Floats never touch an amount: text is parsed with `decimal.Decimal`, fees are computed in integers.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from babel.numbers import format_currency, get_currency_precision

# Stripe treats these as zero-decimal; Babel's precision agrees for the common ones.
MAX_MINOR_DIGITS = 12


@dataclass(frozen=True)
class Money:
    amount_minor: int
    currency: str

    def format(self, locale: str = "en") -> str:
        return format_money(self.amount_minor, self.currency, locale)


@dataclass(frozen=True)
class AmountLimits:
    minimum_minor: int
    maximum_minor: int


@dataclass(frozen=True)
class FeeRule:
    """A card processor's fee: `percent_bps` basis points of the charge plus `fixed_minor`."""

    percent_bps: int
    fixed_minor: int

    def fee_for(self, gross_minor: int) -> int:
        """The fee charged on `gross_minor`, rounded half up as Stripe rounds it."""
        return (gross_minor * self.percent_bps + 5_000) // 10_000 + self.fixed_minor

    def gross_up(self, net_minor: int) -> int:
        """The smallest charge whose net after `fee_for` is at least `net_minor`."""
        # Closed form first, then step down while a smaller charge still nets enough.
        denominator = 10_000 - self.percent_bps
        gross = -(-((net_minor + self.fixed_minor) * 10_000) // denominator)
        while gross - 1 - self.fee_for(gross - 1) >= net_minor:
            gross -= 1
        while gross - self.fee_for(gross) < net_minor:
            gross += 1
        return gross


def exponent(currency: str) -> int:
    """How many decimals the currency's minor unit has (2 for EUR, 0 for JPY)."""
    return int(get_currency_precision(currency.upper()))


def parse_major_amount(text: str, currency: str) -> int:
    """Parse '5', '5.5', '5,50' or '1000' into minor units. Raise ValueError with a reader-facing reason."""
    cleaned = text.strip().replace("\u00a0", "").replace(" ", "")
    if not cleaned:
        raise ValueError("Enter an amount.")
    if cleaned.count(",") == 1 and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")
    if not all(ch.isdigit() or ch in ".-+" for ch in cleaned):
        raise ValueError("Enter the amount as a number, like 10 or 7.50.")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError("Enter the amount as a number, like 10 or 7.50.") from None
    if not value.is_finite():
        raise ValueError("Enter the amount as a number, like 10 or 7.50.")
    if value <= 0:
        raise ValueError("The amount must be more than zero.")
    places = exponent(currency)
    scaled = value.scaleb(places)
    if scaled != scaled.to_integral_value():
        raise ValueError(
            "Use at most two decimal places." if places == 2 else f"Use at most {places} decimal places."
        )
    minor = int(scaled)
    if len(str(minor)) > MAX_MINOR_DIGITS:
        raise ValueError("That amount is too large.")
    return minor


def to_major_text(amount_minor: int, currency: str) -> str:
    """Minor units as plain text for a form field: 500 → '5', 750 → '7.50'."""
    places = exponent(currency)
    value = Decimal(amount_minor).scaleb(-places)
    if value == value.to_integral_value():
        return str(int(value))
    return f"{value:.{places}f}"


def format_money(amount_minor: int, currency: str, locale: str = "en") -> str:
    """€5.00, $10.00, UAH 200.00 (with a no-break space): Babel's formatting for the locale."""
    code = currency.upper()
    text = str(format_currency(Decimal(amount_minor).scaleb(-exponent(code)), code, locale=locale))
    if text.startswith(code) and text[len(code):len(code) + 1].isdigit():
        # Babel writes "UAH1,234.56" where the currency has no symbol in the locale; space it out.
        text = f"{code}\u00a0{text[len(code):]}"
    return text


def format_recurring(amount_minor: int, currency: str, interval: str | None, locale: str = "en") -> str:
    """'€5.00/month', '€50.00/year', or '€10.00' for a one-time gift."""
    text = format_money(amount_minor, currency, locale)
    if interval in ("month", "monthly"):
        return f"{text}/month"
    if interval in ("year", "yearly"):
        return f"{text}/year"
    return text
