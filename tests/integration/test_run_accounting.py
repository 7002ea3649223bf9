"""Fills, P&L and settlement through whole runs: golden cases worked by hand, and the
reconciliation of per-fill P&L with the aggregate. Books, signals and settlements here
are GENERATED test fixtures around the real ids of the "Trump wins 2024" market (no
fees); the sample-archive checks use the bundled sample.

Every scenario runs ``fair_value_taker`` on an ObservationReport ``fair_value`` with a
1000 bps minimum edge: at fair value 0.50 a Yes share is bought at up to
0.50 x 0.90 = 0.45, and a No share (worth 0.50 too) at up to 0.45.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backtester.archive import Archive, contract_conversion
from backtester.runs import replay
from backtester.sample import SAMPLE_ARCHIVE
from backtester.units import MICRO, format_micros, parse_micros
from tests.conftest import T0, TRUMP_MARKET, TRUMP_NO, TRUMP_YES, book, market_record
from tests.factories import m

NOW = datetime(2026, 11, 25, tzinfo=UTC)
CONFIG = {
    "start_ts": "2024-10-13T00:00:00Z",
    "end_ts": "2024-10-14T00:00:00Z",
    "strategy": "fair_value_taker",
    "parameter_sweep": [
        {"signal": "fair_value", "model": "probability", "min_edge_bps": 1000, "max_size_pusd": "1000"}
    ],
}
BINARY = {"neg_risk": False, "neg_risk_market_id": None}


def observation(ts: int, value: str, report_id: str) -> dict[str, Any]:
    return {"kind": "report", "report_kind": "ObservationReport", "report_id": report_id, "trace_id": None,
            "bot_id": "feed.fair_value", "ts_ms": ts, "mode": "live", "schema_version": 2,
            "payload": {"market_id": TRUMP_MARKET, "signals": {"fair_value": value}}}  # fmt: skip


def settlement(ts: int, yes: str, no: str, adapter: str = "CTF") -> dict[str, Any]:
    payload = {"market_id": TRUMP_MARKET, "payouts": {TRUMP_YES: yes, TRUMP_NO: no}, "adapter": adapter}
    return {"kind": "report", "report_kind": "SettlementReport", "report_id": f"settle_{ts}",
            "trace_id": None, "bot_id": "settlement.watcher", "ts_ms": ts, "mode": "live",
            "schema_version": 2, "payload": payload}  # fmt: skip


def change(ts: int, *entries: tuple[str, str, str, str]) -> dict[str, Any]:
    """One price_change frame: (asset, side, price, new size) per entry."""
    frame = [{"asset_id": a, "side": side, "price": p, "size": s} for a, side, p, s in entries]
    return {
        "event_type": "price_change",
        "market": TRUMP_MARKET,
        "timestamp": str(ts),
        "price_changes": frame,
    }


def fair_value_archive(folder: Path) -> Path:
    """GENERATED: one binary market (real Trump 2024 ids), Yes asks 0.40 / 0.41 / 0.42 x
    100 at a fair value of 0.50, settled Yes a minute later, as a DuckDB archive."""
    records = [
        market_record(**BINARY),
        *books(T0, [("0.38", "100")], [("0.40", "100"), ("0.41", "100"), ("0.42", "100")]),
        observation(T0, "0.5", "obs_1"),
        settlement(T0 + 60_000, "1", "0"),
    ]
    feed = folder / "feed.jsonl"
    feed.write_text("".join(json.dumps(r) + "\n" for r in records))
    db = folder / "a.duckdb"
    with Archive.open(db) as store:
        assert store.import_conversions([contract_conversion(feed)]).ok
    return db


def books(ts: int, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """A Yes book and its mirror on the No token (No bid = 1 - Yes ask, same size)."""

    def flip(levels: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(format_micros(MICRO - parse_micros(p)), s) for p, s in levels]

    return [book(ts=ts, bids=bids, asks=asks), book(asset=TRUMP_NO, ts=ts, bids=flip(asks), asks=flip(bids))]


@pytest.fixture
def run_of(tmp_path: Path):
    count = iter(range(1_000_000))

    def run(*records: Any, config: dict[str, Any] | None = None, market: dict[str, Any] | None = None):
        n = next(count)
        feed = tmp_path / f"feed{n}.jsonl"
        feed.write_text("".join(json.dumps(r) + "\n" for r in (market_record(**(market or {})), *records)))
        db = tmp_path / f"archive{n}.duckdb"
        with Archive.open(db) as store:
            outcome = store.import_conversions([contract_conversion(feed)])
            assert outcome.ok, [str(e) for _, e in outcome.rejected]
        return replay(config or CONFIG, now=NOW, archive=db)

    return run


def processed(variant) -> list[dict[str, Any]]:
    return [r for r in variant.reports if r.get("event_type") == "BACKTESTER_TICK_PROCESSED"]


def executions(variant) -> list[dict[str, Any]]:
    return [r for r in variant.reports if r.get("report_kind") == "ExecutionReport"]


class TestThroughTheRun:
    def test_fills_at_arrival_and_taken_liquidity_stays_taken(self, run_of) -> None:
        """Yes asks 0.40, 0.41, 0.42 x 100 at T0, fair value 0.50 (buy up to 0.45).

        * T0: the strategy wants all 300 shares (40 + 41 + 42 = 123 pUSD), limit 0.42.
        * T0+100: the 0.40 ask is withdrawn (and its No mirror, the 0.60 bid). The
          strategy, seeing 0.41 and 0.42, wants those 200 shares (83 pUSD).
        * T0+250: the first order arrives (latency 250) and meets the book of T0+100, not
          the one it decided on: 100 x 0.41 + 100 x 0.42 = 83 pUSD for 200 shares, average
          0.415, PARTIAL; slippage against 0.40 at decision (0.415 - 0.40) / 0.40 = 375 bps.
        * T0+350: the second order finds 0.41 and 0.42 already taken by the first (the
          archive never showed those levels again): refused, nothing filled.
        * End: 200 Yes held at a cost of 83, marked at the archive's own mid
          (0.38 + 0.41) / 2 = 0.395: 79 pUSD, unrealised -4; realised 0.
        """
        result = run_of(
            *books(T0, [("0.38", "100")], [("0.40", "100"), ("0.41", "100"), ("0.42", "100")]),
            observation(T0, "0.5", "obs_1"),
            change(T0 + 100, (TRUMP_YES, "SELL", "0.40", "0"), (TRUMP_NO, "BUY", "0.60", "0")),
        )
        [variant] = result.variants
        first, second = executions(variant)
        assert (first["ts_ms"], first["payload"]["decided_ts_ms"]) == (T0 + 250, T0)
        assert {k: first["payload"][k] for k in ("status", "order_shares", "size", "price", "size_pusd")} == {
            "status": "PARTIAL", "order_shares": "300", "size": "200", "price": "0.415", "size_pusd": "83",
        }  # fmt: skip
        assert (second["ts_ms"], second["payload"]["decided_ts_ms"]) == (T0 + 350, T0 + 100)
        assert (second["payload"]["status"], second["payload"]["size"]) == ("REJECTED", "0")
        assert second["payload"]["reason"] == "no displayed liquidity within the limit at arrival"
        [fill] = processed(variant)
        assert fill["simulated_fill"]["levels"] == [["0.41", "100"], ["0.42", "100"]]
        assert (fill["simulated_fill_price"], fill["simulated_fill_size_pusd"]) == ("0.415", "83")
        assert (fill["simulated_slippage_bps"], fill["simulated_fill"]["pnl_pusd"]) == ("375.00", "0")
        assert (variant.realised, variant.unrealised) == (0, -4 * MICRO)
        report = result.final_reports[0]
        assert (report["realised_pnl_pusd"], report["unrealised_pnl_pusd"], report["simulated_pnl_pusd"]) == (
            "0", "-4", "-4",
        )  # fmt: skip
        assert (report["simulated_fills"], report["simulated_volume_pusd"]) == (1, "83")
        # the same as DataFrames, money as exact Decimals (and as floats by default)
        assert result.fills.loc[0, "cost_pusd"] == 83.0
        assert result.fills["price"].dtype == "float64"
        fills = result.exact.fills
        assert list(fills["status"]) == ["PARTIAL", "REJECTED"]
        assert (fills.loc[0, "shares"], fills.loc[0, "cost_pusd"], fills.loc[0, "price"]) == (
            Decimal(200), Decimal(83), Decimal("0.415"),
        )  # fmt: skip
        assert fills.loc[0, "arrival"] - fills.loc[0, "decided"] == pd.Timedelta(milliseconds=250)
        equity = result.exact.equity
        assert list(equity["pnl_pusd"]) == [Decimal("-4"), Decimal("-4")]  # after the fill, at the end

    def test_merge_of_a_complete_set(self, run_of) -> None:
        """T0: fair 0.50, buy 100 Yes at 0.40 (40 pUSD).
        T1: fair 0.20 (a No is worth 0.80, bought up to 0.72); the book moved: Yes bid
        0.50 x 100 (No ask 0.50), Yes ask 0.52 x 100 (No bid 0.48), the old levels gone.
        The strategy buys 100 No at 0.50 (50 pUSD). Holding 100 Yes + 100 No, the run
        merges 100 sets into 100 pUSD: realised 100 - 40 - 50 = +10, nothing left open.
        Per fill: 0 at each opening buy, +10 at the merge."""
        t1 = T0 + 10_000
        result = run_of(
            *books(T0, [("0.38", "100")], [("0.40", "100")]),
            observation(T0, "0.5", "obs_1"),
            observation(t1, "0.2", "obs_2"),
            change(
                t1,
                (TRUMP_YES, "SELL", "0.40", "0"), (TRUMP_NO, "BUY", "0.60", "0"),
                (TRUMP_YES, "BUY", "0.38", "0"), (TRUMP_NO, "SELL", "0.62", "0"),
                (TRUMP_YES, "BUY", "0.50", "100"), (TRUMP_NO, "SELL", "0.50", "100"),
                (TRUMP_YES, "SELL", "0.52", "100"), (TRUMP_NO, "BUY", "0.48", "100"),
            ),
        )  # fmt: skip
        [variant] = result.variants
        kinds = [(r["simulated_fill"]["kind"], r["simulated_fill"]["pnl_pusd"]) for r in processed(variant)]
        assert kinds == [("buy", "0"), ("buy", "0"), ("merge", "10")]
        merge = processed(variant)[-1]
        assert (merge["simulated_fill"]["shares"], merge["simulated_fill"]["cash_pusd"]) == ("100", "100")
        assert (variant.realised, variant.unrealised) == (10 * MICRO, 0)

    def test_binary_settlement_through_ctf(self, run_of) -> None:
        """Buy 100 Yes at 0.40 (40 pUSD); the market resolves Yes through the CTF: 100 x 1
        = 100 pUSD, realised +60, reported on a TICK_PROCESSED of kind settlement."""
        result = run_of(
            *books(T0, [("0.38", "100")], [("0.40", "100")]),
            observation(T0, "0.5", "obs_1"),
            settlement(T0 + 60_000, "1", "0"),
            market=BINARY,
        )
        [variant] = result.variants
        settle = processed(variant)[-1]
        assert settle["simulated_fill"]["kind"] == "settlement"
        assert (settle["simulated_fill"]["adapter"], settle["simulated_fill"]["pnl_pusd"]) == ("CTF", "60")
        assert (settle["simulated_fill"]["cash_pusd"], settle["tick_ts_ms"]) == ("100", T0 + 60_000)
        assert (variant.realised, variant.unrealised) == (60 * MICRO, 0)

    def test_losing_settlement(self, run_of) -> None:
        """The same 100 Yes at 0.40 when No wins: they pay 0, realised -40."""
        result = run_of(
            *books(T0, [("0.38", "100")], [("0.40", "100")]),
            observation(T0, "0.5", "obs_1"),
            settlement(T0 + 60_000, "0", "1"),
            market=BINARY,
        )
        assert (result.variants[0].realised, result.variants[0].unrealised) == (-40 * MICRO, 0)

    def test_decision_never_sees_the_fill_before_arrival(self, run_of) -> None:
        """With a 5 s latency the order of T0 arrives after the book of T0+1000 replaced
        the 0.40 ask with 0.44: the fill is at 0.44 (limit 0.40 + nothing), so refused."""
        config = {**CONFIG, "simulation": {"latency_ms": 5_000}}
        result = run_of(
            *books(T0, [("0.38", "100")], [("0.40", "100")]),
            observation(T0, "0.5", "obs_1"),
            change(T0 + 1_000, (TRUMP_YES, "SELL", "0.40", "0"), (TRUMP_NO, "BUY", "0.60", "0"),
                   (TRUMP_YES, "SELL", "0.44", "100"), (TRUMP_NO, "BUY", "0.56", "100")),
            config=config,
        )  # fmt: skip
        [variant] = result.variants
        first = executions(variant)[0]
        assert (first["ts_ms"], first["payload"]["limit_price"], first["payload"]["status"]) == (
            T0 + 5_000, "0.4", "REJECTED",
        )  # fmt: skip


class TestReconciliation:
    def test_sample_run(self) -> None:
        """On the bundled sample, the P&L of every TICK_PROCESSED adds up to the realised
        P&L to the micro-pUSD, and realised + unrealised is the reported total."""
        result = replay("data/sample-run.json", now=NOW, archive=SAMPLE_ARCHIVE)
        _reconciles(result)
        assert result.variants[0].fills  # the sample trades

    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        steps=st.lists(
            st.tuples(
                st.integers(30, 70),  # Yes best ask, hundredths
                st.integers(1, 5),  # spread, hundredths
                st.integers(5, 300),  # shares per level
                st.integers(20, 80),  # fair value, hundredths
            ),
            min_size=1,
            max_size=12,
        ),
        settle=st.sampled_from([None, "1", "0"]),
        latency=st.sampled_from([0, 250, 1_500]),
    )
    def test_generated_runs(self, run_of, steps, settle, latency) -> None:
        """Random books (mirrored, two levels a side), random fair values, an optional
        settlement: per-fill P&L always reconciles with the aggregate."""
        records: list[Any] = []
        for i, (ask, spread, size, fair) in enumerate(steps):
            ts = T0 + i * 1_000
            bid = ask - spread
            price = lambda h: f"0.{h:02d}"  # noqa: E731
            records += books(ts, [(price(bid), str(size)), (price(bid - 1), "50")],
                             [(price(ask), str(size)), (price(ask + 1), "50")])  # fmt: skip
            records.append(observation(ts, price(fair), f"obs_{i}"))
        if settle is not None:
            records.append(settlement(T0 + len(steps) * 1_000 + 5_000, settle, "0" if settle == "1" else "1"))
        config = {**CONFIG, "simulation": {"latency_ms": latency}}
        result = run_of(*records, config=config, market=BINARY)
        _reconciles(result)
        ask, _, size, fair = steps[0]
        if latency == 0 and ask * 100 <= fair * 90 and size >= 5:
            assert result.variants[0].fills  # the first tick alone is worth buying: not vacuous
        if settle is not None:
            assert result.variants[0].unrealised == 0  # everything was paid out


def _reconciles(result) -> None:
    for variant, report in zip(result.variants, result.final_reports, strict=False):
        fills = processed(variant)
        total = sum(parse_micros(r["simulated_fill"]["pnl_pusd"]) for r in fills)
        assert total == variant.realised
        assert parse_micros(report["realised_pnl_pusd"]) == total
        assert parse_micros(report["simulated_pnl_pusd"]) == total + parse_micros(
            report["unrealised_pnl_pusd"]
        )
        buys = [r for r in fills if r["simulated_fill"]["kind"] in ("buy", "sell")]
        assert report["simulated_fills"] == len(buys)
        volume = sum(parse_micros(r["simulated_fill"]["size_pusd"]) for r in buys)
        assert parse_micros(report["simulated_volume_pusd"]) == volume
        fees = sum(parse_micros(r["simulated_fill"]["fee_pusd"]) for r in fills)
        assert parse_micros(report["simulated_net_fees_pusd"]) == fees


def live(kind: str, report_id: str, ts: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "report", "report_kind": kind, "report_id": report_id, "trace_id": "tr_live_1",
            "bot_id": "strat.fair_value", "ts_ms": ts, "mode": "live", "schema_version": 2,
            "payload": {"market_id": TRUMP_MARKET, **payload}}  # fmt: skip


def live_decision(report_id: str, ts: int, limit: str, size: str, trace: str = "tr_live_1") -> dict[str, Any]:
    """A live DecisionReport buying Yes up to ``limit`` for ``size`` pUSD."""
    leg = {"asset_id": TRUMP_YES, "side": "BUY", "limit_price": limit, "size_pusd": size}
    report = live("DecisionReport", report_id, ts, {"strategy": "fair_value_taker", "params": {},
                                                    "intent": {"legs": [leg]}})  # fmt: skip
    return {**report, "trace_id": trace}


class TestLiveFootprint:
    """The live bot bought the whole 0.40 x 100 Yes ask at T0+60 (its ExecutionReport);
    the archive shows the level gone at T0+80 (the exchange's echo of that fill). The
    replay of the same decision (T0, latency 250) arrives at T0+250."""

    def trail(self) -> list[dict[str, Any]]:
        return [
            *books(T0, [("0.38", "100")], [("0.40", "100")]),
            observation(T0, "0.5", "obs_1"),
            live_decision("dec_live_1", T0 + 5, "0.4", "40"),
            live("ExecutionReport", "exec_live_1", T0 + 60, {
                "asset_id": TRUMP_YES, "side": "BUY", "price": "0.4", "size": "100", "size_pusd": "40",
                "fee_pusd": "0", "status": "FILLED"}),
            change(T0 + 80, (TRUMP_YES, "SELL", "0.40", "0"), (TRUMP_NO, "BUY", "0.60", "0")),
        ]  # fmt: skip

    def test_restored_the_replay_fills_what_the_live_bot_took(self, run_of) -> None:
        """With the footprint restored the replay gets the same 100 at 0.40 (40 pUSD) as
        the live bot: same fill, cause none, P&L delta 0. (At T0+80 the replay sees the
        restored 100 again and orders it too; that order arrives after its first one took
        them, and is refused.)"""
        result = run_of(*self.trail())
        [variant] = result.variants
        assert [(e["ts_ms"], e["payload"]["size"]) for e in executions(variant)] == [
            (T0 + 250, "100"), (T0 + 330, "0"),
        ]  # fmt: skip
        [row] = [r for r in result.comparisons[0] if r["original_trace_id"] is not None]
        assert (row["original_trace_id"], row["cause"], row["pnl_delta_pusd"]) == ("tr_live_1", "none", "0")
        assert result.final_reports[0]["vs_original_pnl_delta_pusd"] == "0"

    def test_without_it_the_replay_is_penalised_for_the_live_trade(self, run_of) -> None:
        """Without the restore the replay's order finds the level the live fill emptied:
        refused, and the comparison blames liquidity."""
        config = {**CONFIG, "simulation": {"restore_live_footprint": False}}
        result = run_of(*self.trail(), config=config)
        [variant] = result.variants
        assert [e["payload"]["status"] for e in executions(variant)] == ["REJECTED"]
        [row] = [r for r in result.comparisons[0] if r["original_trace_id"] is not None]
        assert (row["replay_shares"], row["live_shares"], row["cause"]) == ("0", "100", "latency")

    def test_a_later_change_of_the_level_ends_the_restore(self, run_of) -> None:
        """At T0+5000 (after the 1 s echo window) someone offers 30 at 0.40 again: from
        then on the archive is the truth, so the next decision there buys 30, not 130.
        At T0+250 the first order got the restored 100 (the order of T0+80 none)."""
        records = [*self.trail(), change(T0 + 5_000, (TRUMP_YES, "SELL", "0.40", "30"),
                                         (TRUMP_NO, "BUY", "0.60", "30"))]  # fmt: skip
        result = run_of(*records)
        [variant] = result.variants
        assert [e["payload"]["size"] for e in executions(variant)] == ["100", "0", "30"]

    def test_no_double_count_when_the_replay_already_took_them(self, run_of) -> None:
        """Latency 0: the replay takes the 100 at T0, before the live fill is even
        reported. The archive's drop at T0+80 is that fill's echo: the 100 are restored,
        but the replay already has them, so nothing more is displayed (an unrelated
        change at T0+65 makes the strategy look again in between)."""
        records = [
            *self.trail(),
            change(T0 + 65, (TRUMP_YES, "BUY", "0.37", "10"), (TRUMP_NO, "SELL", "0.63", "10")),
        ]
        result = run_of(*records, config={**CONFIG, "simulation": {"latency_ms": 0}})
        [variant] = result.variants
        assert variant.ledger.position(TRUMP_YES) == 100 * MICRO

    def test_echo_published_before_the_report(self, run_of) -> None:
        """The exchange's drop of the level (T0+40) can come before the bot stamps its
        ExecutionReport (T0+60): within the echo window it is still the fill's own, and
        the replay (arriving at T0+250) gets the 100."""
        trail = [r for r in self.trail() if r.get("event_type") != "price_change"]
        trail.append(change(T0 + 40, (TRUMP_YES, "SELL", "0.40", "0"), (TRUMP_NO, "BUY", "0.60", "0")))
        result = run_of(*trail)
        [variant] = result.variants
        assert variant.ledger.position(TRUMP_YES) == 100 * MICRO


class TestLiveAccounting:
    def test_same_bot_same_outcome_with_fees_in_shares(self, run_of) -> None:
        """Curve fee 0.07 before the CLOB v2 cutover: 100 Yes bought at 0.40 pay 1.68 pUSD,
        taken as 4.2 shares (95.8 held). A live bot that did exactly the same is booked the
        same way, so the P&L delta is 0 (with the fee in pUSD instead it would be -2.52)."""
        fees = {"fees": {"model": "curve", "rate": "0.07", "exponent": 1}, **BINARY}
        fill = live("ExecutionReport", "exec_live_1", T0 + 250, {
            "asset_id": TRUMP_YES, "side": "BUY", "price": "0.4", "size": "100", "size_pusd": "40",
            "fee_pusd": "1.68", "status": "FILLED"})  # fmt: skip
        decision = live_decision("dec_live_1", T0, "0.4", "41.68")
        result = run_of(
            *books(T0, [("0.38", "100")], [("0.40", "100")]),
            observation(T0, "0.5", "obs_1"),
            decision,
            fill,
            settlement(T0 + 60_000, "1", "0"),
            market=fees,
            config={**CONFIG, "simulation": {"restore_live_footprint": False}},
        )
        [variant] = result.variants
        assert variant.realised == result.original.realised == m("55.8")  # 95.8 x 1 - 40
        assert result.final_reports[0]["vs_original_pnl_delta_pusd"] == "0"

    def test_selling_what_was_bought_before_the_window(self, run_of) -> None:
        """A live sale of 10 shares bought before the window: neither side starts with
        them, so the sale is not counted (and is reported), instead of crashing."""
        early = live("ExecutionReport", "e1", T0 - 8 * 3_600_000, {
            "asset_id": TRUMP_YES, "side": "BUY", "price": "0.4", "size": "10", "size_pusd": "4",
            "fee_pusd": "0", "status": "FILLED"})  # fmt: skip
        sale = live("ExecutionReport", "e2", T0 + 100, {
            "asset_id": TRUMP_YES, "side": "SELL", "price": "0.4", "size": "10", "size_pusd": "4",
            "fee_pusd": "0", "status": "FILLED"})  # fmt: skip
        sale["trace_id"] = "tr_live_2"
        result = run_of(*books(T0, [("0.38", "100")], [("0.40", "100")]), early, sale)
        assert result.status == "complete"
        assert result.original.summary()["unheld_sell_shares"] == "10"
        assert result.original.fills == []
        [row] = result.comparisons[0]  # an execution with no decision still gets its row
        assert (row["original_trace_id"], row["replay_decided"]) == ("tr_live_2", False)

    def test_reshaped_intents_are_compared_as_proposed(self, run_of) -> None:
        """With depth_fraction 0.5 the guards halve both bots' orders; the comparison
        compares the intents as proposed (both 300 shares), so they ordered the same."""
        decision = live_decision("dec_live_1", T0, "0.42", "123")
        result = run_of(
            *books(T0, [("0.38", "100")], [("0.40", "100"), ("0.41", "100"), ("0.42", "100")]),
            observation(T0, "0.5", "obs_1"),
            decision,
            config={**CONFIG, "risk": {"depth_fraction": "0.5"}},
        )
        [row] = [r for r in result.comparisons[0] if r["original_trace_id"] == "tr_live_1"]
        assert (row["replay_verdict"], row["ordered_same"]) == ("reshape", True)


def test_a_book_out_of_sync_keeps_its_last_mark(run_of) -> None:
    """100 Yes at 0.40; at T0+5 s a message states a best bid the book does not have, so
    the book is unknown to the end. The position is marked at the last mid, 0.39
    (unrealised -1), not at 0 (-40)."""
    bad = change(T0 + 5_000, (TRUMP_YES, "BUY", "0.37", "10"))
    bad["price_changes"][0] |= {"best_bid": "0.30", "best_ask": "0.40"}
    result = run_of(*books(T0, [("0.38", "100")], [("0.40", "100")]), observation(T0, "0.5", "obs_1"), bad)
    [variant] = result.variants
    assert variant.ticks_skipped == 1
    assert (variant.marks[TRUMP_YES], variant.unrealised) == (m("0.39"), -MICRO)


@pytest.mark.parametrize("market", [None, BINARY], ids=["neg-risk", "binary"])
def test_live_decision_while_out_of_sync_is_a_data_gap(run_of, market) -> None:
    """A live decision at a tick the replay skipped (its book out of sync) is blamed on
    the data, for a neg-risk market (grouped by its event) as for a binary one; one
    after the next snapshot is not."""
    bad = change(T0 + 5_000, (TRUMP_YES, "BUY", "0.37", "10"))
    bad["price_changes"][0] |= {"best_bid": "0.30", "best_ask": "0.40"}
    decisions = [
        live_decision(f"dec_live_{n}", ts, "0.4", "40", trace=f"tr_live_{n}")
        for n, ts in enumerate((T0 + 5_000, T0 + 20_000))
    ]
    result = run_of(
        *books(T0, [("0.38", "100")], [("0.40", "100")]),
        bad,
        *books(T0 + 10_000, [("0.38", "100")], [("0.45", "100")]),
        *decisions,
        market=market,
    )
    causes = {row["original_trace_id"]: row["cause"] for row in result.comparisons[0]}
    assert causes == {"tr_live_0": "data_gap", "tr_live_1": "decision"}


def test_nothing_is_traded_after_the_market_resolved(run_of) -> None:
    """Resolved Yes at T0+1 s, a new book at T0+2 s still offers 0.40: the strategy's
    intent there is dropped, and an order on its way at the settlement is refused."""
    config = {**CONFIG, "simulation": {"latency_ms": 2_000}}
    result = run_of(
        *books(T0, [("0.38", "100")], [("0.40", "100")]), observation(T0, "0.5", "obs_1"),
        settlement(T0 + 1_000, "1", "0"), *books(T0 + 3_000, [("0.38", "100")], [("0.40", "100")]),
        market=BINARY, config=config,
    )  # fmt: skip
    [variant] = result.variants
    [execution] = executions(variant)
    assert (execution["payload"]["status"], execution["payload"]["reason"]) == (
        "REJECTED",
        "the market had resolved",
    )
    assert variant.intents == 1
