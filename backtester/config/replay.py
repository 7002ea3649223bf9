"""Run-config blocks beyond the spec's four parameters: how the replay reads the archive
and the limits its risk guards enforce. Each has documented defaults; the spec's
parameters (``start_ts``, ``end_ts``, ``strategy``, ``parameter_sweep``) are unchanged.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from backtester.config.types import Bps, PusdAmount

__all__ = ["CurveFees", "FlatFees", "RiskConfig", "SimulationConfig"]


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


class SimulationConfig(BaseModel):
    """How the venue is simulated (the ``simulation`` block of a run config).

    Defaults are conservative: an order reaches the book a quarter of a second after the
    decision, takes what is displayed then (never what was displayed at decision time),
    and the unfilled rest is cancelled.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_ms: int = Field(default=250, ge=0, le=60_000)
    """From decision to arrival at the book; fills use the book as it stands at arrival."""
    time_in_force: Literal["IOC", "FOK"] = "IOC"
    """IOC: fill what is there, cancel the rest. FOK: all of the order or nothing."""
    merge_sets: bool = True
    """Merge complete sets (one Yes + one No of a market) back into 1 pUSD as soon as held."""
    convert_no_baskets: bool = True
    """Convert a No basket of a neg-risk event through the NegRiskAdapter as soon as held."""
    restore_live_footprint: bool = True
    """Add back to the books the liquidity the live bot's own archived fills took (the
    archived books lack it), until the archive changes that level again. Turn it off for
    a live trail made after the fact, which the recorded books never saw."""
    live_fill_echo_ms: int = Field(default=1_000, ge=0, le=60_000)
    """How long after a live fill the archive's changes of its price level are taken to be
    that fill's own effect (the bot and the exchange stamp on different clocks)."""
    fee_asset: Literal["dated", "pusd", "shares_on_buy"] = "dated"
    """Which asset pays a taker fee: the dated rule of ``backtester.fees`` by default."""
