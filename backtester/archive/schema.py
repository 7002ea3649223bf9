"""The archive's tables: one definition drives the DuckDB DDL, the Arrow batches the
importer writes, the Parquet export and the content hash.

Units: every price, size, tick and fee rate is an integer count of micro-units
(``backtester.units``); every time is epoch milliseconds (UTC). Positions (``file_key``,
``line``, ``elem``, ``entry``) locate a row in the file it came from and give the
contract's tie-break order ("then position in the file").

``file_key`` is the first 8 bytes of the sha256 of the file's content (as a signed
BIGINT), so it does not depend on the order in which files were imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

__all__ = [
    "CONTENT_TABLES",
    "first_row",
    "SCHEMA_VERSION",
    "TABLES",
    "Table",
    "ddl",
]

SCHEMA_VERSION = "2"

_ARROW = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "BOOLEAN": pa.bool_(),
    "BIGINT[]": pa.list_(pa.int64()),
    "TIMESTAMP": pa.timestamp("us"),
}


@dataclass(frozen=True)
class Table:
    """One archive table: ordered (name, DuckDB type) columns and a description."""

    name: str
    columns: tuple[tuple[str, str], ...]
    doc: str
    primary_key: tuple[str, ...] = ()
    time_column: str | None = None
    market_column: str | None = None
    position_is_content: bool = True
    """False where a row is identified by its key and content alone (markets, reports):
    the same record in two files is stored once, with the position of whichever file
    came first, so the position must not count as content."""

    @property
    def content_columns(self) -> list[str]:
        """Columns that make up the archive's content (and its hash)."""
        if self.position_is_content:
            return self.column_names
        return [c for c in self.column_names if c not in ("file_key", "line", "elem")]

    @property
    def column_names(self) -> list[str]:
        return [c for c, _ in self.columns]

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([(c, _ARROW[t]) for c, t in self.columns])

    def create_sql(self, name: str | None = None, *, keys: bool = True) -> str:
        """DDL of this table (under another name and without its primary key for staging)."""
        cols = ",\n  ".join(f"{c} {t}" for c, t in self.columns)
        pk = f",\n  PRIMARY KEY ({', '.join(self.primary_key)})" if self.primary_key and keys else ""
        return f"CREATE TABLE IF NOT EXISTS {name or self.name} (\n  {cols}{pk}\n)"


_POSITION = (("file_key", "BIGINT"), ("line", "BIGINT"), ("elem", "INTEGER"))
_MD_HEAD = (
    ("market", "VARCHAR"),
    ("asset_id", "VARCHAR"),
    ("ts_ms", "BIGINT"),
    ("seq", "BIGINT"),
    ("recv_ts_ms", "BIGINT"),
)

MARKETS = Table(
    "markets",
    (
        ("condition_id", "VARCHAR"),
        ("effective_ts_ms", "BIGINT"),
        ("question", "VARCHAR"),
        ("yes_token_id", "VARCHAR"),
        ("yes_outcome", "VARCHAR"),
        ("no_token_id", "VARCHAR"),
        ("no_outcome", "VARCHAR"),
        ("neg_risk", "BOOLEAN"),
        ("neg_risk_market_id", "VARCHAR"),
        ("question_id", "VARCHAR"),
        ("neg_risk_other", "BOOLEAN"),
        ("group_item_title", "VARCHAR"),
        ("active", "BOOLEAN"),
        ("tick_size", "BIGINT"),
        ("min_order_size", "BIGINT"),
        ("fee_model", "VARCHAR"),
        ("fee_rate_bps", "INTEGER"),
        ("fee_rate", "BIGINT"),
        ("fee_exponent", "INTEGER"),
        ("fee_taker_only", "BOOLEAN"),
        ("fee_rebate_rate", "BIGINT"),
        ("end_date_ms", "BIGINT"),
        ("neg_risk_outcomes", "INTEGER"),
        ("provenance", "VARCHAR"),
        ("content_sha256", "VARCHAR"),
        *_POSITION,
    ),
    "One binary market per (condition_id, effective_ts_ms); effective_ts_ms 0 = from the start. "
    "fee_model is flat_bps, curve, none, or unknown (an adapter's source did not say). "
    "neg_risk_outcomes: how many outcomes the event has in all, when the source says.",
    primary_key=("condition_id", "effective_ts_ms"),
    market_column="condition_id",
    position_is_content=False,
)

