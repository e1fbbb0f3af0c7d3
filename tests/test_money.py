from __future__ import annotations

import pytest

from membership.money import FeeRule, format_money, format_recurring, parse_major_amount, to_major_text


@pytest.mark.parametrize(
    ("text", "minor"), [("5", 500), ("5.5", 550), ("5,50", 550), (" 1000 ", 100000), ("0.01", 1), ("7.50", 750)]
)
def test_parse_major_amount(text: str, minor: int) -> None:
    assert parse_major_amount(text, "EUR") == minor


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "Enter an amount"), ("0", "more than zero"), ("-1", "more than zero"), ("abc", "as a number"),
     ("1e3", "as a number"), ("NaN", "as a number"), ("5.001", "two decimal"), ("1,000.00", "as a number"),
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
