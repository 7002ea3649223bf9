"""What the run itself changed on a side of a book, on top of what the archive shows.

Two adjustments, both per price level:

* **taken**: shares a simulated fill took. They are gone for every later order of the
  run until the archive shows that level again (an update of the level, or a snapshot):
  from then on the archive is the truth, since the run cannot know how the market would
  have refilled it. No displayed share is ever filled twice.
* **restored** (the live footprint): shares the live bot's own archived fill took. From
  the fill on, the archive shows the level without them, which would penalise a replay
  of the same strategy for its own past trades, so they are added back, but only as far
  as the archive actually shows them gone:

  - a live fill of n shares at p opens a *credit* of n at p, for an echo window
    (``until_ms``: the fill's time plus ``simulation.live_fill_echo_ms``), since the bot
    stamps its ExecutionReport on its own clock, before or after the exchange publishes
    the change its fill caused;
  - a drop of the archive's level at p inside the window (also one just before the fill,
    which the book remembers) is the fill's echo, up to the credit: that much is
    restored, and what the run had taken at p stays taken;
  - the first change of the level after the window ends the restoration: the archive is
    the truth again.

  Shares are never restored twice, never beyond what the live bot reported, and never
  before the archive shows them gone. A live fill reported at an average price between
  levels matches no level, so nothing is restored for it (conservative).
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Overlay", "OverlayScope", "RunChanges"]


class Overlay:
    """Adjustments of one side (bids or asks) of one token's book. Micro-units."""

    __slots__ = ("footprint", "taken")

    def __init__(self) -> None:
        self.taken: dict[int, int] = {}
        self.footprint: dict[int, list[int]] = {}  # price -> [credit left, restored, until_ms]

    def __bool__(self) -> bool:
        return bool(self.taken or self.footprint)

    def clear(self) -> None:
        """Forget every adjustment (the book lost sync: nothing of it is known any more)."""
        self.taken.clear()
        self.footprint.clear()

    def take(self, price: int, shares: int) -> None:
        self.taken[price] = self.taken.get(price, 0) + shares

    def live_fill(self, price: int, shares: int, until_ms: int, recent_drop: int = 0) -> None:
        """The live bot took ``shares`` at ``price``; ``recent_drop``: how far the archive's
        level had already dropped inside the echo window before the fill was reported."""
        entry = self.footprint.get(price)
        if entry is None:
            entry = self.footprint[price] = [0, 0, until_ms]
        entry[0] += shares
        entry[2] = max(entry[2], until_ms)
        if recent_drop > 0:
            absorbed = min(recent_drop, entry[0])
            entry[0] -= absorbed
            entry[1] += absorbed

    def level_changed(self, price: int, ts_ms: int, old: int, new: int) -> None:
        """The archive showed this level again at ``ts_ms``, from ``old`` to ``new`` shares."""
        entry = self.footprint.get(price)
        if entry is not None:
            if ts_ms <= entry[2]:
                drop = old - new
                if drop > 0 and entry[0] > 0:
                    absorbed = min(drop, entry[0])
                    entry[0] -= absorbed
                    entry[1] += absorbed
                    if absorbed == drop:
                        return  # the live fill's own echo: what the run took stays taken
            else:
                del self.footprint[price]
        self.taken.pop(price, None)

    def side_replaced(self, ts_ms: int, old: dict[int, int], new: dict[int, int]) -> None:
        """A snapshot showed the whole side again at ``ts_ms``."""
        for price in {*self.taken, *self.footprint}:
            self.level_changed(price, ts_ms, old.get(price, 0), new.get(price, 0))

    def adjust(self, levels: dict[int, int]) -> dict[int, int]:
        """The side's displayed levels with the run's adjustments applied."""
        out = dict(levels)
        for price, (_, restored, _) in self.footprint.items():
            if restored:
                out[price] = out.get(price, 0) + restored
        for price, shares in self.taken.items():
            left = out.get(price, 0) - shares
            if left > 0:
                out[price] = left
            else:
                out.pop(price, None)
        return out


class OverlayScope:
    """Whose overlays the books of a run read and make: one variant's at a time.

    A one-pass sweep shares one set of books among its variants. Each variant keeps its
    overlays in its own dict, ``(asset_id, is_bid) -> Overlay``; the engine points
    ``active`` at the dict of the variant it is about to run, the books read their
    ``bid_overlay``/``ask_overlay`` from it, and an overlay a fill makes lands in it (a
    switch costs one assignment). A book alone (or a single variant) has a scope of its own.
    """

    __slots__ = ("active",)

    def __init__(self) -> None:
        self.active: dict[tuple[str, bool], Overlay] = {}

    def new(self, asset_id: str, is_bid: bool) -> Overlay:
        overlay = self.active[(asset_id, is_bid)] = Overlay()
        return overlay


class RunChanges:
    """What a book (the reference's ``TokenBook``, the compiled path's ``ArrayBook``)
    does with the run's own changes: the active variant's overlays, read through the
    book's ``scope``; new ones made and watched on first use; and the best prices as the
    run sees them. The book provides ``asset_id``, ``scope``, ``bid_watchers``,
    ``ask_watchers``, ``_bids_cache``, ``_asks_cache``, ``archive_best`` and the sorted
    sides (declared below, defined by each book)."""

    __slots__ = ()
    asset_id: str
    scope: OverlayScope
    bid_watchers: list[Overlay]
    ask_watchers: list[Overlay]
    _bids_cache: list[tuple[int, int]] | None
    _asks_cache: list[tuple[int, int]] | None
    # What the book itself reads (each book has its own, over its own storage):
    archive_best: Callable[..., int | None]
    bids_sorted: Callable[[], list[tuple[int, int]]]
    asks_sorted: Callable[[], list[tuple[int, int]]]

    @property
    def bid_overlay(self) -> Overlay | None:
        """The active variant's changes to the bids (see OverlayScope), if any."""
        return self.scope.active.get((self.asset_id, True))

    @property
    def ask_overlay(self) -> Overlay | None:
        return self.scope.active.get((self.asset_id, False))

    @property
    def bid(self) -> int | None:
        """Best bid: the book's own (for a partial book the stated top), or with the run's
        own changes, when it made any."""
        if self.scope.active and self.bid_overlay:
            levels = self.bids_sorted()
            return levels[0][0] if levels else None
        return self.archive_best(bid_side=True)

    @property
    def ask(self) -> int | None:
        """Best ask, as :attr:`bid`."""
        if self.scope.active and self.ask_overlay:
            levels = self.asks_sorted()
            return levels[0][0] if levels else None
        return self.archive_best(bid_side=False)

    def take(self, *, bid_side: bool, price: int, shares: int) -> None:
        """A simulated fill took ``shares`` at ``price``."""
        self._overlay(bid_side).take(price, shares)

    def _overlay(self, bid_side: bool) -> Overlay:
        """The active variant's overlay of one side, made (and watched) on first use."""
        overlay = self.scope.active.get((self.asset_id, bid_side))
        if overlay is None:
            overlay = self.scope.new(self.asset_id, bid_side)
            (self.bid_watchers if bid_side else self.ask_watchers).append(overlay)
        if bid_side:
            self._bids_cache = None
        else:
            self._asks_cache = None
        return overlay

    def clear_overlays(self) -> None:
        """The book lost sync: every variant's changes go with it (nothing of the book is
        known any more); the overlays stay watched, empty, for the next fills."""
        for overlay in (*self.bid_watchers, *self.ask_watchers):
            overlay.clear()
        self._bids_cache = self._asks_cache = None
