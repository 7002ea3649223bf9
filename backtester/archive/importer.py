"""Import conversions into a DuckDB archive: one transaction per file, all or nothing.

For each file:

1. hash its content; a file already imported is skipped (importing twice changes nothing);
2. stream its records through :class:`~backtester.archive.contract.ContractParser` into
   staging tables, in Arrow batches. They are ordinary tables created inside the file's
   transaction (so a rollback removes them): DuckDB writes large uncommitted appends to
   disk, where TEMP tables would hold the whole file in memory;
3. run the checks that need the rest of the archive, in SQL: market records and report
   ids that conflict with earlier ones, tokens that belong to another market, and prices
   off the tick grid in force at their time (which can depend on a market record or a
   ``tick_size_change`` in another file, so data imported before its market is checked
   when the market arrives);
4. copy the staged rows into the archive sorted by (market, asset, time), which keeps
   each file's rows clustered for DuckDB's min/max zonemaps, and commit.

Any problem rolls the whole file back and raises :class:`ImportRejected`.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from backtester.archive import schema
from backtester.archive.contract import MAX_PROBLEMS, ContractParser, Row
from backtester.archive.sources import Conversion, sha256_of
from backtester.errors import ImportRejected, Problem
from backtester.units import format_micros

__all__ = ["FileResult", "file_key", "import_conversion"]

BATCH_ROWS = 50_000

_STAGED = {t.name: t for t in schema.CONTENT_TABLES}
_REFS = schema.Table(
    "refs",
    (
        ("market", "VARCHAR"),
        ("asset_id", "VARCHAR"),
        ("line", "BIGINT"),
        ("elem", "INTEGER"),
        ("field", "VARCHAR"),
    ),
    "Where the file first says a token belongs to a market (data, report or payout).",
)
_PRICES = schema.Table(
    "prices",
    (
        ("asset_id", "VARCHAR"),
        ("ts_ms", "BIGINT"),
        ("price", "BIGINT"),
        ("line", "BIGINT"),
        ("elem", "INTEGER"),
        ("field", "VARCHAR"),
    ),
    "Every price of the file that must be on the tick grid.",
)


@dataclass(frozen=True)
class FileResult:
    """What importing one file did."""

    path: str
    source_format: str
    sha256: str
    skipped: bool
    records: int
    rows: dict[str, int]

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "format": self.source_format,
            "sha256": self.sha256,
            "status": "already imported" if self.skipped else "imported",
            "records": self.records,
            "rows": self.rows,
        }


def file_key(source_format: str, sha256: str) -> int:
    """The archive's id of a file: 8 bytes of sha256(format:content sha), signed."""
    digest = hashlib.sha256(f"{source_format}:{sha256}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def import_conversion(con: duckdb.DuckDBPyConnection, conv: Conversion) -> FileResult:
    """Import one conversion in its own transaction (see the module docstring)."""
    with _unreadable_is_rejected(conv):
        sha = sha256_of(conv.inputs)
    key = file_key(conv.source_format, sha)
    if schema.first_row(con.execute("SELECT 1 FROM import_files WHERE file_key = ?", [key])):
        return FileResult(str(conv.path), conv.source_format, sha, True, 0, {})
    con.execute("BEGIN TRANSACTION")
    try:
        with _unreadable_is_rejected(conv):
            parser = _stage(con, conv, key)
        _raise_if(parser.problems, more=parser.full)
        _cross_checks(con, str(conv.path))
        rows = _merge(con)
        con.execute(
            "INSERT INTO import_files VALUES (?, ?, ?, ?, ?, ?)",
            [key, sha, conv.source_format, conv.name, parser.records, datetime.now(UTC).replace(tzinfo=None)],
        )
        _drop_staging(con)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")  # the staging tables go with it
        raise
    return FileResult(str(conv.path), conv.source_format, sha, False, parser.records, rows)


@contextmanager
def _unreadable_is_rejected(conv: Conversion) -> Iterator[None]:
    """A file that cannot be read to its end (truncated gzip, I/O error) is rejected whole."""
    try:
        yield
    except (OSError, EOFError, zlib.error) as exc:
        raise ImportRejected.single(str(conv.path), 0, "(file)", f"cannot be read: {exc}") from None


def _drop_staging(con: duckdb.DuckDBPyConnection) -> None:
    for name in ("s_changed_markets", "s_new_markets", "s_all_tokens"):
        con.execute(f"DROP VIEW IF EXISTS {name}")
    for name in (*_STAGED, _PRICES.name, _REFS.name, "schedule"):
        con.execute(f"DROP TABLE IF EXISTS s_{name}")


def _raise_if(problems: list[Problem], *, more: bool = False, grid_only: bool = False) -> None:
    if problems:
        problems = sorted(problems, key=lambda p: p.line)[:MAX_PROBLEMS]
        raise ImportRejected(problems, more=1 if more else 0, grid_only=grid_only)


# ---------------------------------------------------------------- staging


def _stage(con: duckdb.DuckDBPyConnection, conv: Conversion, key: int) -> ContractParser:
    for table in (*_STAGED.values(), _PRICES, _REFS):
        con.execute(table.create_sql(f"s_{table.name}", keys=False))
    parser = ContractParser(key, str(conv.path), adapter=conv.source_format != "contract")
    feed = parser.feed_line if conv.raw_lines else parser.feed
    for line, value in conv.records():
        feed(line, value)
        if parser.problems:
            if parser.full:
                break
            continue
        if parser.pending() >= BATCH_ROWS:
            _flush(con, *parser.take())
    if not parser.problems:
        _flush(con, *parser.take())
        _insert_rows(con, _REFS, list(parser.refs.values()))
    return parser


def _flush(con: duckdb.DuckDBPyConnection, rows: dict[str, list[Row]], prices: list[Row]) -> None:
    for name, table_rows in rows.items():
        _insert_rows(con, _STAGED[name], table_rows)
    _insert_rows(con, _PRICES, prices)


def _insert_rows(con: duckdb.DuckDBPyConnection, table: schema.Table, rows: list[Row]) -> None:
    if not rows:
        return
    arrow_schema = table.arrow_schema()
    columns = list(zip(*rows, strict=True))
    batch = pa.Table.from_arrays(
        [pa.array(col, type=field.type) for col, field in zip(columns, arrow_schema, strict=True)],
        schema=arrow_schema,
    )
    # Not con.register(): a view registered inside the transaction keeps its Arrow
    # batch alive until commit, which made memory grow with the file.
    con.from_arrow(batch).insert_into(f"s_{table.name}")


# ---------------------------------------------------------------- cross-file checks

# Markets of this file. A repeated (condition_id, effective_ts_ms) must repeat the same
# content (checked in _market_conflicts), so any one of them stands for all.
_NEW_MARKETS = """
    SELECT * FROM s_markets
    QUALIFY row_number() OVER (PARTITION BY condition_id, effective_ts_ms ORDER BY line) = 1
"""

# Markets of this file the archive does not already hold as they are. Only these can
# change what already-imported data means; an identical record repeated by every file
# of a recording (the adapters do that) costs no re-check of the archive.
_CHANGED_MARKETS = """
    SELECT * FROM s_new_markets n WHERE NOT EXISTS (
        SELECT 1 FROM markets m WHERE m.condition_id = n.condition_id
        AND m.effective_ts_ms = n.effective_ts_ms AND m.content_sha256 = n.content_sha256)
"""

_TOKENS = """
    SELECT condition_id, yes_token_id AS token_id FROM {src}
    UNION ALL SELECT condition_id, no_token_id FROM {src}
"""


def _cross_checks(con: duckdb.DuckDBPyConnection, path: str) -> None:
    problems: list[Problem] = []
    con.execute(f"CREATE OR REPLACE VIEW s_new_markets AS {_NEW_MARKETS}")
    con.execute(f"CREATE OR REPLACE VIEW s_changed_markets AS {_CHANGED_MARKETS}")
    con.execute(
        "CREATE OR REPLACE VIEW s_all_tokens AS SELECT DISTINCT condition_id, token_id FROM ("
        + _TOKENS.format(src="markets")
        + " UNION ALL "
        + _TOKENS.format(src="s_new_markets")
        + ")"
    )
    problems += _market_conflicts(con, path)
    problems += _foreign_tokens(con, path)
    problems += _report_conflicts(con, path)
    off_grid = _off_grid(con, path)
    _raise_if(problems + off_grid, grid_only=not problems)


def _names(con: duckdb.DuckDBPyConnection, keys: Iterable[int]) -> dict[int, str]:
    keys = list(set(keys))
    if not keys:
        return {}
    rows = con.execute("SELECT file_key, name FROM import_files WHERE file_key IN ?", [keys]).fetchall()
    return dict(rows)


def _against_archive(
    con: duckdb.DuckDBPyConnection, path: str, sql: str, message: Callable[..., str]
) -> list[Problem]:
    """Problems from rows ``(line, field, *subject, earlier file_key, earlier line)``.

    ``message(*subject, where)`` words the problem; ``where`` is ``name:line`` of the
    already-imported record it conflicts with.
    """
    rows = con.execute(sql, [MAX_PROBLEMS]).fetchall()
    names = _names(con, (row[-2] for row in rows))
    return [
        Problem(path, line, field, message(*subject, f"{names.get(key, '?')}:{other_line}"))
        for line, field, *subject, key, other_line in rows
    ]


def _market_conflicts(con: duckdb.DuckDBPyConnection, path: str) -> list[Problem]:
    problems = [
        Problem(
            path, line, "condition_id",
            f"market {cid} repeats line {first} with different content; give the later record "
            "an effective_ts_ms to replace the market from that time",
        )
        for line, cid, first in con.execute(
            """
            SELECT max(line), condition_id, min(line) FROM s_markets
            GROUP BY condition_id, effective_ts_ms HAVING count(DISTINCT content_sha256) > 1
            ORDER BY 1 LIMIT ?
            """,
            [MAX_PROBLEMS],
        ).fetchall()
    ]  # fmt: skip
    problems += _against_archive(
        con,
        path,
        """
        SELECT s.line, 'condition_id', s.condition_id, m.file_key, m.line FROM s_new_markets s
        JOIN markets m USING (condition_id, effective_ts_ms)
        WHERE s.content_sha256 <> m.content_sha256 ORDER BY s.line LIMIT ?
        """,
        lambda cid, where: (
            f"market {cid} differs from the record imported from {where}; give the new record "
            "an effective_ts_ms to replace the market from that time"
        ),
    )
    rows = con.execute(
        """
        SELECT s.line, s.condition_id FROM s_new_markets s
        JOIN (SELECT condition_id, yes_token_id, no_token_id FROM markets
              UNION ALL SELECT condition_id, yes_token_id, no_token_id FROM s_new_markets) o
          USING (condition_id)
        WHERE o.yes_token_id <> s.yes_token_id OR o.no_token_id <> s.no_token_id
        ORDER BY s.line LIMIT ?
        """,
        [MAX_PROBLEMS],
    ).fetchall()
    for line, cid in rows:
        problems.append(Problem(path, line, "tokens", f"market {cid} has other token ids in another record"))
    rows = con.execute(
        """
        SELECT min(line) FILTER (WHERE staged), token_id, string_agg(DISTINCT condition_id, ', ')
        FROM (SELECT condition_id, yes_token_id AS token_id, line, false AS staged FROM markets
              UNION ALL SELECT condition_id, no_token_id, line, false FROM markets
              UNION ALL SELECT condition_id, yes_token_id, line, true FROM s_new_markets
              UNION ALL SELECT condition_id, no_token_id, line, true FROM s_new_markets)
        GROUP BY token_id HAVING count(DISTINCT condition_id) > 1 AND bool_or(staged)
        ORDER BY 1 LIMIT ?
        """,
        [MAX_PROBLEMS],
    ).fetchall()
    for line, token, markets in rows:
        problems.append(Problem(path, line, "tokens", f"token {token} is claimed by markets {markets}"))
    return problems


# Every (market, token) pairing already in the archive that a market of this file
# speaks about: data and reports naming the market, or naming one of its tokens under
# any market, and settlement payouts.
_ARCHIVED_REFS = """
    WITH new_tokens AS (
        SELECT yes_token_id AS token_id FROM s_changed_markets
        UNION SELECT no_token_id FROM s_changed_markets)
    SELECT market, asset_id, min(line) AS line, arg_min(file_key, line) AS file_key
    FROM (
        SELECT market, asset_id, line, file_key FROM md_book
        UNION ALL SELECT market, asset_id, line, file_key FROM md_level
        UNION ALL SELECT market, asset_id, line, file_key FROM md_trade
        UNION ALL SELECT market, asset_id, line, file_key FROM md_tick
        UNION ALL SELECT market_id, asset_id, line, file_key FROM reports
            WHERE market_id IS NOT NULL AND asset_id IS NOT NULL
        UNION ALL SELECT market_id, unnest(json_keys(payload, '$.payouts')), line, file_key FROM reports
            WHERE report_kind = 'SettlementReport')
    WHERE market IN (SELECT condition_id FROM s_changed_markets)
       OR asset_id IN (SELECT token_id FROM new_tokens)
    GROUP BY market, asset_id
"""


def _foreign_tokens(con: duckdb.DuckDBPyConnection, path: str) -> list[Problem]:
    problems = []
    rows = con.execute(
        """
        SELECT r.line, r.field, r.market, r.asset_id,
               (SELECT string_agg(condition_id, ', ') FROM s_all_tokens t WHERE t.token_id = r.asset_id)
        FROM s_refs r
        WHERE (r.market IN (SELECT condition_id FROM s_all_tokens)
               OR r.asset_id IN (SELECT token_id FROM s_all_tokens))
          AND NOT EXISTS (SELECT 1 FROM s_all_tokens t
                          WHERE t.condition_id = r.market AND t.token_id = r.asset_id)
        ORDER BY r.line, r.elem LIMIT ?
        """,
        [MAX_PROBLEMS],
    ).fetchall()
    for line, field, market, asset, owner in rows:
        where = f"it belongs to market {owner}" if owner else "the market has other tokens"
        problems.append(
            Problem(path, line, field, f"token {asset} is not a token of market {market}: {where}")
        )
    if _has_rows(con, "s_changed_markets"):
        problems += _against_archive(
            con,
            path,
            f"""
            WITH refs AS ({_ARCHIVED_REFS})
            SELECT s.line, 'tokens', s.condition_id, r.market, r.asset_id, r.file_key, r.line FROM refs r
            JOIN s_changed_markets s
              ON s.condition_id = r.market OR r.asset_id IN (s.yes_token_id, s.no_token_id)
            WHERE NOT (s.condition_id = r.market AND r.asset_id IN (s.yes_token_id, s.no_token_id))
            ORDER BY s.line LIMIT ?
            """,
            lambda new, market, asset, where: (
                f"market {new} conflicts with already-imported data that puts token {asset} "
                f"in market {market} ({where})"
            ),
        )
    return problems


def _has_rows(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return schema.first_row(con.execute(f"SELECT 1 FROM {table} LIMIT 1")) is not None


# The tick grid of each token over time: market records (from their effective time),
# tick_size_change events, and before a token's first event its old tick when no
# market record says otherwise. At equal times an event outranks a market record, and
# of two events the later one (by seq, then position) is the one in force.
_SCHEDULE = """
    WITH markets_all AS (
        SELECT * FROM markets UNION ALL SELECT * FROM s_new_markets),
    ticks_all AS (SELECT asset_id, ts_ms, old_tick, new_tick, seq, file_key, line, elem FROM md_tick
                  UNION ALL
                  SELECT asset_id, ts_ms, old_tick, new_tick, seq, file_key, line, elem FROM s_md_tick),
    from_markets AS (
        SELECT yes_token_id AS asset_id, effective_ts_ms AS ts_ms, tick_size AS tick, 1 AS rank,
               NULL::BIGINT AS seq, file_key, line, elem FROM markets_all
        UNION ALL SELECT no_token_id, effective_ts_ms, tick_size, 1, NULL, file_key, line, elem
        FROM markets_all),
    before_first AS (
        SELECT asset_id, 0 AS ts_ms, arg_min(old_tick, (ts_ms, seq, file_key, line, elem)) AS tick,
               0 AS rank, NULL::BIGINT AS seq, NULL::BIGINT AS file_key, NULL::BIGINT AS line,
               NULL::INTEGER AS elem
        FROM ticks_all WHERE asset_id NOT IN (SELECT asset_id FROM from_markets) GROUP BY asset_id)
    SELECT asset_id, ts_ms, tick FROM (
        SELECT * FROM from_markets
        UNION ALL SELECT asset_id, ts_ms, new_tick, 2, seq, file_key, line, elem FROM ticks_all
        UNION ALL SELECT * FROM before_first)
    QUALIFY row_number() OVER (
        PARTITION BY asset_id, ts_ms
        ORDER BY rank DESC, seq DESC NULLS LAST, file_key DESC, line DESC, elem DESC) = 1
"""

# Prices of already-imported data whose grid this file changes (new market records or
# tick events for the same tokens), with the record of this file that sets that grid.
_ARCHIVED_PRICES = """
    WITH setters AS (
        SELECT yes_token_id AS asset_id, effective_ts_ms AS ts_ms, line, 'tick_size' AS field
            FROM s_changed_markets
        UNION ALL SELECT no_token_id, effective_ts_ms, line, 'tick_size' FROM s_changed_markets
        UNION ALL SELECT asset_id, ts_ms, line,
            CASE WHEN elem > 0 THEN '[' || (elem - 1) || '].new_tick_size' ELSE 'new_tick_size' END
            FROM s_md_tick),
    prices AS (
        SELECT asset_id, ts_ms, unnest(bid_px) AS price, file_key, line, 'bids' AS field
            FROM md_book WHERE asset_id IN (SELECT asset_id FROM setters)
        UNION ALL SELECT asset_id, ts_ms, unnest(ask_px), file_key, line, 'asks'
            FROM md_book WHERE asset_id IN (SELECT asset_id FROM setters)
        UNION ALL SELECT asset_id, ts_ms, price, file_key, line, 'price'
            FROM md_level WHERE size > 0 AND asset_id IN (SELECT asset_id FROM setters)
        UNION ALL SELECT asset_id, ts_ms, price, file_key, line, 'price'
            FROM md_trade WHERE asset_id IN (SELECT asset_id FROM setters))
    SELECT p.*, coalesce(w.line, 0) AS setter_line, coalesce(w.field, '(file)') AS setter_field
    FROM prices p ASOF LEFT JOIN setters w ON p.asset_id = w.asset_id AND p.ts_ms >= w.ts_ms
"""


def _off_grid(con: duckdb.DuckDBPyConnection, path: str) -> list[Problem]:
    con.execute(f"CREATE OR REPLACE TABLE s_schedule AS {_SCHEDULE}")
    problems = [
        Problem(
            path, line, field,
            f"price {format_micros(price)} is not on the tick grid {format_micros(tick)} "
            "in force at that time",
        )
        for line, field, price, tick in con.execute(
            """
            SELECT p.line, p.field, p.price, s.tick FROM s_prices p
            ASOF JOIN s_schedule s ON p.asset_id = s.asset_id AND p.ts_ms >= s.ts_ms
            WHERE p.price % s.tick <> 0 ORDER BY p.line, p.elem LIMIT ?
            """,
            [MAX_PROBLEMS],
        ).fetchall()
    ]  # fmt: skip
    if _has_rows(con, "s_changed_markets") or _has_rows(con, "s_md_tick"):
        problems += _against_archive(
            con,
            path,
            f"""
            WITH p AS ({_ARCHIVED_PRICES})
            SELECT p.setter_line, p.setter_field, p.tick_fmt, p.field, p.price, p.file_key, p.line
            FROM (SELECT p.*, s.tick AS tick_fmt FROM p
                  ASOF JOIN s_schedule s ON p.asset_id = s.asset_id AND p.ts_ms >= s.ts_ms
                  WHERE p.price % s.tick <> 0) p
            ORDER BY p.setter_line, p.file_key, p.line LIMIT ?
            """,
            lambda tick, field, price, where: (
                f"the tick grid {format_micros(tick)} it sets does not fit already-imported data: "
                f"{where}: {field}: price {format_micros(price)}"
            ),
        )
    return problems


def _report_conflicts(con: duckdb.DuckDBPyConnection, path: str) -> list[Problem]:
    problems = []
    rows = con.execute(
        """
        SELECT max(line), report_id, min(line) FROM s_reports GROUP BY report_id
        HAVING count(DISTINCT content_sha256) > 1 ORDER BY 1 LIMIT ?
        """,
        [MAX_PROBLEMS],
    ).fetchall()
    for line, report_id, first in rows:
        problems.append(
            Problem(path, line, "report_id", f"{report_id!r} repeats line {first} with different content")
        )
    problems += _against_archive(
        con,
        path,
        """
        SELECT s.line, 'report_id', s.report_id, r.file_key, r.line
        FROM s_reports s JOIN reports r USING (report_id)
        WHERE s.content_sha256 <> r.content_sha256 ORDER BY s.line LIMIT ?
        """,
        lambda report_id, where: f"{report_id!r} was already imported with different content ({where})",
    )
    return problems


# ---------------------------------------------------------------- merge


def _merge(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    counts: dict[str, int] = {}
    counts["markets"] = _insert(
        con,
        "markets",
        """SELECT * FROM s_new_markets n WHERE NOT EXISTS (
             SELECT 1 FROM markets m WHERE m.condition_id = n.condition_id
             AND m.effective_ts_ms = n.effective_ts_ms)""",
    )
    for name in ("md_book", "md_level", "md_trade", "md_tick"):
        order = "market, asset_id, ts_ms, file_key, line, elem" + (", entry" if name == "md_level" else "")
        counts[name] = _insert(con, name, f"SELECT * FROM s_{name} ORDER BY {order}")
    counts["reports"] = _insert(
        con,
        "reports",
        """SELECT * FROM s_reports s
           WHERE NOT EXISTS (SELECT 1 FROM reports r WHERE r.report_id = s.report_id)
           QUALIFY row_number() OVER (PARTITION BY report_id ORDER BY line) = 1
           ORDER BY market_id, ts_ms, report_id""",
    )
    return {k: v for k, v in counts.items() if v}


def _insert(con: duckdb.DuckDBPyConnection, table: str, select: str) -> int:
    row = schema.first_row(con.execute(f"INSERT INTO {table} {select}"))
    return int(row[0]) if row else 0
