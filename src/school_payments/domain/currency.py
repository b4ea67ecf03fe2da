"""ISO 4217 currencies and their minor-unit exponents.

The table is ours on purpose: the libraries that carry exponents (Babel, from CLDR) disagree with
ISO 4217 on several currencies, and an amount's meaning depends on it.
Source: ISO 4217 list one, active codes.
"""

from __future__ import annotations

from dataclasses import dataclass

from school_payments.domain.errors import UnknownCurrencyError

# Exponent (number of minor-unit digits) per active ISO 4217 code; 2 is the default.
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        [
            "AED",
            "AFN",
            "ALL",
            "AMD",
            "ANG",
            "AOA",
            "ARS",
            "AUD",
            "AWG",
            "AZN",
            "BAM",
            "BBD",
            "BDT",
            "BGN",
            "BMD",
            "BND",
            "BOB",
            "BRL",
            "BSD",
            "BTN",
            "BWP",
            "BYN",
            "BZD",
            "CAD",
            "CDF",
            "CHF",
            "CNY",
            "COP",
            "CRC",
            "CUP",
            "CVE",
            "CZK",
            "DKK",
            "DOP",
            "DZD",
            "EGP",
            "ERN",
            "ETB",
            "EUR",
            "FJD",
            "FKP",
            "GBP",
            "GEL",
            "GHS",
            "GIP",
            "GMD",
            "GTQ",
            "GYD",
            "HKD",
            "HNL",
            "HTG",
            "HUF",
            "IDR",
            "ILS",
            "INR",
            "IRR",
            "JMD",
            "KES",
            "KGS",
            "KHR",
            "KPW",
            "KYD",
            "KZT",
            "LAK",
            "LBP",
            "LKR",
            "LRD",
            "LSL",
            "MAD",
            "MDL",
            "MGA",
            "MKD",
            "MMK",
            "MNT",
            "MOP",
            "MRU",
            "MUR",
            "MVR",
            "MWK",
            "MXN",
            "MYR",
            "MZN",
            "NAD",
            "NGN",
            "NIO",
            "NOK",
            "NPR",
            "NZD",
            "PAB",
            "PEN",
            "PGK",
            "PHP",
            "PKR",
            "PLN",
            "QAR",
            "RON",
            "RSD",
            "RUB",
            "SAR",
            "SBD",
            "SCR",
            "SDG",
            "SEK",
            "SGD",
            "SHP",
            "SLE",
            "SOS",
            "SRD",
            "SSP",
            "STN",
            "SVC",
            "SYP",
            "SZL",
            "THB",
            "TJS",
            "TMT",
            "TOP",
            "TRY",
            "TTD",
            "TWD",
            "TZS",
            "UAH",
            "USD",
            "UYU",
            "UZS",
            "VES",
            "WST",
            "XCD",
            "XCG",
            "YER",
            "ZAR",
            "ZMW",
            "ZWG",
        ],
        2,
    ),
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}

SUPPORTED_CURRENCIES: frozenset[str] = frozenset(_EXPONENTS)


@dataclass(frozen=True, slots=True)
class Currency:
    """An ISO 4217 currency the service ships: its code and how many minor-unit digits it has."""

    code: str
    exponent: int

    @classmethod
    def of(cls, code: str) -> Currency:
        """The currency for `code` (exact upper-case ISO 4217 alphabetic code)."""
        try:
            return cls(code, _EXPONENTS[code])
        except (KeyError, TypeError):
            raise UnknownCurrencyError(code) from None

    def __str__(self) -> str:
        return self.code
