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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

import pyarrow as pa

from backtester.archive import Archive
from backtester.book.market import MarketInfo
from backtester.fees import FeeModel

__all__ = ["ArchiveFeed", "Event", "Kind", "load_markets"]


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
    SELECT *, {clock} AS clock FROM md_book WHERE market IN (SELECT market FROM chosen)),
warm AS (  -- each token's newest snapshot before the window start
    SELECT asset_id, max(clock) AS since FROM book_clock WHERE clock < $start GROUP BY asset_id),
rows AS (
    -- sort_seq orders a token's messages; seq is what the engine checks: given once per
    -- message and token (on its first entry), since seq counts messages, not entries.
    SELECT clock, ts_ms, 0 AS kind, market, asset_id, seq AS sort_seq, seq, -1 AS is_bid, -1 AS price,
           -1 AS size, -1 AS best_bid, -1 AS best_ask, file_key, line, elem, 0 AS entry,
           [bid_px, bid_sz, ask_px, ask_sz, [coalesce(depth_limit, -1)]] AS lists, NULL AS text
    FROM book_clock
    UNION ALL
    -- A message's stated top of book is checked at its last entry for a token (once that
    -- token's changes are all applied).
    SELECT {clock}, ts_ms, 1, market, asset_id, seq,
           CASE WHEN row_number() OVER (PARTITION BY file_key, line, elem, asset_id ORDER BY entry) = 1
                THEN seq END,
           CASE WHEN side = 'BUY' THEN 1 ELSE 0 END, price, size,
           CASE WHEN last THEN coalesce(best_bid, -1) ELSE -1 END,
           CASE WHEN last THEN coalesce(best_ask, -1) ELSE -1 END,
           file_key, line, elem, entry, NULL, NULL
    FROM (SELECT *, row_number() OVER (PARTITION BY file_key, line, elem, asset_id ORDER BY entry DESC) = 1
                    AS last
          FROM md_level WHERE market IN (SELECT market FROM chosen))
    UNION ALL
    SELECT {clock}, ts_ms, 2, market, asset_id, seq, seq, CASE WHEN side = 'BUY' THEN 1 ELSE 0 END, price,
           size, -1, -1, file_key, line, elem, 0, NULL, tx_hash
    FROM md_trade WHERE market IN (SELECT market FROM chosen)
    UNION ALL
    SELECT {clock}, ts_ms, 3, market, asset_id, seq, seq, -1, new_tick, -1, -1, -1, file_key, line, elem, 0,
           NULL, NULL
    FROM md_tick WHERE market IN (SELECT market FROM chosen)
    UNION ALL
    SELECT ts_ms, ts_ms, 4, market_id, asset_id, NULL, NULL, -1, -1, -1, -1, -1, file_key, line, elem, 0,
           NULL, payload
    FROM reports WHERE report_kind = 'ObservationReport' AND market_id IN (SELECT market FROM chosen)
      AND (ts_ms >= $start OR report_id IN (
          SELECT report_id FROM (
              SELECT report_id, market_id, ts_ms, unnest(json_keys(payload, '$.signals')) AS name
              FROM reports WHERE report_kind = 'ObservationReport' AND ts_ms < $start
                AND market_id IN (SELECT market FROM chosen))
          QUALIFY row_number() OVER (PARTITION BY market_id, name ORDER BY ts_ms DESC, report_id DESC) = 1))
    UNION ALL
    SELECT ts_ms, ts_ms, 5, market_id, NULL, NULL, NULL, -1, -1, -1, -1, -1, file_key, line, elem, 0, NULL,
           trace_id
    FROM reports WHERE report_kind = 'DecisionReport' AND market_id IN (SELECT market FROM chosen)
      AND ts_ms >= $start
    UNION ALL
    SELECT ts_ms, ts_ms, 6, market_id, NULL, NULL, NULL, -1, -1, -1, -1, -1, file_key, line, elem, 0, NULL,
           payload
    FROM reports WHERE report_kind = 'SettlementReport' AND market_id IN (SELECT market FROM chosen)
      AND ts_ms >= $start
    UNION ALL
    -- The live bot's own fills (their footprint on the archived books).
    SELECT ts_ms, ts_ms, 7, market_id, asset_id, NULL, NULL,
           CASE WHEN json_extract_string(payload, '$.side') = 'BUY' THEN 1 ELSE 0 END,
           CAST(round(CAST(json_extract_string(payload, '$.price') AS DECIMAL(38, 6)) * 1000000) AS BIGINT),
           CAST(round(CAST(json_extract_string(payload, '$.size') AS DECIMAL(38, 6)) * 1000000) AS BIGINT),
           -1, -1, file_key, line, elem, 0, NULL, trace_id
    FROM reports WHERE report_kind = 'ExecutionReport' AND mode <> 'replay'
      AND json_extract_string(payload, '$.status') IN ('FILLED', 'PARTIAL')
      AND market_id IN (SELECT market FROM chosen) AND ts_ms >= $start)
