"""Parameter models of the built-in strategies (defaults, bounds, and no unknown keys)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from backtester.config.types import Bps, PusdAmount

__all__ = ["SumToOneArbParams"]


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
