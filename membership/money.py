"""Money: integer minor units plus an ISO 4217 code. The only place that parses or grosses up an amount
(`membership.formatting` writes amounts as text).

Floats never touch an amount: typed text is read digit by digit, fees are computed in integers. Minor units,
minimum and maximum charges follow Stripe's rules, which differ from ISO's and Babel's for a few currencies.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from babel.numbers import get_currency_symbol, get_decimal_symbol

from membership.i18n import current_locale, translated

# No amount a person types runs to more digits than this (Stripe's own limit is eight).
MAX_MINOR_DIGITS = 12


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


# Stripe's own minor units (https://docs.stripe.com/currencies), not ISO's or Babel's: every currency is
# two-decimal in the API except these. ISK is two-decimal at Stripe although ISO gives it none.
STRIPE_ZERO_DECIMAL = frozenset({"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND",
                                 "VUV", "XAF", "XOF", "XPF"})
STRIPE_THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
# A charge must be a whole multiple of this many minor units: ISK in whole krónur (amount divisible by 100),
# three-decimal currencies with a last digit of 0.
STRIPE_CHARGE_STEP = {"ISK": 100, **{code: 10 for code in STRIPE_THREE_DECIMAL}}
# Stripe's "minimum and maximum charge amounts" table, in minor units. A currency not listed must convert to at
# least USD 0.50 in the account's settlement currency, which only Stripe can check when it charges.
STRIPE_MINIMUM_CHARGE = {
    "USD": 50, "AED": 200, "AUD": 50, "BGN": 100, "BRL": 50, "CAD": 50, "CHF": 50, "CZK": 1500, "DKK": 250,
    "EUR": 50, "GBP": 30, "HKD": 400, "HUF": 17500, "INR": 50, "JPY": 50, "MXN": 1000, "MYR": 200, "NOK": 300,
    "NZD": 50, "PLN": 200, "RON": 200, "SEK": 300, "SGD": 50, "THB": 1000,
}
# Stripe's amount has at most eight digits, in every currency.
STRIPE_MAXIMUM_CHARGE = 99_999_999

# What readers type between digits to group thousands, besides a comma or a point (after NFKC a no-break,
# narrow or thin space is a plain space).
_GROUP_SPACES = " '\u2019"
_NUMBER_CHARACTERS = re.compile(r"[0-9.,' \u2019]+")
_MINUS_SIGNS = ("-", "\u2212")


def exponent(currency: str) -> int:
    """How many decimals the currency's minor unit has at Stripe (2 for EUR and ISK, 0 for JPY, 3 for KWD)."""
    code = currency.upper()
    if code in STRIPE_ZERO_DECIMAL:
        return 0
    if code in STRIPE_THREE_DECIMAL:
        return 3
    return 2


def charge_step(currency: str) -> int:
    """The minor units a Stripe charge in this currency must be a multiple of (1 for most)."""
    return STRIPE_CHARGE_STEP.get(currency.upper(), 1)


def typed_decimals(currency: str) -> int:
    """How many decimals a person may type: 2 for EUR and KWD (whose last digit must be 0), 0 for JPY and ISK."""
    return exponent(currency) - len(str(charge_step(currency))) + 1


