from __future__ import annotations

import re

import pytest

from membership.config import CurrencyRules
from membership.formatting import format_money, format_recurring, to_major_text
from membership.giving.services import fee_cover_for
from membership.money import (
    AmountLimits,
    FeeRule,
    check_stripe_charge,
    exponent,
    parse_major_amount,
    round_up_to_charge_step,
)


@pytest.mark.parametrize(
    ("text", "minor"), [("5", 500), ("5.5", 550), ("5,50", 550), (" 1000 ", 100000), ("0.01", 1), ("7.50", 750)]
)
def test_parse_major_amount(text: str, minor: int) -> None:
    assert parse_major_amount(text, "EUR") == minor


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "Enter an amount"), ("0", "more than zero"), ("-1", "more than zero"), ("abc", "as a number"),
     ("1e3", "as a number"), ("NaN", "as a number"), ("5.001", "two decimal"),
     ("9" * 20, "too large")],
)
def test_parse_rejects_with_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_major_amount(text, "EUR")


def test_formatting() -> None:
    assert format_money(500, "EUR") == "€5.00"
    assert format_money(123456, "UAH") == "UAH\u00a01,234.56"
    assert format_recurring(500, "EUR", "month") == "€5.00/month"
    assert format_recurring(5000, "USD", "year") == "$50.00/year"
    assert format_recurring(1000, "GBP", None) == "£10.00"
    assert to_major_text(750, "EUR") == "7.50" and to_major_text(500, "EUR") == "5"


@pytest.mark.parametrize("rule", [FeeRule(150, 25), FeeRule(290, 30), FeeRule(150, 20), FeeRule(290, 1000)])
@pytest.mark.parametrize("net", [100, 101, 333, 500, 1000, 2500, 9999, 1_000_000])
def test_gross_up_is_the_smallest_total_that_nets_the_amount(rule: FeeRule, net: int) -> None:
    gross = rule.gross_up(net)
    assert gross - rule.fee_for(gross) >= net
    assert (gross - 1) - rule.fee_for(gross - 1) < net


def test_stripe_fee_rounding() -> None:
    assert FeeRule(150, 25).fee_for(1041) == 41  # 15.615 → 16, + 25
    assert FeeRule(290, 30).fee_for(1000) == 59


# What readers really type, on the give form and the change-amount form alike.
@pytest.mark.parametrize(("text", "minor"), [
    ("5", 500), ("5.5", 550), ("5,50", 550), ("5.50", 550), ("1 000", 100_000), ("1\u202f000", 100_000),
    ("1'000", 100_000), ("1,000.50", 100_050), ("1.000,50", 100_050), ("1,000,000", 100_000_000),
    ("1.000.000", 100_000_000), ("€5", 500), ("5 €", 500), ("EUR 5", 500), ("eur5", 500), ("\uff15", 500),
    ("\uff11\uff0c\uff10\uff10\uff10\uff0e\uff15", 100_050), (".5", 50), ("0,50", 50), ("5.5000", 550),
])
def test_typed_amounts(text: str, minor: int) -> None:
    assert parse_major_amount(text, "EUR") == minor


