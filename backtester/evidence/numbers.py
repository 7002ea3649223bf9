"""How the report shows numbers: one format per kind, everywhere.

pUSD to 2 decimals with thousands separators, bps as integers, percentages and ratios
to 2 decimals, "n/a" for a figure that does not exist. Rounded half to even from the
exact value (micro-units or a Decimal), never via a float; the exact value goes with
it (a cell's hover text, and the files).

>>> pusd(2_278_459_400), pusd("-4125.118575"), signed_pusd(4_191_738_300), pusd(None)
('2,278.46', '-4,125.12', '+4,191.74', 'n/a')
>>> bps("96.8270"), pct("15.8512"), ratio("1.4360"), exact(958_157_920)
('97', '15.85 %', '1.44', '958.15792')
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from backtester.units import MICRO, format_micros

__all__ = ["as_decimal", "bps", "exact", "pct", "pusd", "ratio", "signed_pusd"]

NA = "n/a"

Number = int | str | Decimal | None
"""Micro-units (int), a decimal string or a Decimal; None: n/a."""


def as_decimal(value: Number) -> Decimal | None:
    """``value`` as a Decimal in units (micro-units divided by 10^6)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value) / MICRO
    return Decimal(value)


def _fixed(value: Number, places: int, *, sign: bool = False) -> str:
    number = as_decimal(value)
    if number is None:
        return NA
    rounded = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    if rounded == 0:
        rounded = abs(rounded)  # no "-0.00"
    return f"{rounded:{'+' if sign else ''},.{places}f}"


def pusd(value: Number) -> str:
    """An amount of pUSD: 2 decimals, thousands separators."""
    return _fixed(value, 2)


def signed_pusd(value: Number) -> str:
    """A difference of pUSD, with its sign."""
    return _fixed(value, 2, sign=True)


def bps(value: Number) -> str:
    """Basis points, as an integer."""
    return _fixed(value, 0)


def pct(value: Number) -> str:
    """A percentage (the value is in %)."""
    shown = _fixed(value, 2)
    return shown if shown == NA else f"{shown} %"


def ratio(value: Number) -> str:
    """A ratio (Sharpe, profit factor, turnover): 2 decimals."""
    return _fixed(value, 2)


def exact(value: Number) -> str:
    """The exact value, as the files write it."""
    if value is None:
        return NA
    if isinstance(value, int) and not isinstance(value, bool):
        return format_micros(value)
    return str(value)
