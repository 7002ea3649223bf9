"""Fee models of a market (ARCHIVE_FORMAT.md section 1), in exact micro-units.

* ``flat_bps``: the spec's formula, fee = notional x bps / 10 000, rounded down to the
  micro-pUSD;
* ``curve``: Polymarket's taker fee, shares x rate x (p x (1 - p))^exponent, floored to
  5 decimal places as the venue charges it; makers pay none;
* ``none``: no fee;
* ``unknown``: the source did not record a schedule. No fee can be computed, and
  :func:`taker_fee` refuses rather than guess zero.

Which asset pays the fee is a dated rule (:data:`FEE_ASSET_RULES`), not an accident of
the code: Polymarket's older documentation took a buyer's fee in shares (the buyer
receives fewer shares) and a seller's in collateral; since the CLOB v2 cutover fees are
taken in pUSD on both sides. pUSD is the only collateral; there is no USDC.e anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from backtester.units import MICRO

__all__ = [
    "FEE_ASSET_RULES",
    "FeeAssetRule",
    "FeeModel",
    "FeeUnknown",
    "fee_asset",
    "fee_in_shares",
    "taker_fee",
]

_FIVE_DECIMALS = 10  # micro-units in 0.00001 pUSD


class FeeUnknown(ValueError):
    """The market's fee schedule was not recorded, so a fee cannot be computed."""


@dataclass(frozen=True)
class FeeModel:
    """A market's fee schedule; rates are in micro-units (0.07 is 70_000)."""

    model: str
    rate_bps: int | None = None
    rate: int | None = None
    exponent: int | None = None
    taker_only: bool | None = None
    rebate_rate: int | None = None

    @property
    def known(self) -> bool:
        return self.model != "unknown"


def taker_fee(fees: FeeModel, shares: int, price: int) -> int:
    """Fee in micro-pUSD a taker pays for ``shares`` (micro) at ``price`` (micro).

    Golden cases, worked by hand:

    Curve 0.07, exponent 1, 100 shares at 0.50:
    100 x 0.07 x (0.5 x 0.5) = 1.75 pUSD.

    >>> curve = FeeModel("curve", rate=70_000, exponent=1)
    >>> taker_fee(curve, 100 * MICRO, 500_000)
    1750000

    Curve 0.07, exponent 1, 7 shares at 0.13:
    7 x 0.07 x 0.13 x 0.87 = 0.055419 pUSD, floored to 5 decimals = 0.05541.

    >>> taker_fee(curve, 7 * MICRO, 130_000)
    55410

    Flat 20 bps on 10 shares at 0.48 = 4.8 pUSD notional x 0.002 = 0.0096 pUSD.

    >>> taker_fee(FeeModel("flat_bps", rate_bps=20), 10 * MICRO, 480_000)
    9600
    """
    if fees.model in ("none",) or (fees.model == "flat_bps" and not fees.rate_bps):
        return 0
    if fees.model == "flat_bps":
        return shares * price * int(fees.rate_bps or 0) // (MICRO * 10_000)
    if fees.model == "curve":
        exponent = int(fees.exponent or 1)
        rate = int(fees.rate or 0)
        # shares x rate x (p(1-p))^e with every factor in micro-units; the result in
        # micro-pUSD needs one division by 10^6 per factor beyond the first: rate (1) and
        # p(1-p) (2 per power). Exact integers, divided once, at the end.
        numerator = shares * rate * (price * (MICRO - price)) ** exponent
        denominator = MICRO * MICRO ** (2 * exponent)
        micros = numerator // denominator
        return micros - micros % _FIVE_DECIMALS
    msg = f"fee schedule {fees.model!r} is not recorded for this market; no fee can be computed"
    raise FeeUnknown(msg)


@dataclass(frozen=True)
class FeeAssetRule:
    """From ``since_ms`` on, which asset pays a taker's fee on a buy and on a sell."""

    since_ms: int
    on_buy: str
    on_sell: str
    source: str


CLOB_V2_CUTOVER_MS = 1_777_334_400_000
"""2026-04-28T00:00:00Z: the CLOB v2 cutover (spec section 25, migration history)."""

FEE_ASSET_RULES = (
    FeeAssetRule(
        0, "shares", "pusd",
        "Polymarket docs quoted in Polymarket/py-clob-client#311: fees are collected in shares "
        "on buy orders and in collateral on sell orders",
    ),
    FeeAssetRule(
        CLOB_V2_CUTOVER_MS, "pusd", "pusd",
        "CLOB v2 (from 2026-04-28): a live v2 fill (Polymarket/py-clob-client-v2#107) took the "
        "fee in collateral and delivered every share",
    ),
)  # fmt: skip


def fee_asset(*, buying: bool, ts_ms: int, override: str = "dated") -> str:
    """``"shares"`` or ``"pusd"``: the asset that pays a taker fee at ``ts_ms``.

    >>> fee_asset(buying=True, ts_ms=CLOB_V2_CUTOVER_MS - 1), fee_asset(buying=True, ts_ms=CLOB_V2_CUTOVER_MS)
    ('shares', 'pusd')
    >>> fee_asset(buying=True, ts_ms=0, override="pusd")
    'pusd'
    """
    if override == "pusd":
        return "pusd"
    if override == "shares_on_buy":
        return "shares" if buying else "pusd"
    rule = FEE_ASSET_RULES[0]
    for candidate in FEE_ASSET_RULES:
        if candidate.since_ms <= ts_ms:
            rule = candidate
    return rule.on_buy if buying else rule.on_sell


def fee_in_shares(fee_pusd: int, price: int) -> int:
    """A fee of ``fee_pusd`` taken in shares of a token bought at ``price`` (rounded up:
    the venue never takes less than the fee).

    0.0147 pUSD at 0.30 is 0.049 shares:

    >>> fee_in_shares(14_700, 300_000)
    49000
    """
    return -(-fee_pusd * MICRO // price) if fee_pusd else 0