@pytest.mark.parametrize(("text", "reason"), [
    ("1,000", "Did you mean 1000 or 1,00? Type one of those, without a thousands separator."),
    ("1.000", "Did you mean 1000 or 1.00? Type one of those, without a thousands separator."),
    ("2,000", "Did you mean 2000 or 2,00?"),
    ("1,234", "Use at most two decimal places. For 1234, type it without a thousands separator."),
    ("0,001", "Use at most two decimal places."),
    ("-5", "The amount must be more than zero."),
    ("\u22125", "The amount must be more than zero."),
    ("", "Enter an amount."),
    ("   ", "Enter an amount."),
    ("abc", "Enter the amount as a number, like 10 or 7.50."),
    ("1e3", "Enter the amount as a number, like 10 or 7.50."),
    ("$5", "Enter the amount as a number, like 10 or 7.50."),
    ("\u0665", "Type the amount with the digits 0 to 9."),
    ("\u0967\u0966", "Type the amount with the digits 0 to 9."),
    ("1,00.50", "Check the separators"),
    ("1 0", "Check the separators"),
    ("1,000,50", "Check the separators"),
    ("1.000.000,5.5", "Check the separators"),
    ("1 000,000.50", "Check the separators"),
    ("9" * 13, "That amount is too large."),
    ("9" * 400, "That amount is too large."),
])
def test_typed_amounts_refused_with_what_to_type(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_major_amount(text, "EUR")


@pytest.mark.parametrize(("text", "currency", "result"), [
    ("500", "JPY", 500), ("5.5", "JPY", "Enter a whole number of JPY, without decimals."),
    ("100", "ISK", 10_000), ("100.50", "ISK", "Enter a whole number of ISK, without decimals."),
    ("1.25", "KWD", 1_250), ("1.255", "KWD", "Use at most two decimal places."),
    ("0.500", "KWD", 500), ("1.500", "KWD", "Did you mean 1500 or 1.50?"),
    ("350", "HUF", 35_000), ("1 000", "UGX", 1_000), ("₴200", "UAH", 20_000), ("200 UAH", "UAH", 20_000),
])
def test_typed_amounts_follow_stripes_minor_units(text: str, currency: str, result: int | str) -> None:
    if isinstance(result, int):
        assert parse_major_amount(text, currency) == result
    else:
        with pytest.raises(ValueError, match=re.escape(result)):
            parse_major_amount(text, currency)


def test_minor_units_are_stripes_not_babels() -> None:
    assert [exponent(c) for c in ("EUR", "JPY", "ISK", "HUF", "TWD", "UGX", "KWD", "BHD")] == [2, 0, 2, 2, 2, 0, 3, 3]
    assert format_money(10_000, "ISK") == "ISK\u00a0100" and format_money(1_250, "KWD") == "KWD\u00a01.250"
    assert to_major_text(1_500, "KWD") == "1.50" and to_major_text(10_000, "ISK") == "100"
    assert parse_major_amount(to_major_text(1_500, "KWD"), "KWD") == 1_500


@pytest.mark.parametrize(("amount", "currency", "reason"), [
    (49, "USD", "Stripe can't charge less than $0.50 in one payment."),
    (29, "GBP", "Stripe can't charge less than £0.30 in one payment."),
    (49, "JPY", "Stripe can't charge less than ¥50 in one payment."), (17_499, "HUF", "less than HUF"),
    (100_000_000, "EUR", "Stripe can't charge more than €999,999.99 in one payment."),
    (10_050, "ISK", "Stripe charges ISK only in multiples of ISK"), (1_255, "KWD", "Stripe charges KWD only in"),
])
def test_stripe_refuses_these_charges(amount: int, currency: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        check_stripe_charge(amount, currency)


@pytest.mark.parametrize(("amount", "currency"), [(50, "USD"), (50, "EUR"), (30, "GBP"), (50, "JPY"),
                                                  (17_500, "HUF"), (99_999_999, "EUR"), (1, "UAH"), (100, "ISK"),
                                                  (1_250, "KWD")])
def test_stripe_takes_these_charges(amount: int, currency: str) -> None:
    check_stripe_charge(amount, currency)


def test_covered_fees_round_up_to_what_stripe_can_charge() -> None:
    assert round_up_to_charge_step(1_251, "KWD") == 1_260 and round_up_to_charge_step(10_001, "ISK") == 10_100
    assert round_up_to_charge_step(1_251, "EUR") == 1_251


@pytest.mark.parametrize(("currency", "amount"), [("KWD", 1_250), ("ISK", 10_000), ("EUR", 1_000), ("JPY", 500)])
def test_a_covered_fee_total_is_one_stripe_can_charge(currency: str, amount: int) -> None:
    rules = CurrencyRules(currency, AmountLimits(1, 99_999_999), FeeRule(290, 30))
    total = amount + fee_cover_for(rules, amount)
    check_stripe_charge(total, currency)
    assert total - rules.fee.fee_for(total) >= amount  # the newsroom still nets the whole gift
