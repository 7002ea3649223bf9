"""A run's results as Arrow tables, and the compact bytes a run directory holds.

The tables (:func:`result_tables`): ``fills``, ``equity``, ``stats``, ``market_stats``,
``trades`` (round trips), ``comparison`` and ``reports``. Money, prices, sizes and ratios
are ``decimal128(24, 6)`` columns: exact (written from the micro-units, as the reports'
decimal strings), and read as decimals by pandas, polars and DuckDB alike, whatever the
run (a column of n/a is still decimal); times are ``timestamp[ms, UTC]``; a report is
its canonical JSON text next to the columns it is queried by.

Every file is written with deterministic bytes: gzip with no name and mtime 0, Parquet
(zstd) with the same writer options, so the same run gives the same files.
"""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from backtester.runs.frames import (
    DECIMALS,
    TIMES,
    comparison_rows,
    equity_rows,
    fills_rows,
    round_trip_rows,
    stats_row,
    stats_rows,
)  # fmt: skip

__all__ = [
    "DECIMAL", "FORMATS", "TABLES", "check_format", "csv_bytes", "dump", "gzip_bytes", "parquet_bytes",
    "result_tables", "write_files", "write_tables",
]  # fmt: skip

DECIMAL = pa.decimal128(24, 6)
"""Exact amounts, prices, sizes and ratios (6 places: the micro-unit)."""
TABLES = ("fills", "equity", "stats", "market_stats", "trades", "comparison", "reports")
"""The tables of a run, in the order they are listed."""


def dump(value: Any) -> str:
    """Canonical JSON of a report: sorted keys, no spaces, UTF-8 text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def gzip_bytes(text: str) -> bytes:
    """``text`` gzipped with deterministic bytes (no file name, mtime 0)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as out:
        out.write(text.encode("utf-8"))
    return buffer.getvalue()


def parquet_bytes(table: pa.Table) -> bytes:
    """``table`` as Parquet (zstd), the same bytes for the same table. Large pages and no
    dictionary: long JSON texts (a report) compress far better so, and the other tables
    are small."""
    sink = pa.BufferOutputStream()
    pq.write_table(
        table, sink, compression="zstd", compression_level=9, use_dictionary=False, data_page_size=1 << 26
    )
    return sink.getvalue().to_pybytes()


_TEXT, _INT, _BOOL = pa.string(), pa.int64(), pa.bool_()
_STATS = {
    **dict.fromkeys(("fills", "round_trips", "wins", "losses"), _INT),
    **dict.fromkeys(("max_drawdown_duration_ms", "samples", "samples_moved", "time_in_market_ms"), _INT),
    "max_drawdown_recovered": _BOOL, "sample_interval": _TEXT,
    **dict.fromkeys(DECIMALS, DECIMAL),
}  # fmt: skip
COLUMNS: dict[str, dict[str, pa.DataType]] = {
    "fills": {
        "variant_id": _INT, "trace_id": _TEXT, "original_trace_id": _TEXT, "decided_ms": _INT,
        "arrival_ms": _INT, "market_id": _TEXT, "asset_id": _TEXT, "side": _TEXT, "status": _TEXT,
        "order_shares": DECIMAL,
        "shares": DECIMAL, "price": DECIMAL, "cost_pusd": DECIMAL, "fee_pusd": DECIMAL, "fee_asset": _TEXT,
        "slippage_bps": DECIMAL, "reason": _TEXT,
    },
    "equity": {
        "variant_id": _INT, "ts_ms": _INT, "realised_pnl_pusd": DECIMAL, "unrealised_pnl_pusd": DECIMAL,
        "pnl_pusd": DECIMAL,
    },
    "stats": {"variant_id": _INT, "live": _BOOL, **_STATS},
    "market_stats": {"variant_id": _INT, "market_id": _TEXT, **_STATS},
    "trades": {
        "variant_id": _INT, "kind": _TEXT, "market_id": _TEXT, "assets": _TEXT, "entry_ts_ms": _INT,
        "exit_ts_ms": _INT, "shares": DECIMAL, "cost_pusd": DECIMAL, "proceeds_pusd": DECIMAL,
        "pnl_pusd": DECIMAL,
    },
    "comparison": {
        "variant_id": _INT, "trace_id": _TEXT, "original_trace_id": _TEXT, "tick_ts_ms": _INT,
        **dict.fromkeys(("replay_decided", "live_decided", "decided_same", "ordered_same"), _BOOL),
        "replay_verdict": _TEXT, "live_verdict": _TEXT, "replay_latency_ms": _INT, "live_latency_ms": _INT,
        **dict.fromkeys(("replay_shares", "live_shares", "size_delta_shares", "replay_avg_price"), DECIMAL),
        **dict.fromkeys(("live_avg_price", "price_delta_bps", "fee_delta_pusd"), DECIMAL),
        **dict.fromkeys(("replay_pnl_to_mark_pusd", "live_pnl_to_mark_pusd", "pnl_delta_pusd"), DECIMAL),
        "cause": _TEXT,
    },
}  # fmt: skip
"""Each table's columns and their types: the same whatever the run (an empty table
still has them). The stats tables also get a ``param.<name>`` column per parameter, in
the type its JSON value has."""


