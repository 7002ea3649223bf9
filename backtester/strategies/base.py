"""What a strategy sees and what it returns.

A strategy is a pure function ``evaluate(view, params) -> Intent | None``: the same
view and parameters always give the same intent, and the view holds nothing stamped
after its tick. The engine builds the view; a live desk would build the same view from
its own feed (the seam is :class:`DecisionView`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from backtester.book.book import BookState
from backtester.book.depth import walk_buy
from backtester.book.market import MarketView

__all__ = ["AskSum", "DecisionView", "Intent", "Leg", "Signal", "fires", "price_legs"]

LOT = 10_000
"""Order sizes are whole hundredths of a share (micro-units), the CLOB's size precision."""


@dataclass(frozen=True)
class AskSum:
    """A trigger rule: it fires when the archive's best asks of ``tokens`` all exist and
    sum below ``ceilings[k]``, k the number of tokens counted. With ``skip_unknown``,
    tokens whose book is out of sync are left out (at least ``min_count`` must remain);
    otherwise every token counts (``ceilings[len(tokens)]`` is the one used).

    The engine evaluates rules in compiled code over every tick, and in Python where it
    decides anyway (:func:`fires`); both read the same numbers."""

    tokens: tuple[str, ...]
    ceilings: tuple[int, ...]
    skip_unknown: bool = False
    min_count: int = 0


def fires(rule: AskSum, books: Mapping[str, Any]) -> bool:
    """Does ``rule`` fire on ``books`` (token -> its book)?

    >>> from backtester.book.book import TokenBook
    >>> a, b = TokenBook("A"), TokenBook("B")
    >>> a.snapshot([], [], [400_000], [10], ts_ms=1); b.snapshot([], [], [550_000], [10], ts_ms=1)
    >>> fires(AskSum(("A", "B"), (0, 0, 1_000_000)), {"A": a, "B": b})
    True
    >>> fires(AskSum(("A", "B"), (0, 0, 950_000)), {"A": a, "B": b})
    False
    """
    total = count = 0
    for token in rule.tokens:
        book = books[token]
        if rule.skip_unknown and book.state is BookState.UNKNOWN:
            continue
        ask = book.archive_best(bid_side=False)
        if ask is None:
            return False
        total += ask
        count += 1
    minimum = rule.min_count if rule.skip_unknown else len(rule.tokens)
    return count >= minimum and total < rule.ceilings[count]


@dataclass(frozen=True)
class Signal:
    """The newest value of an archived signal at or before the tick, and the first one seen."""

    value: Decimal
    ts_ms: int
    first_value: Decimal
    first_ts_ms: int


@dataclass(frozen=True)
class DecisionView:
    """Everything a strategy may use at one tick: the books of its markets (all the
    markets of the event for neg-risk), the signals, and its own positions."""

    ts_ms: int
    group: str
    markets: tuple[MarketView, ...]
    signals: Mapping[tuple[str, str], Signal] = field(default_factory=dict)
    positions: Mapping[str, int] = field(default_factory=dict)

    def signal(self, market_id: str, name: str) -> Signal | None:
        return self.signals.get((market_id, name))


@dataclass(frozen=True)
class Leg:
    """One order of an intent: buy ``shares`` of ``asset_id`` paying at most ``limit_price``.

    ``cost`` and ``fee`` are what the displayed book said the leg would cost at the tick
    (micro-pUSD); ``book_stamp_ms`` is when that book was last stamped.
    """

    market_id: str
    asset_id: str
    side: str
    limit_price: int
    shares: int
    cost: int
    fee: int
    book_stamp_ms: int | None


@dataclass(frozen=True)
class Intent:
    """What a strategy wants to do at a tick. All legs carry the same number of shares.

    ``payout`` is what one share of the whole intent is worth for sure (micro-pUSD): 1 pUSD
    for a complete set, k - 1 for a basket of k No tokens converted through the
    NegRiskAdapter, and for a single-token taker the strategy's fair value (not certain).
    """

    strategy: str
    kind: str
    group: str
    legs: tuple[Leg, ...]
    payout: int
    reason: str

    @property
    def shares(self) -> int:
        return self.legs[0].shares

    @property
    def size_pusd(self) -> int:
        """What the intent spends, fees included (micro-pUSD)."""
        return sum(leg.cost + leg.fee for leg in self.legs)

    @property
    def edge_bps(self) -> int:
        """Expected edge over what it spends, in bps of the payout."""
        value = self.payout * self.shares // 1_000_000
        return (value - self.size_pusd) * 10_000 // value if value else 0

    @property
    def market_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(leg.market_id for leg in self.legs))


def price_legs(view: DecisionView, legs: Sequence[tuple[str, str]], shares: int) -> tuple[Leg, ...] | None:
    """Buy legs for ``(market_id, asset_id)`` pairs, each for ``shares``, priced by
    walking the displayed asks. None when a book cannot fill every leg."""
    markets = {m.info.condition_id: m for m in view.markets if m.info is not None}
    out = []
    for market_id, asset_id in legs:
        market = markets[market_id]
        book = market.book(asset_id)
        assert market.info is not None
        fill = walk_buy(book.asks_sorted(), shares, market.info.fees)
        if fill.shares < shares:
            return None
        out.append(
            Leg(market_id, asset_id, "BUY", fill.worst_price, shares, fill.cost, fill.fee, book.stamp_ms)
        )
    return tuple(out)


def resized(view: DecisionView, intent: Intent, shares: int) -> Intent | None:
    """The same intent for fewer shares, re-priced on the same books (balanced legs)."""
    shares -= shares % LOT
    if shares <= 0:
        return None
    legs = price_legs(view, [(leg.market_id, leg.asset_id) for leg in intent.legs], shares)
    return None if legs is None else replace(intent, legs=legs)
