"""Run-config blocks beyond the spec's four parameters: how the replay reads the archive
and the limits its risk guards enforce. Each has documented defaults; the spec's
parameters (``start_ts``, ``end_ts``, ``strategy``, ``parameter_sweep``) are unchanged.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from backtester.config.types import Bps, PusdAmount

__all__ = ["CurveFees", "FlatFees", "RiskConfig"]


class RiskConfig(BaseModel):
    """Limits of the risk-guard stack (the ``risk`` block of a run config).

    The guards are the same code a live desk would run; these are their limits.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_book_skew_ms: int = Field(default=1_000, ge=0)
    """bookskewguard: reject an intent whose legs were priced from books stamped further apart."""
    price_band_bps: Bps = 500
    """priceguard: a buy's limit may be at most this far above the best ask (bps of 1 pUSD)."""
    depth_fraction: Decimal = Field(default=Decimal(1), gt=0, le=1)
    """liquidityguard: take at most this fraction of the displayed depth within the limit."""
    max_position_pusd: PusdAmount = Decimal(5_000)
    """portfolioguard: most pUSD committed to one market."""
    max_gross_exposure_pusd: PusdAmount = Decimal(25_000)
    """portfolioguard: most pUSD committed across all markets."""


class FlatFees(BaseModel):
    """A flat fee in bps of notional, as an assumption for markets whose schedule is unknown."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model: Literal["flat_bps"]
    fee_rate_bps: Bps


class CurveFees(BaseModel):
    """Polymarket's curve, as an assumption for markets whose schedule is unknown."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model: Literal["curve"]
    rate: Decimal = Field(ge=0, le=1)
    exponent: int = Field(ge=1, le=10)
    taker_only: bool = True
    rebate_rate: Decimal = Field(default=Decimal(0), ge=0, le=1)


FeeAssumption = Annotated[FlatFees | CurveFees, Field(discriminator="model")]
