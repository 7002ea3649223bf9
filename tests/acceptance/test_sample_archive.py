"""The bundled sample archive: real market data, both tokens of several markets, a live
trail labelled generated, and exactly what `backtester sample build` makes from the
vendored recordings."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backtester.archive import Archive
from backtester.runs import replay
from backtester.sample import LIVE_TRAIL, SAMPLE_ARCHIVE, build_sample


@pytest.fixture(scope="module")
def sample() -> Archive:
    with Archive.open(SAMPLE_ARCHIVE) as store:
        yield store


def test_is_a_small_parquet_archive(sample: Archive) -> None:
    """The sample is a committed Parquet archive small enough for git (< 2 MB)."""
    assert sample.storage == "parquet"
    size = sum(p.stat().st_size for p in SAMPLE_ARCHIVE.rglob("*") if p.is_file())
    assert size < 2_000_000


def test_covers_both_tokens_of_several_markets(sample: Archive) -> None:
    """At least two real markets have market data on both of their tokens."""
    rows = sample.con.execute(
        """
        SELECT m.condition_id FROM markets m
        WHERE (SELECT count(DISTINCT asset_id) FROM (
                 SELECT asset_id FROM md_book WHERE market = m.condition_id
                 UNION ALL SELECT asset_id FROM md_level WHERE market = m.condition_id)) = 2
        """
    ).fetchall()
    assert len(rows) >= 4


def test_rebuild_is_identical(sample: Archive, tmp_path: Path) -> None:
    """Rebuilding from data/polymarket-real gives the committed content, byte for byte in its rows."""
    rebuilt = build_sample(out=tmp_path / "sample", trail=tmp_path / "trail.jsonl.gz")
    assert (tmp_path / "trail.jsonl.gz").read_bytes() == LIVE_TRAIL.read_bytes()
    with Archive.open(rebuilt) as fresh:
        assert fresh.content_hash() == sample.content_hash()
        assert fresh.info()["counts"] == sample.info()["counts"]


def test_market_data_is_real_and_reports_are_the_labelled_trail(sample: Archive) -> None:
    """Every market-data file came from a recorder's adapter; the only reports not from
    a recorder (Caio's underlying prices) are the generated live trail, labelled in its
    bot, ids and file, and it holds no settlement."""
    formats = dict(sample.con.execute("SELECT name, source_format FROM import_files").fetchall())
    assert formats.pop(LIVE_TRAIL.name) == "contract"
    assert set(formats.values()) == {"caio", "selcukguler", "tickscope"}
    rows = sample.con.execute(
        "SELECT bot_id, mode, report_kind, count(*), bool_and(report_id LIKE 'gen-live-%'), "
        "bool_and(trace_id LIKE 'gen-live-tr-%') FROM reports WHERE report_kind <> 'ObservationReport' "
        "GROUP BY ALL ORDER BY 3"
    ).fetchall()
    observers = sample.con.execute(
        "SELECT DISTINCT bot_id FROM reports WHERE report_kind = 'ObservationReport'"
    ).fetchall()
    assert observers == [("recorder.caio",)]
    assert [(r[0], r[1], r[2], r[4], r[5]) for r in rows] == [
        ("generated.live-bot", "live", kind, True, True)
        for kind in ("DecisionReport", "ExecutionReport", "RiskVote")
    ]
    with gzip.open(LIVE_TRAIL, "rt") as trail:
        assert sum(1 for _ in trail) == sum(r[3] for r in rows)


def test_sample_run_compares_with_the_live_trail() -> None:
    """The main job trades, and its comparison with the live trail is not trivial: both
    sides filled, decisions differ, and same decisions ended differently for reasons the
    data shows."""
    result = replay("data/sample-run.json", now=datetime(2026, 11, 25, tzinfo=UTC), archive=SAMPLE_ARCHIVE)
    [variant] = result.variants
    assert variant.fills
    assert result.original.fills
    causes = {row["cause"] for row in result.comparisons[0]}
    assert {"decision", "latency", "liquidity", "none"} <= causes
    assert result.aggregate["variants"][0]["vs_original_pnl_delta_pusd"] != "0"
    summary = json.loads(json.dumps(result.summary()))
    assert summary["original_outcome"]["fills"] == len(result.original.fills)
    frame = result.comparison
    assert len(frame) == len(result.comparisons[0]) > 100
    assert frame["original_trace_id"].str.startswith("gen-live-tr-").all()