MD_BOOK = Table(
    "md_book",
    (
        *_MD_HEAD,
        ("hash", "VARCHAR"),
        ("bid_px", "BIGINT[]"),
        ("bid_sz", "BIGINT[]"),
        ("ask_px", "BIGINT[]"),
        ("ask_sz", "BIGINT[]"),
        ("depth_limit", "INTEGER"),
        *_POSITION,
    ),
    "Full L2 snapshot of one token; levels stored best first (bids descending, asks "
    "ascending). depth_limit is set when the recorder kept only the best N levels per side.",
    time_column="ts_ms",
    market_column="market",
)

MD_LEVEL = Table(
    "md_level",
    (
        *_MD_HEAD,
        ("side", "VARCHAR"),
        ("price", "BIGINT"),
        ("size", "BIGINT"),
        ("best_bid", "BIGINT"),
        ("best_ask", "BIGINT"),
        ("hash", "VARCHAR"),
        *_POSITION,
        ("entry", "INTEGER"),
    ),
    "One price_change entry (all three contract forms): the new total size at a level; "
    "size 0 removes it. side BUY = bid, SELL = ask. best_bid/best_ask as the message gave them.",
    time_column="ts_ms",
    market_column="market",
)

MD_TRADE = Table(
    "md_trade",
    (
        *_MD_HEAD,
        ("side", "VARCHAR"),
        ("price", "BIGINT"),
        ("size", "BIGINT"),
        ("fee_rate_bps", "INTEGER"),
        ("tx_hash", "VARCHAR"),
        *_POSITION,
    ),
    "last_trade_price: a trade of size shares at price; side is the taker's side.",
    time_column="ts_ms",
    market_column="market",
)

MD_TICK = Table(
    "md_tick",
    (*_MD_HEAD, ("old_tick", "BIGINT"), ("new_tick", "BIGINT"), *_POSITION),
    "tick_size_change: from ts_ms the token's price grid is new_tick.",
    time_column="ts_ms",
    market_column="market",
)

REPORTS = Table(
    "reports",
    (
        ("report_id", "VARCHAR"),
        ("report_kind", "VARCHAR"),
        ("trace_id", "VARCHAR"),
        ("bot_id", "VARCHAR"),
        ("ts_ms", "BIGINT"),
        ("mode", "VARCHAR"),
        ("schema_version", "INTEGER"),
        ("market_id", "VARCHAR"),
        ("asset_id", "VARCHAR"),
        ("payload", "VARCHAR"),
        ("content_sha256", "VARCHAR"),
        *_POSITION,
    ),
    "Report envelopes of live bots. payload is canonical JSON (sorted keys, decimals as "
    "strings); market_id/asset_id are copied out of it for filtering.",
    primary_key=("report_id",),
    time_column="ts_ms",
    market_column="market_id",
    position_is_content=False,
)

IMPORT_FILES = Table(
    "import_files",
    (
        ("file_key", "BIGINT"),
        ("sha256", "VARCHAR"),
        ("source_format", "VARCHAR"),
        ("name", "VARCHAR"),
        ("records", "BIGINT"),
        ("imported_at", "TIMESTAMP"),
    ),
    "Every imported file, by content. Re-importing the same content is a no-op. name and "
    "imported_at are provenance only and not part of the archive's content hash.",
    primary_key=("file_key",),
)

CONTENT_TABLES = (MARKETS, MD_BOOK, MD_LEVEL, MD_TRADE, MD_TICK, REPORTS)
"""Tables whose rows make up the archive's content (and its content hash)."""

TABLES = (*CONTENT_TABLES, IMPORT_FILES)


def first_row(result: Any) -> tuple[Any, ...] | None:
    """The first row of a query result, reading the result to its end.

    DuckDB 2 keeps a result open until a fetch returns nothing, and refuses relation
    queries on the connection meanwhile: ``fetchone`` alone would leave it open.
    """
    rows = result.fetchall()
    return rows[0] if rows else None


def ddl() -> list[str]:
    """Statements that create an empty archive."""
    stmts = ["CREATE TABLE IF NOT EXISTS archive_meta (key VARCHAR PRIMARY KEY, value VARCHAR)"]
    stmts += [t.create_sql() for t in TABLES]
    return stmts
