"""Exact decimal quantities as integer micro-units.

Every price, share size, fee rate and pUSD amount in the backtester is a Python ``int``
counting millionths (``1 pUSD == 1_000_000``; a price of ``0.48`` is ``480_000``; a size
of ``219.217767`` shares is ``219_217_767``). Six decimals is the resolution of the
venue itself: pUSD and the CTF outcome tokens both have 6 decimals on chain, and
Polymarket's tick sizes (0.1 down to 0.0001) all divide 10^-6.

Values enter as decimal strings or JSON numbers (parsed as :class:`decimal.Decimal`,
never as binary floats) and leave as decimal strings. A value that needs more than six
decimal places is rejected rather than rounded: rounding it would change a recorded
price or size.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

__all__ = [
    "MICRO",
    "TICK_SIZES",
    "UnitError",
    "format_micros",
    "parse_micros",
    "parse_float_micros",
]

MICRO = 1_000_000
"""Micro-units per unit: 1 pUSD, 1 share and a price of 1.0 are all ``MICRO``."""

TICK_SIZES = (100_000, 10_000, 1_000, 100)
"""Polymarket's tick sizes (0.1, 0.01, 0.001, 0.0001) in micro-units, coarsest first."""

_PLAIN_DECIMAL = re.compile(r"(-?)(\d+)(?:\.(\d*))?\Z")


class UnitError(ValueError):
    """A value that is not an exact decimal with at most six places."""


def parse_micros(value: object) -> int:
    """Parse a decimal string, ``int`` or ``Decimal`` into integer micro-units.

    Examples
    --------
    >>> parse_micros("0.48")
    480000
    >>> parse_micros("1200.5")
    1200500000
    >>> parse_micros(5)
    5000000
    >>> parse_micros("0.1234567")
    Traceback (most recent call last):
    ...
    backtester.units.UnitError: '0.1234567' has more than 6 decimal places
    """
    if isinstance(value, str):
        return _parse_text(value)
    if isinstance(value, bool):
        msg = f"expected a decimal, got {value!r}"
        raise UnitError(msg)
    if isinstance(value, int):
        return value * MICRO
    if isinstance(value, Decimal):
        return _decimal_to_micros(value, repr(str(value)))
    msg = f"expected a decimal string or number, got {type(value).__name__} {value!r}"
    raise UnitError(msg)


def parse_float_micros(value: float) -> int:
    """Convert a binary float *read from a columnar source* into micro-units.

    Some recorders store prices and sizes as float64 (the Tickscope parquet). The
    shortest decimal that round-trips to that float (``repr``) is the decimal the
    recorder started from, so it is parsed exactly; no arithmetic happens in floats.

    >>> parse_float_micros(2.083332)
    2083332
    >>> parse_float_micros(0.1 + 0.2)
    Traceback (most recent call last):
    ...
    backtester.units.UnitError: '0.30000000000000004' has more than 6 decimal places
    """
    if not math.isfinite(value):
        msg = f"{value!r} is not a finite number"
        raise UnitError(msg)
    return parse_micros(repr(value))


@lru_cache(maxsize=1 << 16)
def _parse_text(value: str) -> int:
    # Cached: recorded streams repeat the same few price and size strings millions of times.
    match = _PLAIN_DECIMAL.match(value)
    if match is None:
        return _parse_decimal_string(value)
    sign, whole, frac = match.groups()
    frac = frac or ""
    if len(frac) > 6:
        if frac[6:].strip("0"):
            msg = f"{value!r} has more than 6 decimal places"
            raise UnitError(msg)
        frac = frac[:6]
    micros = int(whole) * MICRO + int(frac.ljust(6, "0"))
    return -micros if sign else micros


def _parse_decimal_string(text: str) -> int:
    try:
        dec = Decimal(text.strip())
    except InvalidOperation:
        msg = f"{text!r} is not a decimal number"
        raise UnitError(msg) from None
    return _decimal_to_micros(dec, repr(text))


def _decimal_to_micros(dec: Decimal, shown: str) -> int:
    if not dec.is_finite():
        msg = f"{shown} is not a finite number"
        raise UnitError(msg)
    scaled = dec.scaleb(6)
    if scaled != scaled.to_integral_value():
        msg = f"{shown} has more than 6 decimal places"
        raise UnitError(msg)
    return int(scaled)


def format_micros(micros: int) -> str:
    """Write micro-units as the shortest exact decimal string.

    >>> format_micros(480000)
    '0.48'
    >>> format_micros(-1_500_000)
    '-1.5'
    >>> format_micros(5_000_000)
    '5'
    """
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), MICRO)
    if frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:06d}".rstrip("0")
