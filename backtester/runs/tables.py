"""A run's results as Arrow tables, and the compact bytes a run directory holds.

The tables (:func:`result_tables`): ``fills``, ``equity``, ``stats``, ``market_stats``,
``trades`` (round trips), ``comparison`` and ``reports``. Money, prices, sizes and ratios
are ``decimal128(24, 6)`` columns: exact (written from the micro-units, as the reports'
decimal strings), and read as decimals by pandas, polars and DuckDB alike; times are
``timestamp[ms, UTC]``; a report is its canonical JSON text next to the columns it is
queried by.

Every file is written with deterministic bytes: gzip with no name and mtime 0, Parquet
(zstd) with the same writer options, so the same run gives the same files.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from backtester.runs.frames import (
    comparison_frame,
    equity_frame,
    fills_frame,
    round_trips_frame,
    stats_frame,
    stats_row,
)  # fmt: skip

__all__ = ["DECIMAL", "TABLES", "dump", "gzip_bytes", "parquet_bytes", "result_tables", "write_tables"]

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


def result_tables(result: Any) -> dict[str, pa.Table]:
    """The tables of a complete run (see the module docstring); an aborted run has only
    its reports."""
    tables: dict[str, pa.Table] = {}
    if result.abort_report is None:
        variants = result.variants
        tables["fills"] = _arrow(fills_frame(variants, exact=True))
        tables["equity"] = _arrow(equity_frame(variants, exact=True))
        stats = stats_frame(variants, exact=True).reset_index()
        if result.original is not None and result.original.stats is not None:
            live = pd.DataFrame(
                [{"variant_id": None, "live": True, **stats_row(result.original.stats, exact=True)}]
            )
            stats = pd.concat([stats.assign(live=False), live], ignore_index=True)
            stats["variant_id"] = stats["variant_id"].astype("Int64")
        tables["stats"] = _arrow(stats)
        tables["market_stats"] = _arrow(
            pd.DataFrame(
                [
                    {"variant_id": v.variant_id, "market_id": market, **stats_row(s, exact=True)}
                    for v in variants
                    for market, s in v.market_stats.items()
                ]
            )
        )
        tables["trades"] = _arrow(round_trips_frame(variants, exact=True))
        tables["comparison"] = _arrow(comparison_frame(result.comparisons))
    tables["reports"] = _reports_table(result.reports)
    return tables


def write_tables(tables: dict[str, pa.Table], folder: str | Path, *, to: str = "parquet") -> list[Path]:
    """Write each table to ``folder/<name>.parquet`` (or ``.csv``); return the paths."""
    if to not in ("parquet", "csv"):
        msg = f"--to must be parquet or csv, not {to!r}"
        raise ValueError(msg)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, table in tables.items():
        path = out / f"{name}.{to}"
        if to == "parquet":
            path.write_bytes(parquet_bytes(table))
        else:
            pacsv.write_csv(table, path)
        paths.append(path)
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


def _arrow(frame: pd.DataFrame) -> pa.Table:
    """A frame as an Arrow table: Decimal columns as :data:`DECIMAL`, nested values (lists,
    dicts) as JSON text, the rest as Arrow infers them."""
    columns = {}
    for name in frame.columns:
        values = frame[name]
        present = list(values.dropna())
        if present and all(isinstance(v, Decimal) for v in present):
            columns[str(name)] = pa.array([v if isinstance(v, Decimal) else None for v in values], DECIMAL)
        elif present and any(isinstance(v, list | dict) for v in present):
            columns[str(name)] = pa.array([None if v is None else dump(v) for v in values], pa.string())
        else:
            columns[str(name)] = pa.Array.from_pandas(values)
    return pa.table(columns) if columns else pa.table({})
