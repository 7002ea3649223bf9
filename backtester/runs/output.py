"""Writing a run: ``<out>/<replay_run_id>/`` and the operations topic.

The run directory is written aside (``<out>/.<replay_run_id>.partial/``) and renamed
into place only once everything in it is written, ``status.json`` last; a crash or an
abort therefore never leaves a directory that looks complete. It holds:

* ``reports.jsonl.gz``: every report of the run, one per line, canonical JSON (sorted
  keys), gzipped with deterministic bytes (:func:`read_reports` reads it back);
* ``summary.json``: the run's summary (config as resolved, counts, statistics, live outcome);
* ``comparison.jsonl.gz``: per variant, the comparison with the live bot;
* ``tables/<name>.parquet``: the same as tables to query (:mod:`backtester.runs.tables`):
  fills, equity, stats, market_stats, trades, comparison and reports;
* ``status.json``: ``complete`` or ``aborted``, the counts and the sha256 of the files.

The reports also go to ``<out>/operations/``, the stand-in for the
``polytraders.reports.operations`` topic: a Hive-partitioned Parquet dataset,
partitioned by ``bot_slug+epoch`` as the spec asks (section 9):
``operations/bot_slug=backtester/epoch=<UTC day>/<replay_run_id>.parquet``, one file per
run and day, one row per report with its ``report_id``, ``partition``
(``backtester+<epoch bucket>``), the date it is retained until (window end + 1 year) and
the report as canonical JSON. Each run writes only its own files, each written aside
and renamed into place, so any number of runs can publish into one ``<out>`` at the
same time without a lock, and a reader never sees half a file; DuckDB reads the whole
topic across runs (:func:`read_operations`). They are published before the status file
is written: a crash between the two leaves the run's reports on the topic and its
directory incomplete (``.partial``), and writing the run again replaces the same files,
each report on the topic once.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from backtester.reports.summary import retained_until
from backtester.runs.replay import ReplayResult
from backtester.runs.tables import dump, gzip_bytes, parquet_bytes, result_tables

__all__ = [
    "OPERATIONS", "RUN_FILES", "dump", "operations_glob", "operations_schema", "operations_source",
    "read_comparison", "read_operations", "read_reports", "run_files", "write_run",
]  # fmt: skip

OPERATIONS = "operations"
"""The folder of the operations topic under a run's ``out`` (a Hive-partitioned dataset)."""
BOT_SLUG = "backtester"


RUN_FILES = ("reports.jsonl.gz", "summary.json", "comparison.jsonl.gz")
"""The files of a run besides its tables (``tables/*.parquet``) and status."""


