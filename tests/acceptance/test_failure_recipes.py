"""The spec's six failure-injection recipes (section 19), one test each, named after
them: each injects the failure as the spec says, checks the expected behaviour, then the
recovery. Every run is governed, in a registry of the test's own."""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

import backtester
from backtester.cli import main
from backtester.errors import ConfigError, ReasonCode
from backtester.governance import Registry, Who
from backtester.runs.output import read_reports
from backtester.sample import REAL_DATA, SAMPLE_ARCHIVE
from tests.integration.test_run_accounting import fair_value_archive
from tests.processes import NOW, env_with, long_sweep, start, unblock_fifo, wait_until

ROOT = Path(__file__).resolve().parents[2]
CLOCK = datetime(2026, 11, 25, tzinfo=UTC)
RUN = ROOT / "data" / "sample-run.json"
ARB = ROOT / "data" / "sample-arb.json"


@pytest.fixture
def registry(tmp_path: Path) -> str:
    return str(tmp_path / "registry.sqlite3")


def cli(*args: object) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def rows(registry: str) -> list[tuple[str, str, str | None]]:
    with Registry(registry) as store:
        return [(r.replay_run_id, r.status, r.reason_code) for r in reversed(store.runs())]


def test_recipe_archive_unavailable(tmp_path: Path, registry: str) -> None:
    """ARCHIVE_UNAVAILABLE. Inject: block all reads of the archive, two ways: the archive
    gone (its storage unmounted: the folder moved away) and an archive that stalls (reads
    that never answer: a FIFO nobody writes, with a 500 ms per-call timeout). Expect:
    BACKTESTER_ARCHIVE_UNAVAILABLE raised, the run aborted (exit 3), an OperationsReport
    with status=aborted emitted and written, the registry row aborted. Recovery: once the
    archive is reachable a new run completes; no partial state needed clearing."""
    archive = tmp_path / "archive"
    shutil.copytree(SAMPLE_ARCHIVE, archive)
    out = tmp_path / "out"
    archive.rename(tmp_path / "unmounted")
    common = ("--config", RUN, "--now", NOW, "--out", out, "--registry", registry)
    gone = cli("run", *common, "--archive", archive, "--replay-run-id", "replay_gone")
    stalled_path = tmp_path / "stalled.duckdb"
    os.mkfifo(stalled_path)
    started = time.monotonic()
    stalled = cli("run", *common, "--archive", stalled_path, "--replay-run-id", "replay_stalled",
                  "--archive-timeout-ms", 500)  # fmt: skip
    took = time.monotonic() - started
    unblock_fifo(stalled_path)
    for result, reason in ((gone, "no archive at"), (stalled, "stalled: opening the archive did not answer")):
        assert result.exit_code == 3, result.output
        assert f"BACKTESTER_ARCHIVE_UNAVAILABLE: {reason}" in result.stderr
        summary = json.loads(result.stdout)
        assert summary["status"] == "aborted"
        run_dir = out / summary["replay_run_id"]
        [report] = read_reports(run_dir)
        assert (report["event_type"], report["status"], report["mode"]) == (
            "BACKTESTER_ARCHIVE_UNAVAILABLE", "aborted", "replay",
        )  # fmt: skip
        assert json.loads((run_dir / "status.json").read_text())["status"] == "aborted"
    assert took < 5  # the stall is cut at the timeout, not waited out
    (tmp_path / "unmounted").rename(archive)  # the archive is reachable again
    again = cli("run", *common, "--archive", archive, "--replay-run-id", "replay_after")
    assert again.exit_code == 0, again.output
    assert rows(registry) == [
        ("replay_gone", "aborted", "BACKTESTER_ARCHIVE_UNAVAILABLE"),
        ("replay_stalled", "aborted", "BACKTESTER_ARCHIVE_UNAVAILABLE"),
        ("replay_after", "complete", None),
    ]
    assert not list(out.glob(".*.partial"))  # nothing half-written to clear


