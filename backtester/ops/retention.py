"""The operations topic as a queryable store, and its retention (spec sections 2 and 9:
partitioned by ``bot_slug+epoch``, retained for 1 year).

The topic is ``<out>/operations/bot_slug=backtester/epoch=<UTC day>/<replay_run_id>.parquet``
(:mod:`backtester.runs.output`: zstd Parquet, one file per run and day, written aside
and renamed). Each report carries ``retained_until`` (its window's end + 1 year).

:func:`query` runs SQL over it in place with DuckDB (the view ``reports``);
:func:`apply_retention` drops, partition by partition, every run's file whose reports
are all past ``retained_until``, never one of a run the registry still holds
``running``, and removes a partition left empty.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow.parquet as pq

from backtester.governance import Registry
from backtester.runs.output import OPERATIONS, operations_schema, operations_source

__all__ = ["Retention", "apply_retention", "query"]


def query(out_dir: str | os.PathLike[str], sql: str = "SELECT * FROM reports") -> pd.DataFrame:
    """``sql`` over the operations topic under ``out_dir``, where the view ``reports`` is
    every report (with the Hive columns ``bot_slug`` and ``epoch``).

    >>> import tempfile
    >>> query(tempfile.mkdtemp(), "SELECT count(*) AS n FROM reports")["n"].tolist()
    [0]
    """
    con = duckdb.connect(config={"autoinstall_known_extensions": "false"})
    try:
        if any((Path(out_dir) / OPERATIONS).rglob("*.parquet")):
            con.execute(f"CREATE VIEW reports AS SELECT * FROM {operations_source(out_dir)}")
        else:  # no file yet: the same columns, no rows
            con.register("no_reports", operations_schema().empty_table())
            hive = "NULL::VARCHAR AS bot_slug, NULL::DATE AS epoch"
            con.execute(f"CREATE VIEW reports AS SELECT *, {hive} FROM no_reports")
        return con.sql(sql).df()
    finally:
        con.close()


@dataclass
class Retention:
    """What a retention pass dropped (or would drop, in a dry run) and what it kept."""

    now: date
    dry_run: bool
    dropped: dict[str, dict[str, int]] = field(default_factory=dict)
    """partition (``bot_slug=.../epoch=...``) -> {"files", "reports"} dropped."""
    held: list[str] = field(default_factory=list)
    """Expired files kept because their run is still ``running``."""
    kept_files: int = 0
    removed_partitions: list[str] = field(default_factory=list)

    @property
    def reports_dropped(self) -> int:
        return sum(d["reports"] for d in self.dropped.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(), "dry_run": self.dry_run, "reports_dropped": self.reports_dropped,
            "files_dropped": sum(d["files"] for d in self.dropped.values()), "partitions": self.dropped,
            "partitions_removed": self.removed_partitions, "held_by_running_runs": self.held,
            "files_kept": self.kept_files,
        }  # fmt: skip


def apply_retention(
    out_dir: str | os.PathLike[str],
    *,
    now: date,
    dry_run: bool = False,
    registry: str | os.PathLike[str] | None = None,
) -> Retention:
    """Drop the reports of the topic under ``out_dir`` whose ``retained_until`` is before
    ``now`` (a date: a report is kept through its ``retained_until`` day), one run's file
    at a time, partition by partition in order; see the module docstring."""
    result = Retention(now, dry_run)
    root = Path(out_dir) / OPERATIONS
    if not root.is_dir():
        return result
    with Registry(registry) as store:
        store.reap()
        running = {r.replay_run_id for r in store.runs(status="running")}
    for partition in sorted(p for p in root.glob("bot_slug=*/epoch=*") if p.is_dir()):
        name = partition.relative_to(root).as_posix()
        for path in sorted(partition.glob("*.parquet")):
            table = pq.read_table(path, columns=["retained_until", "replay_run_id"])
            last = max(table.column("retained_until").to_pylist(), default=None)
            if last is None or last >= now:
                result.kept_files += 1
                continue
            if path.stem in running or running & set(table.column("replay_run_id").to_pylist()):
                result.held.append(f"{name}/{path.name}")
                result.kept_files += 1
                continue
            entry = result.dropped.setdefault(name, {"files": 0, "reports": 0})
            entry["files"] += 1
            entry["reports"] += table.num_rows
            if not dry_run:
                path.unlink()
        if not dry_run and not any(partition.iterdir()):
            partition.rmdir()
            result.removed_partitions.append(name)
    return result
