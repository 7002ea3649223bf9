"""Exports of a run's tables: ``result.to_parquet``/``to_csv`` and ``backtester
export-results``, read back by pandas, DuckDB and polars with exact decimal money."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

import backtester
from backtester import api
from backtester.cli import main
from backtester.runs import replay, write_run
from backtester.runs.tables import TABLES
from backtester.sample import SAMPLE_ARCHIVE
from tests.factories import crash_before_status

NOW = datetime(2026, 11, 25, tzinfo=UTC)
CONFIG = "data/sample-fair-value.json"  # two variants over 16 minutes of the sample
MICRO = Decimal("0.000001")
FILL_MONEY = ("order_shares", "shares", "price", "cost_pusd", "fee_pusd", "slippage_bps")


@pytest.fixture(scope="module")
def result():
    return replay(CONFIG, now=NOW, archive=SAMPLE_ARCHIVE)


@pytest.fixture(scope="module")
def run_dir(result, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_run(result, tmp_path_factory.mktemp("out"))


def export(*args: object):
    return CliRunner().invoke(main, ["export-results", *(str(a) for a in args)], catch_exceptions=False)


def exact(values: object) -> list[Decimal | None]:
    """A column's values as they were read: Decimal, or None for a null."""
    return [None if v is None or v is pd.NA else v for v in values]


def test_to_parquet_writes_every_table(result, run_dir: Path, tmp_path: Path) -> None:
    """result.to_parquet writes the run's tables, the same bytes as its run directory's;
    to_csv the same tables as CSV."""
    paths = result.to_parquet(tmp_path / "parquet")
    assert paths == [tmp_path / "parquet" / f"{name}.parquet" for name in TABLES]
    for path in paths:
        assert path.read_bytes() == (run_dir / "tables" / path.name).read_bytes(), path.name
    csvs = result.to_csv(tmp_path / "csv")
    assert csvs == [tmp_path / "csv" / f"{name}.csv" for name in TABLES]
    fills = pd.read_csv(csvs[0], dtype=str, keep_default_na=False)
    assert len(fills) == len(result.exact.fills)


def test_export_results_parquet(run_dir: Path, tmp_path: Path) -> None:
    """export-results --to parquet copies each table byte for byte, one line per file."""
    out = tmp_path / "export"
    done = export(run_dir, "--to", "parquet", out)
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == [str(out / f"{name}.parquet") for name in TABLES]
    for name in TABLES:
        assert (out / f"{name}.parquet").read_bytes() == (run_dir / "tables" / f"{name}.parquet").read_bytes()
    assert not list(out.glob(".*.partial"))
    listed = json.loads(export(run_dir, "--to", "parquet", out, "--json").stdout)
    assert listed["files"] == [str(out / f"{name}.parquet") for name in TABLES]


def test_fills_are_exact_decimals(result, run_dir: Path, tmp_path: Path) -> None:
    """pandas and DuckDB read the fills' money as decimals exact to the micro-unit, equal
    to the run's own exact frame, value by value and in sum."""
    out = tmp_path / "export"
    assert export(run_dir, "--to", "parquet", out).exit_code == 0
    path = out / "fills.parquet"
    fills = pd.read_parquet(path)
    own = result.exact.fills
    assert len(fills) == len(own) > 0
    for column in FILL_MONEY:
        values = exact(fills[column])
        present = [v for v in values if v is not None]
        assert present, column
        assert all(isinstance(v, Decimal) for v in present), column
        assert all(v == v.quantize(MICRO) for v in present), column
        assert values == exact(own[column]), column
    assert sum(exact(fills["cost_pusd"])) == sum(exact(own["cost_pusd"]))

    con = duckdb.connect()
    [(total, fees, kind, rows)] = con.execute(
        "SELECT sum(cost_pusd), sum(fee_pusd), any_value(typeof(cost_pusd)), count(*) FROM read_parquet(?)",
        [str(path)],
    ).fetchall()
    assert kind == "DECIMAL(24,6)"
    assert (total, fees, rows) == (sum(own["cost_pusd"]), sum(own["fee_pusd"]), len(own))
    by_variant = dict(
        duckdb.sql(f"SELECT variant_id, sum(cost_pusd) FROM read_parquet('{path}') GROUP BY ALL").fetchall()
    )
    assert by_variant == {v: sum(own[own["variant_id"] == v]["cost_pusd"]) for v in set(own["variant_id"])}


def test_stats_has_each_variant_and_the_live_bot(result, run_dir: Path, tmp_path: Path) -> None:
    """stats: one row per variant and a live row; each variant's pnl_pusd is its
    BACKTESTER_REPLAY_COMPLETE's simulated_pnl_pusd, the live row's the live outcome's."""
    out = tmp_path / "export"
    assert export(run_dir, out).exit_code == 0  # parquet by default
    stats = pd.read_parquet(out / "stats.parquet")
    assert list(stats["live"]) == [False] * len(result.variants) + [True]
    assert [None if pd.isna(v) else int(v) for v in stats["variant_id"]] == [
        *(v.variant_id for v in result.variants),
        None,
    ]
    reports = {r["variant_id"]: r for r in result.final_reports[:-1]}
    assert sorted(reports) == [v.variant_id for v in result.variants]
    for _, row in stats[~stats["live"]].iterrows():
        assert row["pnl_pusd"] == Decimal(reports[int(row["variant_id"])]["simulated_pnl_pusd"])
    [live] = stats[stats["live"]]["pnl_pusd"]
    assert live == result.exact.live_stats["pnl_pusd"].iloc[0]
    rows = duckdb.sql(
        f"SELECT variant_id, pnl_pusd FROM read_parquet('{out / 'stats.parquet'}') WHERE NOT live ORDER BY 1"
    ).fetchall()
    assert rows == [(v, Decimal(reports[v]["simulated_pnl_pusd"])) for v in sorted(reports)]