def test_recipe_tick_gaps_in_archive(tmp_path: Path, registry: str) -> None:
    """TICK_GAPS_IN_ARCHIVE. A real stream: Caio's SOL 15-minute Up/Down market (496 full
    book snapshots and 247 trades of both tokens, as recorded). The recorder kept no
    ``seq``, so the test numbers each token's messages in their recorded order, as an
    archiver that kept every message would (GENERATED numbering over real messages), then
    deletes 5% of the tick records (25 of the 496 snapshots, chosen with a seeded RNG,
    none a token's first or last) from the copy. Expect: one BACKTESTER_TICK_SKIPPED per
    missing tick, naming its seq; the replay continues (it decides and fills after the
    gaps); the aggregate report counts them. Recovery is automatic."""
    db = tmp_path / "gaps.duckdb"
    caio = sorted((REAL_DATA / "caio_updown_l2_2025-12-11").glob("15m_sol_*"))
    assert backtester.import_files(caio, archive=db, source_format="caio").ok
    with duckdb.connect(str(db)) as con:
        _number_messages(con)
        books_seq = con.execute("SELECT asset_id, seq FROM md_book ORDER BY asset_id, seq").fetchall()
        last = dict(books_seq)
        first = {}
        for asset, seq in books_seq:
            first.setdefault(asset, seq)
        interior = [(a, s) for a, s in books_seq if s not in {first[a], last[a]}]
        deleted = sorted(random.Random(20261202).sample(interior, round(0.05 * len(books_seq))))
        con.execute("CREATE TEMP TABLE gone (asset_id VARCHAR, seq BIGINT)")
        con.executemany("INSERT INTO gone VALUES (?, ?)", deleted)
        con.execute("DELETE FROM md_book WHERE (asset_id, seq) IN (SELECT (asset_id, seq) FROM gone)")
        assert con.execute("SELECT count(*) FROM md_book").fetchone() == (496 - 25,)
    out = tmp_path / "out"
    result = backtester.run(RUN, archive=db, now=CLOCK, out=out, registry=registry)
    assert result.status == "complete"
    [variant] = result.variants
    skipped = [r for r in variant.reports if r.get("event_type") == "BACKTESTER_TICK_SKIPPED"]
    missing = sorted((r["asset_id"], r["missing_seq"]) for r in skipped if "missing_seq" in r)
    assert missing == deleted  # one report per missing tick, each naming it
    assert all(r["missing_ticks"] == 1 and r["severity"] == "WARN" for r in skipped if "missing_seq" in r)
    first_gap = min(r["tick_ts_ms"] for r in skipped)
    decided_after = [
        r for r in variant.reports if r["report_kind"] == "DecisionReport" and r["ts_ms"] > first_gap
    ]
    assert decided_after  # the replay went on past the gaps ...
    assert any(f.order.decided_ms > first_gap for f in variant.fills)  # ... and traded
    aggregate = result.aggregate
    assert aggregate is not None
    assert (aggregate["ticks_missing"], aggregate["skipped_by_reason"]["missing from the archive"]) == (
        25,
        25,
    )
    assert aggregate["ticks_skipped"] == len(skipped) == 25 + variant.skipped_by_reason.get("seq gap", 0)
    assert aggregate["ticks_replayed"] > 0
    with Registry(registry) as store:
        [record] = store.runs()
    assert (record.status, record.ticks_skipped) == ("complete", aggregate["ticks_skipped"])


def _number_messages(con: duckdb.DuckDBPyConnection) -> None:
    """Give every book and trade of each token its seq, 1, 2, 3 ... in recorded order."""
    con.execute(
        """CREATE TEMP TABLE numbered AS SELECT *, row_number() OVER (
               PARTITION BY asset_id ORDER BY ts_ms, kind, file_key, line, elem) AS n
           FROM (SELECT asset_id, ts_ms, 0 AS kind, file_key, line, elem FROM md_book
                 UNION ALL SELECT asset_id, ts_ms, 1, file_key, line, elem FROM md_trade)"""
    )
    for table, kind in (("md_book", 0), ("md_trade", 1)):
        con.execute(
            f"""UPDATE {table} SET seq = numbered.n FROM numbered
                WHERE numbered.kind = {kind} AND numbered.asset_id = {table}.asset_id
                  AND numbered.file_key = {table}.file_key AND numbered.line = {table}.line
                  AND numbered.elem = {table}.elem"""
        )


def test_recipe_invalid_window(tmp_path: Path, registry: str) -> None:
    """INVALID_WINDOW. Inject: start_ts after end_ts. Expect: BACKTESTER_INVALID_WINDOW,
    the run rejected at once (exit 2): nothing registered, nothing written. Recovery: the
    corrected window runs."""
    config = json.loads(ARB.read_text())
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({**config, "start_ts": "2026-05-09T00:00:00Z", "end_ts": "2026-05-01T00:00:00Z"})
    )
    result = cli("run", "--config", bad, "--now", NOW, "--out", tmp_path / "out", "--registry", registry)
    assert result.exit_code == 2
    assert result.stderr.startswith("BACKTESTER_INVALID_WINDOW: start_ts: start_ts 2026-05-09T00:00:00")
    assert rows(registry) == []
    assert not (tmp_path / "out").exists()
    with pytest.raises(ConfigError) as rejected:
        backtester.run(bad, now=CLOCK, registry=registry)
    assert rejected.value.code is ReasonCode.BACKTESTER_INVALID_WINDOW
    fixed = cli("run", "--config", ARB, "--now", NOW, "--registry", registry)
    assert fixed.exit_code == 0, fixed.output
    assert [status for _, status, _ in rows(registry)] == ["complete"]


