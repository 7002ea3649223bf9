"""The archive's own books over a run's window, sampled: for the live outcome's equity
curve (marks at the live bot's ledger events) and for price charts (top of book).

A books-only pass over the same feed the variants replay, applying book events exactly
as the engine does (snapshots, level updates, trades on partial books, tick-size
changes, ``seq`` checks), with no strategy and no run of its own: what it reads is what
the archive showed, never a simulated fill.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from backtester.book.book import TokenBook
from backtester.book.feed import ArchiveFeed, Kind, apply_market_event

__all__ = ["Tape", "replay_books"]


@dataclass
class Tape:
    """Samples of the archive's books."""

    marks: list[dict[str, int]] = field(default_factory=list)
    """Every token's mid at each requested time (after every event stamped at or before it)."""
    tops: dict[str, list[tuple[int, int | None, int | None]]] = field(default_factory=dict)
    """Per watched token, (ts_ms, best bid, best ask) whenever the archive's top changed."""

    def mark_at(self, times: Sequence[int], ts_ms: int) -> dict[str, int]:
        """The marks sampled at the latest requested time at or before ``ts_ms``."""
        index = bisect_right(times, ts_ms) - 1
        return self.marks[index] if index >= 0 else {}


def replay_books(feed: ArchiveFeed, *, at: Sequence[int] = (), watch: Collection[str] = ()) -> Tape:
    """Apply ``feed``'s book events; sample every mid at the times ``at`` (sorted), and
    record the top of book of the ``watch`` tokens as it changes."""
    books = {
        token: TokenBook(token, history[0][1].tick_size)
        for history in feed.markets.values()
        for token in history[-1][1].tokens
    }
    tape = Tape(tops={token: [] for token in watch if token in books})
    times = list(at)
    nxt = 0
    tick = Kind.TICK_SIZE
    for (
        clock,
        ts,
        kind,
        _market,
        asset,
        seq,
        is_bid,
        price,
        size,
        best_bid,
        best_ask,
        extra,
    ) in feed.iter_events():
        while nxt < len(times) and times[nxt] < clock:
            tape.marks.append({token: book.mid() for token, book in books.items()})
            nxt += 1
        book = books.get(asset) if asset is not None else None
        if book is None or kind > tick:
            continue
        if seq >= 0:
            book.check_seq(seq)
        apply_market_event(book, kind, ts, is_bid, price, size, best_bid, best_ask, extra)
        tops = tape.tops.get(asset)  # type: ignore[arg-type]
        if tops is not None:
            top = (book.archive_best(bid_side=True), book.archive_best(bid_side=False))
            if not tops or tops[-1][1:] != top:
                tops.append((ts, *top))
    while nxt < len(times):
        tape.marks.append({token: book.mid() for token, book in books.items()})
        nxt += 1
    return tape
