"""Taker fills against the replayed book: the venue side of the seam.

An order reaches the book ``latency_ms`` after its decision and fills against the book
as it stands at arrival (never at decision time): it walks the opposite side level by
level up to its limit, using only levels the book knows and what the run itself has not
already taken, and the rest is cancelled (IOC) or the whole order refused (FOK). Its
limit is put on the tick grid in force (down for a buy, up for a sell); an order below
the market's minimum size is refused.

Every share taken is marked taken on both views of the market (a Yes ask at p is the No
bid at 1 - p), so no displayed share is filled twice. The fee is the market's taker fee,
charged per level as each match is, in the asset the dated rule says.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from backtester.book.market import MarketView
from backtester.fees import fee_asset, fee_in_shares, taker_fee
from backtester.units import MICRO

__all__ = ["DEFAULT_MIN_ORDER", "Execution", "Order", "execute"]

DEFAULT_MIN_ORDER = 5 * MICRO


@dataclass(frozen=True)
class Order:
    """One leg of an approved intent, on its way to the book."""

    trace_id: str
    leg: int
    market_id: str
    asset_id: str
    side: str
    limit_price: int
    shares: int
    decided_ms: int
    arrival_ms: int
    decision_best: int | None
    """Best opposite price when the decision was taken: the slippage reference."""
    decision_top: int | None = None
    """The archive's own best opposite price at decision (the run's takes left out)."""


@dataclass(frozen=True)
class Execution:
    """What the venue did with an order. Money in micro-pUSD, shares in micro-shares."""

    order: Order
    status: str
    shares: int
    cost: int
    fee: int
    fee_asset: str
    fee_shares: int
    levels: tuple[tuple[int, int], ...]
    reason: str | None = None
    arrival_top: int | None = None
    """The archive's own best opposite price at arrival (the run's takes left out)."""
    archive_shares: int = 0
    """Shares the archive's own book displayed within the limit at arrival: more than the
    order got means the run's earlier fills had taken the rest."""

    @property
    def price(self) -> int | None:
        """Average price paid per share (rounded half-even to the micro-unit; display only)."""
        if not self.shares:
            return None
        return int((Decimal(self.cost) * MICRO / self.shares).to_integral_value(ROUND_HALF_EVEN))

    @property
    def slippage_bps(self) -> Decimal | None:
        """How much worse than the best price at decision time, in bps (2 decimals)."""
        best = self.order.decision_best
        if not self.shares or not best:
            return None
        average = Decimal(self.cost) * MICRO / self.shares
        worse = average - best if self.order.side == "BUY" else best - average
        return (worse * 10_000 / best).quantize(Decimal("0.01"), ROUND_HALF_EVEN)

    @property
    def size_pusd(self) -> int:
        """pUSD that changed hands for the shares, fee not included."""
        return self.cost


def execute(
    order: Order,
    market: MarketView,
    *,
    ts_ms: int,
    time_in_force: str = "IOC",
    fee_rule: str = "dated",
) -> Execution:
    """Fill ``order`` against ``market`` as its books stand now (see the module docstring)."""
    info = market.info
    assert info is not None
    buying = order.side == "BUY"
    book = market.book(order.asset_id)
    tick = book.tick or info.tick_size
    limit = order.limit_price - order.limit_price % tick if buying else -(-order.limit_price // tick) * tick
    asset = fee_asset(buying=buying, ts_ms=ts_ms, override=fee_rule)
    minimum = info.min_order_size or DEFAULT_MIN_ORDER
    if order.shares < minimum:
        return _refused(order, asset, f"{order.shares / MICRO:g} shares is below the minimum order")
    if not info.fees.known:
        return _refused(order, asset, "the market's fee schedule is not known")
    evidence = {
        "arrival_top": book.archive_best(bid_side=not buying),
        "archive_shares": book.archive_shares_within(bid_side=not buying, limit=limit),
    }
    levels = book.asks_sorted() if buying else book.bids_sorted()
    takes: list[tuple[int, int]] = []
    left = order.shares
    for price, size in levels:
        if left <= 0 or (price > limit if buying else price < limit):
            break
        take = min(size, left)
        takes.append((price, take))
        left -= take
    if not takes:
        return _refused(order, asset, "no displayed liquidity within the limit at arrival", **evidence)
    if left and time_in_force == "FOK":
        short = "fill-or-kill: not enough displayed liquidity within the limit"
        return _refused(order, asset, short, **evidence)
    other = market.other(order.asset_id)
    cost = fee = fee_shares = 0
    for price, take in takes:
        book.take(bid_side=not buying, price=price, shares=take)
        other.take(bid_side=buying, price=MICRO - price, shares=take)  # the same shares, mirrored
        notional = take * price
        cost += -(-notional // MICRO) if buying else notional // MICRO
        level_fee = taker_fee(info.fees, take, price)
        fee += level_fee
        if asset == "shares" and buying:
            fee_shares += fee_in_shares(level_fee, price)
    filled = order.shares - left
    status = "FILLED" if not left else "PARTIAL"
    return Execution(order, status, filled, cost, fee, asset, fee_shares, tuple(takes), None, **evidence)


def _refused(order: Order, asset: str, reason: str, **evidence: int | None) -> Execution:
    return Execution(order, "REJECTED", 0, 0, 0, asset, 0, (), reason, **evidence)  # type: ignore[arg-type]