def test_recipe_large_parameter_sweep(tmp_path: Path, registry: str) -> None:
    """LARGE_PARAMETER_SWEEP. Inject: a parameter_sweep of 201 variants. Expect:
    PARAMETER_CHANGE_REQUIRES_APPROVAL, the run rejected before any work (exit 2, nothing
    registered). Recovery: 200 variants run (BACKTESTER_LARGE_SWEEP, with the throttle)."""
    db = fair_value_archive(tmp_path)  # GENERATED: one market, asks 0.40-0.42, fair value 0.50
    variant = {"signal": "fair_value", "model": "probability", "max_size_pusd": "100"}
    sweep = {
        "start_ts": "2024-10-13T00:00:00Z",
        "end_ts": "2024-10-14T00:00:00Z",
        "strategy": "fair_value_taker",
    }
    too_many = tmp_path / "201.json"
    too_many.write_text(
        json.dumps({**sweep, "parameter_sweep": [{**variant, "min_edge_bps": i} for i in range(201)]})
    )
    result = cli("run", "--config", too_many, "--archive", db, "--now", NOW, "--registry", registry)
    assert result.exit_code == 2
    assert result.stderr.startswith("PARAMETER_CHANGE_REQUIRES_APPROVAL: parameter_sweep: 201 variants")
    assert rows(registry) == []
    allowed = tmp_path / "200.json"
    allowed.write_text(
        json.dumps({**sweep, "parameter_sweep": [{**variant, "min_edge_bps": i} for i in range(200)]})
    )
    done = backtester.run(allowed, archive=db, now=CLOCK, registry=registry)
    assert done.status == "complete"
    assert [n.code for n in done.run.notices] == [ReasonCode.BACKTESTER_LARGE_SWEEP]
    assert done.execution is not None
    assert done.execution.throttled
    assert len(done.aggregate["variants"]) == 200  # type: ignore[index]
    assert [(status, variants) for _, status, variants in _rows_with_variants(registry)] == [
        ("complete", 200)
    ]


def _rows_with_variants(registry: str) -> list[tuple[str, str, int | None]]:
    with Registry(registry) as store:
        return [(r.replay_run_id, r.status, r.variants) for r in store.runs()]


def test_recipe_kill_switch_during_launch(tmp_path: Path, registry: str) -> None:
    """KILL_SWITCH_DURING_LAUNCH. Inject: a run in progress (a sweep in its own process);
    activate the kill switch; submit a new run. Expect: KILL_SWITCH_ACTIVE logged with the
    spec's user-facing message, the new run not started (exit 75, a refused row, no
    output), the run in progress continues to completion. Recovery: deactivate the kill
    switch and resubmit (the same run id): it runs."""
    busy = start(["run", "--config", long_sweep(tmp_path, 4), "--now", NOW, "--out", tmp_path / "out",
                  "--workers", "2", "--replay-run-id", "replay_busy"], env=env_with(registry))  # fmt: skip
    wait_until(lambda: ("replay_busy", "running", None) in rows(registry), 60)
    switched = cli("killswitch", "on", "--reason", "exchange incident", "--registry", registry)
    assert switched.exit_code == 0
    assert switched.stdout.startswith("kill switch ON since ")
    new = cli("run", "--config", ARB, "--now", NOW, "--out", tmp_path / "out", "--registry", registry,
              "--replay-run-id", "replay_new")  # fmt: skip
    assert new.exit_code == 75
    assert new.stderr.startswith(
        "KILL_SWITCH_ACTIVE (WARN): New backtests are paused while the system kill switch is active. "
    )
    assert "exchange incident" in new.stderr
    assert not (tmp_path / "out" / "replay_new").exists()
    assert ("replay_busy", "running", None) in rows(registry)  # the run in progress is untouched
    _, err = busy.communicate(timeout=120)
    assert busy.returncode == 0, err
    assert rows(registry) == [
        ("replay_busy", "complete", None),
        ("replay_new", "refused", "KILL_SWITCH_ACTIVE"),
    ]
    assert cli("killswitch", "off", "--registry", registry).exit_code == 0
    again = cli("run", "--config", ARB, "--now", NOW, "--registry", registry, "--replay-run-id", "replay_new")
    assert again.exit_code == 0, again.output
    assert rows(registry)[-1] == ("replay_new", "complete", None)
    with Registry(registry) as store:
        switches = store.kill_switch_history()
    assert [(s.active, s.by, s.reason) for s in switches] == [
        (True, str(Who.me()), "exchange incident"), (False, str(Who.me()), None),
    ]  # fmt: skip


def test_recipe_strategy_not_in_registry(tmp_path: Path, registry: str) -> None:
    """STRATEGY_NOT_IN_REGISTRY. Inject: strategy='unknown_strategy'. Expect:
    BACKTESTER_UNKNOWN_STRATEGY, the run rejected (exit 2, nothing registered or written).
    Recovery: a registered slug runs."""
    config = json.loads(ARB.read_text())
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({**config, "strategy": "unknown_strategy"}))
    result = cli("run", "--config", unknown, "--now", NOW, "--out", tmp_path / "out", "--registry", registry)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "BACKTESTER_UNKNOWN_STRATEGY: strategy: 'unknown_strategy' is not in the strategy registry"
    )
    assert rows(registry) == []
    assert not (tmp_path / "out").exists()
    fixed = cli("run", "--config", ARB, "--now", NOW, "--registry", registry)
    assert fixed.exit_code == 0, fixed.output
    assert [status for _, status, _ in rows(registry)] == ["complete"]
