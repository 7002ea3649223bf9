"""The data feed of a replay: everything the archive holds for the run's markets, as one
stream of events in the contract's order.

This is the seam where a live adapter plugs in: anything that yields :class:`Event`
tuples in clock order can drive the same books, strategies and guards.
:class:`ArchiveFeed` is the replay's implementation; it reads the archive once.

Order (ARCHIVE_FORMAT.md section 2): by the decision clock, then token, then ``seq``,
then position in the file. Decisions are taken after all events of one clock value are
applied, so the order between tokens within one millisecond does not change a
decision; within a token it is the contract's.

Warm-up: a token's state at the window start is built from its newest ``book`` before
the start and every message after it (or, for a stream that never had a snapshot, from
its first update); those events are applied before the window without decisions.
Trades are among them, so the ``seq`` chain, which counts every message of a token, has
no false gaps.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator, Sequence
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from backtester.archive import Archive
from backtester.book.book import TokenBook
from backtester.book.market import MarketInfo
from backtester.fees import FeeModel

__all__ = ["ArchiveFeed", "Event", "EventBatch", "Kind", "apply_market_event", "load_markets"]


class Kind:
    """Event kinds, in the order the feed reports them."""

    BOOK = 0
    LEVEL = 1
    TRADE = 2
    TICK_SIZE = 3
    SIGNAL = 4
    LIVE_DECISION = 5
    SETTLEMENT = 6
    LIVE_EXECUTION = 7
    NAMES = (
        "book", "price_change", "last_trade_price", "tick_size_change", "signal", "live_decision",
        "settlement", "live_execution",
    )  # fmt: skip


class Event(NamedTuple):
    """One event. Unused fields are -1 (numbers) or None.

    For a level update, ``seq`` is given only on the message's first entry for the
    token and ``best_bid``/``best_ask`` only on its last, where they are checked.
    """

    clock: int
    ts: int
    kind: int
    market: str
    asset: str | None
    seq: int
    is_bid: int
    price: int
    size: int
    best_bid: int
    best_ask: int
    extra: Any


_STREAM = """
WITH chosen AS (SELECT unnest(?::VARCHAR[]) AS market),
book_clock AS (
    SELECT *, {clock} AS clock FROM md_book WHERE market IN (SELECT market FROM chosen) {range}),
warm AS (  -- each token's newest snapshot before the window start
    SELECT asset_id, max({clock}) AS since FROM md_book
    WHERE market IN (SELECT market FROM chosen) AND {clock} < $start GROUP BY asset_id),
