"""Replays through the archive: skipped ticks, aborts, reports, the live link, the clock.
Records are GENERATED around real ids, except where the bundled sample is used."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from backtester.archive import Archive, contract_conversion
from backtester.book.feed import ArchiveFeed
from backtester.config import RiskConfig, SimulationConfig
from backtester.runs import replay
from backtester.runs.engine import MISSING_REPORTS_PER_GAP, Pass
from backtester.sample import SAMPLE_ARCHIVE
from backtester.strategies import default_registry
from backtester.strategies.params import SumToOneArbParams
from tests.conftest import T0, TRUMP_MARKET, TRUMP_NO, TRUMP_YES, book, market_record
from tests.factories import normalised

NOW = datetime(2026, 11, 25, tzinfo=UTC)
WINDOW = {"start_ts": "2024-10-13T00:00:00Z", "end_ts": "2024-10-14T00:00:00Z"}
NO_FEE = {"model": "flat_bps", "fee_rate_bps": 0}


def change(
    ts: int, seq: int | None, price: str, size: str, *, side: str = "BUY", **tops: str
) -> dict[str, Any]:
    entry = {"asset_id": TRUMP_YES, "price": price, "size": size, "side": side, **tops}
    message = {
        "event_type": "price_change",
        "market": TRUMP_MARKET,
        "timestamp": str(ts),
        "price_changes": [entry],
    }
    return message if seq is None else {**message, "seq": seq}


def trade(ts: int) -> dict[str, Any]:
    return {"event_type": "last_trade_price", "market": TRUMP_MARKET, "asset_id": TRUMP_YES,
            "timestamp": str(ts), "price": "0.52", "size": "5", "side": "BUY"}  # fmt: skip


@pytest.fixture
def archive_of(tmp_path: Path, write_jsonl):
    def build(*records: Any) -> Path:
        path = tmp_path / "a.duckdb"
        with Archive.open(path) as store:
            outcome = store.import_conversions([contract_conversion(write_jsonl("feed.jsonl", records))])
            assert outcome.ok, [str(e) for _, e in outcome.rejected]
        return path

    return build


def run(archive: Path | str, **config: Any):
    return replay({**WINDOW, **config}, now=NOW, archive=archive)


class TestSkippedTicks:
    def test_seq_gap_skips_exactly_until_the_next_snapshot(self, archive_of) -> None:
        """seq 2 -> 5: messages 3 and 4 are missing from the archive (one skip report
        each, stamped T+2, where the gap shows); sync is lost at T+2, so T+2, T+3 and the
        trade at T+4 are skipped too; the snapshot at T+5 restores the book; T, T+1, T+5
        and T+6 are replayed. Skipped: 2 missing + 3 out of sync = 5."""
        path = archive_of(
            market_record(),
            dict(book(ts=T0), seq=1),
            change(T0 + 1, 2, "0.49", "10"),
            change(T0 + 2, 5, "0.47", "10"),
            change(T0 + 3, 6, "0.46", "10"),
            trade(T0 + 4),
            dict(book(ts=T0 + 5), seq=7),
            change(T0 + 6, 8, "0.49", "3"),
        )
        variant = run(path).variants[0]
        assert (variant.ticks_replayed, variant.ticks_skipped, variant.ticks_missing) == (4, 5, 2)
        skipped = [r for r in variant.reports if r["event_type"] == "BACKTESTER_TICK_SKIPPED"]
        assert [r["tick_ts_ms"] for r in skipped] == [T0 + 2, T0 + 2, T0 + 2, T0 + 3, T0 + 4]
        assert {r["asset_id"] for r in skipped} == {TRUMP_YES}
        assert [r.get("missing_seq") for r in skipped] == [3, 4, None, None, None]
        assert skipped[0]["reason"] == "missing from the archive: seq 3 of the token, before seq 5"
        assert skipped[2]["reason"] == "seq gap: 2 then 5 (2 message(s) missing)"
        assert variant.skipped_by_reason == {"missing from the archive": 2, "seq gap": 3}

    def test_a_missing_snapshot_is_reported_though_the_next_one_resyncs(self, archive_of) -> None:
        """Books 1, 2, 4: book 3 is missing. Book 4 is a full snapshot, so nothing is out of
        sync, but the missing tick is still reported (BACKTESTER_TICK_SKIPPED) and counted."""
        path = archive_of(
            market_record(),
            dict(book(ts=T0), seq=1),
            dict(book(ts=T0 + 1), seq=2),
            dict(book(ts=T0 + 3), seq=4),
        )
        variant = run(path).variants[0]
        assert (variant.ticks_replayed, variant.ticks_skipped, variant.ticks_missing) == (3, 1, 1)
        (skipped,) = [r for r in variant.reports if r["event_type"] == "BACKTESTER_TICK_SKIPPED"]
        assert (skipped["missing_seq"], skipped["missing_ticks"], skipped["tick_ts_ms"]) == (3, 1, T0 + 3)

    def test_a_corrupt_seq_jump_is_counted_exactly_with_bounded_reports(self, archive_of) -> None:
        """seq 1 then 5001: 4999 messages missing, counted exactly, reported in at most
        MISSING_REPORTS_PER_GAP reports (the last covers the rest)."""
        path = archive_of(market_record(), dict(book(ts=T0), seq=1), dict(book(ts=T0 + 1), seq=5001))
        variant = run(path).variants[0]
        assert variant.ticks_missing == 4999
        skipped = [r for r in variant.reports if r["event_type"] == "BACKTESTER_TICK_SKIPPED"]
        assert len(skipped) == MISSING_REPORTS_PER_GAP
        assert sum(r["missing_ticks"] for r in skipped) == 4999
        last = "missing from the archive: seq 1001 to 5000 of the token, before seq 5001"
        assert skipped[-1]["reason"] == last

    def test_same_millisecond_messages_keep_their_order(self, archive_of) -> None:
        """Two messages of one millisecond (seq 2 and 3, two entries each) apply in seq
        order, whole: their stated tops agree and nothing is skipped."""
        two = {"price": "0.49", "size": "10", "side": "BUY"}, {"price": "0.50", "size": "10", "side": "BUY"}
        first = change(T0 + 1, 2, "0.49", "10", best_bid="0.49", best_ask="0.52")
        first["price_changes"].append(
            {"asset_id": TRUMP_YES, **two[1], "best_bid": "0.50", "best_ask": "0.52"}
        )
        second = change(T0 + 1, 3, "0.50", "0", best_bid="0.49", best_ask="0.52")
        second["price_changes"].append({"asset_id": TRUMP_YES, "price": "0.47", "size": "5", "side": "BUY",
                                        "best_bid": "0.49", "best_ask": "0.52"})  # fmt: skip
        variant = run(archive_of(market_record(), dict(book(ts=T0), seq=1), second, first)).variants[0]
        assert (variant.ticks_replayed, variant.ticks_skipped) == (2, 0)

    def test_trades_count_in_the_seq_chain(self, archive_of) -> None:
        """seq counts every message of a token, trades and tick changes included: book 1,
        change 2, trade 3, change 4 has no gap."""
        path = archive_of(
            market_record(),
            dict(book(ts=T0), seq=1),
            change(T0 + 1, 2, "0.49", "10"),
            dict(trade(T0 + 2), seq=3),
            change(T0 + 3, 4, "0.47", "10"),
        )
        variant = run(path).variants[0]
        assert (variant.ticks_replayed, variant.ticks_skipped) == (4, 0)

    def test_best_bid_disagreement_skips(self, archive_of) -> None:
        """A level update whose stated best bid is not the book's loses sync."""
        path = archive_of(
            market_record(),
            book(ts=T0),
            change(T0 + 1, None, "0.47", "10", best_bid="0.47", best_ask="0.52"),  # the book's is 0.48
            change(T0 + 2, None, "0.46", "10"),
            book(ts=T0 + 3),
        )
        variant = run(path).variants[0]
        assert (variant.ticks_replayed, variant.ticks_skipped) == (2, 2)
        assert variant.skipped_by_reason == {"best_bid disagreement": 2}


