"""A run written to disk: the run directory, the operations topic, atomicity, and
byte-identical output for the same archive and config."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from backtester.runs import output, replay, write_run
from backtester.runs.output import read_comparison, read_reports
from backtester.runs.tables import DECIMAL, TABLES, result_tables
from backtester.sample import SAMPLE_ARCHIVE
from tests.factories import crash_before_status, file_text, normalised

NOW = datetime(2026, 11, 25, tzinfo=UTC)
CONFIG = "data/sample-fair-value.json"


@pytest.fixture(scope="module")
def result():
    return replay(CONFIG, now=NOW, archive=SAMPLE_ARCHIVE)


def test_run_directory(result, tmp_path: Path) -> None:
    """<out>/<run id>/ holds the reports, the summary, the comparison and a status file
    whose hashes match the files; the reports are one canonical JSON object per line."""
    run_dir = write_run(result, tmp_path)
    assert run_dir == tmp_path / result.replay_run_id
    assert sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if p.is_file()) == sorted(
        ["comparison.jsonl.gz", "reports.jsonl.gz", "status.json", "summary.json",
         *(f"tables/{name}.parquet" for name in TABLES)]
    )  # fmt: skip
    status = json.loads((run_dir / "status.json").read_text())
    assert (status["status"], status["reports"]) == ("complete", len(result.reports))
    for name, digest in status["sha256"].items():
        assert hashlib.sha256((run_dir / name).read_bytes()).hexdigest() == digest
    lines = gzip.decompress((run_dir / "reports.jsonl.gz").read_bytes()).decode().splitlines()
    assert [json.loads(line) for line in lines] == result.reports == read_reports(run_dir)
    assert len(read_comparison(run_dir)) == sum(len(rows) for rows in result.comparisons)
    assert lines[0] == json.dumps(result.reports[0], sort_keys=True, separators=(",", ":"))
    assert not list(tmp_path.glob(".*.partial"))


def test_a_run_id_is_written_once(result, tmp_path: Path) -> None:
    write_run(result, tmp_path)
    with pytest.raises(FileExistsError):
        write_run(result, tmp_path)


def test_crash_leaves_nothing_that_looks_complete(result, tmp_path: Path, monkeypatch) -> None:
    """If writing dies midway (here: the topic insert fails), there is no run directory
    and no status file, only the staging directory, named as such."""

    def boom(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(output, "_publish", boom)
    with pytest.raises(OSError, match="disk full"):
        write_run(result, tmp_path)
    assert not (tmp_path / result.replay_run_id).exists()
    [staging] = tmp_path.glob(".*.partial")
    assert not (staging / "status.json").exists()


def test_operations_topic(result, tmp_path: Path) -> None:
    """Every report is on the topic once, in its run's own file under the spec's
    bot_slug+epoch partition, with its partition and retention; a second run adds its own
    file and DuckDB reads both."""
    write_run(result, tmp_path)
    again = replay(CONFIG, now=NOW, archive=SAMPLE_ARCHIVE)
    write_run(again, tmp_path)
    folder = tmp_path / "operations" / "bot_slug=backtester" / "epoch=2025-12-11"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{r.replay_run_id}.parquet" for r in (result, again)
    )
    con = duckdb.connect()
    rows = con.execute(
        "SELECT replay_run_id, count(*), count(DISTINCT report_id), min(partition), max(partition), "
        "min(retained_until), max(retained_until), min(epoch), min(bot_slug) "
        "FROM read_parquet(?, hive_partitioning = true) GROUP BY 1 ORDER BY 1",
        [output.operations_glob(tmp_path)],
    ).fetchall()
    con.close()
    assert [r[0] for r in rows] == sorted([result.replay_run_id, again.replay_run_id])
    for _, count, distinct, low, high, keep_low, keep_high, epoch, slug in rows:
        assert count == distinct == len(result.reports)
        assert (low, high) == ("backtester+2025-12-11T00:00Z", "backtester+2025-12-11T00:00Z")
        assert (str(keep_low), str(keep_high)) == ("2026-12-11", "2026-12-11")  # window end + 1 year
        assert (str(epoch), slug) == ("2025-12-11", "backtester")
    table = output.read_operations(tmp_path, replay_run_id=result.replay_run_id)
    stored = dict(zip(table["report_id"].to_pylist(), table["report"].to_pylist(), strict=True))
    assert json.loads(stored[result.aggregate["report_id"]]) == result.aggregate
    assert output.read_operations(tmp_path).num_rows == 2 * len(result.reports)


def test_same_archive_and_config_give_the_same_bytes(result, tmp_path: Path) -> None:
    """Two runs of the same config over the same archive write identical files but for
    the run id and the aggregate's run_cost (its one wall-clock field)."""
    again = replay(CONFIG, now=NOW, archive=SAMPLE_ARCHIVE)
    assert again.replay_run_id != result.replay_run_id
    first, second = write_run(result, tmp_path / "a"), write_run(again, tmp_path / "b")
    for name in ("reports.jsonl.gz", "summary.json", "comparison.jsonl.gz"):
        a = normalised(file_text(first / name), result.replay_run_id)
        b = normalised(file_text(second / name), again.replay_run_id)
        assert a == b, name
        assert len(a) > 1000


def test_aborted_run_is_written_as_aborted(tmp_path: Path) -> None:
    """A run that could not read its archive is on the record too, marked aborted."""
    aborted = replay(CONFIG, now=NOW, archive=tmp_path / "missing.duckdb")
    run_dir = write_run(aborted, tmp_path / "out")
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "aborted"
    [report] = read_reports(run_dir)
    assert report["event_type"] == "BACKTESTER_ARCHIVE_UNAVAILABLE"
    assert sorted(p.name for p in (run_dir / "tables").iterdir()) == ["reports.parquet"]


def test_a_crash_after_publishing_can_be_retried(result, tmp_path: Path, monkeypatch) -> None:
    """A crash after the reports reached the topic but before the status file: no run
    directory; writing the run again completes it, with each report on the topic once."""
    real_write = crash_before_status(monkeypatch)
    with pytest.raises(OSError, match="killed"):
        write_run(result, tmp_path)
    assert not (tmp_path / result.replay_run_id).exists()
    monkeypatch.setattr(output, "_write", real_write)
    run_dir = write_run(result, tmp_path)
    assert json.loads((run_dir / "status.json").read_text())["status"] == "complete"
    assert not list(tmp_path.glob(".*.partial"))
    table = output.read_operations(tmp_path)
    assert table.num_rows == len(set(table["report_id"].to_pylist())) == len(result.reports)
    assert not list((tmp_path / "operations").rglob(".*.partial"))


def test_tables_have_the_same_columns_whatever_the_run(result) -> None:
    """A run that never traded (the arbitrage never fires on the sample) writes the same
    tables with the same columns and types as one that did: tables of several runs
    concatenate, and a column of n/a is still decimal."""
    quiet = replay("data/sample-arb.json", now=NOW, archive=SAMPLE_ARCHIVE)
    busy, still = result_tables(result), result_tables(quiet)
    assert still["fills"].num_rows == still["trades"].num_rows == 0
    for name in ("fills", "equity", "market_stats", "trades", "comparison", "reports"):
        assert still[name].schema == busy[name].schema, name
    stats = busy["stats"].schema
    assert stats.field("sharpe").type == stats.field("pnl_pusd").type == DECIMAL  # sharpe: n/a on the sample
    assert stats.field("variant_id").type == pa.int64()  # the live row's is null, not NaN
