"""A run's statistics: in the reports for every variant, as frames (floats by default,
exact Decimals on request), and reconciled with the ledger to the micro-pUSD."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from backtester.reports.stats import MONEY, RATIOS
from backtester.runs import replay
from backtester.sample import SAMPLE_ARCHIVE
from backtester.units import parse_micros

NOW = datetime(2026, 11, 25, tzinfo=UTC)
CONFIG = "data/sample-sweep.json"  # six variants over the sample: merges, open positions, the live bot


@pytest.fixture(scope="module")
def result():
    return replay(CONFIG, now=NOW, archive=SAMPLE_ARCHIVE)


def test_every_variant_s_report_carries_its_statistics(result) -> None:
    aggregate = result.aggregate
    assert len(aggregate["variants"]) == 6
    for entry, variant, report in zip(
        aggregate["variants"], result.variants, result.final_reports, strict=False
    ):
        stats = entry["stats"]
        assert report["stats"] == stats  # the variant's own report, the same figures
        assert set(stats) >= set(MONEY) | set(RATIOS) | {
            "round_trips",
            "sample_interval",
            "max_drawdown_duration_ms",
        }
        # next to the spec's fields, which stay as they are, and agree to the micro-pUSD
        assert stats["pnl_pusd"] == entry["simulated_pnl_pusd"]
        assert stats["realised_pnl_pusd"] == entry["realised_pnl_pusd"]
        assert stats["unrealised_pnl_pusd"] == entry["unrealised_pnl_pusd"]
        assert stats["volume_pusd"] == entry["simulated_volume_pusd"]
        assert stats["fills"] == entry["simulated_fills"]
        assert parse_micros(stats["pnl_pusd"]) == variant.pnl
        assert report["stats_by_market"]  # the sample trades several markets


def test_markets_and_round_trips_add_up_to_the_variant(result) -> None:
    for variant in result.variants:
        parts = variant.market_stats.values()
        assert sum(s.pnl for s in parts) == variant.pnl
        assert sum(s.volume for s in parts) == variant.ledger.volume
        assert sum(t.pnl for t in variant.round_trips) == variant.realised
        assert variant.stats.round_trips == len(variant.round_trips) > 0


def test_the_live_bot_s_statistics_reconcile_with_its_outcome(result) -> None:
    live = result.original.stats
    assert live.pnl == result.original.pnl
    assert live.volume == result.original.ledger.volume
    assert result.aggregate["variants"][0]["stats"]["sample_interval"] == live.sample_interval == "1d"
    assert result.final_reports[0]["original_outcome"]["stats"] == live.as_dict()


def test_sharpe_is_not_a_number_made_of_one_move(result) -> None:
    """The sample trades in bursts: the daily P&L moves on too few days for a volatility."""
    for variant in result.variants:
        assert variant.stats.samples_moved < 30
        assert variant.stats.sharpe is None
        assert variant.stats.as_dict()["sharpe"] is None


def test_frames_are_floats_by_default_and_exact_on_request(result) -> None:
    stats, exact = result.stats, result.exact.stats
    assert list(stats.index) == [0, 1, 2, 3, 4, 5]
    assert stats["pnl_pusd"].dtype == "float64"
    assert stats["sharpe"].isna().all()  # n/a as NaN in the float view
    assert all(isinstance(v, Decimal) for v in exact["pnl_pusd"])
    assert [exact.loc[v.variant_id, "pnl_pusd"] for v in result.variants] == [
        Decimal(v.pnl) / 1_000_000 for v in result.variants
    ]
    assert {"param.annual_vol", "param.min_edge_bps"} <= set(stats.columns)
    assert result.fills["cost_pusd"].dtype == "float64"
    assert isinstance(result.exact.fills["cost_pusd"].iloc[0], Decimal)
    trades = result.exact.trades
    assert trades["pnl_pusd"].sum() == sum(Decimal(v.realised) / 1_000_000 for v in result.variants)
    assert result.live_stats.index.tolist() == ["live (original)"]


def test_the_ledger_s_events_are_in_time_order(result) -> None:
    """Orders of one arrival time are filled and their sets merged before any later order
    fills: a merge never takes shares that arrive after it (the statistics walk the
    events in time order, and a sample at t must not see a later fill)."""
    for variant in result.variants:
        stamps = [event.ts_ms for event in variant.ledger.events]
        assert stamps == sorted(stamps)
        assert any(event.kind == "merge" for event in variant.ledger.events)
