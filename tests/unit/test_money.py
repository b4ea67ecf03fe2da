"""Money is an integer of a currency's minor unit, and never mixes currencies."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from school_payments.domain.currency import SUPPORTED_CURRENCIES, Currency
from school_payments.domain.errors import (
    CurrencyMismatchError,
    InvalidAmountError,
    UnknownCurrencyError,
)
from school_payments.domain.money import MAX_AMOUNT, Money

MXN = Currency.of("MXN")
USD = Currency.of("USD")

amounts = st.integers(min_value=0, max_value=10**15)
currencies = st.sampled_from(sorted(SUPPORTED_CURRENCIES)).map(Currency.of)


# -- currencies ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "exponent"),
    [("JPY", 0), ("CLP", 0), ("KWD", 3), ("BHD", 3), ("MXN", 2), ("USD", 2), ("CLF", 4)],
)
def test_each_currency_knows_how_many_minor_digits_it_has(code: str, exponent: int) -> None:
    assert Currency.of(code).exponent == exponent


def test_the_contract_s_minimum_currency_table_is_shipped() -> None:
    required = {"MXN", "USD", "EUR", "COP", "CLP", "PEN", "BRL", "ARS", "JPY", "KWD"}
    assert required <= SUPPORTED_CURRENCIES


@pytest.mark.parametrize("code", ["XXX", "mxn", "MX", "MXNN", "", " MXN", "BTC"])
def test_an_unknown_or_non_canonical_currency_code_is_refused(code: str) -> None:
    with pytest.raises(UnknownCurrencyError) as refused:
        Currency.of(code)
    assert refused.value.field == "currency"


@pytest.mark.parametrize("code", [None, 840, ["USD"]])
def test_a_currency_code_that_is_not_text_is_refused_as_unknown(code: object) -> None:
    with pytest.raises(UnknownCurrencyError):
        Currency.of(code)  # type: ignore[arg-type]


def test_a_currency_reads_as_its_code() -> None:
    assert str(Currency.of("EUR")) == "EUR"


# -- charges: the amounts an invoice or a payment may carry ----------------------------------


@pytest.mark.parametrize("amount", [1, 150_000, MAX_AMOUNT])
def test_a_charge_accepts_integers_from_one_to_ten_to_the_twelfth(amount: int) -> None:
    assert Money.charge(amount, MXN) == Money(amount, MXN)


@pytest.mark.parametrize("amount", [0, -1, MAX_AMOUNT + 1, 10**30])
def test_a_charge_out_of_range_is_refused(amount: int) -> None:
    with pytest.raises(InvalidAmountError):
        Money.charge(amount, MXN)


@pytest.mark.parametrize("amount", [True, False, 1.0, 150000.0, "150000", None, 2.5, float("nan")])
def test_a_charge_that_is_not_a_plain_integer_is_refused(amount: object) -> None:
    with pytest.raises(InvalidAmountError):
        Money.charge(amount, MXN)


def test_a_refused_charge_names_the_field_it_came_from() -> None:
    with pytest.raises(InvalidAmountError) as refused:
        Money.charge(0, MXN, field="payment.amount")
    assert refused.value.field == "payment.amount"


@pytest.mark.parametrize("amount", [-1, True, 1.0])
def test_money_itself_is_never_negative_nor_a_bool_nor_a_float(amount: object) -> None:
    with pytest.raises(InvalidAmountError):
        Money(amount, MXN)  # type: ignore[arg-type]


def test_zero_money_exists_for_totals() -> None:
    assert Money.zero(USD).amount == 0


# -- arithmetic never mixes currencies -------------------------------------------------------


def test_adding_two_currencies_is_refused() -> None:
    with pytest.raises(CurrencyMismatchError):
        _ = Money(100, MXN) + Money(100, USD)


def test_subtracting_two_currencies_is_refused() -> None:
    with pytest.raises(CurrencyMismatchError):
        _ = Money(100, MXN) - Money(100, USD)


@pytest.mark.parametrize(
    "compare",
    [lambda a, b: a < b, lambda a, b: a <= b, lambda a, b: a > b, lambda a, b: a >= b],
)
def test_comparing_two_currencies_is_refused(compare: object) -> None:
    with pytest.raises(CurrencyMismatchError):
        compare(Money(100, MXN), Money(100, USD))  # type: ignore[operator]


def test_equal_amounts_in_different_currencies_are_not_equal() -> None:
    assert Money(100, MXN) != Money(100, USD)


def test_subtracting_more_than_there_is_is_refused_rather_than_going_negative() -> None:
    with pytest.raises(InvalidAmountError):
        _ = Money(100, MXN) - Money(101, MXN)


@given(a=amounts, b=amounts, currency=currencies)
def test_adding_then_subtracting_gives_back_the_original_amount(
    a: int, b: int, currency: Currency
) -> None:
    x, y = Money(a, currency), Money(b, currency)
    assert (x + y) - y == x
    assert (x + y) - x == y
    assert (x + y).currency == currency


@given(a=amounts, b=amounts, currency=currencies)
def test_addition_is_commutative(a: int, b: int, currency: Currency) -> None:
    assert Money(a, currency) + Money(b, currency) == Money(b, currency) + Money(a, currency)


@given(a=amounts, b=amounts, currency=currencies)
def test_money_is_ordered_exactly_as_its_amounts(a: int, b: int, currency: Currency) -> None:
    x, y = Money(a, currency), Money(b, currency)
    assert (x < y) == (a < b)
    assert (x <= y) == (a <= b)
    assert (x > y) == (a > b)
    assert (x >= y) == (a >= b)
    assert (x == y) == (a == b)


@given(a=amounts, b=amounts, currency=currencies)
def test_a_difference_is_either_non_negative_money_or_refused(
    a: int, b: int, currency: Currency
) -> None:
    x, y = Money(a, currency), Money(b, currency)
    if a >= b:
        assert (x - y).amount == a - b
    else:
        with pytest.raises(InvalidAmountError):
            _ = x - y


# -- formatting ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "code", "text"),
    [
        (150_000, "MXN", "1,500.00 MXN"),
        (5, "MXN", "0.05 MXN"),
        (0, "USD", "0.00 USD"),
        (5_000, "JPY", "5,000 JPY"),
        (1_234_567, "KWD", "1,234.567 KWD"),
        (12_345, "CLF", "1.2345 CLF"),
        (10**12, "USD", "10,000,000,000.00 USD"),
    ],
)
def test_money_formats_in_major_units_with_the_currency_s_minor_digits(
    amount: int, code: str, text: str
) -> None:
    assert Money(amount, Currency.of(code)).formatted() == text


@given(amount=amounts, currency=currencies)
def test_formatting_keeps_every_minor_unit(amount: int, currency: Currency) -> None:
    number = Money(amount, currency).formatted().removesuffix(f" {currency.code}")
    digits = number.replace(",", "").replace(".", "")
    assert int(digits) == amount
    assert (len(number.split(".")[1]) if "." in number else 0) == currency.exponent
