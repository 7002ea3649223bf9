"""Writing a run: ``<out>/<replay_run_id>/`` and the operations topic.

The run directory is written aside (``<out>/.<replay_run_id>.partial/``) and renamed
into place only once everything in it is written, ``status.json`` last; a crash or an
abort therefore never leaves a directory that looks complete. It holds:

* ``reports.jsonl``: every report of the run, one per line, canonical JSON (sorted keys);
* ``summary.json``: the run's summary (config as resolved, counts, live outcome);
* ``comparison.jsonl``: per variant, the comparison with the live bot;
* ``status.json``: ``complete`` or ``aborted``, the counts and the sha256 of the files.

The reports also go to ``<out>/operations.duckdb``, table
``polytraders_reports_operations``: the stand-in for the ``polytraders.reports.operations``
topic, keyed by ``report_id``, with its partition (``backtester+<epoch bucket>``) and the
date it is retained until (window end + 1 year). They are published before the status
file is written, in one transaction that replaces the run's earlier rows: a crash
between the two leaves the run's reports on the topic and its directory incomplete
(``.partial``), and writing the run again completes both.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from backtester.reports.summary import retained_until
from backtester.runs.replay import ReplayResult

__all__ = ["TOPIC_TABLE", "dump", "run_files", "write_run"]

TOPIC_TABLE = "polytraders_reports_operations"


def dump(value: Any) -> str:
    """Canonical JSON of a report: sorted keys, no spaces, UTF-8 text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


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
    for name, text in files.items():
        _write(staging / name, text)
    _publish(out / "operations.duckdb", result)
    status = {
        "status": result.status,
        "replay_run_id": result.replay_run_id,
        "reports": len(result.reports),
        "sha256": {name: hashlib.sha256(text.encode()).hexdigest() for name, text in files.items()},
    }
    _write(staging / "status.json", json.dumps(status, indent=2, sort_keys=True) + "\n")
    staging.rename(final)
    return final


def run_files(result: ReplayResult) -> dict[str, str]:
    """The run's files by name: its reports, summary and comparison, as text."""
    return {
        "reports.jsonl": "".join(dump(r) + "\n" for r in result.reports),
        "summary.json": json.dumps(result.summary(), indent=2, sort_keys=True, ensure_ascii=False) + "\n",
        "comparison.jsonl": "".join(
            dump({"variant_id": v, **row}) + "\n" for v, rows in enumerate(result.comparisons) for row in rows
        ),
    }


def _write(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _publish(path: Path, result: ReplayResult) -> None:
    """Put the run's reports on the operations topic (one transaction)."""
    keep = date.fromisoformat(retained_until(result.run.end_ms))
    reports = result.reports
    batch = pa.table(
        {
            "report_id": [r["report_id"] for r in reports],
            "replay_run_id": [r["replay_run_id"] for r in reports],
            "event_type": [r.get("event_type") for r in reports],
            "report_kind": [r["report_kind"] for r in reports],
            "partition": [r["partition"] for r in reports],
            "ts_ms": pa.array([r["ts_ms"] for r in reports], pa.int64()),
            "retained_until": pa.array([keep] * len(reports), pa.date32()),
            "mode": [r["mode"] for r in reports],
            "report": [dump(r) for r in reports],
        }
    )
    con = duckdb.connect(str(path))
    try:
        con.execute(
            f"""CREATE TABLE IF NOT EXISTS {TOPIC_TABLE} (
                report_id VARCHAR PRIMARY KEY, replay_run_id VARCHAR NOT NULL, event_type VARCHAR,
                report_kind VARCHAR NOT NULL, partition VARCHAR NOT NULL, ts_ms BIGINT NOT NULL,
                retained_until DATE NOT NULL, mode VARCHAR NOT NULL, report VARCHAR NOT NULL)"""
        )
        # One transaction, replacing whatever an interrupted earlier attempt of this run
        # left: writing a run again (after a crash) gives the same rows, never twice.
        con.begin()
        con.execute(f"DELETE FROM {TOPIC_TABLE} WHERE replay_run_id = ?", [result.replay_run_id])
        con.from_arrow(batch).insert_into(TOPIC_TABLE)
        con.commit()
    finally:
        con.close()