class TestAbort:
    def test_unreadable_archive(self, tmp_path: Path) -> None:
        """No archive: the run is aborted with BACKTESTER_ARCHIVE_UNAVAILABLE, status aborted."""
        result = run(tmp_path / "missing.duckdb")
        assert result.status == "aborted"
        [report] = result.reports
        assert (report["event_type"], report["status"], report["mode"]) == (
            "BACKTESTER_ARCHIVE_UNAVAILABLE", "aborted", "replay",
        )  # fmt: skip
        assert "variants" not in result.summary()

    def test_no_market_data_in_the_window(self, archive_of) -> None:
        """An archive with nothing in the window aborts the same way."""
        path = archive_of(market_record(), book(ts=T0))
        result = replay({"start_ts": "2025-01-01", "end_ts": "2025-01-02"}, now=NOW, archive=path)
        assert result.status == "aborted"
        assert "no market data" in result.reports[0]["reason"]


class TestReports:
    def test_live_decision_links_to_the_tick_it_acted_on(self, archive_of) -> None:
        """A live decision 5 ms after a tick links to that tick's replay decision, not to
        the next one a minute later."""
        live = {"kind": "report", "report_kind": "DecisionReport", "report_id": "dec_live_2",
                "trace_id": "tr_live_2", "bot_id": "strat.arb", "ts_ms": T0 + 5, "mode": "live",
                "schema_version": 2, "payload": {"strategy": "sum_to_one_arb", "market_id": TRUMP_MARKET,
                                                 "params": {}, "intent": None}}  # fmt: skip
        rows = [market_record(), live]
        for ts in (T0, T0 + 60_000):
            rows += [book(ts=ts, bids=[("0.47", "100")], asks=[("0.49", "100")]),
                     book(asset=TRUMP_NO, ts=ts, bids=[("0.47", "100")], asks=[("0.49", "100")])]  # fmt: skip
        variant = run(archive_of(*rows), fee_assumption=NO_FEE).variants[0]
        decisions = [r for r in variant.reports if r.get("report_kind") == "DecisionReport"]
        assert [(d["ts_ms"], d["original_trace_id"]) for d in decisions] == [
            (T0, "tr_live_2"),
            (T0 + 60_000, None),
        ]

    def test_live_decision_is_linked(self, archive_of) -> None:
        """A live DecisionReport of the market at the tick is linked as original_trace_id."""
        live = {"kind": "report", "report_kind": "DecisionReport", "report_id": "dec_live_1",
                "trace_id": "tr_live_1", "bot_id": "strat.arb", "ts_ms": T0 + 1, "mode": "live",
                "schema_version": 2, "payload": {"strategy": "sum_to_one_arb", "market_id": TRUMP_MARKET,
                                                 "params": {}, "intent": None}}  # fmt: skip
        yes = book(ts=T0 + 1, bids=[("0.47", "100")], asks=[("0.49", "100")])
        no = book(asset=TRUMP_NO, ts=T0 + 1, bids=[("0.47", "100")], asks=[("0.49", "100")])
        path = archive_of(market_record(), yes, no, live)
        variant = run(path, fee_assumption=NO_FEE).variants[0]
        decision = next(r for r in variant.reports if r.get("report_kind") == "DecisionReport")
        assert decision["original_trace_id"] == "tr_live_1"
        assert variant.phantom_arbs == 1  # the two books disagree: a phantom, rejected

    def test_phantom_from_books_stamped_apart(self, archive_of) -> None:
        """Yes and No both offered at 0.49 but the No book was read 5 s after the Yes
        book: the set at 0.98 is a phantom, rejected by the skew guard and counted."""
        yes = book(ts=T0, bids=[("0.47", "100")], asks=[("0.49", "100")])
        no = book(asset=TRUMP_NO, ts=T0 + 5_000, bids=[("0.47", "100")], asks=[("0.49", "100")])
        variant = run(archive_of(market_record(), yes, no), fee_assumption=NO_FEE).variants[0]
        [rejected] = [r for r in variant.reports if r.get("event_type") == "BACKTESTER_INTENT_REJECTED"]
        assert rejected["reasons"] == [
            "bookskewguard: phantom: the Yes and No books were stamped 5000 ms apart"
        ]
        assert (variant.phantom_arbs, variant.approved) == (1, 0)

    def test_tick_size_change_moves_the_grid(self, archive_of, tmp_path) -> None:
        """A tick_size_change sets the token's grid from its time on."""
        change_tick = {"event_type": "tick_size_change", "market": TRUMP_MARKET, "asset_id": TRUMP_YES}
        change_tick |= {"timestamp": str(T0 + 1), "old_tick_size": "0.01", "new_tick_size": "0.001"}
        path = archive_of(market_record(), book(ts=T0), change_tick)
        with Archive.open(path, read_only=True) as store:
            feed = ArchiveFeed.load(store, [TRUMP_MARKET], start_ms=T0 - 1, end_ms=T0 + 10)
        loop = Pass(
            feed, default_registry()["sum_to_one_arb"], [(0, SumToOneArbParams())], run_id="r",
            limits=RiskConfig(), guards=(), simulation=SimulationConfig(),
        )  # fmt: skip
        assert loop.markets.books[TRUMP_YES].tick == 10_000
        loop.run()
        assert loop.markets.books[TRUMP_YES].tick == 1_000
        assert loop.markets.books[TRUMP_NO].tick == 10_000

    def test_receive_clock(self, archive_of) -> None:
        """With decision_clock=receive a message counts from its recv_ts_ms."""
        path = archive_of(market_record(), dict(book(ts=T0), recv_ts_ms=T0 + 500))
        exchange = run(path).variants[0]
        received = run(path, decision_clock="receive").variants[0]
        assert exchange.ticks_replayed == received.ticks_replayed == 1
        # the feed orders by the chosen clock: the tick is stamped at receive time
        result = run(path, decision_clock="receive")
        assert result.summary()["decision_clock"] == "receive"