def test_export_results_csv(result, run_dir: Path, tmp_path: Path) -> None:
    """export-results --to csv: pandas and DuckDB read the CSV back, its money the exact
    decimals written with their 6 places."""
    out = tmp_path / "csv"
    done = export(run_dir, "--to", "csv", out)
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == [str(out / f"{name}.csv") for name in TABLES]
    own = result.exact.fills
    fills = pd.read_csv(out / "fills.csv", dtype=str, keep_default_na=False)
    assert len(fills) == len(own)
    for column in FILL_MONEY:
        assert [Decimal(v) if v else None for v in fills[column]] == exact(own[column]), column
    assert sum(Decimal(v) for v in fills["cost_pusd"]) == sum(own["cost_pusd"])
    assert list(pd.read_csv(out / "stats.csv")["live"]) == [False] * len(result.variants) + [True]
    [(total, rows)] = duckdb.sql(
        "SELECT sum(CAST(cost_pusd AS DECIMAL(24, 6))), count(*) "
        f"FROM read_csv('{out / 'fills.csv'}', all_varchar = true)"
    ).fetchall()
    assert (total, rows) == (sum(own["cost_pusd"]), len(own))
    reports = pd.read_csv(out / "reports.csv")
    assert [json.loads(r)["report_id"] for r in reports["report"]] == [r["report_id"] for r in result.reports]


def test_polars_reads_the_decimals(result, run_dir: Path, tmp_path: Path) -> None:
    pl = pytest.importorskip("polars")
    fills = pl.read_parquet(run_dir / "tables" / "fills.parquet")
    assert fills.schema["cost_pusd"] == pl.Decimal(24, 6)
    assert fills["cost_pusd"].to_list() == list(result.exact.fills["cost_pusd"])


def test_api_export_results(run_dir: Path, tmp_path: Path) -> None:
    """The Python API the CLI calls, also at the package's top level."""
    assert backtester.export_results is api.export_results
    paths = backtester.export_results(run_dir, to="csv", out=tmp_path / "csv")
    assert paths == [tmp_path / "csv" / f"{name}.csv" for name in TABLES]
    with pytest.raises(ValueError, match="parquet or csv"):
        api.export_results(run_dir, to="xlsx", out=tmp_path / "x")


def test_an_evidence_bundle_exports_its_tables(run_dir: Path, tmp_path: Path) -> None:
    """A bundle (its files with a manifest.json instead of status.json) exports the same
    way, each table checked against the manifest's artifacts."""
    bundle = tmp_path / "bundle"
    shutil.copytree(run_dir, bundle)
    (bundle / "status.json").unlink()
    artifacts = {
        str(p.relative_to(bundle)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(bundle.rglob("*"))
        if p.is_file()
    }
    (bundle / "manifest.json").write_text(json.dumps({"status": "complete", "artifacts": artifacts}))
    done = export(bundle, "--to", "parquet", tmp_path / "out")
    assert done.exit_code == 0, done.output
    assert len(done.stdout.splitlines()) == len(TABLES)
    # a bundle marked failed is not evidence: nothing of it is exported
    (bundle / "manifest.json").write_text(
        json.dumps({"status": "failed", "error": "boom", "artifacts": artifacts})
    )
    refused = export(bundle, "--to", "parquet", tmp_path / "refused")
    assert refused.exit_code == 2
    assert "a failed bundle (boom): not evidence; nothing exported" in refused.stderr
    assert not (tmp_path / "refused").exists()


def test_a_folder_that_is_not_a_run_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "summary.json").write_text("{}")
    done = export(tmp_path / "notes", "--to", "csv", tmp_path / "out")
    assert done.exit_code == 2
    assert "not a run directory or an evidence bundle (no tables/ folder)" in done.stderr
    assert not (tmp_path / "out").exists()
    missing = export(tmp_path / "nowhere", "--to", "csv", tmp_path / "out")
    assert missing.exit_code == 2
    assert "not a directory" in missing.stderr


def test_an_incomplete_run_is_refused(result, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A .partial folder (here: the writer killed before status.json) is not exported."""
    crash_before_status(monkeypatch)
    with pytest.raises(OSError, match="killed"):
        write_run(result, tmp_path / "runs")
    [partial] = (tmp_path / "runs").glob(".*.partial")
    assert (partial / "tables").is_dir()
    done = export(partial, "--to", "parquet", tmp_path / "out")
    assert done.exit_code == 2
    assert "incomplete run" in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_table_that_does_not_match_its_hash_is_refused(run_dir: Path, tmp_path: Path) -> None:
    tampered = tmp_path / "tampered"
    shutil.copytree(run_dir, tampered)
    stats = pd.read_parquet(tampered / "tables" / "stats.parquet")
    stats.loc[0, "pnl_pusd"] = Decimal("1000000.000000")
    stats.to_parquet(tampered / "tables" / "stats.parquet")
    done = export(tampered, "--to", "csv", tmp_path / "out")
    assert done.exit_code == 2
    assert "stats.parquet: sha256 does not match status.json" in done.stderr
    assert not (tmp_path / "out").exists()


def test_an_aborted_run_exports_its_reports(tmp_path: Path) -> None:
    aborted = replay(CONFIG, now=NOW, archive=tmp_path / "missing.duckdb")
    done = export(write_run(aborted, tmp_path / "runs"), "--to", "csv", tmp_path / "out")
    assert done.exit_code == 0, done.output
    assert done.stdout.splitlines() == [str(tmp_path / "out" / "reports.csv")]
    [event] = pd.read_csv(tmp_path / "out" / "reports.csv")["event_type"]
    assert event == "BACKTESTER_ARCHIVE_UNAVAILABLE"
