"""The importer: one transaction per file, rejections that name file, line and field and
leave the archive unchanged, idempotent re-imports, and any file order.
Records here are GENERATED around real ids (see tests/conftest.py)."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import pytest

from backtester.archive import Archive, contract_conversion
from backtester.errors import ArchiveError, ImportRejected
from tests.conftest import T0, TRUMP_MARKET, TRUMP_NO, TRUMP_YES, book, market_record, report, snapshot


def import_one(store: Archive, path: Path):
    outcome = store.import_conversions([contract_conversion(path)])
    return outcome.results[0] if outcome.ok else outcome.rejected[0][1]


def assert_rejected_unchanged(store: Archive, path: Path, line: int, field: str, words: str) -> None:
    """The file is rejected with file:line: field: message and the archive is as it was."""
    before = snapshot(store)
    error = import_one(store, path)
    assert isinstance(error, ImportRejected), error
    first = error.first
    assert (first.path, first.line, first.field) == (str(path), line, field), str(error)
    assert words in first.message
    assert str(error).startswith(f"{path}:{line}: {field}: ")
    assert snapshot(store) == before


@pytest.fixture
def seeded(archive: Archive, write_jsonl) -> Archive:
    """An archive holding the (generated) market record and one book."""
    import_one(archive, write_jsonl("seed.jsonl", [market_record(), book()]))
    return archive


class TestRejections:
    def test_bad_json(self, seeded: Archive, write_jsonl) -> None:
        """A line of bad JSON rejects the whole file; its good lines are not imported."""
        path = write_jsonl(
            "bad.jsonl", [book(ts=T0 + 1), '{"event_type": "book", "market": ', book(ts=T0 + 2)]
        )
        assert_rejected_unchanged(seeded, path, 2, "(json)", "not valid JSON")

    def test_bad_price(self, seeded: Archive, write_jsonl) -> None:
        """A price outside (0, 1) names its level."""
        path = write_jsonl("bad.jsonl", [book(ts=T0 + 1), book(ts=T0 + 2, asks=[("1.02", "5")])])
        assert_rejected_unchanged(seeded, path, 2, "asks[0].price", "outside (0, 1)")

    def test_off_tick_grid(self, seeded: Archive, write_jsonl) -> None:
        """A price off the market's tick grid (0.01 here) is rejected at its line and field."""
        trade = {"event_type": "last_trade_price", "market": TRUMP_MARKET, "asset_id": TRUMP_YES,
                 "timestamp": T0 + 5, "price": "0.505", "size": "10", "side": "BUY"}  # fmt: skip
        path = write_jsonl("bad.jsonl", [book(ts=T0 + 1), book(ts=T0 + 2), trade])
        assert_rejected_unchanged(seeded, path, 3, "price", "not on the tick grid 0.01")

    def test_crossed_book(self, seeded: Archive, write_jsonl) -> None:
        """A crossed book is rejected."""
        path = write_jsonl("bad.jsonl", [book(ts=T0 + 1, bids=[("0.53", "1")], asks=[("0.52", "1")])])
        assert_rejected_unchanged(seeded, path, 1, "bids", "crossed book")

    def test_missing_field(self, seeded: Archive, write_jsonl) -> None:
        """A missing required field is named."""
        record = book(ts=T0 + 1)
        del record["timestamp"]
        path = write_jsonl("bad.jsonl", [book(ts=T0 + 2), record])
        assert_rejected_unchanged(seeded, path, 2, "timestamp", "required field is missing")

    def test_conflicting_duplicate_report(self, seeded: Archive, write_jsonl) -> None:
        """A report_id imported before with different content is an error; the same content is not."""
        assert not isinstance(import_one(seeded, write_jsonl("r1.jsonl", [report()])), ImportRejected)
        path = write_jsonl("r2.jsonl", [report("exec_2"), report(size_pusd="5.3")])
        assert_rejected_unchanged(seeded, path, 2, "report_id", "already imported with different content")
        same = import_one(seeded, write_jsonl("r3.jsonl", [report(), report("exec_3")]))
        assert same.rows == {"reports": 1}

    def test_conflicting_duplicate_within_a_file(self, seeded: Archive, write_jsonl) -> None:
        """The same report_id twice in one file with different content is an error."""
        path = write_jsonl("r.jsonl", [report("exec_9"), report("exec_9", fee_pusd="0.01")])
        assert_rejected_unchanged(seeded, path, 2, "report_id", "repeats line 1 with different content")

    def test_token_of_another_market(self, seeded: Archive, write_jsonl) -> None:
        """Data naming a token that its market does not list is rejected."""
        stranger = "1" * 77
        path = write_jsonl("bad.jsonl", [book(asset=stranger, ts=T0 + 1)])
        assert_rejected_unchanged(seeded, path, 1, "asset_id", f"token {stranger} is not a token of market")

    def test_conflicting_market_record(self, seeded: Archive, write_jsonl) -> None:
        """A different record for a known market needs an effective_ts_ms; the error says so."""
        path = write_jsonl("m.jsonl", [market_record(question="Changed?")])
        assert_rejected_unchanged(seeded, path, 1, "condition_id", "effective_ts_ms")

    def test_many_problems_are_listed_in_line_order(self, seeded: Archive, write_jsonl) -> None:
        """Every problem of a file is listed (up to 20), not only the first."""
        path = write_jsonl("bad.jsonl", [book(ts=T0 + i, bids=[("7", "1")]) for i in range(25)])
        error = import_one(seeded, path)
        assert [p.line for p in error.problems] == list(range(1, 21))
        assert "more problem" in str(error)