def result_tables(result: Any) -> dict[str, pa.Table]:
    """The tables of a complete run (see the module docstring); an aborted run has only
    its reports."""
    tables: dict[str, pa.Table] = {}
    if result.abort_report is None:
        variants = result.variants
        stats = [{**row, "live": False} for row in stats_rows(variants, exact=True)]
        if result.original is not None and result.original.stats is not None:
            stats.append({"variant_id": None, "live": True, **stats_row(result.original.stats, exact=True)})
        rows = {
            "fills": fills_rows(variants, exact=True),
            "equity": equity_rows(variants, exact=True),
            "stats": stats,
            "market_stats": [
                {"variant_id": v.variant_id, "market_id": market, **stats_row(s, exact=True)}
                for v in variants
                for market, s in v.market_stats.items()
            ],
            "trades": round_trip_rows(variants, exact=True),
            "comparison": comparison_rows(result.comparisons),
        }
        tables = {name: _arrow(rows[name], COLUMNS[name]) for name in TABLES if name in rows}
    tables["reports"] = _reports_table(result.reports)
    return tables


FORMATS = ("parquet", "csv")
"""What a table is written as."""


def check_format(to: str) -> str:
    """``to``, if it is one of :data:`FORMATS`."""
    if to not in FORMATS:
        msg = f"--to must be parquet or csv, not {to!r}"
        raise ValueError(msg)
    return to


def csv_bytes(table: pa.Table) -> bytes:
    """``table`` as CSV (decimals with their 6 places, times in UTC)."""
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer)
    return buffer.getvalue()


def write_tables(tables: dict[str, pa.Table], folder: str | Path, *, to: str = "parquet") -> list[Path]:
    """Write each table to ``folder/<name>.parquet`` (or ``.csv``); return the paths."""
    encode = parquet_bytes if check_format(to) == "parquet" else csv_bytes
    return write_files(folder, {f"{name}.{to}": encode(table) for name, table in tables.items()})


def write_files(folder: str | Path, files: dict[str, bytes]) -> list[Path]:
    """Write each file into ``folder``, aside and renamed into place (a reader never sees
    half a table); return the paths, in order."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in files.items():
        aside = out / f".{name}.partial"
        aside.write_bytes(data)
        os.replace(aside, out / name)
        paths.append(out / name)
    return paths


def _reports_table(reports: Iterable[dict[str, Any]]) -> pa.Table:
    rows = list(reports)
    return pa.table(
        {
            "report_id": pa.array([r["report_id"] for r in rows], pa.string()),
            "report_kind": pa.array([r.get("report_kind") for r in rows], pa.string()),
            "event_type": pa.array([r.get("event_type") for r in rows], pa.string()),
            "ts": pa.array([r["ts_ms"] for r in rows], pa.timestamp("ms", tz="UTC")),
            "trace_id": pa.array([r.get("trace_id") for r in rows], pa.string()),
            "parameter_variant": pa.array([_variant(r) for r in rows], pa.int64()),
            "report": pa.array([dump(r) for r in rows], pa.string()),
        }
    )


def _variant(report: dict[str, Any]) -> int | None:
    value = report.get("parameter_variant", report.get("variant_id"))
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _arrow(rows: list[dict[str, Any]], columns: dict[str, pa.DataType]) -> pa.Table:
    """Rows as an Arrow table of ``columns`` (their declared types; amounts from decimal
    strings or Decimals), each epoch-ms column with a UTC timestamp before it
    (:data:`~backtester.runs.frames.TIMES`), then any other column the rows have (a
    parameter) in the type of its values: text for none, JSON text for lists, dicts or
    mixed types."""
    names = list(dict.fromkeys([*columns, *(name for row in rows for name in row)]))
    times = {ms: name for name, ms in TIMES.items()}
    arrays: dict[str, pa.Array] = {}
    for name in names:
        values = [row.get(name) for row in rows]
        present = [v for v in values if v is not None]
        kind = columns.get(name)
        if name in times:
            arrays[times[name]] = pa.array(values, _INT).cast(pa.timestamp("ms", tz="UTC"))
        if kind == DECIMAL:
            arrays[name] = pa.array([None if v is None else Decimal(v) for v in values], DECIMAL)
        elif kind is not None:
            arrays[name] = pa.array(values, kind)
        elif not present:
            arrays[name] = pa.array(values, _TEXT)
        elif any(isinstance(v, list | dict) for v in present) or len({type(v) for v in present}) > 1:
            arrays[name] = pa.array([None if v is None else dump(v) for v in values], _TEXT)
        else:
            arrays[name] = pa.array(values)
    return pa.table(arrays)
