"""The compiled pass: the same pass as :class:`~backtester.runs.engine.Pass` (the
readable reference, kept), with the books and the instant loop in compiled code
(:mod:`backtester.book.kernel`) over the feed's column batches.

The kernel applies every market-data event to array books and does the bookkeeping of
the ticks nobody needs to look at; it hands each stop back here, where the reference's
own methods (``decide``, ``end_instant``, ``execute_due``, ``on_event``, the skip and
missing reports) do the rest on :class:`~backtester.book.arrays.ArrayBook` views of the
same arrays. The result is the reference's, byte for byte (the tests compare both on the
sample, the real streams and generated archives). A price off the kernel's grid (a
multiple of 0.0001) raises :class:`OffGrid`, and the caller runs the reference instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from backtester.book import kernel as kn
from backtester.book.arrays import ArrayBook, BookArrays
from backtester.book.book import BookState
from backtester.book.feed import ArchiveFeed, EventBatch, Kind
from backtester.book.overlay import OverlayScope
from backtester.config.replay import SimulationConfig
from backtester.runs.engine import Pass
from backtester.runs.markets import Markets
from backtester.runs.variant import VariantResult

__all__ = ["CompiledPass", "OffGrid"]

SLICE = 65_536
"""Events per kernel call between two looks at the stop signal and the progress bar."""
MISSING_LOG = 4_096
_NO_TICK = np.iinfo(np.int64).min
_NEVER = np.iinfo(np.int64).max


class OffGrid(Exception):
    """A price the kernel's grid cannot hold: run the reference instead."""


class _LastTick(Mapping[str, int]):
    """The latest tick of each group, as the kernel and the Python decisions record it."""

    def __init__(self, index: dict[str, int], ticks: np.ndarray) -> None:
        self.index, self.ticks = index, ticks

    def __getitem__(self, group: str) -> int:
        value = self.ticks[self.index[group]]
        if value == _NO_TICK:
            raise KeyError(group)
        return int(value)

    def __setitem__(self, group: str, clock: int) -> None:
        self.ticks[self.index[group]] = clock

    def __iter__(self) -> Iterator[str]:
        return (g for g, i in self.index.items() if self.ticks[i] != _NO_TICK)

    def __len__(self) -> int:
        return int((self.ticks != _NO_TICK).sum())


