"""What the run itself changed on a side of a book, on top of what the archive shows.

Two adjustments, both per price level:

* **taken**: shares a simulated fill took. They are gone for every later order of the
  run until the archive shows that level again (an update of the level, or a snapshot):
  from then on the archive is the truth, since the run cannot know how the market would
  have refilled it. No displayed share is ever filled twice.
* **restored**: shares the live bot's own archived fill took (the live footprint). The
  archive shows the level without them from the live fill on, which would penalise a
  replay of the same strategy for its own past trades, so they are added back, until the
  archive changes that level again for another reason. The archive's changes of the level
  up to ``until_ms`` (the live fill's time plus an echo window) are taken to be the fill
  itself and leave the restoration in place; the first change after it ends it. The
  window is needed because the bot stamps its ExecutionReport on its own clock, before or
  after the exchange publishes the level change its fill caused.
"""

from __future__ import annotations

__all__ = ["Overlay"]


class Overlay:
    """Adjustments of one side (bids or asks) of one token's book. Micro-units."""

    __slots__ = ("restored", "taken")

    def __init__(self) -> None:
        self.taken: dict[int, int] = {}
        self.restored: dict[int, list[int]] = {}  # price -> [shares, until_ms]

    def __bool__(self) -> bool:
        return bool(self.taken or self.restored)

    def take(self, price: int, shares: int) -> None:
        self.taken[price] = self.taken.get(price, 0) + shares

    def restore(self, price: int, shares: int, until_ms: int) -> None:
        entry = self.restored.get(price)
        if entry is None:
            self.restored[price] = [shares, until_ms]
        else:
            entry[0] += shares
            entry[1] = max(entry[1], until_ms)

    def level_changed(self, price: int, ts_ms: int) -> None:
        """The archive showed this level again at ``ts_ms``."""
        self.taken.pop(price, None)
        entry = self.restored.get(price)
        if entry is not None and ts_ms > entry[1]:  # not the live fill's own echo
            del self.restored[price]

    def side_replaced(self, ts_ms: int) -> None:
        """A snapshot showed the whole side again at ``ts_ms``."""
        self.taken.clear()
        for price in list(self.restored):
            self.level_changed(price, ts_ms)

    def adjust(self, levels: dict[int, int]) -> dict[int, int]:
        """The side's displayed levels with the run's adjustments applied."""
        out = dict(levels)
        for price, (shares, _) in self.restored.items():
            out[price] = out.get(price, 0) + shares
        for price, shares in self.taken.items():
            left = out.get(price, 0) - shares
            if left > 0:
                out[price] = left
            else:
                out.pop(price, None)
        return out
