"""The real Tickscope stream (both Parquet files, 358k messages) imported into a
throwaway archive, for the benchmarks that replay it."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from backtester.archive import Archive
from backtester.archive.adapters import conversions_for
from backtester.sample import REAL_DATA

WINDOW = {"start_ts": "2026-06-07T00:00:00Z", "end_ts": "2026-06-08T00:00:00Z"}
"""The day the stream covers."""


@contextmanager
def tickscope_archive() -> Iterator[Path]:
    """A DuckDB archive holding the stream, deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix="bench-tickscope-") as tmp:
        db = Path(tmp) / "tickscope.duckdb"
        with Archive.open(db) as store:
            folder = REAL_DATA / "tickscope_nhl_stanley_cup_g4_2026-06-07"
            assert store.import_conversions(conversions_for("tickscope", [folder])).ok
        yield db
