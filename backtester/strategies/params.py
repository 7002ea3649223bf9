"""Parameter models of the built-in strategies (defaults, bounds, and no unknown keys)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from backtester.config.types import Bps, PusdAmount

__all__ = ["FairValueTakerParams", "SumToOneArbParams"]


class SumToOneArbParams(BaseModel):
    """Parameters of ``sum_to_one_arb``.

    The defaults are the first variant of the spec's wire example (section 11):
    a 12 bps minimum edge and at most 1 000 pUSD per complete set.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_edge_bps: Bps = 12
    """Buy only when the set costs at most 1 pUSD minus this many bps, fees included."""
    max_size_pusd: PusdAmount = Decimal(1000)
    """Spend at most this much pUSD on one complete set."""


class FairValueTakerParams(BaseModel):
    """Parameters of ``fair_value_taker`` (see its module for the fair-value models)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    signal: str = "fair_value"
    """Name of the ObservationReport signal to read."""
    model: Literal["probability", "updown_lognormal"] = "probability"
    """How the signal becomes the Yes token's fair value."""
    min_edge_bps: Bps = 200
    """Buy only when a share costs at most the fair value minus this many bps, fees included."""
    max_size_pusd: PusdAmount = Decimal(100)
    """Spend at most this much pUSD on one order."""
    strike: Decimal | None = Field(default=None, gt=0)
    """updown_lognormal: the strike; None takes the first value of the signal seen."""
    annual_vol: Decimal = Field(default=Decimal("0.6"), gt=0, le=10)
    """updown_lognormal: the underlying's annualised volatility."""