rows AS (
    -- sort_seq orders a token's messages; seq is what the engine checks: given once per
    -- message and token (on its first entry), since seq counts messages, not entries.
    SELECT clock, ts_ms, 0 AS kind, market, asset_id, seq AS sort_seq, seq, -1 AS is_bid, -1 AS price,
           -1 AS size, -1 AS best_bid, -1 AS best_ask, file_key, line, elem, 0 AS entry,
           [bid_px, bid_sz, ask_px, ask_sz, [coalesce(depth_limit, -1)]] AS lists, NULL AS text
    FROM book_clock
    UNION ALL
    -- A message's stated top of book is checked at its last entry for a token (once that
    -- token's changes are all applied), and its seq at its first: a token's entries of one
    -- message are neighbours in the stream's order, so EventBatch marks both ends there
    -- (cheaper than a window function here).
    SELECT {clock}, ts_ms, 1, market, asset_id, seq, seq, CASE WHEN side = 'BUY' THEN 1 ELSE 0 END, price,
           size, coalesce(best_bid, -1), coalesce(best_ask, -1), file_key, line, elem, entry, NULL, NULL
    FROM md_level WHERE market IN (SELECT market FROM chosen) {range}
    UNION ALL
    SELECT {clock}, ts_ms, 2, market, asset_id, seq, seq, CASE WHEN side = 'BUY' THEN 1 ELSE 0 END, price,
           size, -1, -1, file_key, line, elem, 0, NULL, tx_hash
    FROM md_trade WHERE market IN (SELECT market FROM chosen) {range}
    UNION ALL
    SELECT {clock}, ts_ms, 3, market, asset_id, seq, seq, -1, new_tick, -1, -1, -1, file_key, line, elem, 0,
           NULL, NULL
    FROM md_tick WHERE market IN (SELECT market FROM chosen) {range}
    UNION ALL
    SELECT ts_ms, ts_ms, 4, market_id, asset_id, NULL, NULL, -1, -1, -1, -1, -1, file_key, line, elem, 0,
           NULL, payload
    FROM reports WHERE report_kind = 'ObservationReport' AND market_id IN (SELECT market FROM chosen)
      {range_ts} AND (ts_ms >= $start OR report_id IN (
          SELECT report_id FROM (
              SELECT report_id, market_id, ts_ms, unnest(json_keys(payload, '$.signals')) AS name
              FROM reports WHERE report_kind = 'ObservationReport' AND ts_ms < $start
                AND market_id IN (SELECT market FROM chosen))
          QUALIFY row_number() OVER (PARTITION BY market_id, name ORDER BY ts_ms DESC, report_id DESC) = 1))
    UNION ALL
    SELECT ts_ms, ts_ms, 5, market_id, NULL, NULL, NULL, -1, -1, -1, -1, -1, file_key, line, elem, 0, NULL,
           trace_id
    FROM reports WHERE report_kind = 'DecisionReport' AND market_id IN (SELECT market FROM chosen)
      AND ts_ms >= $start {range_ts}
    UNION ALL
    SELECT ts_ms, ts_ms, 6, market_id, NULL, NULL, NULL, -1, -1, -1, -1, -1, file_key, line, elem, 0, NULL,
           payload
    FROM reports WHERE report_kind = 'SettlementReport' AND market_id IN (SELECT market FROM chosen)
      AND ts_ms >= $start {range_ts}
    UNION ALL
    -- The live bot's own fills (their footprint on the archived books).
    SELECT ts_ms, ts_ms, 7, market_id, asset_id, NULL, NULL,
           CASE WHEN json_extract_string(payload, '$.side') = 'BUY' THEN 1 ELSE 0 END,
           CAST(round(CAST(json_extract_string(payload, '$.price') AS DECIMAL(38, 6)) * 1000000) AS BIGINT),
           CAST(round(CAST(json_extract_string(payload, '$.size') AS DECIMAL(38, 6)) * 1000000) AS BIGINT),
           -1, -1, file_key, line, elem, 0, NULL, trace_id
    FROM reports WHERE report_kind = 'ExecutionReport' AND mode <> 'replay'
      AND json_extract_string(payload, '$.status') IN ('FILLED', 'PARTIAL')
      AND market_id IN (SELECT market FROM chosen) AND ts_ms >= $start {range_ts})
SELECT r.clock, r.ts_ms, r.kind, r.market, r.asset_id, coalesce(r.seq, -1) AS seq, r.is_bid, r.price,
       r.size, r.best_bid, r.best_ask, r.lists, r.text, r.file_key, r.line, r.elem
{warm_join}
ORDER BY r.clock, r.asset_id NULLS FIRST, r.sort_seq NULLS LAST, r.file_key, r.line, r.elem, r.entry
"""


_WARM_JOIN = """FROM rows r LEFT JOIN warm w ON w.asset_id = r.asset_id
WHERE r.clock <= $end
  AND (r.clock >= $start OR r.kind IN (3, 4) OR r.clock >= coalesce(w.since, -9223372036854775808))"""
_NO_WARM_UP = "FROM rows r WHERE r.clock <= $end"
"""A chunk after the first lies wholly after the window start: no warm-up to filter."""

_HISTOGRAM = """
WITH chosen AS (SELECT unnest(?::VARCHAR[]) AS market)
SELECT minute, sum(n) FROM (
    SELECT {clock} // 60000 AS minute, count(*) AS n FROM md_level
    WHERE market IN (SELECT market FROM chosen) AND {clock} <= $end GROUP BY minute
    UNION ALL
    SELECT {clock} // 60000, count(*) FROM md_book
    WHERE market IN (SELECT market FROM chosen) AND {clock} <= $end GROUP BY 1
    UNION ALL
    SELECT {clock} // 60000, count(*) FROM md_trade
    WHERE market IN (SELECT market FROM chosen) AND {clock} <= $end GROUP BY 1
    UNION ALL
    SELECT ts_ms // 60000, count(*) FROM reports
    WHERE market_id IN (SELECT market FROM chosen) AND ts_ms <= $end GROUP BY 1)
