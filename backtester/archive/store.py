"""The archive: an embedded DuckDB file, or a read-only Parquet directory scanned in place.

:meth:`Archive.open` picks the store from the location: a directory holding
``archive.json`` is a Parquet archive (hive layout, partitioned by date and market);
anything else is a DuckDB database file, created on first write. Both expose the same
tables (``backtester.archive.schema``), so everything downstream reads either.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb

from backtester.archive import schema
from backtester.archive.importer import FileResult, import_conversion
from backtester.archive.sources import Conversion
from backtester.config.window import format_ms
from backtester.errors import ArchiveError, ArchiveUnavailable, ImportRejected
from backtester.units import format_micros

__all__ = ["ARCHIVE_ENV", "Archive", "ImportOutcome", "default_archive_location"]

ARCHIVE_ENV = "BACKTESTER_ARCHIVE"
"""Environment variable naming the archive when none is given."""

PARQUET_MARKER = "archive.json"
LOCK_WAIT_S = 120.0
"""How long opening a DuckDB archive waits while another process is writing it."""

DUCKDB_CONFIG = {
    # Bounded memory: beyond this DuckDB spills to disk (imports of any size stay flat).
    "memory_limit": "512MB",
    # Never fetch an extension over the network; json and parquet are built in.
    "autoinstall_known_extensions": "false",
}
_REPO_SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample-archive"

# Record kinds as `archive info` names them, with their tables.
KINDS = (
    ("book", "md_book"),
    ("price_change", "md_level"),
    ("last_trade_price", "md_trade"),
    ("tick_size_change", "md_tick"),
    ("report", "reports"),
)


def default_archive_location() -> Path:
    """``$BACKTESTER_ARCHIVE``, else the bundled sample archive of this checkout."""
    env = os.environ.get(ARCHIVE_ENV)
    return Path(env) if env else _REPO_SAMPLE


@dataclass
class ImportOutcome:
    """Results of importing several files: each imported or skipped, or rejected."""

    results: list[FileResult] = field(default_factory=list)
    rejected: list[tuple[str, ImportRejected]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejected


class Archive:
    """An open archive. Use as a context manager, or call :meth:`close`.

    >>> import tempfile, pathlib
    >>> with Archive.open(pathlib.Path(tempfile.mkdtemp()) / "a.duckdb") as archive:
    ...     archive.info()["counts"]["markets"]
    0
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, location: Path, storage: str, read_only: bool) -> None:
        self.con = con
        self.location = location
        self.storage = storage
        self.read_only = read_only

    # ------------------------------------------------------------ opening

    @classmethod
    def open(
        cls, location: str | Path | None = None, *, read_only: bool = False, lock_wait_s: float = LOCK_WAIT_S
    ) -> Archive:
        """Open (and for a new DuckDB file, create) the archive at ``location``.

        DuckDB lets one process hold a DuckDB file for writing (and then no other process
        may open it, even to read): while another process holds it, this waits for it, up
        to ``lock_wait_s`` seconds (saying so once on the ``backtester.archive`` logger),
        so two imports at once run one after the other.

        Raises :class:`ArchiveUnavailable` when it cannot be read, or is still held by
        another process after the wait (naming that process).
        """
        path = Path(location) if location is not None else default_archive_location()
        if path.is_dir():
            return cls._open_parquet(path)
        if read_only and not path.exists():
            msg = f"no archive at {path}"
            raise ArchiveUnavailable(msg)
        try:
            if not read_only:
                path.parent.mkdir(parents=True, exist_ok=True)
            con = _connect(path, read_only=read_only, wait_s=lock_wait_s)
        except (duckdb.Error, OSError) as exc:
            msg = f"cannot open {path}: {exc}"
            raise ArchiveUnavailable(msg) from None
        archive = cls(con, path, "duckdb", read_only)
        archive._prepare()
        return archive

    def _prepare(self) -> None:
        tables = {r[0] for r in self.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        if "archive_meta" not in tables:
            if self.read_only or tables:
                self.con.close()
                msg = f"{self.location} is not a backtester archive"
                raise ArchiveUnavailable(msg)
            for stmt in schema.ddl():
                self.con.execute(stmt)
            self.con.execute("INSERT INTO archive_meta VALUES ('schema_version', ?)", [schema.SCHEMA_VERSION])
        self._check_version(
            schema.first_row(self.con.execute("SELECT value FROM archive_meta WHERE key = 'schema_version'"))
        )

    def _check_version(self, row: tuple[Any, ...] | None) -> None:
        found = row[0] if row else None
        if found != schema.SCHEMA_VERSION:
            self.con.close()
            msg = (
                f"{self.location} has archive schema version {found!r}; this backtester reads "
                f"version {schema.SCHEMA_VERSION!r}"
            )
            raise ArchiveUnavailable(msg)

    @classmethod
    def _open_parquet(cls, root: Path) -> Archive:
        marker = root / PARQUET_MARKER
        try:
            meta = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            msg = f"{root} is not a Parquet archive ({marker.name}: {exc})"
            raise ArchiveUnavailable(msg) from None
        con = duckdb.connect(":memory:", config=DUCKDB_CONFIG)
        archive = cls(con, root, "parquet", True)
        archive._check_version((meta.get("schema_version"),))
        for table in schema.TABLES:
            files = sorted((root / table.name).rglob("*.parquet"))
            cols = ", ".join(table.column_names)
            if not files:
                con.execute(f"CREATE VIEW {table.name} AS SELECT * FROM ({_empty_select(table)})")
            elif table.time_column:
                src = (
                    f"read_parquet({_sql_str(str(root / table.name / '**' / '*.parquet'))}, "
                    f"hive_partitioning = true, hive_types = {{'date': DATE, "
                    f"'{table.market_column}': VARCHAR}})"
                )
                con.execute(f"CREATE VIEW {table.name} AS SELECT {cols} FROM {src}")
            else:
                src = f"read_parquet({_sql_str(str(root / table.name / '*.parquet'))})"
                con.execute(f"CREATE VIEW {table.name} AS SELECT {cols} FROM {src}")
        return archive

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------ writing

    def import_conversions(self, conversions: Iterable[Conversion]) -> ImportOutcome:
        """Import each conversion in its own transaction; a rejected one changes nothing.

        A file rejected only for prices off the tick grid is tried again after the
        other files of the call, until no retry succeeds: a ``tick_size_change`` in a
        later file may be what puts those prices on the grid, and files may come in
        any order.
        """
        if self.read_only:
            msg = (
                f"{self.location} is read-only ({self.storage}); import into a DuckDB archive "
                "file (--archive PATH.duckdb) and export it to Parquet if needed"
            )
            raise ArchiveError(msg)
        outcome = ImportOutcome()
        rejected: dict[str, ImportRejected] = {}
        pending = list(conversions)
        while pending:
            waiting, progress = [], False
            for conv in pending:
                try:
                    outcome.results.append(import_conversion(self.con, conv))
                except ImportRejected as exc:
                    rejected[str(conv.path)] = exc
                    if exc.grid_only:
                        waiting.append(conv)
                else:
                    rejected.pop(str(conv.path), None)
                    progress = True
            pending = waiting if progress else []
        outcome.rejected = sorted(rejected.items())
        return outcome

    def export_parquet(self, out_dir: str | Path) -> Path:
        """Write the archive as Parquet (hive layout: ``<table>/date=…/market=…/``).

        The target must not exist yet; it is written next to itself and renamed into
        place, so a failed export never leaves a directory that looks complete.
        """
        target = Path(out_dir)
        if target.exists():
            msg = f"{target} already exists; export into a new directory"
            raise ArchiveError(msg)
        staging = target.with_name(f".{target.name}.partial")
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        threads = schema.first_row(self.con.execute("SELECT current_setting('threads')"))
        self.con.execute("SET threads = 1")  # one file per partition, written in order
        try:
            for table in schema.TABLES:
                self._export_table(table, staging)
            meta = {"format": "backtester-archive", "schema_version": schema.SCHEMA_VERSION}
            (staging / PARQUET_MARKER).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            staging.rename(target)
        except BaseException:
            shutil.rmtree(staging)
            raise
        finally:
            self.con.execute(f"SET threads = {int(threads[0]) if threads else 1}")
        return target

    def _export_table(self, table: schema.Table, root: Path) -> None:
        order = ", ".join(c for c in ("market", "market_id", "condition_id", "asset_id", "ts_ms",
                                      "effective_ts_ms", "file_key", "line", "elem", "entry", "report_id")
                          if c in table.column_names)  # fmt: skip
        dest = root / table.name
        if table.time_column:
            rows = schema.first_row(self.con.execute(f"SELECT count(*) FROM {table.name}"))
            if not rows or not rows[0]:
                return
            self.con.execute(
                f"COPY (SELECT *, CAST(epoch_ms({table.time_column}) AS DATE) AS date "
                f"FROM {table.name} ORDER BY {order}) TO {_sql_str(str(dest))} "
                f"(FORMAT parquet, PARTITION_BY (date, {table.market_column}))"
            )
        else:
            dest.mkdir()
            self.con.execute(
                f"COPY (SELECT * FROM {table.name} ORDER BY {order}) "
                f"TO {_sql_str(str(dest / 'data_0.parquet'))} (FORMAT parquet)"
            )

    # ------------------------------------------------------------ reading

    def content_hash(self) -> str:
        """sha256 of the archive's content: every row of every content table.

        It changes when and only when the content changes: importing a file already
        imported leaves it as it is; the file names, import times, the storage (DuckDB or
        Parquet) and the order in which files were imported are not part of it.
        """
        parts = [f"schema {schema.SCHEMA_VERSION}"]
        parts += [f"{table.name} {self._table_hash(table)}" for table in schema.CONTENT_TABLES]
        row = schema.first_row(self.con.execute("SELECT sha256(?)", ["\n".join(parts)]))
        return str(row[0]) if row else ""

    def _table_hash(self, table: schema.Table) -> str:
        text = " || chr(31) || ".join(
            f"coalesce(CAST({c} AS VARCHAR), chr(0))" for c in table.content_columns
        )
        group = (
            f"{table.market_column} || '/' || CAST({table.time_column} // 86400000 AS VARCHAR)"
            if table.time_column
            else "''"
        )
        row = schema.first_row(
            self.con.execute(
                f"""
            SELECT coalesce(sha256(string_agg(h, '' ORDER BY h)), '') FROM (
              SELECT sha256(string_agg(rh, '' ORDER BY rh)) AS h FROM (
                SELECT coalesce({group}, '') AS g, sha256({text}) AS rh FROM {table.name})
              GROUP BY g)
            """
            )
        )
        return str(row[0]) if row else ""

    def info(self) -> dict[str, Any]:
        """What the archive holds: counts by kind and by market, spans, and the content hash."""
        counts = {"markets": self._count("markets")}
        for kind, table in KINDS:
            counts[kind] = self._count(table)
        by_report_kind = dict(
            self.con.execute("SELECT report_kind, count(*) FROM reports GROUP BY 1 ORDER BY 1").fetchall()
        )
        files = self.con.execute(
            "SELECT source_format, count(*) FROM import_files GROUP BY 1 ORDER BY 1"
        ).fetchall()
        return {
            "archive": str(self.location),
            "storage": self.storage,
            "schema_version": schema.SCHEMA_VERSION,
            "content_sha256": self.content_hash(),
            "files_imported": dict(files),
            "counts": counts,
            "reports_by_kind": by_report_kind,
            "markets": self.market_summaries(),
        }

    def _count(self, table: str) -> int:
        row = schema.first_row(self.con.execute(f"SELECT count(*) FROM {table}"))
        return int(row[0]) if row else 0

    def market_summaries(
        self, *, start_ms: int | None = None, end_ms: int | None = None
    ) -> list[dict[str, Any]]:
        """One entry per market seen in a market record or in data, sorted by id.

        With ``start_ms``/``end_ms``, only markets with data in that window.
        """
        window = ""
        if start_ms is not None and end_ms is not None:
            window = f"WHERE s.first_ts <= {int(end_ms)} AND s.last_ts >= {int(start_ms)}"
        union = " UNION ALL ".join(
            f"SELECT {'market_id' if table == 'reports' else 'market'} AS market, '{kind}' AS kind, "
            f"ts_ms FROM {table}"
            for kind, table in KINDS
        )
        rows = self.con.execute(
            f"""
            WITH data AS ({union}),
            spans AS (SELECT market, min(ts_ms) AS first_ts, max(ts_ms) AS last_ts
                      FROM data WHERE market IS NOT NULL GROUP BY market),
            kinds AS (SELECT market, map(list(kind ORDER BY kind), list(n ORDER BY kind)) AS counts
                      FROM (SELECT market, kind, count(*) AS n FROM data WHERE market IS NOT NULL
                            GROUP BY ALL) GROUP BY market),
            latest AS (SELECT * FROM markets QUALIFY row_number() OVER (
                         PARTITION BY condition_id ORDER BY effective_ts_ms DESC) = 1),
            ids AS (SELECT condition_id AS market FROM markets UNION SELECT market FROM spans)
            SELECT ids.market, l.question, l.yes_token_id, l.yes_outcome, l.no_token_id, l.no_outcome,
                   l.neg_risk, l.neg_risk_market_id, l.tick_size, l.fee_model, l.active, l.provenance,
                   s.first_ts, s.last_ts, k.counts
            FROM ids LEFT JOIN latest l ON l.condition_id = ids.market
            LEFT JOIN spans s USING (market) LEFT JOIN kinds k USING (market)
            {window}
            ORDER BY ids.market
            """
        ).fetchall()
        out = []
        for (market, question, yes, yes_out, no, no_out, neg_risk, nr_id, tick, fee_model,
             active, provenance, first_ts, last_ts, kind_counts) in rows:  # fmt: skip
            out.append(
                {
                    "condition_id": market,
                    "question": question,
                    "tokens": [{"token_id": yes, "outcome": yes_out}, {"token_id": no, "outcome": no_out}]
                    if yes
                    else None,
                    "neg_risk": neg_risk,
                    "neg_risk_market_id": nr_id,
                    "active": active,
                    "tick_size": format_micros(tick) if tick is not None else None,
                    "fee_model": fee_model,
                    "provenance": provenance,
                    "first_ts": format_ms(first_ts) if first_ts is not None else None,
                    "last_ts": format_ms(last_ts) if last_ts is not None else None,
                    "counts": dict(kind_counts) if kind_counts else {},
                }
            )
        return out


def _connect(path: Path, *, read_only: bool, wait_s: float) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect``, waiting while another process holds the file's lock."""
    deadline = time.monotonic() + wait_s
    told = False
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=DUCKDB_CONFIG)
        except duckdb.IOException as exc:
            holder = _LOCK_HOLDER.search(str(exc))
            if holder is None:
                raise
            who = f"PID {holder.group(1)}"
            if time.monotonic() >= deadline:
                msg = (
                    f"{path} is locked by another process ({who}) that has it open for writing; waited "
                    f"{wait_s:g} s: try again when it has finished"
                )
                raise ArchiveUnavailable(msg) from None
            if not told:
                _log.warning("waiting for %s: another process (%s) is writing it", path, who)
                told = True
            time.sleep(0.1)


_LOCK_HOLDER = re.compile(r"Could not set lock on file .*\(PID (\d+)\)", re.S)
_log = logging.getLogger("backtester.archive")


def _empty_select(table: schema.Table) -> str:
    return "SELECT " + ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in table.columns) + " WHERE false"


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