@pytest.fixture(scope="module")
def sample():
    return replay("data/sample-arb.json", now=NOW, archive=SAMPLE_ARCHIVE)


class TestSample:
    def test_every_tick_of_the_real_books(self, sample) -> None:
        """Every tick of the sample's real books is replayed; none is skipped, because no
        recorder kept seq and no full book ever disagrees with a stated top; the Tickscope
        ticks run on partial books (no snapshot was recorded)."""
        [variant] = sample.variants
        assert sample.status == "complete"
        assert variant.ticks_skipped == 0
        assert variant.messages == 1504 + 42774 + 878  # every book, level update and trade
        store = Archive.open(SAMPLE_ARCHIVE)
        instants = store.con.execute(
            """SELECT count(*) FROM (SELECT DISTINCT market, ts_ms FROM (
                 SELECT market, ts_ms FROM md_book UNION ALL SELECT market, ts_ms FROM md_level
                 UNION ALL SELECT market, ts_ms FROM md_trade))"""
        ).fetchone()[0]
        tickscope = store.con.execute(
            """SELECT count(*) FROM (SELECT DISTINCT ts_ms FROM (
                 SELECT ts_ms FROM md_level UNION ALL
                 SELECT ts_ms FROM md_trade WHERE market IN (SELECT market FROM md_level)))"""
        ).fetchone()[0]
        store.close()
        assert variant.ticks_replayed == instants
        assert variant.ticks_partial_book == tickscope

    def test_phantom_in_the_real_selcukguler_pair(self, sample) -> None:
        """The selcukguler SOL pair read a moment apart (asks 0.98 at 19:26:03.808) is a
        phantom: the strategy proposes it, the book-skew guard rejects it, the run counts it."""
        [variant] = sample.variants
        rejected = [r for r in variant.reports if r.get("event_type") == "BACKTESTER_INTENT_REJECTED"]
        assert rejected
        assert all(r["phantom_arb"] for r in rejected)
        assert rejected[0]["tick_ts_ms"] == 1_773_170_763_808
        assert variant.phantom_arbs == len(rejected)
        assert variant.approved == 0

    def test_every_report_is_replay_tagged_and_unique(self, sample) -> None:
        """All reports carry mode=replay, the run id and gov.backtester; ids never repeat."""
        reports = sample.reports
        assert reports
        assert all(r["mode"] == "replay" for r in reports)
        assert all(r["replay_run_id"] == sample.replay_run_id for r in reports)
        assert all(r["bot_id"] == "gov.backtester" for r in reports)
        assert len({r["report_id"] for r in reports}) == len(reports)

    def test_deterministic(self, sample) -> None:
        """The same config and archive give the same reports, but for the run id and the
        aggregate's wall-clock run_cost."""
        again = replay("data/sample-arb.json", now=NOW, archive=SAMPLE_ARCHIVE)

        def strip(result) -> str:
            return normalised(json.dumps(result.reports, sort_keys=True), result.replay_run_id)

        assert strip(again) == strip(sample)


def test_portfolio_limits_see_what_was_already_committed() -> None:
    """With 150 pUSD of gross exposure allowed, fair_value_taker's approved intents on the
    real Caio data add up to at most 150, however many ticks would qualify."""
    config = json.loads(Path("data/sample-fair-value.json").read_text())
    config["parameter_sweep"] = config["parameter_sweep"][:1]
    config["risk"] = {"max_gross_exposure_pusd": 150, "max_position_pusd": 150}
    variant = replay(config, now=NOW, archive=SAMPLE_ARCHIVE).variants[0]
    committed = sum(d.intent.size_pusd for d in variant.decisions if d.verdict != "reject")
    assert variant.approved >= 2
    assert committed <= 150 * 1_000_000
    assert variant.rejected > 0