def round_up_to_charge_step(amount_minor: int, currency: str) -> int:
    """The smallest amount Stripe can charge that is at least `amount_minor` (a fee total rounded up)."""
    step = charge_step(currency)
    return -(-amount_minor // step) * step


def stripe_minimum_charge(currency: str) -> int:
    """The smallest charge Stripe takes in this currency, in minor units (1 where its table lists none)."""
    return STRIPE_MINIMUM_CHARGE.get(currency.upper(), 1)


def check_stripe_charge(amount_minor: int, currency: str, locale: str | None = None) -> None:
    """Raise ValueError, saying why (in `locale`, default the active language), unless Stripe can charge
    `amount_minor` in one payment in this currency."""
    # Imported here: formatting reads this module's minor units, and only this message needs an amount's text.
    from membership.formatting import format_money

    code = currency.upper()
    minimum = stripe_minimum_charge(code)
    if amount_minor < minimum:
        raise ValueError(translated(locale, "Stripe can't charge less than %(amount)s in one payment.",
                                    amount=format_money(minimum, code, locale)))
    if amount_minor > STRIPE_MAXIMUM_CHARGE:
        raise ValueError(translated(locale, "Stripe can't charge more than %(amount)s in one payment.",
                                    amount=format_money(STRIPE_MAXIMUM_CHARGE, code, locale)))
    if amount_minor % charge_step(code):
        raise ValueError(translated(locale, "Stripe charges %(currency)s only in multiples of %(amount)s.",
                                    currency=code, amount=format_money(charge_step(code), code, locale)))


def currency_marks(currency: str) -> list[str]:
    """The code and symbols a reader may type around an amount in this currency ('EUR', '€'), longest first."""
    code = currency.upper()
    marks = {code, *(str(get_currency_symbol(code, locale)) for locale in ("en", "uk"))}
    return sorted(marks, key=len, reverse=True)


def decimal_mark(locale: str | None = None) -> str:
    """The decimal mark readers of `locale` (default: the active language) type: '.' in English, ',' in
    Ukrainian."""
    return str(get_decimal_symbol(locale or _active_locale()))


def _active_locale() -> str:
    try:
        return current_locale()
    except RuntimeError:
        return "en"


def amount_examples(currency: str, locale: str | None = None) -> str:
    """'like 10 or 7.50' (with a decimal comma in Ukrainian): amounts as a reader of `locale` types them."""
    if typed_decimals(currency):
        fraction = "7" + decimal_mark(locale) + "50"
        return translated(locale, "like %(whole)s or %(fraction)s", whole="10", fraction=fraction)
    return translated(locale, "like %(whole)s or %(other)s", whole="10", other="500")


def _separators_message(locale: str | None) -> str:
    fraction = "1000" + decimal_mark(locale) + "50"
    return translated(locale, "Check the separators: type the amount like %(whole)s or %(fraction)s, without "
                              "thousands separators.", whole="1000", fraction=fraction)


def parse_major_amount(text: str, currency: str, locale: str | None = None) -> int:
    """Read an amount a person typed into minor units, or raise ValueError saying what to type instead (in
    `locale`, default the active language, with its decimal mark in the examples).

    The one rule for every amount field (and static/give.js repeats it for the live total):
    - NFKC first, so full-width digits and separators read as ASCII; other scripts' digits are refused.
    - The currency's own code or symbol may stand before or after the number ('€5', '5 EUR').
    - A space or apostrophe only ever groups thousands ('1 000'). With both ',' and '.', the last one is the
      decimal mark and the other groups thousands ('1,000.50', '1.000,50'). One mark used more than once
      groups thousands ('1,000,000'). One mark used once is the decimal mark ('5,50', '7.5'), except before
      exactly three digits after a possible thousands group ('1,000', '1.000'): that could mean one thousand
      or one, so it is refused with both readings spelt out. Groups must be of three digits.
    - At most the currency's decimals (two for EUR, none for JPY or ISK), more than zero, not absurdly long.

    The rule is the same in every language: both marks are read in both, so '5,50' is 5.50 for an English
    reader too and '5.50' for a Ukrainian one, and '1,000' and '1.000' are refused in both (an English reader
    may mean one thousand by either, a Ukrainian reader one, a German one a thousand).
    """
    code = currency.upper()
    cleaned = unicodedata.normalize("NFKC", text).strip()
    if not cleaned:
        raise ValueError(translated(locale, "Enter an amount."))
    for mark in currency_marks(code):
        if cleaned.upper().startswith(mark.upper()):
            cleaned = cleaned[len(mark):].strip()
            break
        if cleaned.upper().endswith(mark.upper()):
            cleaned = cleaned[:-len(mark)].strip()
            break
    negative = cleaned.startswith(_MINUS_SIGNS)
    if negative:
        cleaned = cleaned[1:].strip()
    if any(unicodedata.category(ch) == "Nd" and not "0" <= ch <= "9" for ch in cleaned):
        raise ValueError(translated(locale, "Type the amount with the digits 0 to 9."))
    if not _NUMBER_CHARACTERS.fullmatch(cleaned) or not any(ch.isdigit() for ch in cleaned):
        raise ValueError(translated(locale, "Enter the amount as a number, %(examples)s.",
                                    examples=amount_examples(code, locale)))
    try:
        whole, fraction = _split_amount(cleaned, code, locale)
    except _BadSeparators:
        raise ValueError(_separators_message(locale)) from None
    decimals = typed_decimals(code)
    places = exponent(code)
    if negative or not (whole + fraction).strip("0"):
        raise ValueError(translated(locale, "The amount must be more than zero."))
    if fraction[decimals:].strip("0"):
        raise ValueError(_decimals_message(code, locale))
    digits = (whole + fraction[:places].ljust(places, "0")).lstrip("0")
    if len(digits) > MAX_MINOR_DIGITS:
        raise ValueError(translated(locale, "That amount is too large."))
    return int(digits)


class _BadSeparators(ValueError):
    """Separators no rule reads (said to the reader by `_separators_message`)."""


def _decimals_message(currency: str, locale: str | None) -> str:
    decimals = typed_decimals(currency)
    if decimals == 0:
        return translated(locale, "Enter a whole number of %(currency)s, without decimals.", currency=currency)
    return translated(locale, "Use at most %(decimals)d decimal places.", decimals=decimals) if decimals != 2 \
        else translated(locale, "Use at most two decimal places.")


def _ungroup(part: str, group_marks: str) -> str:
    """Digits with their thousands separators (any one of `group_marks`) removed, or ValueError."""
    used = {ch for ch in part if not ch.isdigit()}
    if not used:
        return part
    if len(used) > 1 or not used <= set(group_marks):
        raise _BadSeparators
    mark = used.pop()
    if not re.fullmatch(rf"[1-9][0-9]{{0,2}}({re.escape(mark)}[0-9]{{3}})+", part):
        raise _BadSeparators
    return part.replace(mark, "")


def _split_amount(cleaned: str, currency: str, locale: str | None) -> tuple[str, str]:
    """The whole and fractional digits of a typed number, by the separator rules of `parse_major_amount`."""
    marks = [mark for mark in ",." if mark in cleaned]
    if len(marks) == 2:
        decimal = "," if cleaned.rfind(",") > cleaned.rfind(".") else "."
        group = "." if decimal == "," else ","
        if cleaned.count(decimal) > 1:
            raise _BadSeparators
        whole, fraction = cleaned.split(decimal)
        return _ungroup(whole, group + _GROUP_SPACES), _ungroup(fraction, "")
    if not marks:
        return _ungroup(cleaned, _GROUP_SPACES), ""
    mark = marks[0]
    if cleaned.count(mark) > 1:
        return _ungroup(cleaned, mark), ""
    whole, fraction = cleaned.split(mark)
    if len(fraction) == 3 and fraction.isdigit() and re.fullmatch(r"[1-9][0-9]{0,2}", whole):
        thousands = whole + fraction
        if fraction[typed_decimals(currency):].strip("0"):
            raise ValueError(translated(
                locale, "%(decimals)s For %(thousands)s, type it without a thousands separator.",
                decimals=_decimals_message(currency, locale), thousands=thousands))
        small = whole + (mark + fraction[:typed_decimals(currency)] if typed_decimals(currency) else "")
        raise ValueError(translated(
            locale, "Did you mean %(thousands)s or %(small)s? Type one of those, without a thousands separator.",
            thousands=thousands, small=small))
    return _ungroup(whole, _GROUP_SPACES), _ungroup(fraction, "")