def write_run(result: ReplayResult, out_dir: str | Path) -> Path:
    """Write the run under ``out_dir`` (see the module docstring); return its directory."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    final = out / result.replay_run_id
    if final.exists():
        msg = f"{final} already exists: a run id is written once"
        raise FileExistsError(msg)
    staging = out / f".{result.replay_run_id}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    files = run_files(result)
    for name, data in files.items():
        _write(staging / name, data)
    _publish(out, result)
    status = {
        "status": result.status,
        "replay_run_id": result.replay_run_id,
        "reports": len(result.reports),
        "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
    _write(staging / "status.json", (json.dumps(status, indent=2, sort_keys=True) + "\n").encode())
    staging.rename(final)
    return final


def run_files(result: ReplayResult) -> dict[str, bytes]:
    """The run's files by relative path: its reports, summary and comparison, and its
    tables (see the module docstring), as bytes."""
    summary = json.dumps(result.summary(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    files = {
        "reports.jsonl.gz": gzip_bytes("".join(dump(r) + "\n" for r in result.reports)),
        "summary.json": summary.encode("utf-8"),
        "comparison.jsonl.gz": gzip_bytes(
            "".join(
                dump({"variant_id": v, **row}) + "\n"
                for v, rows in enumerate(result.comparisons)
                for row in rows
            )
        ),
    }
    for name, table in result_tables(result).items():
        files[f"tables/{name}.parquet"] = parquet_bytes(table)
    return files


def read_reports(run_dir: str | Path) -> list[dict[str, Any]]:
    """The reports of a run directory or an evidence bundle (``reports.jsonl.gz``)."""
    return _read_jsonl(Path(run_dir) / "reports.jsonl.gz")


def read_comparison(run_dir: str | Path) -> list[dict[str, Any]]:
    """The comparison rows of a run directory or an evidence bundle."""
    return _read_jsonl(Path(run_dir) / "comparison.jsonl.gz")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def operations_glob(out_dir: str | Path) -> str:
    """The glob of every file of the operations topic under ``out_dir``."""
    return str(Path(out_dir) / OPERATIONS / "**" / "*.parquet")


def read_operations(out_dir: str | Path, *, replay_run_id: str | None = None) -> pa.Table:
    """The operations topic under ``out_dir`` (every run's reports, or one run's), ordered by
    run and report id; the Hive partition columns ``bot_slug`` and ``epoch`` are included.

    >>> import tempfile
    >>> read_operations(tempfile.mkdtemp()).num_rows  # nothing published yet
    0
    """
    if not any((Path(out_dir) / OPERATIONS).rglob("*.parquet")):
        return operations_schema().empty_table()
    con = duckdb.connect(config={"autoinstall_known_extensions": "false"})
    try:
        where = "WHERE replay_run_id = ?" if replay_run_id else ""
        return con.sql(
            f"SELECT * FROM {operations_source(out_dir)} {where} ORDER BY replay_run_id, report_id",
            params=[replay_run_id] if replay_run_id else None,
        ).to_arrow_table()
    finally:
        con.close()


def operations_source(out_dir: str | Path) -> str:
    """The DuckDB table expression reading the whole topic under ``out_dir`` in place, with
    its Hive columns ``bot_slug`` and ``epoch`` (the path inlined as a literal, so a view
    can use it: a view cannot take parameters)."""
    glob = operations_glob(out_dir).replace("'", "''")
    hive = "hive_partitioning = true, hive_types = {'bot_slug': VARCHAR, 'epoch': DATE}"
    return f"read_parquet('{glob}', {hive})"


def operations_schema() -> pa.Schema:
    """The columns of a topic file (before the Hive columns)."""
    return pa.schema(
        [
            ("report_id", pa.string()), ("replay_run_id", pa.string()), ("event_type", pa.string()),
            ("report_kind", pa.string()), ("partition", pa.string()), ("ts_ms", pa.int64()),
            ("retained_until", pa.date32()), ("mode", pa.string()), ("report", pa.string()),
        ]
    )  # fmt: skip


def _publish(out: Path, result: ReplayResult) -> None:
    """Put the run's reports on the operations topic: one Parquet file per UTC day of
    the reports' times, each written aside and renamed into place (replacing what an
    interrupted earlier attempt of this run wrote: each report is on the topic once)."""
    keep = date.fromisoformat(retained_until(result.run.end_ms))
    by_day: dict[str, list[dict[str, Any]]] = {}
    for report in result.reports:
        by_day.setdefault(_epoch(report["partition"]), []).append(report)
    for day, reports in sorted(by_day.items()):
        batch = pa.table(
            {
                "report_id": [r["report_id"] for r in reports],
                "replay_run_id": [r["replay_run_id"] for r in reports],
                "event_type": [r.get("event_type") for r in reports],
                "report_kind": [r["report_kind"] for r in reports],
                "partition": [r["partition"] for r in reports],
                "ts_ms": [r["ts_ms"] for r in reports],
                "retained_until": [keep] * len(reports),
                "mode": [r["mode"] for r in reports],
                "report": [dump(r) for r in reports],
            },
            schema=operations_schema(),
        )
        folder = out / OPERATIONS / f"bot_slug={BOT_SLUG}" / f"epoch={day}"
        folder.mkdir(parents=True, exist_ok=True)
        aside = folder / f".{result.replay_run_id}.parquet.partial"
        pq.write_table(batch, aside, compression="zstd")
        with aside.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(aside, folder / f"{result.replay_run_id}.parquet")


def _epoch(partition: str) -> str:
    """The UTC day of a report's partition: ``backtester+2025-12-11T00:00Z`` -> ``2025-12-11``."""
    return partition.split("+", 1)[1][:10]