class CompiledPass(Pass):
    """One pass in compiled code (see the module docstring)."""

    def make_markets(self, feed: ArchiveFeed, simulation: SimulationConfig) -> Markets:
        tokens = feed.tokens
        self.token_index = {token: i for i, token in enumerate(tokens)}
        first_tick = {
            token: history[0][1].tick_size
            for history in feed.markets.values()
            for token in history[-1][1].tokens
        }
        drops = simulation.restore_live_footprint and feed.has_live_executions
        self.arrays = BookArrays([first_tick.get(token) for token in tokens], drops=drops)

        def make_book(token: str, _tick: int | None, scope: OverlayScope) -> ArrayBook:
            return ArrayBook(token, self.token_index[token], self.arrays, scope)

        markets = Markets(feed.markets, make_book)
        self.by_index: list[ArrayBook | None] = [markets.books.get(token) for token in tokens]
        return markets

    def _layout(self) -> None:
        """The groups, their tokens and their trigger rules, as the kernel's arrays."""
        markets, index = self.markets, self.token_index
        self.group_names = sorted(markets.groups)
        gindex = {g: i for i, g in enumerate(self.group_names)}
        count = len(self.group_names)
        self.group_of = np.zeros(len(index), np.int32)
        gptr, gtok = [0], []
        rptr, rtok_ptr, rtok, rfilter, rmin, rceil_ptr, rceil = [0], [0], [], [], [], [0], []
        self.gpy = np.zeros(count, np.int8)
        for g, group in enumerate(self.group_names):
            views, books = markets.views(group, self.feed.start_ms)
            for book in books:
                self.group_of[index[book.asset_id]] = g
            members = sorted({index[b.asset_id] for b in books})
            gtok += members
            gptr.append(len(gtok))
            if group in markets.changing:
                self.gpy[g] = 1  # its records (and so its rules) change with time: decided in Python
            if self.rules_of is not None and not self.gpy[g]:
                for rule in self.rules(group, views):
                    rtok += [index[t] for t in rule.tokens]
                    rtok_ptr.append(len(rtok))
                    rfilter.append(int(rule.skip_unknown))
                    rmin.append(rule.min_count if rule.skip_unknown else len(rule.tokens))
                    rceil += list(rule.ceilings)
                    rceil_ptr.append(len(rceil))
            rptr.append(len(rtok_ptr) - 1)
        as64 = lambda values: np.asarray(values, np.int64)  # noqa: E731
        self.gptr, self.gtok = as64(gptr), as64(gtok)
        rules = (rptr, rtok_ptr, rtok, rfilter, rmin, rceil_ptr[:-1], rceil)
        self.rules_arrays = tuple(as64(values) for values in rules)
        self.gap_open = np.zeros(count, np.int8)
        self.touched = np.zeros(count, np.int8)
        self.tlist = np.zeros(count, np.int32)
        self.watched = np.zeros(len(index), np.int8)
        self.mlog = np.zeros((MISSING_LOG, 4), np.int64)
        ticks = np.full(count, _NO_TICK, np.int64)
        self.last_tick = _LastTick(gindex, ticks)  # type: ignore[assignment]
        self.gindex = gindex
        ctl = self.ctl = np.zeros(len(kn.CTL), np.int64)
        ctl[kn.START] = self.feed.start_ms
        ctl[kn.DUE_BEFORE] = _NEVER
        ctl[kn.ALL_PY] = int(self.rules_of is None)
        ctl[kn.STEP] = ctl[kn.BOUNDARY_DONE] = -1
        ctl[kn.DROPS_ON] = int(self.arrays.drops)
        ctl[kn.RESTORE] = int(self.sim.restore_live_footprint)

    # ------------------------------------------------------------ the loop

    def run(self) -> list[VariantResult]:
        self.activate(self.variants[0])
        self._layout()
        ctl, stop, progress = self.ctl, self.stop, self.progress
        for batch in self.feed.batches():
            self._batch(batch)
            columns = batch.columns
            ctl[kn.BOUNDARY_DONE] = ctl[kn.STEP] = -1
            i = 0
            while i < batch.n:
                end = min(batch.n, i + SLICE)
                at, why = self._kernel(i, end)
                if why == kn.Stop.END:
                    if progress is not None:
                        progress(at - i)
                    self._flush_missing()  # the log holds rows of this batch
                    self._refresh()
                    i = at
                    if stop is not None and stop.requested:
                        stop.check(at_ms=int(ctl[kn.CUR_CLOCK]), variant_id=self.variants[0].ids.variant_id,
                                   ticks=self.ticks_replayed + int(ctl[kn.TICKS]))  # fmt: skip
                    continue
                if progress is not None:
                    progress(at - i)
                self._flush_missing()
                if why == kn.Stop.BOUNDARY:
                    self._boundary(int(columns["clock"][at]))
                    ctl[kn.BOUNDARY_DONE] = at
                    i = at
                elif why == kn.Stop.PYEVENT:
                    self._python_event(batch, at)
                    i = at + 1
                elif why == kn.Stop.WATCHED:
                    self._watched_step(batch, at)
                    i = at + 1
                elif why == kn.Stop.FLUSH:
                    i = at
                else:
                    raise OffGrid
                self._refresh()
        self._flush_missing()
        if ctl[kn.N_TOUCHED] or self.live:
            self.end_instant(self._take_touched(), int(ctl[kn.CUR_CLOCK]))
        self.ticks_replayed += int(ctl[kn.TICKS])
        self.ticks_partial += int(ctl[kn.PARTIAL_TICKS])
        return self.finish(int(ctl[kn.APPLIED]))

    def _batch(self, batch: EventBatch) -> None:
        self.batch = batch
        columns = batch.columns
        self.columns = (
            *(columns[name] for name in ("clock", "ts_ms", "kind")), batch.asset,
            *(columns[name] for name in ("seq", "is_bid", "price", "size", "best_bid", "best_ask")),
        )  # fmt: skip
        self.levels = batch.book_levels()

    def _kernel(self, i0: int, i1: int) -> tuple[int, int]:
        arrays = self.arrays
        at, why = kn.run(
            i0, i1, *self.columns, *self.levels, arrays.tok, arrays.bids, arrays.asks, arrays.drops_ts,
            arrays.drops_sz, self.ctl, self.group_of, self.gptr, self.gtok, self.gpy, self.gap_open,
            self.watched, self.touched, self.tlist, self.last_tick.ticks, self.mlog,  # type: ignore[attr-defined]
            *self.rules_arrays,
        )  # fmt: skip
        return int(at), int(why)

    def _take_touched(self) -> set[str]:
        ctl = self.ctl
        groups = {self.group_names[g] for g in self.tlist[: ctl[kn.N_TOUCHED]]}
        self.touched[:] = 0
        ctl[kn.N_TOUCHED] = 0
        return groups

    def _boundary(self, clock: int) -> None:
        """The end of the instant before ``clock``, as the reference does it."""
        self.end_instant(self._take_touched(), int(self.ctl[kn.CUR_CLOCK]))
        if self.waiting:
            self.execute_due(before=clock)

    def _flush_missing(self) -> None:
        """Take the kernel's log, in stream order: messages found missing (reported), and
        the signals and live decisions it met (taken as the reference takes them)."""
        count = int(self.ctl[kn.N_MISSING])
        for clock, t, seq, missing in self.mlog[:count].tolist():
            if t < 0:
                self._python_event(self.batch, seq)  # the row of a signal or a live decision
                continue
            book = self.by_index[t]
            assert book is not None
            self.report_missing(book, self.markets.group_of_asset[book.asset_id], clock, seq, missing)
        self.ctl[kn.N_MISSING] = 0

    def _python_event(self, batch: EventBatch, i: int) -> None:
        columns = batch.columns
        self.on_event(
            int(columns["kind"][i]), int(columns["clock"][i]), int(columns["ts_ms"][i]), batch.market(i),
            batch.asset_id(i), int(columns["is_bid"][i]), int(columns["price"][i]), int(columns["size"][i]),
            batch.extra(i),
        )  # fmt: skip

    def _watched_step(self, batch: EventBatch, i: int) -> None:
        """A market-data event on a book some variant changed: one kernel step, with the
        overlays told what the archive showed (as TokenBook.apply/snapshot tell them)."""
        columns, t = batch.columns, int(batch.asset[i])
        book = self.by_index[t]
        assert book is not None
        tok = self.arrays.tok[t]
        kind, seq, price = int(columns["kind"][i]), int(columns["seq"][i]), int(columns["price"][i])
        before = int(tok[kn.STATE])
        lost_by_seq = seq >= 0 and tok[kn.HAS_SEQ] and seq != tok[kn.LAST_SEQ] + 1 and before != kn.UNKNOWN
        if lost_by_seq:
            book.clear_overlays()
        old: Any = None
        if kind == Kind.LEVEL and not lost_by_seq and not (before == kn.UNKNOWN and tok[kn.STAMPED]):
            if not (0 <= price <= kn.MICRO and price % 100 == 0):
                raise OffGrid
            side = self.arrays.bids if columns["is_bid"][i] else self.arrays.asks
            old = max(int(side[t, price // 100]), 0)
        elif kind == Kind.BOOK:
            old = (book.bids, book.asks)
        self.ctl[kn.STEP] = i
        at, why = self._kernel(i, i + 1)
        self.ctl[kn.STEP] = -1
        if why == kn.Stop.OFFGRID:
            raise OffGrid
        assert (at, why) == (i + 1, kn.Stop.END), (at, why)
        ts = int(columns["ts_ms"][i])
        if kind == Kind.LEVEL and old is not None:
            size = int(columns["size"][i])
            for overlay in book.bid_watchers if columns["is_bid"][i] else book.ask_watchers:
                overlay.level_changed(price, ts, old, size)
            if before != kn.UNKNOWN and book.state is BookState.UNKNOWN:
                book.clear_overlays()  # lost sync on the message's stated top
        elif kind == Kind.BOOK:
            old_bids, old_asks = old
            new_bids, new_asks = book.bids, book.asks
            for overlay in book.bid_watchers:
                overlay.side_replaced(ts, old_bids, new_bids)
            for overlay in book.ask_watchers:
                overlay.side_replaced(ts, old_asks, new_asks)

    def _refresh(self) -> None:
        """What the kernel must know of Python's state after a stop."""
        ctl = self.ctl
        for t, book in enumerate(self.by_index):
            self.watched[t] = book is not None and book.watched
        due = [variant.trading.pending[0][0] for variant in self.waiting if variant.trading.pending]
        ctl[kn.DUE_BEFORE] = min(due) if due else _NEVER
        ctl[kn.LIVE_PENDING] = int(bool(self.live))
        for group, gaps in self.gaps.items():
            self.gap_open[self.gindex[group]] = int(bool(gaps) and gaps[-1][1] is None)
