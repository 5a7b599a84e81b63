from decimal import Decimal

import pytest
from pydantic import ValidationError

from paystream.money import (
    MAX_MINOR_UNITS,
    Money,
    MoneyError,
    currency_exponent,
    format_minor_units,
    to_minor_units,
)


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("2.55", "GBP", 255),
        ("0.1", "GBP", 10),
        ("1234567.89", "HKD", 123456789),
        ("1500", "JPY", 1500),
        ("1.234", "KWD", 1234),
        ("  3.00 ", "GBP", 300),
        (Decimal("0.29"), "GBP", 29),
    ],
)
def test_text_amounts_convert_exactly_to_minor_units(text, currency, minor):
    assert to_minor_units(text, currency) == minor


def test_amounts_that_would_need_rounding_are_refused():
    with pytest.raises(MoneyError, match="more than 2 decimals"):
        to_minor_units("0.001", "GBP")
    with pytest.raises(MoneyError, match="more than 0 decimals"):
        to_minor_units("10.5", "JPY")


def test_float_artifacts_never_leak_into_minor_units():
    # 0.29 * 100 is 28.999999999999996 as a float; the text route must give 29 exactly.
    assert to_minor_units("0.29", "GBP") == 29
    assert sum(to_minor_units("0.10", "GBP") for _ in range(10)) == 100


def test_unknown_currency_and_non_numbers_are_refused():
    with pytest.raises(MoneyError, match="unknown ISO 4217 currency 'XYZ'"):
        currency_exponent("XYZ")
    with pytest.raises(MoneyError, match="not a decimal amount"):
        to_minor_units("abc", "GBP")
    with pytest.raises(MoneyError, match="not a finite amount"):
        to_minor_units("NaN", "GBP")


def test_money_model_rejects_floats_negatives_overflow_and_unknown_currency():
    assert Money(amount_minor=255, currency="GBP").amount_minor == 255
    for bad in (
        {"amount_minor": 2.55, "currency": "GBP"},
        {"amount_minor": -1, "currency": "GBP"},
        {"amount_minor": MAX_MINOR_UNITS + 1, "currency": "GBP"},
        {"amount_minor": 1, "currency": "ZZZ"},
    ):
        with pytest.raises(ValidationError):
            Money(**bad)


def test_formatting_follows_the_currency_exponent():
    assert format_minor_units(255, "GBP") == "2.55"
    assert format_minor_units(1500, "JPY") == "1500"
    assert format_minor_units(1234, "KWD") == "1.234"
    assert str(Money(amount_minor=5, currency="HKD")) == "0.05 HKD"