class TestIdempotence:
    def test_same_file_twice(self, seeded: Archive, write_jsonl) -> None:
        """Importing the same file twice changes nothing."""
        path = write_jsonl("d.jsonl", [book(ts=T0 + 1), report()])
        import_one(seeded, path)
        before = snapshot(seeded)
        again = import_one(seeded, path)
        assert again.skipped
        assert snapshot(seeded) == before

    def test_new_content_changes_the_hash(self, seeded: Archive, write_jsonl) -> None:
        """The content hash changes when a row is added, even one identical to another row."""
        before = seeded.content_hash()
        import_one(seeded, write_jsonl("d.jsonl", [book()]))  # same book as the seed, new file
        after = seeded.content_hash()
        assert after != before
        assert seeded.info()["counts"]["book"] == 2

    def test_gzip_of_the_same_content(self, seeded: Archive, write_jsonl, tmp_path: Path) -> None:
        """A gzipped copy of an imported file (any name) is the same content: a no-op."""
        path = write_jsonl("d.jsonl", [book(ts=T0 + 1)])
        import_one(seeded, path)
        before = snapshot(seeded)
        zipped = tmp_path / "renamed.jsonl.gz"
        zipped.write_bytes(gzip.compress(path.read_bytes()))
        assert import_one(seeded, zipped).skipped
        assert snapshot(seeded) == before


class TestFileOrder:
    def files(self, write_jsonl) -> list[Path]:
        tick = {"event_type": "tick_size_change", "market": TRUMP_MARKET, "asset_id": TRUMP_YES,
                "timestamp": T0 + 10, "old_tick_size": "0.01", "new_tick_size": "0.001"}  # fmt: skip
        fine = book(ts=T0 + 20, bids=[("0.481", "5")], asks=[("0.52", "5")])
        return [
            write_jsonl("market.jsonl", [market_record()]),
            write_jsonl(
                "books.jsonl", [book(), book(asset=TRUMP_NO, bids=[("0.48", "50")], asks=[("0.52", "100")])]
            ),
            write_jsonl("tick.jsonl", [tick]),
            write_jsonl("fine.jsonl", [fine]),
            write_jsonl("reports.jsonl", [report()]),
        ]

    def test_any_order_gives_the_same_archive(self, tmp_path: Path, write_jsonl) -> None:
        """Files of one import go in any order to the same content, a 0.001 price after a
        tick change included (a file waiting for its tick change is retried)."""
        files = self.files(write_jsonl)
        hashes = set()
        for n, order in enumerate(itertools.permutations(files)):
            if n % 12:  # 120 orders; every 12th is plenty and keeps this quick
                continue
            with Archive.open(tmp_path / f"a{n}.duckdb") as store:
                outcome = store.import_conversions(contract_conversion(p) for p in order)
                assert outcome.ok, [str(e) for _, e in outcome.rejected]
                hashes.add(store.content_hash())
        assert len(hashes) == 1

    def test_a_market_arriving_late_checks_earlier_data(self, archive: Archive, write_jsonl) -> None:
        """Data imported before its market is checked against the market's grid when it arrives."""
        import_one(archive, write_jsonl("d.jsonl", [book(bids=[("0.485", "1")])]))
        path = write_jsonl("m.jsonl", [market_record()])
        assert_rejected_unchanged(archive, path, 1, "tick_size", "d.jsonl:1: bids: price 0.485")

    def test_effective_ts_replaces_a_market_from_then_on(self, seeded: Archive, write_jsonl) -> None:
        """A market record with effective_ts_ms changes the grid from that time only."""
        finer = market_record(tick_size="0.001", effective_ts_ms=T0 + 100)
        assert not isinstance(import_one(seeded, write_jsonl("m2.jsonl", [finer])), ImportRejected)
        early = write_jsonl("early.jsonl", [book(ts=T0 + 50, bids=[("0.485", "1")])])
        assert_rejected_unchanged(seeded, early, 1, "bids[0].price", "tick grid 0.01")
        late = import_one(seeded, write_jsonl("late.jsonl", [book(ts=T0 + 150, bids=[("0.485", "1")])]))
        assert late.rows == {"md_book": 1}


class TestStores:
    def test_parquet_archive_is_read_only(self, tmp_path: Path, seeded: Archive, write_jsonl) -> None:
        """Importing into a Parquet archive is refused with what to do instead."""
        out = seeded.export_parquet(tmp_path / "pq")
        with Archive.open(out) as parquet, pytest.raises(ArchiveError, match="read-only"):
            parquet.import_conversions([contract_conversion(write_jsonl("x.jsonl", [book()]))])

    def test_export_round_trip(self, tmp_path: Path, seeded: Archive, write_jsonl) -> None:
        """A Parquet export holds the same content (same hash, same info) in hive layout."""
        import_one(seeded, write_jsonl("r.jsonl", [report(), book(ts=T0 + 86_400_000)]))
        out = seeded.export_parquet(tmp_path / "pq")
        with Archive.open(out) as parquet:
            assert parquet.storage == "parquet"
            assert parquet.content_hash() == seeded.content_hash()
            assert parquet.info()["counts"] == seeded.info()["counts"]
            assert parquet.info()["markets"] == seeded.info()["markets"]
        days = sorted(p.name for p in (out / "md_book").iterdir())
        assert days == ["date=2024-10-13", "date=2024-10-14"]
        assert [p.name for p in (out / "md_book" / days[0]).iterdir()] == [f"market={TRUMP_MARKET}"]

    def test_export_refuses_to_overwrite(self, tmp_path: Path, seeded: Archive) -> None:
        """An export never writes into an existing directory."""
        (tmp_path / "pq").mkdir()
        with pytest.raises(ArchiveError, match="already exists"):
            seeded.export_parquet(tmp_path / "pq")
