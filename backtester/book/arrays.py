"""The books of the compiled path: NumPy arrays the kernel writes (:mod:`.kernel`), and
:class:`ArrayBook`, a view of one token's book over them with
:class:`~backtester.book.book.TokenBook`'s reading interface and the same overlays, so
strategies, guards and the venue read it exactly as they read a ``TokenBook``.

Reading a side (``asks_sorted``) scans the token's price slots; it happens only where
Python looks (a trigger that fired, an order arriving), never per event.
"""

from __future__ import annotations

import numpy as np

from backtester.book import kernel as kn
from backtester.book.book import BookState
from backtester.book.overlay import Overlay, OverlayScope, RunChanges

__all__ = ["ArrayBook", "BookArrays"]

_STATES = (BookState.UNKNOWN, BookState.PARTIAL, BookState.FULL)


class BookArrays:
    """Every token's book as arrays (see the kernel's layout)."""

    def __init__(self, ticks: list[int | None], *, drops: bool) -> None:
        tokens = len(ticks)
        self.bids = np.zeros((tokens, kn.SLOTS), np.int64)
        self.asks = np.zeros((tokens, kn.SLOTS), np.int64)
        shape = (tokens, 2, kn.SLOTS) if drops else (1, 2, 1)
        self.drops_ts = np.zeros(shape, np.int64)
        self.drops_sz = np.zeros(shape, np.int64)
        self.drops = drops
        tok = np.zeros((tokens, len(kn.FIELDS)), np.int64)
        for field in (
            kn.STAMP,
            kn.LAST_SEQ,
            kn.BEST_BID,
            kn.BEST_ASK,
            kn.TOP_BID,
            kn.TOP_ASK,
            kn.DEPTH,
            kn.LAST_MID,
        ):
            tok[:, field] = -1
        tok[:, kn.STATE] = kn.UNKNOWN
        tok[:, kn.LOSS] = kn.NO_DATA
        tok[:, kn.HI_BID] = 0
        tok[:, kn.LO_ASK] = kn.SLOTS - 1
        tok[:, kn.TICK] = [-1 if tick is None else tick for tick in ticks]
        self.tok = tok


