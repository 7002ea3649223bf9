"""The compiled book (backtester.book.kernel) against the readable one (TokenBook),
event by event: Hypothesis-GENERATED sequences of snapshots (unsorted, repeated and
zero-size levels too), level updates with stated tops (right, wrong, empty sides),
trades, tick-size changes and seq numbers with gaps, on full and partial books, with
the live footprint's drops kept. After every event every observable field must agree:
state, reason, stamp, seq, tick, depth limit, both sides' levels, best and stated
tops, mid, and the drops."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from backtester.book import kernel as kn
from backtester.book.arrays import ArrayBook, BookArrays
from backtester.book.book import TokenBook
from backtester.book.feed import apply_market_event
from backtester.book.overlay import OverlayScope

BOOK, LEVEL, TRADE, TICK = 0, 1, 2, 3

# Mostly a few prices (so that updates, trades and stated tops meet the same levels),
# sometimes any price of the 0.0001 grid, the ends included.
FEW = [400_000, 410_000, 420_000, 430_000, 440_000, 450_000]
prices = st.one_of(
    st.sampled_from(FEW),
    st.sampled_from(FEW),
    st.integers(0, 100).map(lambda c: c * 10_000),
    st.integers(0, 10_000).map(lambda s: s * 100),
)
sizes = st.sampled_from([0, 0, 5, 10, 79, 80, 1_000_000])
stated = st.one_of(st.just(-1), st.just(-1), st.just(0), st.just(1_000_000), prices)


@st.composite
def events(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    out = []
    seq = 0
    use_seq = draw(st.booleans())
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(st.sampled_from([BOOK, LEVEL, LEVEL, LEVEL, LEVEL, TRADE, TICK]))
        if use_seq:
            seq += draw(st.sampled_from([1, 1, 1, 1, 2, 0, 5]))
        this_seq = seq if use_seq and draw(st.integers(0, 5)) else -1
        if kind == BOOK:
            levels = st.lists(st.tuples(prices, sizes), max_size=5)
            depth = draw(st.sampled_from([-1, 5, 20]))
            out.append((BOOK, this_seq, draw(levels), draw(levels), depth))
        elif kind == LEVEL:
            out.append((LEVEL, this_seq, draw(st.integers(0, 1)), draw(prices), draw(sizes), draw(stated),
                        draw(stated)))  # fmt: skip
        elif kind == TRADE:
            out.append((TRADE, this_seq, draw(st.integers(0, 1)), draw(prices), draw(sizes)))
        else:
            out.append((TICK, this_seq, draw(st.sampled_from([1_000, 10_000]))))
    return out


def kernel_batch(stream: list[tuple[Any, ...]]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The stream as the kernel's columns (one token, index 0), clock = ts = position."""
    n = len(stream)
    cols = {name: np.full(n, -1, np.int64) for name in ("seq", "is_bid", "price", "size", "bb", "ba")}
    kind = np.zeros(n, np.int64)
    start, nb, na, values = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64), []
    for i, event in enumerate(stream):
        kind[i], cols["seq"][i] = event[0], event[1]
        if event[0] == BOOK:
            _, _, bids, asks, depth = event
            start[i], nb[i], na[i] = len(values), len(bids), len(asks)
            values += (
                [p for p, _ in bids] + [s for _, s in bids] + [p for p, _ in asks] + [s for _, s in asks]
            )
            values.append(depth)
        elif event[0] == LEVEL:
            _, _, is_bid, price, size, bb, ba = event
            cols["is_bid"][i], cols["price"][i], cols["size"][i], cols["bb"][i], cols["ba"][i] = (
                is_bid, price, size, bb, ba,
            )  # fmt: skip
        elif event[0] == TRADE:
            cols["is_bid"][i], cols["price"][i], cols["size"][i] = event[2], event[3], event[4]
        else:
            cols["price"][i] = event[2]
    clock = np.arange(n, dtype=np.int64) + 1
    columns = [clock, clock.copy(), kind, np.zeros(n, np.int64), cols["seq"], cols["is_bid"], cols["price"],
               cols["size"], cols["bb"], cols["ba"]]  # fmt: skip
    return columns, [start, nb, na, np.asarray(values, np.int64)]


def apply_reference(book: TokenBook, event: tuple[Any, ...], ts: int) -> None:
    """As the engine applies an event to a TokenBook."""
    if event[1] >= 0:
        book.check_seq(event[1])
    if event[0] == BOOK:
        _, _, bids, asks, depth = event
        lists = [
            [p for p, _ in bids],
            [s for _, s in bids],
            [p for p, _ in asks],
            [s for _, s in asks],
            [depth],
        ]
        apply_market_event(book, BOOK, ts, -1, -1, -1, -1, -1, lists)
    elif event[0] == LEVEL:
        _, _, is_bid, price, size, bb, ba = event
        apply_market_event(book, LEVEL, ts, is_bid, price, size, bb, ba, None)
    elif event[0] == TRADE:
        apply_market_event(book, TRADE, ts, event[2], event[3], event[4], -1, -1, None)
    else:
        apply_market_event(book, TICK, ts, -1, event[2], -1, -1, -1, None)


