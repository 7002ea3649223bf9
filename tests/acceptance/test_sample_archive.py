"""The bundled sample archive: real data only, both tokens of several markets, and
exactly what `backtester sample build` makes from the vendored recordings."""

from __future__ import annotations

from pathlib import Path

import pytest

from backtester.archive import Archive
from backtester.sample import SAMPLE_ARCHIVE, build_sample


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
    rebuilt = build_sample(out=tmp_path / "sample")
    with Archive.open(rebuilt) as fresh:
        assert fresh.content_hash() == sample.content_hash()
        assert fresh.info()["counts"] == sample.info()["counts"]