class ArrayBook(RunChanges):
    """One token's book, read from :class:`BookArrays` (see the module docstring)."""

    __slots__ = (
        "_asks_cache",
        "_asks_key",
        "_bids_cache",
        "_bids_key",
        "arrays",
        "ask_watchers",
        "asset_id",
        "bid_watchers",
        "index",
        "scope",
    )

    def __init__(self, asset_id: str, index: int, arrays: BookArrays, scope: OverlayScope) -> None:
        self.asset_id, self.index, self.arrays, self.scope = asset_id, index, arrays, scope
        self.bid_watchers: list[Overlay] = []
        self.ask_watchers: list[Overlay] = []
        self._bids_cache: list[tuple[int, int]] | None = None
        self._asks_cache: list[tuple[int, int]] | None = None
        self._bids_key: tuple[int, object] | None = None
        self._asks_key: tuple[int, object] | None = None

    def _field(self, field: int) -> int | None:
        value = int(self.arrays.tok[self.index, field])
        return None if value < 0 else value

    # ------------------------------------------------------------ state

    @property
    def state(self) -> BookState:
        return _STATES[self.arrays.tok[self.index, kn.STATE]]

    @property
    def stamp_ms(self) -> int | None:
        tok = self.arrays.tok[self.index]
        return int(tok[kn.STAMP]) if tok[kn.STAMPED] else None

    @property
    def tick(self) -> int | None:
        return self._field(kn.TICK)

    @property
    def depth_limit(self) -> int | None:
        return self._field(kn.DEPTH)

    @property
    def last_seq(self) -> int | None:
        tok = self.arrays.tok[self.index]
        return int(tok[kn.LAST_SEQ]) if tok[kn.HAS_SEQ] else None

    @property
    def best_bid(self) -> int | None:
        return self._field(kn.BEST_BID)

    @property
    def best_ask(self) -> int | None:
        return self._field(kn.BEST_ASK)

    @property
    def top_bid(self) -> int | None:
        return self._field(kn.TOP_BID)

    @property
    def top_ask(self) -> int | None:
        return self._field(kn.TOP_ASK)

    @property
    def reason(self) -> str:
        """The reference's reason text (TokenBook.reason)."""
        tok = self.arrays.tok[self.index]
        code, a, b, c = (int(tok[f]) for f in (kn.LOSS, kn.LOSS_A, kn.LOSS_B, kn.LOSS_C))
        if code == kn.NO_DATA:
            return "no data yet"
        if code == kn.IN_SYNC:
            return ""
        if code == kn.SEQ_GAP:
            return f"seq gap: {a} then {b} ({c} message(s) missing)"
        side = "best_bid" if code == kn.BID_DISAGREES else "best_ask"
        return f"{side} disagreement: message says {a}, book has {b if b >= 0 else None}"

    @property
    def version(self) -> int:
        return int(self.arrays.tok[self.index, kn.VERSION])

    # ------------------------------------------------------------ levels

    def _side(self, bid_side: bool) -> dict[int, int]:
        row = (self.arrays.bids if bid_side else self.arrays.asks)[self.index]
        slots = np.flatnonzero(row)
        return dict(zip((slots * 100).tolist(), np.maximum(row[slots], 0).tolist(), strict=True))

    @property
    def bids(self) -> dict[int, int]:
        return self._side(True)

    @property
    def asks(self) -> dict[int, int]:
        return self._side(False)

    def archive_best(self, *, bid_side: bool) -> int | None:
        tok = self.arrays.tok[self.index]
        if tok[kn.STATE] == kn.PARTIAL:
            value = tok[kn.TOP_BID] if bid_side else tok[kn.TOP_ASK]
        else:
            value = tok[kn.BEST_BID] if bid_side else tok[kn.BEST_ASK]
        return None if value < 0 else int(value)

    def archive_shares_within(self, *, bid_side: bool, limit: int) -> int:
        if bid_side:
            return sum(size for price, size in self.bids.items() if price >= limit)
        return sum(size for price, size in self.asks.items() if price <= limit)

    def mid(self) -> int:
        return int(kn.mid(self.arrays.tok, self.index))

    def bids_sorted(self) -> list[tuple[int, int]]:
        key = (self.version, self.scope.active)
        if (
            self._bids_cache is None
            or self._bids_key is None
            or self._bids_key[0] != key[0]
            or (self._bids_key[1] is not key[1])
        ):
            overlay = self.bid_overlay
            levels = overlay.adjust(self.bids) if overlay else self.bids
            self._bids_cache, self._bids_key = sorted(levels.items(), reverse=True), key
        return self._bids_cache

    def asks_sorted(self) -> list[tuple[int, int]]:
        key = (self.version, self.scope.active)
        if (
            self._asks_cache is None
            or self._asks_key is None
            or self._asks_key[0] != key[0]
            or (self._asks_key[1] is not key[1])
        ):
            overlay = self.ask_overlay
            levels = overlay.adjust(self.asks) if overlay else self.asks
            self._asks_cache, self._asks_key = sorted(levels.items()), key
        return self._asks_cache

    # ------------------------------------------------------------ the run's own changes

    def live_fill(self, *, bid_side: bool, price: int, shares: int, ts_ms: int, echo_ms: int) -> None:
        recent = 0
        arrays = self.arrays
        if arrays.drops and price % 100 == 0 and 0 <= price <= kn.MICRO:
            side, slot = (1 if bid_side else 0), price // 100
            amount = int(arrays.drops_sz[self.index, side, slot])
            if amount > 0 and arrays.drops_ts[self.index, side, slot] >= ts_ms - echo_ms:
                recent = amount
        self._overlay(bid_side).live_fill(price, shares, ts_ms + echo_ms, recent)

    @property
    def watched(self) -> bool:
        """Has some variant a change on this book that the archive's changes must reach?"""
        return any(self.bid_watchers) or any(self.ask_watchers)
