"""One token's order book, rebuilt from ``book`` snapshots and ``price_change`` updates.

A :class:`TokenBook` is in one of three states (contract section 2):

* ``full``: built from a ``book`` snapshot and every update after it, in order;
* ``partial``: no snapshot yet, only updates (some recorders keep only level updates).
  A level is known once an update has set it; levels never seen are unknown, not
  empty; the top of book is what the messages' ``best_bid``/``best_ask`` say;
* ``unknown``: sync was lost (a ``seq`` gap, or the book disagreeing with a message's
  ``best_bid``/``best_ask``), or nothing was seen yet. It stays unknown until the next
  ``book`` snapshot of the token: nothing is reconstructed or interpolated.

Levels are kept in plain dicts (price -> size, micro-units) with the best price tracked
incrementally: an update costs a dict store and a comparison; only removing the best
level rescans that side. Sorted sides are built on demand and cached until the next
change.
"""

from __future__ import annotations

from enum import StrEnum

from backtester.book.overlay import Overlay, OverlayScope, RunChanges

__all__ = ["BookState", "TokenBook"]


class BookState(StrEnum):
    FULL = "full"
    PARTIAL = "partial"
    UNKNOWN = "unknown"


class TokenBook(RunChanges):
    """The reconstructed book of one token. Prices and sizes are micro-units.

    >>> book = TokenBook("7123")
    >>> book.snapshot([480_000, 470_000], [1200, 310], [520_000, 530_000], [830, 95], ts_ms=1)
    >>> book.best_bid, book.best_ask, book.state.value
    (480000, 520000, 'full')
    >>> book.set_level(is_bid=True, price=480_000, size=0, ts_ms=2)   # the best bid leaves
    >>> book.best_bid, book.bids_sorted()
    (470000, [(470000, 310)])
    """

    __slots__ = (
        "_asks_cache",
        "_asks_owner",
        "_bids_cache",
        "_bids_owner",
        "ask_watchers",
        "asks",
        "asset_id",
        "best_ask",
        "best_bid",
        "bid_watchers",
        "bids",
        "depth_limit",
        "drops",
        "last_mid",
        "last_seq",
        "reason",
        "scope",
        "stamp_ms",
        "state",
        "tick",
        "top_ask",
        "top_bid",
    )

    def __init__(self, asset_id: str, tick: int | None = None, scope: OverlayScope | None = None) -> None:
        self.asset_id = asset_id
        self.tick = tick  # the price grid in force (micro-units): market record, then tick_size_change
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.best_bid: int | None = None
        self.best_ask: int | None = None
        # For partial books: the top of book the latest message stated (None: not stated).
        self.top_bid: int | None = None
        self.top_ask: int | None = None
        self.state = BookState.UNKNOWN
        self.reason = "no data yet"
        self.stamp_ms: int | None = None
        self.depth_limit: int | None = None
        self.last_seq: int | None = None
        self._bids_cache: list[tuple[int, int]] | None = None
        self._asks_cache: list[tuple[int, int]] | None = None
        # What the run itself changed (see backtester.book.overlay): the active variant's
        # overlays are read through the scope (bid_overlay, ask_overlay); the watchers are
        # every variant's, all told of each change the archive shows.
        self._bids_owner: object = None
        self._asks_owner: object = None
        self.bid_watchers: list[Overlay] = []
        self.ask_watchers: list[Overlay] = []
        self.scope = scope if scope is not None else OverlayScope()
        # The archive's latest drop per level, (is_bid, price) -> (ts_ms, shares), kept only
        # when the run restores the live footprint (None: not kept).
        self.drops: dict[tuple[bool, int], tuple[int, int]] | None = None
        # The mid before the book lost sync: what an open position is marked at meanwhile.
        self.last_mid: int | None = None

    # ------------------------------------------------------------ writing

    def snapshot(
        self,
        bid_px: list[int],
        bid_sz: list[int],
        ask_px: list[int],
        ask_sz: list[int],
        *,
        ts_ms: int,
        depth_limit: int | None = None,
    ) -> None:
        """Replace the book with a full snapshot (levels best first, as archived)."""
        old_bids, old_asks = self.bids, self.asks
        self.bids = dict(zip(bid_px, bid_sz, strict=True))
        self.asks = dict(zip(ask_px, ask_sz, strict=True))
        if self.drops is not None:
            self._note_drops(True, ts_ms, old_bids, self.bids)
            self._note_drops(False, ts_ms, old_asks, self.asks)
        self.best_bid = bid_px[0] if bid_px else None
        self.best_ask = ask_px[0] if ask_px else None
        self.top_bid = self.top_ask = None
        self.state = BookState.FULL
        self.reason = ""
        self.stamp_ms = ts_ms
        self.depth_limit = depth_limit
        self._bids_cache = self._asks_cache = None
        for overlay in self.bid_watchers:
            overlay.side_replaced(ts_ms, old_bids, self.bids)
        for overlay in self.ask_watchers:
            overlay.side_replaced(ts_ms, old_asks, self.asks)

    def _note_drops(self, is_bid: bool, ts_ms: int, old: dict[int, int], new: dict[int, int]) -> None:
        assert self.drops is not None
        for price, size in old.items():
            left = new.get(price, 0)
            if left < size:
                self.drops[(is_bid, price)] = (ts_ms, size - left)

    def set_level(
        self, *, is_bid: bool, price: int, size: int, ts_ms: int, best_bid: int = -1, best_ask: int = -1
    ) -> None:
        """Apply one ``price_change`` entry: ``size`` is the new total (0 removes).

        ``best_bid``/``best_ask`` (-1: not stated) are the top of book the message states
        after its last entry for this token; when given they are checked (see
        :meth:`check_top`).
        """
        self.apply(is_bid, price, size, ts_ms, best_bid, best_ask)

    def apply(  # noqa: PLR0917 - positional on purpose: the replay's hot path calls it per update
        self, is_bid: int, price: int, size: int, ts_ms: int, best_bid: int, best_ask: int
    ) -> None:
        """:meth:`set_level` with positional arguments (``is_bid`` truthy for a bid)."""
        if self.state is BookState.UNKNOWN:
            if self.stamp_ms is not None:
                return  # lost sync: wait for the next snapshot
            self.state = BookState.PARTIAL  # the stream starts without a snapshot
            self.reason = ""
        self.stamp_ms = ts_ms
        if self.drops is not None:
            old = (self.bids if is_bid else self.asks).get(price, 0)
            if size < old:
                self.drops[(bool(is_bid), price)] = (ts_ms, old - size)
        if is_bid:
            self._bids_cache = None
            if self.bid_watchers:
                old_size = self.bids.get(price, 0)
                for overlay in self.bid_watchers:
                    overlay.level_changed(price, ts_ms, old_size, size)
            if size:
                self.bids[price] = size
                if self.best_bid is None or price > self.best_bid:
                    self.best_bid = price
            elif self.bids.pop(price, None) is not None and price == self.best_bid:
                self.best_bid = max(self.bids) if self.bids else None
        else:
            self._asks_cache = None
            if self.ask_watchers:
                old_size = self.asks.get(price, 0)
                for overlay in self.ask_watchers:
                    overlay.level_changed(price, ts_ms, old_size, size)
            if size:
                self.asks[price] = size
                if self.best_ask is None or price < self.best_ask:
                    self.best_ask = price
            elif self.asks.pop(price, None) is not None and price == self.best_ask:
                self.best_ask = min(self.asks) if self.asks else None
        if best_bid < 0 and best_ask < 0:
            return
        if self.state is BookState.PARTIAL:  # check_top's partial case, inline for speed
            if best_bid >= 0:
                self.top_bid = top = best_bid or None
                if self.best_bid is not None and (top is None or self.best_bid > top):
                    self._prune_bids(top)
            if best_ask >= 0:
                self.top_ask = top = best_ask if 0 < best_ask < 1_000_000 else None
                if self.best_ask is not None and (top is None or self.best_ask < top):
                    self._prune_asks(top)
        else:
            self.check_top(best_bid if best_bid >= 0 else None, best_ask if best_ask >= 0 else None)

    def trade(self, *, taker_buys: bool, price: int, size: int) -> None:
        """A trade of ``size`` at ``price``: on a partial book, the known level it hit shrinks.

        Full books are left alone: Polymarket follows a trade with a ``book`` snapshot (and
        level updates carry absolute sizes). A level-update recorder may keep neither, so a
        partial book would otherwise keep shares a trade already took.
        """
        if self.state is not BookState.PARTIAL:
            return
        side = self.asks if taker_buys else self.bids
        left = side.get(price)
        if left is None:
            return
        if left > size:
            side[price] = left - size
        else:
            del side[price]
            if taker_buys and price == self.best_ask:
                self.best_ask = min(side) if side else None
            elif not taker_buys and price == self.best_bid:
                self.best_bid = max(side) if side else None
        if taker_buys:
            self._asks_cache = None
        else:
            self._bids_cache = None

    def live_fill(self, *, bid_side: bool, price: int, shares: int, ts_ms: int, echo_ms: int) -> None:
        """The live bot's own fill took ``shares`` at ``price`` at ``ts_ms``: add them back
        as far as the archive shows them gone (see :mod:`backtester.book.overlay`)."""
        recent = 0
        if self.drops is not None:
            dropped = self.drops.get((bid_side, price))
            if dropped is not None and dropped[0] >= ts_ms - echo_ms:
                recent = dropped[1]
        self._overlay(bid_side).live_fill(price, shares, ts_ms + echo_ms, recent)

    def check_seq(self, seq: int) -> int:
        """Record a message's ``seq``; return how many messages of the token are missing
        before it (a jump from n to n + k: k - 1). Any break in the chain loses sync (a
        repeated or backward ``seq`` too, missing nothing); missing messages are counted
        even while the book is already out of sync."""
        last = self.last_seq
        self.last_seq = seq
        if last is None or seq == last + 1:
            return 0
        missing = max(seq - last - 1, 0)
        if self.state is not BookState.UNKNOWN:
            self.lose_sync(f"seq gap: {last} then {seq} ({missing} message(s) missing)")
        return missing

    def check_top(self, best_bid: int | None, best_ask: int | None) -> bool:
        """Compare with a message's stated top of book (0 bid / 1 ask mean an empty side).

        A full book that disagrees loses sync. A partial book takes the stated top as its
        own (that is how a partial book knows its top) and drops known levels better than
        it: those were taken by trades, which Polymarket reports in ``book`` messages a
        level-update recorder does not keep, so they are stale. Returns False on a loss.
        """
        if self.state is BookState.PARTIAL:
            if best_bid is not None:
                self.top_bid = top = best_bid or None
                if self.best_bid is not None and (top is None or self.best_bid > top):
                    self._prune_bids(top)
            if best_ask is not None:
                self.top_ask = top = best_ask if 0 < best_ask < 1_000_000 else None
                if self.best_ask is not None and (top is None or self.best_ask < top):
                    self._prune_asks(top)
            return True
        if self.state is not BookState.FULL:
            return True
        if best_bid is not None and (best_bid or None) != self.best_bid:
            self.lose_sync(f"best_bid disagreement: message says {best_bid}, book has {self.best_bid}")
            return False
        if best_ask is not None and (best_ask if 0 < best_ask < 1_000_000 else None) != self.best_ask:
            self.lose_sync(f"best_ask disagreement: message says {best_ask}, book has {self.best_ask}")
            return False
        return True

    def _prune_bids(self, top: int | None) -> None:
        self.bids = {p: s for p, s in self.bids.items() if top is not None and p <= top}
        self.best_bid = max(self.bids) if self.bids else None
        self._bids_cache = None

    def _prune_asks(self, top: int | None) -> None:
        self.asks = {p: s for p, s in self.asks.items() if top is not None and p >= top}
        self.best_ask = min(self.asks) if self.asks else None
        self._asks_cache = None

    def lose_sync(self, reason: str) -> None:
        if self.state is not BookState.UNKNOWN:
            self.last_mid = self.mid()
        self.state = BookState.UNKNOWN
        self.reason = reason
        self.clear_overlays()  # every variant's changes go with the book they were made on
        self.bids, self.asks = {}, {}
        self.best_bid = self.best_ask = self.top_bid = self.top_ask = None

    # ------------------------------------------------------------ reading

    def archive_best(self, *, bid_side: bool) -> int | None:
        """The archive's own best price on one side (the run's changes left out)."""
        if self.state is BookState.PARTIAL:
            return self.top_bid if bid_side else self.top_ask
        return self.best_bid if bid_side else self.best_ask

    def archive_shares_within(self, *, bid_side: bool, limit: int) -> int:
        """Shares the archive's own book displays on one side at ``limit`` or better."""
        if bid_side:
            return sum(size for price, size in self.bids.items() if price >= limit)
        return sum(size for price, size in self.asks.items() if price <= limit)

    def mid(self) -> int:
        """What a share is worth by the archive's own book (the run's changes left out):
        the mid of the displayed top, the bid when there is no ask, else 0. While the book
        is out of sync, the mid it had before it lost sync (stale, but not a made-up 0)."""
        if self.state is BookState.UNKNOWN:
            return self.last_mid or 0
        partial = self.state is BookState.PARTIAL
        bid = self.top_bid if partial else self.best_bid
        ask = self.top_ask if partial else self.best_ask
        if bid is not None and ask is not None:
            return (bid + ask) // 2
        return bid or 0

    def bids_sorted(self) -> list[tuple[int, int]]:
        """Known bid levels as the run sees them, best (highest) first (cached for the
        variant that asked, until the next change)."""
        owner = self.scope.active
        if self._bids_cache is None or self._bids_owner is not owner:
            overlay = self.bid_overlay
            levels = overlay.adjust(self.bids) if overlay else self.bids
            self._bids_cache, self._bids_owner = sorted(levels.items(), reverse=True), owner
        return self._bids_cache

    def asks_sorted(self) -> list[tuple[int, int]]:
        """Known ask levels as the run sees them, best (lowest) first."""
        owner = self.scope.active
        if self._asks_cache is None or self._asks_owner is not owner:
            overlay = self.ask_overlay
            levels = overlay.adjust(self.asks) if overlay else self.asks
            self._asks_cache, self._asks_owner = sorted(levels.items()), owner
        return self._asks_cache