GROUP BY minute ORDER BY minute
"""

MEMORY_EVENTS = 4_000_000
"""A window of at most this many rows is read once and kept in memory (shared by the
passes and by forked workers); a larger one is streamed, chunk by chunk, on every pass."""
CHUNK_EVENTS = 1_000_000
"""About this many rows per streamed chunk (whole minutes of the clock; a minute holding
more is one chunk)."""

_INT_COLUMNS = ("clock", "ts_ms", "kind", "seq", "is_bid", "price", "size", "best_bid", "best_ask")


class EventBatch:
    """Consecutive events of the feed as columns (an Arrow table and NumPy arrays).

    ``asset`` holds each event's token as an index into the feed's ``tokens`` (-1: none,
    or a token of no replayed market). ``tuples()`` gives the events as plain tuples in
    :class:`Event`'s field order (what the readable reference engine iterates).
    """

    __slots__ = ("arrow", "asset", "columns", "n")

    def __init__(self, arrow: pa.Table, tokens: pa.Array) -> None:
        self.arrow = arrow
        self.n = arrow.num_rows
        self.columns = columns = {name: _ints(arrow.column(name)) for name in _INT_COLUMNS}
        codes = pc.index_in(arrow.column("asset_id"), value_set=tokens)
        self.asset = _ints(pc.fill_null(codes, -1)) if self.n else np.zeros(0, np.int64)
        # A level update's seq is checked at a message's first entry for the token, its
        # stated top at the last: mark both ends of each run of one message and token
        # (rows of tokens of no replayed market, all -1 here, are never applied).
        level = columns["kind"] == Kind.LEVEL
        if level.any():
            keys = [self.asset, *(_ints(arrow.column(name)) for name in ("file_key", "line", "elem"))]
            same = level[1:] & level[:-1]
            for key in keys:
                same &= key[1:] == key[:-1]
            first = level & ~np.concatenate(([False], same))
            last = level & ~np.concatenate((same, [False]))
            columns["seq"] = np.where(level & ~first, -1, columns["seq"])
            columns["best_bid"] = np.where(level & ~last, -1, columns["best_bid"])
            columns["best_ask"] = np.where(level & ~last, -1, columns["best_ask"])

    def tuples(self) -> list[tuple[Any, ...]]:
        arrow = self.arrow
        columns = [self.columns[name].tolist() for name in _INT_COLUMNS[:3]]
        strings = [_strings(arrow.column("market")), _strings(arrow.column("asset_id"))]
        rest = [self.columns[name].tolist() for name in _INT_COLUMNS[3:]]
        lists = arrow.column("lists").to_pylist()
        texts = arrow.column("text").to_pylist()
        extras = [lst if lst is not None else text for lst, text in zip(lists, texts, strict=True)]
        # Plain tuples in Event's field order: building a NamedTuple per event costs more
        # than the rest of reading the feed.
        return list(zip(*columns, *strings, *rest, extras, strict=True))

    def market(self, i: int) -> str | None:
        return self.arrow.column("market")[i].as_py()

    def asset_id(self, i: int) -> str | None:
        return self.arrow.column("asset_id")[i].as_py()

    def extra(self, i: int) -> Any:
        """Row ``i``'s snapshot levels (a ``book``) or text (the other kinds that have one)."""
        lists = self.arrow.column("lists")[i].as_py()
        return lists if lists is not None else self.arrow.column("text")[i].as_py()

    def book_levels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Snapshot levels as flat arrays: per row, the offset of its levels in ``values``
        (bid prices, bid sizes, ask prices, ask sizes, then the depth limit), and its
        numbers of bids and asks (0 for rows that are no snapshot)."""
        start = np.zeros(self.n, np.int64)
        bids = np.zeros(self.n, np.int64)
        asks = np.zeros(self.n, np.int64)
        column = self.arrow.column("lists")
        if column.null_count == len(column):
            return start, bids, asks, np.zeros(0, np.int64)
        lists = column.combine_chunks()
        valid = ~lists.is_null().to_numpy(zero_copy_only=False)
        inner = lists.flatten()  # five lists per snapshot row
        offsets = inner.offsets.to_numpy()
        values = inner.flatten().to_numpy(zero_copy_only=False).astype(np.int64)
        base = offsets[:-1] - offsets[0]
        rows = np.flatnonzero(valid)
        first = np.arange(len(rows)) * 5
        start[rows] = base[first]
        bids[rows] = base[first + 1] - base[first]
        asks[rows] = base[first + 3] - base[first + 2]
        return start, bids, asks, values


def _strings(column: pa.ChunkedArray) -> list[str | None]:
    """A string column as Python strings, decoding each distinct id once (there are few)."""
    encoded = column.combine_chunks().dictionary_encode()
    values = encoded.dictionary.to_pylist()
    return [None if i is None else values[i] for i in encoded.indices.to_pylist()]


def _ints(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(column.to_numpy(), dtype=np.int64)


class ArchiveFeed:
    """The window's events for some markets: read from the archive once and kept in
    memory when the window is small (at most :data:`MEMORY_EVENTS` rows), else streamed
    from the archive in bounded chunks on every pass, so a week costs no more memory
    than a day. Each pass reads :meth:`batches` (columns) or :meth:`iter_events`
    (tuples)."""

    def __init__(
        self,
        markets: dict[str, list[tuple[int, MarketInfo]]],
        start_ms: int,
        end_ms: int,
        *,
        location: Path | None,
        chosen: list[str],
        clock: str,
        chunks: list[tuple[int | None, int | None]],
        size: int,
        cached: list[EventBatch] | None = None,
        live_executions: bool = False,
    ) -> None:
        self.markets = markets
        self.start_ms, self.end_ms = start_ms, end_ms
        self.location, self.chosen, self.clock, self.chunks = location, chosen, clock, chunks
        self._size, self._cached, self._live = size, cached, live_executions
        self._tuples: list[tuple[Any, ...]] | None = None

    @property
    def tokens(self) -> list[str]:
        """Every token of the feed's markets (their latest records), sorted: what
        ``EventBatch.asset`` indexes."""
        return sorted({token for history in self.markets.values() for token in history[-1][1].tokens})

    @property
    def streamed(self) -> bool:
        return self._cached is None

    @classmethod
    def load(
        cls,
        archive: Archive,
        markets: Sequence[str],
        *,
        start_ms: int,
        end_ms: int,
        receive_clock: bool = False,
        memory_events: int | None = None,
        chunk_events: int | None = None,
    ) -> ArchiveFeed:
        """Read the events of ``markets`` for ``[start_ms, end_ms]`` (plus their warm-up).

        With ``receive_clock``, a message counts as known at the archiver's receive time
        (``recv_ts_ms``) where it has one: the earliest a live bot could have acted on it.
        A window of more than ``memory_events`` rows is streamed in chunks of about
        ``chunk_events`` rows (whole minutes), each read from a connection of its own
        (defaults: :data:`MEMORY_EVENTS`, :data:`CHUNK_EVENTS`).
        """
        memory_events = MEMORY_EVENTS if memory_events is None else memory_events
        chunk_events = CHUNK_EVENTS if chunk_events is None else chunk_events
        clock = "coalesce(recv_ts_ms, ts_ms)" if receive_clock else "ts_ms"
        chosen = list(markets)
        records = load_markets(archive, chosen)
        minutes = archive.con.execute(
            _HISTOGRAM.replace("{clock}", clock).replace("$end", str(int(end_ms))), [chosen]
        ).fetchall()
        total = sum(int(n) for _, n in minutes)
        feed = cls(
            records, start_ms, end_ms, location=archive.location, chosen=chosen, clock=clock,
            chunks=[(None, None)], size=total,
        )  # fmt: skip
        if total <= memory_events:
            table = archive.con.sql(feed._sql(None, None), params=[chosen]).to_arrow_table()
            batch = EventBatch(table, feed._token_array())
            feed._cached = [batch]
            feed._size = batch.n
            feed._live = bool((batch.columns["kind"] == Kind.LIVE_EXECUTION).any())
        else:
            feed.chunks = _chunks(minutes, start_ms, end_ms, chunk_events)
            feed._live = bool(
                archive.con.execute(
                    "SELECT count(*) FROM reports WHERE report_kind = 'ExecutionReport' AND mode <> 'replay' "
                    "AND market_id IN (SELECT unnest(?::VARCHAR[])) AND ts_ms BETWEEN ? AND ?",
                    [chosen, start_ms, end_ms],
                ).fetchall()[0][0]
            )
        return feed

    def _token_array(self) -> pa.Array:
        return pa.array(self.tokens, pa.string())

    def _sql(self, lo: int | None, hi: int | None) -> str:
        """The stream's query, for clock values in ``[lo, hi)`` (None: unbounded; the
        warm-up before the window start belongs to the first chunk, ``lo`` None)."""
        bounds, bounds_ts = [], []
        if lo is not None:
            bounds.append(f"{self.clock} >= {int(lo)}")
            bounds_ts.append(f"ts_ms >= {int(lo)}")
        # Every scan stops at the window's end too (the outer filter alone would come
        # after the per-message window function, over everything the archive holds later).
        top = int(self.end_ms) + 1 if hi is None else min(int(hi), int(self.end_ms) + 1)
        bounds.append(f"{self.clock} < {top}")
        bounds_ts.append(f"ts_ms < {top}")
        sql = _STREAM.replace("{warm_join}", _WARM_JOIN if lo is None or lo < self.start_ms else _NO_WARM_UP)
        sql = sql.replace("{range}", "".join(f" AND {b}" for b in bounds))
        sql = sql.replace("{range_ts}", "".join(f" AND {b}" for b in bounds_ts))
        sql = sql.replace("{clock}", self.clock).replace("$start", str(int(self.start_ms)))
        return sql.replace("$end", str(int(self.end_ms)))

    def batches(self) -> Iterator[EventBatch]:
        """The events in order, as column batches."""
        if self._cached is not None:
            yield from self._cached
            return
        tokens = self._token_array()
        for table in self._prefetched_chunks():
            yield EventBatch(table, tokens)

    def _prefetched_chunks(self) -> Iterator[pa.Table]:
        """The streamed chunks as Arrow tables, each read whole (a message's entries must
        not straddle two batches) by a reader thread one chunk ahead of the pass: DuckDB
        reads the next chunk while the pass replays this one. At most three chunks are in
        memory at once (the pass's, the one waiting, the one being read)."""
        ahead: queue.Queue[pa.Table | BaseException | None] = queue.Queue(maxsize=1)
        done = threading.Event()

        def offer(item: pa.Table | BaseException | None) -> bool:
            """Hand ``item`` to the pass; False once the pass has stopped reading."""
            while not done.is_set():
                try:
                    ahead.put(item, timeout=0.1)
                except queue.Full:
                    continue
                return True
            return False

        def read() -> None:
            try:
                with Archive.open(self.location, read_only=True) as archive:
                    for lo, hi in self.chunks:
                        table = archive.con.sql(self._sql(lo, hi), params=[self.chosen]).to_arrow_table()
                        if not offer(table):
                            return
                offer(None)
            except BaseException as exc:  # handed to the pass, which raises it
                offer(exc)

        reader = threading.Thread(target=read, name="feed-reader", daemon=True)
        reader.start()
        try:
            while (item := ahead.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                if item.num_rows:
                    yield item
        finally:
            done.set()
            reader.join()

    def iter_events(self) -> Iterator[tuple[Any, ...]]:
        """The events in order (each a tuple in :class:`Event`'s field order); for a
        window kept in memory, the tuples are made once and kept too."""
        if self._cached is not None:
            if self._tuples is None:
                self._tuples = [event for batch in self._cached for event in batch.tuples()]
            return iter(self._tuples)
        return (event for batch in self.batches() for event in batch.tuples())

    @property
    def events(self) -> list[tuple[Any, ...]]:
        """Every event as a tuple (in memory at once: for small windows and tests)."""
        return list(self.iter_events())

    @property
    def size(self) -> int:
        """How many events one pass reads (for a streamed window, the rows its chunks
        hold, which may count a few the window's warm-up leaves out)."""
        return self._size

    @property
    def has_live_executions(self) -> bool:
        """Does the window hold fills of the live bot (whose footprint a run may restore)?"""
        return self._live


def _chunks(
    minutes: list[tuple[int, int]], start_ms: int, end_ms: int, target: int
) -> list[tuple[int | None, int | None]]:
    """Clock ranges of about ``target`` rows each, in whole minutes: the first open below
    (the warm-up), the last open above.

    >>> _chunks([(0, 5), (1, 5), (2, 5), (3, 1)], 0, 4 * 60_000, 8)
    [(None, 120000), (120000, None)]
    """
    bounds: list[int] = []
    count = 0
    for minute, n in minutes:
        if count >= target:
            bounds.append(int(minute) * 60_000)
            count = 0
        count += int(n)
    edges: list[int | None] = [None, *bounds, None]
    return list(pairwise(edges))


def load_markets(archive: Archive, markets: Sequence[str]) -> dict[str, list[tuple[int, MarketInfo]]]:
    """Market records of ``markets`` and of every market of their neg-risk events,
    each as a list of ``(effective_ts_ms, info)`` in time order."""
    rows = archive.con.execute(
        """
        WITH chosen AS (SELECT unnest(?::VARCHAR[]) AS market)
        SELECT * FROM markets
        WHERE condition_id IN (SELECT market FROM chosen)
           OR neg_risk_market_id IN (SELECT neg_risk_market_id FROM markets
                                     WHERE neg_risk AND condition_id IN (SELECT market FROM chosen))
        ORDER BY condition_id, effective_ts_ms
        """,
        [list(markets)],
    )
    names = [d[0] for d in rows.description]
    out: dict[str, list[tuple[int, MarketInfo]]] = {}
    for values in rows.fetchall():
        row = dict(zip(names, values, strict=True))
        info = MarketInfo(
            condition_id=row["condition_id"],
            question=row["question"],
            yes_token_id=row["yes_token_id"],
            yes_outcome=row["yes_outcome"],
            no_token_id=row["no_token_id"],
            no_outcome=row["no_outcome"],
            neg_risk=row["neg_risk"],
            neg_risk_market_id=row["neg_risk_market_id"],
            question_id=row["question_id"],
            neg_risk_other=row["neg_risk_other"],
            group_item_title=row["group_item_title"],
            active=row["active"],
            tick_size=row["tick_size"],
            min_order_size=row["min_order_size"],
            fees=FeeModel(
                row["fee_model"],
                rate_bps=row["fee_rate_bps"],
                rate=row["fee_rate"],
                exponent=row["fee_exponent"],
                taker_only=row["fee_taker_only"],
                rebate_rate=row["fee_rebate_rate"],
            ),
            end_date_ms=row["end_date_ms"],
            neg_risk_outcomes=row["neg_risk_outcomes"],
        )
        out.setdefault(info.condition_id, []).append((row["effective_ts_ms"], info))
    return out


def apply_market_event(  # noqa: PLR0917 - an event's fields, as a pass has them
    book: TokenBook,
    kind: int,
    ts: int,
    is_bid: int,
    price: int,
    size: int,
    best_bid: int,
    best_ask: int,
    extra: Any,
) -> None:
    """Apply one market-data event (a snapshot, a level update, a trade, a tick-size
    change) to its token's book, after the pass has checked its ``seq``: the one way
    every reference pass (the engine's, the books-only tape's) applies them."""
    if kind == Kind.LEVEL:
        book.apply(is_bid, price, size, ts, best_bid, best_ask)
    elif kind == Kind.BOOK:
        bid_px, bid_sz, ask_px, ask_sz, (depth,) = extra
        book.snapshot(bid_px, bid_sz, ask_px, ask_sz, ts_ms=ts, depth_limit=depth if depth >= 0 else None)
    elif kind == Kind.TRADE:
        book.trade(taker_buys=is_bid == 1, price=price, size=size)
    else:  # a tick-size change: the feed carries the new tick in the price column
        book.tick = price


def signal_values(payload: str) -> dict[str, Decimal]:
    """The signals of an ObservationReport payload, as exact decimals."""
    signals = json.loads(payload)["signals"]
    return {name: Decimal(str(value)) for name, value in signals.items()}
