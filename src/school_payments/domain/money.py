"""Money: an integer count of a currency's minor unit. Never a float."""

from __future__ import annotations

from dataclasses import dataclass

from school_payments.domain.currency import Currency
from school_payments.domain.errors import CurrencyMismatchError, InvalidAmountError

MAX_AMOUNT = 10**12
"""The largest amount one invoice or payment may carry, in minor units (the contract's bound)."""


@dataclass(frozen=True, slots=True, order=False)
class Money:
    """A non-negative amount in minor units of one currency; arithmetic never mixes currencies."""

    amount: int
    currency: Currency

    def __post_init__(self) -> None:
        # bool is an int subclass: True must not pass for 1 cent.
        if type(self.amount) is not int or self.amount < 0:
            raise InvalidAmountError("amount", "an amount is a non-negative integer of minor units")

    @classmethod
    def zero(cls, currency: Currency) -> Money:
        return cls(0, currency)

    @classmethod
    def charge(cls, amount: object, currency: Currency, field: str = "amount") -> Money:
        """A positive amount an invoice or payment may carry: 1 ≤ amount ≤ 10^12 minor units."""
        if type(amount) is not int or not 0 < amount <= MAX_AMOUNT:
            raise InvalidAmountError(
                field, f"{field} must be an integer number of minor units from 1 to {MAX_AMOUNT}"
            )
        return cls(amount, currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatchError(self.currency.code, other.currency.code)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount >= other.amount

    def formatted(self) -> str:
        """The amount in major units with its minor digits, e.g. `1,500.00 MXN`, `5,000 JPY`."""
        exponent = self.currency.exponent
        major, minor = divmod(self.amount, 10**exponent) if exponent else (self.amount, 0)
        text = f"{major:,}"
        if exponent:
            text += f".{minor:0{exponent}d}"
        return f"{text} {self.currency.code}"