SELECT r.clock, r.ts_ms, r.kind, r.market, r.asset_id, coalesce(r.seq, -1) AS seq, r.is_bid, r.price,
       r.size, r.best_bid, r.best_ask, r.lists, r.text
FROM rows r LEFT JOIN warm w ON w.asset_id = r.asset_id
WHERE r.clock <= $end
  AND (r.clock >= $start OR r.kind IN (3, 4) OR r.clock >= coalesce(w.since, -9223372036854775808))
ORDER BY r.clock, r.asset_id NULLS FIRST, r.sort_seq NULLS LAST, r.file_key, r.line, r.elem, r.entry
"""


@dataclass
class ArchiveFeed:
    """The window's events for some markets, read from an archive once."""

    events: list[tuple[Any, ...]]
    """Events as plain tuples in :class:`Event`'s field order."""
    markets: dict[str, list[tuple[int, MarketInfo]]]
    start_ms: int
    end_ms: int

    @classmethod
    def load(
        cls,
        archive: Archive,
        markets: Sequence[str],
        *,
        start_ms: int,
        end_ms: int,
        receive_clock: bool = False,
    ) -> ArchiveFeed:
        """Read the events of ``markets`` for ``[start_ms, end_ms]`` (plus their warm-up).

        With ``receive_clock``, a message counts as known at the archiver's receive time
        (``recv_ts_ms``) where it has one: the earliest a live bot could have acted on it.
        """
        clock = "coalesce(recv_ts_ms, ts_ms)" if receive_clock else "ts_ms"
        sql = _STREAM.replace("{clock}", clock).replace("$start", str(int(start_ms)))
        sql = sql.replace("$end", str(int(end_ms)))
        table = archive.con.sql(sql, params=[list(markets)]).to_arrow_table()
        columns = [
            table.column(i).to_numpy().tolist() if i not in (3, 4) else _strings(table.column(i))
            for i in range(11)
        ]
        lists = table.column("lists").to_pylist()
        texts = table.column("text").to_pylist()
        extras = [lst if lst is not None else text for lst, text in zip(lists, texts, strict=True)]
        # Plain tuples in Event's field order: building a NamedTuple per event costs more
        # than the rest of reading the feed.
        events = list(zip(*columns, extras, strict=True))
        return cls(events, load_markets(archive, markets), start_ms, end_ms)

    def iter_events(self) -> Iterator[tuple[Any, ...]]:
        """The events in order (each a tuple in :class:`Event`'s field order)."""
        return iter(self.events)

    @property
    def size(self) -> int:
        """How many events one pass reads."""
        return len(self.events)

    @property
    def has_live_executions(self) -> bool:
        """Does the window hold fills of the live bot (whose footprint a run may restore)?"""
        return any(e[2] == Kind.LIVE_EXECUTION for e in self.events)


def _strings(column: pa.ChunkedArray) -> list[str | None]:
    """A string column as Python strings, decoding each distinct id once (there are few)."""
    encoded = column.combine_chunks().dictionary_encode()
    values = encoded.dictionary.to_pylist()
    return [None if i is None else values[i] for i in encoded.indices.to_pylist()]


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


def signal_values(payload: str) -> dict[str, Decimal]:
    """The signals of an ObservationReport payload, as exact decimals."""
    signals = json.loads(payload)["signals"]
    return {name: Decimal(str(value)) for name, value in signals.items()}
