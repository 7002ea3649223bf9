"""The feed's events: a message's seq on each token's first entry, its stated top on each
token's last (marked in EventBatch, not SQL), the same whether the window is read at
once or streamed in chunks. GENERATED messages around the real Trump 2024 ids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import backtester.book.feed as feed_module
from backtester.archive import Archive, contract_conversion
from backtester.book.feed import ArchiveFeed, Kind
from backtester.sample import SAMPLE_ARCHIVE
from tests.conftest import T0, TRUMP_MARKET, TRUMP_NO, TRUMP_YES, book, market_record


def entry(asset: str, price: str, best_bid: str, best_ask: str) -> dict[str, Any]:
    return {"asset_id": asset, "price": price, "size": "10", "side": "BUY", "best_bid": best_bid,
            "best_ask": best_ask}  # fmt: skip


def message(ts: int, seq: int, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"event_type": "price_change", "market": TRUMP_MARKET, "timestamp": str(ts), "seq": seq,
            "price_changes": list(entries)}  # fmt: skip


@pytest.fixture
def interleaved(tmp_path: Path) -> Path:
    """Two messages at one millisecond, each with three entries for Yes and two for No,
    interleaved; the stated tops differ per entry so the last one is recognisable."""
    records = [market_record(), dict(book(ts=T0), seq=1), dict(book(asset=TRUMP_NO, ts=T0), seq=1)]
    for n, seq in enumerate((2, 3)):
        records.append(
            message(
                T0 + 5, seq,
                entry(TRUMP_YES, "0.41", "0.01", "0.91"), entry(TRUMP_NO, "0.42", "0.02", "0.92"),
                entry(TRUMP_YES, "0.43", "0.03", "0.93"), entry(TRUMP_NO, "0.44", f"0.0{4 + n}", "0.94"),
                entry(TRUMP_YES, "0.45", f"0.0{6 + n}", "0.95"),
            )
        )  # fmt: skip
    path = tmp_path / "feed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    db = tmp_path / "a.duckdb"
    with Archive.open(db) as store:
        assert store.import_conversions([contract_conversion(path)]).ok
    return db


def levels(db: Path, **load: Any) -> list[tuple[Any, ...]]:
    with Archive.open(db, read_only=True) as store:
        feed = ArchiveFeed.load(store, [TRUMP_MARKET], start_ms=T0 - 1, end_ms=T0 + 10, **load)
    return [(e[4] == TRUMP_YES, e[5], e[7], e[9], e[10]) for e in feed.events if e[2] == Kind.LEVEL]


def test_seq_on_the_first_entry_and_top_on_the_last(interleaved: Path) -> None:
    """Per message and token: seq only on the first entry, best_bid/best_ask only on the
    last (-1 elsewhere), in seq order, entries in their order."""
    yes, no = True, False
    assert levels(interleaved) == [  # tokens in id order (the Yes id sorts first)
        (yes, 2, 410_000, -1, -1), (yes, -1, 430_000, -1, -1), (yes, -1, 450_000, 60_000, 950_000),
        (yes, 3, 410_000, -1, -1), (yes, -1, 430_000, -1, -1), (yes, -1, 450_000, 70_000, 950_000),
        (no, 2, 420_000, -1, -1), (no, -1, 440_000, 40_000, 940_000),
        (no, 3, 420_000, -1, -1), (no, -1, 440_000, 50_000, 940_000),
    ]  # fmt: skip


def test_streamed_in_chunks_gives_the_same_events(interleaved: Path) -> None:
    assert levels(interleaved, memory_events=0, chunk_events=1) == levels(interleaved)


def test_sample_streamed_equals_at_once() -> None:
    """The bundled sample (real books, six months) read at once and streamed in chunks of
    about 2 000 rows: the same events, in the same order."""
    with Archive.open(SAMPLE_ARCHIVE, read_only=True) as store:
        markets = [r[0] for r in store.con.execute("SELECT condition_id FROM markets").fetchall()]
        window = {"start_ms": 1_765_411_200_000, "end_ms": 1_780_876_800_000}
        at_once = ArchiveFeed.load(store, markets, **window)
        streamed = ArchiveFeed.load(store, markets, **window, memory_events=0, chunk_events=2_000)
    assert streamed.streamed
    assert not at_once.streamed
    assert len(streamed.chunks) > 10  # whole minutes of about 2 000 rows
    assert streamed.events == at_once.events
    assert len(at_once.events) == at_once.size == 48_241
    assert at_once.size <= feed_module.MEMORY_EVENTS  # the sample is kept in memory by default


def test_a_streamed_window_whose_archive_goes_away_fails_loudly(interleaved: Path, tmp_path: Path) -> None:
    """The reader thread's error reaches the pass (the run aborts; nothing half-read is
    taken for the window)."""
    from backtester.errors import ArchiveUnavailable  # noqa: PLC0415

    with Archive.open(interleaved, read_only=True) as store:
        feed = ArchiveFeed.load(store, [TRUMP_MARKET], start_ms=T0 - 1, end_ms=T0 + 10, memory_events=0)
    interleaved.rename(tmp_path / "elsewhere.duckdb")
    with pytest.raises(ArchiveUnavailable):
        list(feed.batches())


def test_a_pass_that_stops_early_stops_the_reader() -> None:
    """Leaving a streamed pass after its first of many chunks ends the reader thread (no
    thread left reading, none blocked on a full queue)."""
    import threading  # noqa: PLC0415

    with Archive.open(SAMPLE_ARCHIVE, read_only=True) as store:
        markets = [r[0] for r in store.con.execute("SELECT condition_id FROM markets").fetchall()]
        feed = ArchiveFeed.load(
            store, markets, start_ms=1_765_411_200_000, end_ms=1_780_876_800_000, memory_events=0,
            chunk_events=2_000,
        )  # fmt: skip
    assert len(feed.chunks) > 10
    batches = feed.batches()
    next(batches)
    batches.close()
    assert not [t for t in threading.enumerate() if t.name == "feed-reader"]