def observed(book: Any) -> dict[str, Any]:
    return {
        "state": book.state, "reason": book.reason, "stamp": book.stamp_ms, "seq": book.last_seq,
        "tick": book.tick, "depth": book.depth_limit, "bids": dict(sorted(book.bids.items())),
        "asks": dict(sorted(book.asks.items())), "best": (book.best_bid, book.best_ask),
        "top": (book.top_bid, book.top_ask), "mid": book.mid(),
        "archive_best": (book.archive_best(bid_side=True), book.archive_best(bid_side=False)),
        "sorted": (book.bids_sorted(), book.asks_sorted()),
    }  # fmt: skip


def drops_of(arrays: BookArrays) -> dict[tuple[bool, int], tuple[int, int]]:
    out = {}
    for side, is_bid in ((1, True), (0, False)):
        for slot in np.flatnonzero(arrays.drops_sz[0, side]):
            out[(is_bid, int(slot) * 100)] = (
                int(arrays.drops_ts[0, side, slot]),
                int(arrays.drops_sz[0, side, slot]),
            )
    return out


@settings(max_examples=600, deadline=None)
@given(stream=events())
# A trade taking the whole best ask of a partial book (the best moves on) ...
@example(
    stream=[
        (LEVEL, -1, 0, 400_000, 5, -1, -1),
        (LEVEL, -1, 0, 410_000, 5, -1, -1),
        (TRADE, -1, 1, 400_000, 5),
    ]
)
# ... a level shrinking by one micro-share and a snapshot dropping another (the drops) ...
@example(
    stream=[
        (BOOK, 1, [(400_000, 80)], [(420_000, 9)], -1),
        (LEVEL, 2, 1, 400_000, 79, -1, -1),
        (BOOK, 3, [(400_000, 79)], [(420_000, 8)], 20),
    ]
)
# ... and a seq gap on a full book, then a stated top it disagrees with after a resync.
@example(
    stream=[
        (BOOK, 1, [(400_000, 80)], [(420_000, 9)], -1),
        (LEVEL, 4, 1, 400_000, 0, -1, -1),
        (BOOK, 5, [(400_000, 80)], [(420_000, 9)], -1),
        (LEVEL, 6, 1, 410_000, 5, 400_000, 420_000),
    ]
)
def test_the_kernel_keeps_the_reference_book(stream: list[tuple[Any, ...]]) -> None:
    reference = TokenBook("T", 10_000)
    reference.drops = {}
    arrays = BookArrays([10_000], drops=True)
    mine = ArrayBook("T", 0, arrays, OverlayScope())
    columns, levels = kernel_batch(stream)
    ctl = np.zeros(len(kn.CTL), np.int64)
    ctl[kn.DUE_BEFORE] = np.iinfo(np.int64).max
    ctl[kn.STEP] = ctl[kn.BOUNDARY_DONE] = -1
    ctl[kn.DROPS_ON] = 1
    flag = lambda: np.zeros(1, np.int8)  # noqa: E731
    none = lambda: np.zeros(0, np.int64)  # noqa: E731
    # One group of one token, no trigger rules: group_of, gptr, gtok, gpy, gap_open,
    # watched, touched, tlist, last_tick, the log, and the empty rule arrays.
    layout = [
        np.zeros(1, np.int32), np.array([0, 1]), np.array([0]), flag(), flag(), flag(), flag(),
        np.zeros(1, np.int32), np.zeros(1, np.int64), np.zeros((64, 4), np.int64), np.array([0, 0]),
        np.array([0]), none(), none(), none(), none(), none(),
    ]  # fmt: skip
    for i, event in enumerate(stream):
        apply_reference(reference, event, i + 1)
        ctl[kn.N_TOUCHED] = ctl[kn.N_MISSING] = 0  # the test looks at books, not instants
        layout[6][:] = 0
        at, why = kn.run(i, i + 1, *columns, *levels, arrays.tok, arrays.bids, arrays.asks, arrays.drops_ts,
                         arrays.drops_sz, ctl, *layout)  # fmt: skip
        assert (at, why) == (i + 1, kn.Stop.END)
        assert observed(mine) == observed(reference), (i, event)
        assert drops_of(arrays) == reference.drops, (i, event)
