"""Pydantic field types shared by run configs and strategy parameter models."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, Field

from backtester.units import parse_micros

__all__ = ["Bps", "PusdAmount"]


def _exact_micros(value: Decimal) -> Decimal:
    parse_micros(value)
    return value


def _positive(value: Decimal) -> Decimal:
    if value <= 0:
        msg = f"must be greater than 0, got {value}"
        raise ValueError(msg)
    return value


PusdAmount = Annotated[
    Decimal,
    Field(allow_inf_nan=False, le=Decimal(10**12), description="an amount of pUSD, at most 6 decimals"),
    AfterValidator(_exact_micros),
    AfterValidator(_positive),
]
"""A positive pUSD amount with at most six decimals (exact; floats are refused upstream)."""

Bps = Annotated[int, Field(ge=0, le=10_000, strict=True, description="basis points, 0..10000")]
"""Whole basis points, 0 to 10 000."""
