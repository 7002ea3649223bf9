"""Walking a book side: what n shares cost, and how many shares a price limit allows.

Levels are ``(price, size)`` in micro-units, best first. Only levels the book knows
are walked: a partial book's unknown levels are never assumed to hold shares.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from backtester.fees import FeeModel, taker_fee
from backtester.units import MICRO

__all__ = ["Fill", "depth_within", "walk_buy"]

Level = tuple[int, int]


class Fill(NamedTuple):
    """What walking a side gives, all micro-units."""

    shares: int
    cost: int
    fee: int
    worst_price: int


def walk_buy(asks: Sequence[Level], shares: int, fees: FeeModel, *, limit: int = MICRO) -> Fill:
    """Buy up to ``shares`` from ``asks`` at prices up to ``limit``.

    The cost of each level is rounded up to the micro-pUSD (a buyer never pays less
    than the exact product); the taker fee is computed per level, as each match is
    charged.

    Golden case: 150 shares from asks 0.40 x 100 and 0.42 x 200, no fee:
    100 x 0.40 + 50 x 0.42 = 40 + 21 = 61 pUSD, worst price 0.42.

    >>> none = FeeModel("none")
    >>> walk_buy([(400_000, 100_000_000), (420_000, 200_000_000)], 150_000_000, none)
    Fill(shares=150000000, cost=61000000, fee=0, worst_price=420000)
    >>> walk_buy([(400_000, 100_000_000), (420_000, 200_000_000)], 150_000_000, none, limit=410_000)
    Fill(shares=100000000, cost=40000000, fee=0, worst_price=400000)
    """
    left, cost, fee, worst = shares, 0, 0, 0
    for price, size in asks:
        if left <= 0 or price > limit:
            break
        take = size if size < left else left
        cost += -(-take * price // MICRO)
        fee += taker_fee(fees, take, price)
        worst = price
        left -= take
    return Fill(shares - left, cost, fee, worst)


def depth_within(levels: Sequence[Level], limit: int, *, buying: bool = True) -> int:
    """Shares displayed on a side at prices no worse than ``limit``.

    >>> depth_within([(400_000, 5), (420_000, 7), (450_000, 9)], 420_000)
    12
    """
    total = 0
    for price, size in levels:
        if (price > limit) if buying else (price < limit):
            break
        total += size
    return total
