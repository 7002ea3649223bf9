"""The Python API that notebooks, the CLI and tests call.

Every function takes the archive location and the clock as arguments (defaulting to
``$BACKTESTER_ARCHIVE`` or the bundled sample, and to the wall clock), so an audit can
re-run anything with the same inputs.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow.parquet as pq

from backtester.archive import Archive, ImportOutcome
from backtester.archive.adapters import conversions_for
from backtester.archive.store import default_archive_location
from backtester.config import ResolvedRun, RunConfig, StrategyCatalog, parse_time_expr, resolve_config
from backtester.governance import Registry, govern, runs_frame
from backtester.ops.logs import log_reports
from backtester.ops.retention import query as query_topic
from backtester.runs import ReplayResult, check_run_id, new_run_id, replay, write_run
from backtester.runs.tables import TABLES, check_format, csv_bytes, write_files
from backtester.strategies import default_registry
from backtester.strategies.registry import StrategyRegistry

__all__ = [
    "archive_info", "export_archive", "export_results", "import_files", "make_evidence", "resolve_now", "run",
    "runs", "validate_config", "verify_evidence",
]  # fmt: skip

if TYPE_CHECKING:
    from backtester.evidence.bundle import Bundle

ConfigSource = str | Path | Mapping[str, Any] | RunConfig


def resolve_now(now: datetime | str | None) -> datetime:
    """The clock for a run: an aware datetime, an ISO 8601 UTC string, or None for now.

    >>> resolve_now("2026-05-08T00:00:00Z").isoformat()
    '2026-05-08T00:00:00+00:00'
    """
    if now is None:
        return datetime.now(UTC)
    if isinstance(now, str):
        ms = parse_time_expr(now).absolute_ms
        if ms is None:
            msg = f"--now must be an absolute ISO 8601 UTC time, got {now!r}"
            raise ValueError(msg)
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    if now.tzinfo is None:
        msg = "now must be timezone-aware (UTC)"
        raise ValueError(msg)
    return now


def validate_config(
    config: ConfigSource,
    *,
    now: datetime | str | None = None,
    strategies: StrategyCatalog | None = None,
) -> ResolvedRun:
    """Validate a run config (spec sections 7 to 9) and resolve its window.

    Raises :class:`~backtester.errors.ConfigError` with the spec's reason code.

    >>> run = validate_config({"start_ts": "now()-1h"}, now="2026-05-08T00:00:00Z")
    >>> run.as_dict()["start_ts"], run.as_dict()["end_ts"]
    ('2026-05-07T23:00:00Z', '2026-05-08T00:00:00Z')
    """
    return resolve_config(config, now=resolve_now(now), strategies=strategies or default_registry())


def import_files(
    paths: Iterable[str | Path],
    *,
    archive: str | Path | None = None,
    source_format: str = "contract",
) -> ImportOutcome:
    """Import files into a DuckDB archive, each file all or nothing.

    Raises :class:`~backtester.errors.ImportRejected` when an adapter cannot read its
    input at all; per-file rejections are in the returned outcome.

    >>> import tempfile
    >>> from backtester.sample import REAL_DATA
    >>> db = Path(tempfile.mkdtemp()) / "archive.duckdb"
    >>> caio = sorted((REAL_DATA / "caio_updown_l2_2025-12-11").glob("15m_sol_orderbooks_*"))
    >>> outcome = import_files(caio, archive=db, source_format="caio")
    >>> [(Path(r.path).name, r.rows["md_book"]) for r in outcome.results]
    [('15m_sol_orderbooks_1765450800down.json.gz', 248), ('15m_sol_orderbooks_1765450800up.json.gz', 248)]
    >>> import_files(caio, archive=db, source_format="caio").results[0].skipped
    True
    """
    conversions = conversions_for(source_format, [Path(p) for p in paths])
    with Archive.open(archive) as store:
        return store.import_conversions(conversions)


def archive_info(archive: str | Path | None = None) -> dict[str, Any]:
    """What an archive holds (see :meth:`Archive.info`).

    >>> from backtester.sample import SAMPLE_ARCHIVE
    >>> info = archive_info(SAMPLE_ARCHIVE)
    >>> info["storage"], info["counts"]["markets"], info["counts"]["book"]
    ('parquet', 5, 1504)
    """
    with Archive.open(archive, read_only=True) as store:
        return store.info()


def export_archive(out_dir: str | Path, *, archive: str | Path | None = None) -> Path:
    """Export a DuckDB archive to a Parquet directory (hive layout by date and market).

    >>> import tempfile
    >>> from backtester.sample import SAMPLE_ARCHIVE
    >>> out = export_archive(Path(tempfile.mkdtemp()) / "copy", archive=SAMPLE_ARCHIVE)
    >>> archive_info(out)["content_sha256"] == archive_info(SAMPLE_ARCHIVE)["content_sha256"]
    True
    """
    with Archive.open(archive, read_only=True) as store:
        return store.export_parquet(out_dir)


def run(
    config: ConfigSource,
    *,
    archive: str | Path | None = None,
    now: datetime | str | None = None,
    out: str | Path | None = None,
    workers: int | None = None,
    progress: bool | None = None,
    run_id: str | None = None,
    hash_archive: bool = False,
    registry: str | Path | None = None,
    max_in_flight: int | None = None,
    archive_timeout_ms: int | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    ray_storage: str | Path | None = None,
    strategies: StrategyRegistry | None = None,
) -> ReplayResult:
    """Replay a run config over an archive (spec section 9); with ``out``, also write the
    run to ``<out>/<replay_run_id>/`` and the operations topic ``<out>/operations/``
    (see :mod:`backtester.runs.output`), its directory in ``result.run_dir``. ``workers``:
    processes for a sweep's variants (default one per core; see
    :mod:`backtester.runs.sweep`); ``progress``: a tqdm bar (default: when stderr is a
    terminal); ``run_id``: the run's id (default: a new ``replay_<ULID>``);
    ``hash_archive``: record the content hash of the archive read
    (``summary()["archive_content_sha256"]``; it reads every row of the archive, so it is off by default).
    ``strategies``: the strategies the config may name (default: the built-ins and those
    registered through the ``backtester.strategies`` entry points).

    Every run is governed (:mod:`backtester.governance`): admitted in the run registry
    (``registry``, default ``$BACKTESTER_REGISTRY`` or the embedded SQLite file) with at
    most ``max_in_flight`` (default 5) in flight, heartbeating while it replays,
    abortable by ``backtester abort`` (it stops at the next tick boundary), its end
    recorded with the counts of its aggregate report. Each archive read must answer
    within ``archive_timeout_ms`` (default the spec's 300 000 ms) or the run aborts as
    stalled. ``executor="ray"`` runs the sweep's variants as Ray tasks on the cluster at
    ``ray_address`` (default: this machine's), over the archive exported to Parquet under
    ``ray_storage`` (a path every node reads; see :mod:`backtester.runs.distributed`).

    Raises :class:`~backtester.errors.ConfigError` for a rejected config (nothing is
    registered), :class:`~backtester.errors.RunRefused` when governance suppresses the
    launch (``KILL_SWITCH_ACTIVE``, ``BACKTESTER_RUN_QUEUE_FULL``; recorded as
    ``refused``), :class:`~backtester.errors.RunIdTaken` for an explicit ``run_id``
    already registered. An archive that cannot be read, holds no market data for the
    window or stalls, and a run aborted by an operator, give a result with
    ``status == "aborted"`` and the abort report, never one that looks complete.

    >>> from backtester.sample import SAMPLE_ARCHIVE
    >>> result = run("data/sample-arb.json", archive=SAMPLE_ARCHIVE, now="2026-11-25T00:00:00Z")
    >>> result.status, result.variants[0].ticks_skipped, result.variants[0].phantom_arbs
    ('complete', 0, 8)
    """
    clock = resolve_now(now)
    resolved = validate_config(config, now=clock, strategies=strategies)
    run_id = check_run_id(run_id) if run_id else new_run_id()
    where = str(Path(out).resolve() / run_id) if out is not None else None
    location = str(Path(archive if archive is not None else default_archive_location()).resolve())
    launch = govern(resolved, run_id, kind="run", registry=registry, limit=max_in_flight, out_path=where,
                    archive=location)  # fmt: skip
    with launch:
        result = replay(
            resolved, now=clock, archive=archive, workers=workers, progress=progress, run_id=run_id,
            hash_archive=hash_archive, stop=launch.stop, archive_timeout_ms=archive_timeout_ms,
            executor=executor, ray_address=ray_address, ray_storage=ray_storage, strategies=strategies,
        )  # fmt: skip
        if out is not None:
            result.run_dir = write_run(result, out)
        launch.finish_run(result.aggregate, abort=result.abort_report)
    if result.run_dir is not None:
        from backtester.ops.metrics import write_run_metrics  # noqa: PLC0415 - prometheus_client only when needed

        write_run_metrics(result.run_dir, run_id, registry=launch.location)
    log_reports(result.reports)
    return result


def runs(
    *, status: str | None = None, registry: str | Path | None = None, limit: int | None = None
) -> pd.DataFrame:
    """The run registry as a DataFrame, newest first: one row per run (status, strategy,
    variants, who launched it, when it started, heartbeated and ended, why it ended,
    where its output is, and the counts of its aggregate report; money as exact
    ``Decimal``, times as UTC ``Timestamp``). Runs whose process is gone are marked
    ``interrupted`` first. ``status`` keeps one status (``running``, ``complete``,
    ``aborted``, ``failed``, ``interrupted``, ``refused``).

    >>> import tempfile
    >>> runs(registry=Path(tempfile.mkdtemp()) / "registry.sqlite3").empty
    True
    """
    with Registry(registry) as store:
        store.reap()
        return runs_frame(store.runs(status=status, limit=limit))


def reports_frame(out: str | Path, sql: str = "SELECT * FROM reports") -> pd.DataFrame:
    """The operations topic under ``out`` (every run written there) as a DataFrame: ``sql``
    over the view ``reports`` (one row per report: ``report_id``, ``replay_run_id``,
    ``event_type``, ``report_kind``, ``partition``, ``ts_ms``, ``retained_until``,
    ``mode``, the report as canonical JSON in ``report``, and the Hive columns
    ``bot_slug`` and ``epoch``), queried in place by DuckDB.

    >>> import tempfile
    >>> reports_frame(tempfile.mkdtemp()).empty
    True
    """
    return query_topic(out, sql)


def make_evidence(
    config: ConfigSource,
    *,
    out: str | Path,
    template: str | Path = "sweep",
    archive: str | Path | None = None,
    now: datetime | str | None = None,
    timeout_s: int = 900,
    run_id: str | None = None,
    registry: str | Path | None = None,
    max_in_flight: int | None = None,
    archive_timeout_ms: int | None = None,
    progress: bool | None = None,
) -> Bundle:
    """Execute a template notebook headless on ``config`` into an audit evidence bundle
    ``<out>/<replay_run_id>/`` (see :mod:`backtester.evidence.bundle`). A rejected config
    raises :class:`~backtester.errors.ConfigError` before any work; a template that fails
    gives a bundle whose ``status`` is ``failed``, as does a cell that runs longer than
    ``timeout_s`` seconds (a hung kernel fails the bundle instead of waiting forever).
    The bundle is a governed launch, like :func:`run` (``registry``, ``max_in_flight``,
    ``run_id``, ``archive_timeout_ms`` as there). ``progress`` says each step on stderr
    (default: when stderr is a terminal)."""
    from backtester.evidence.bundle import make_evidence as make  # noqa: PLC0415 - plotly/papermill only when needed

    return make(
        config, now=resolve_now(now), out=out, template=template, archive=archive, timeout_s=timeout_s,
        run_id=run_id, registry=registry, max_in_flight=max_in_flight, archive_timeout_ms=archive_timeout_ms,
        progress=progress,
    )  # fmt: skip


def verify_evidence(path: str | Path) -> list[str]:
    """Re-hash a bundle against its manifest: the problems found (none: it verifies)."""
    from backtester.evidence.bundle import verify  # noqa: PLC0415 - plotly/papermill only when needed

    return verify(path)


def export_results(run_dir: str | Path, *, to: str = "parquet", out: str | Path) -> list[Path]:
    """Export the tables of a run directory (``backtester run --out``) or an evidence
    bundle, ``run_dir/tables/<name>.parquet``, to ``out/<name>.parquet`` (the same bytes)
    or ``out/<name>.csv``; return the paths written, in :data:`~backtester.runs.tables.TABLES`
    order. Each table is first checked against the sha256 the run recorded for it
    (``status.json``; a bundle's ``manifest.json``), and each file is written aside and
    renamed into place.

    Raises ``ValueError``, writing nothing, for a ``to`` that is not parquet or csv, a
    folder that is not a run or a bundle (no ``tables/``), an incomplete one (no
    ``status.json`` or ``manifest.json``: a ``.partial`` folder still being written, or
    left by a crash), a bundle whose manifest says it failed, or a table missing from that
    record or not matching it.

    >>> import tempfile
    >>> export_results(tempfile.mkdtemp(), out=tempfile.mkdtemp())
    Traceback (most recent call last):
    ...
    ValueError: ...: not a run directory or an evidence bundle (no tables/ folder)
    """
    check_format(to)
    folder, target = Path(run_dir), Path(out)
    tables = _verified_tables(folder)
    if target.exists() and not target.is_dir():
        msg = f"{target}: exists and is not a directory"
        raise ValueError(msg)
    if target.resolve() == (folder / "tables").resolve():
        msg = f"{target}: is the run's own tables/ folder; export elsewhere"
        raise ValueError(msg)
    return write_files(
        target,
        {
            f"{name}.{to}": data if to == "parquet" else csv_bytes(pq.read_table(io.BytesIO(data)))
            for name, data in tables.items()
        },
    )


def _verified_tables(folder: Path) -> dict[str, bytes]:
    """The tables of a complete run directory or bundle by name, their bytes checked
    against the sha256 it recorded (see :func:`export_results`)."""
    if not folder.is_dir():
        msg = f"{folder}: not a directory"
        raise ValueError(msg)
    record = next((folder / n for n in ("status.json", "manifest.json") if (folder / n).is_file()), None)
    has_tables = (folder / "tables").is_dir()
    if record is None and (has_tables or folder.name.endswith(".partial")):
        msg = (
            f"{folder}: an incomplete run (no status.json or manifest.json: still being written, "
            "or its writer stopped midway); nothing exported"
        )
        raise ValueError(msg)
    if not has_tables:
        msg = f"{folder}: not a run directory or an evidence bundle (no tables/ folder)"
        raise ValueError(msg)
    assert record is not None
    try:
        recorded = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        msg = f"{record}: unreadable ({exc})"
        raise ValueError(msg) from exc
    bundle = record.name == "manifest.json" and isinstance(recorded, dict)
    if bundle and recorded.get("status") != "complete":
        status, error = recorded.get("status"), recorded.get("error")
        msg = f"{folder}: a {status} bundle ({error}): not evidence; nothing exported"
        raise ValueError(msg)
    key = "sha256" if record.name == "status.json" else "artifacts"
    hashes = recorded.get(key) if isinstance(recorded, dict) else None
    if not isinstance(hashes, dict):
        msg = f"{record}: records no sha256 of the run's files"
        raise ValueError(msg)
    found = {p.stem: p for p in (folder / "tables").glob("*.parquet") if p.is_file()}
    if not found:
        msg = f"{folder}/tables: holds no table"
        raise ValueError(msg)
    order = [n for n in TABLES if n in found] + sorted(set(found) - set(TABLES))
    tables = {}
    for name in order:
        relative = f"tables/{name}.parquet"
        data = found[name].read_bytes()
        if relative not in hashes:
            msg = f"{folder / relative}: not recorded in {record.name}; nothing exported"
            raise ValueError(msg)
        if hashlib.sha256(data).hexdigest() != hashes[relative]:
            msg = f"{folder / relative}: sha256 does not match {record.name}; nothing exported"
            raise ValueError(msg)
        tables[name] = data
    return tables
