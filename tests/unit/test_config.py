"""Run config rules of spec sections 6 to 9, one test per rule and reason code."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from backtester.config import load_config, parse_time_expr, resolve_config
from backtester.errors import ConfigError, ReasonCode, Severity, user_message
from backtester.strategies import default_registry

NOW = datetime(2026, 5, 8, 12, 0, tzinfo=UTC)
NOW_MS = 1_778_241_600_000
DAY = 86_400_000


def resolve(config: dict, now: datetime = NOW):
    return resolve_config(config, now=now, strategies=default_registry())


def rejected(config: dict) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        resolve(config)
    return info.value


class TestDefaults:
    def test_empty_config_is_the_spec_default(self) -> None:
        """{} runs sum_to_one_arb over [now()-7d, now()] with the strategy's defaults (spec 8)."""
        run = resolve({})
        assert run.strategy == "sum_to_one_arb"
        assert (run.start_ms, run.end_ms) == (NOW_MS - 7 * DAY, NOW_MS)
        assert [v.params_dict() for v in run.variants] == [{"min_edge_bps": 12, "max_size_pusd": "1000"}]
        assert run.notices == ()
        assert not run.is_sweep

    def test_spec_wire_example(self) -> None:
        """The spec's section 11 input validates to two variants over its window."""
        run = resolve(
            {
                "bot_id": "gov.backtester",
                "mode": "replay",
                "strategy": "sum_to_one_arb",
                "start_ts": "2026-05-01T00:00:00Z",
                "end_ts": "2026-05-08T00:00:00Z",
                "parameter_sweep": [
                    {"min_edge_bps": 12, "max_size_pusd": 1000},
                    {"min_edge_bps": 15, "max_size_pusd": 1500},
                ],
            }
        )
        assert run.as_dict()["start_ts"] == "2026-05-01T00:00:00Z"
        assert run.as_dict()["end_ts"] == "2026-05-08T00:00:00Z"
        assert [v.variant_id for v in run.variants] == [0, 1]
        assert run.variants[1].params_dict() == {"min_edge_bps": 15, "max_size_pusd": "1500"}


class TestWindow:
    def test_start_after_end_is_invalid(self) -> None:
        """start_ts > end_ts is rejected with BACKTESTER_INVALID_WINDOW (spec 26 unit test)."""
        error = rejected({"start_ts": "2026-05-09", "end_ts": "2026-05-01"})
        assert error.code is ReasonCode.BACKTESTER_INVALID_WINDOW
        assert error.field == "start_ts"

    def test_empty_window_is_invalid(self) -> None:
        """start_ts == end_ts is rejected too: the rule is start_ts >= end_ts."""
        error = rejected({"start_ts": "2026-05-01T00:00:00Z", "end_ts": "2026-05-01T00:00:00Z"})
        assert error.code is ReasonCode.BACKTESTER_INVALID_WINDOW

    def test_future_end_is_clamped_and_the_run_goes_on(self) -> None:
        """end_ts after now is clamped to now with a BACKTESTER_WINDOW_CLAMPED warning on record."""
        run = resolve({"start_ts": "2026-05-01T00:00:00Z", "end_ts": "now()+1d"})
        assert run.end_ms == NOW_MS
        assert run.requested_end_ms == NOW_MS + DAY
        [notice] = run.notices
        assert notice.code is ReasonCode.BACKTESTER_WINDOW_CLAMPED
        assert notice.severity is Severity.WARN
        assert run.as_dict()["notices"][0]["code"] == "BACKTESTER_WINDOW_CLAMPED"

    def test_clamp_that_empties_the_window_is_invalid(self) -> None:
        """A window entirely in the future is invalid once its end is clamped to now."""
        error = rejected({"start_ts": "now()+1h", "end_ts": "now()+2h"})
        assert error.code is ReasonCode.BACKTESTER_INVALID_WINDOW
        assert "clamped" in error.message

    @pytest.mark.parametrize(
        ("expr", "offset_ms"),
        [("now()", 0), ("now()-7d", -7 * DAY), ("now()-12h", -12 * 3_600_000), ("now() - 30m", -1_800_000)],
    )
    def test_now_expressions(self, expr: str, offset_ms: int) -> None:
        """now() and now()-N with units d, h and m resolve against the injected clock."""
        assert parse_time_expr(expr).resolve(NOW) == NOW_MS + offset_ms

    def test_the_clock_is_injected(self) -> None:
        """The same config resolves to the same window for the same clock, whatever the wall time."""
        a = resolve({}, now=datetime(2020, 1, 8, tzinfo=UTC))
        b = resolve({}, now=datetime(2020, 1, 8, tzinfo=UTC))
        assert (a.start_ms, a.end_ms) == (b.start_ms, b.end_ms) == (1_577_836_800_000, 1_578_441_600_000)

    @pytest.mark.parametrize(
        "bad", ["yesterday", "now()-7w", "2026-05-01T02:00:00+02:00", "2026-13-01", 12345, "now()*2"]
    )
    def test_bad_timestamps(self, bad: object) -> None:
        """A bound that is not ISO 8601 UTC or a now() expression is BACKTESTER_INVALID_CONFIG."""
        error = rejected({"start_ts": bad})
        assert error.code is ReasonCode.BACKTESTER_INVALID_CONFIG
        assert error.field == "start_ts"

    def test_iso_forms(self) -> None:
        """Z, +00:00, a bare date and a bare date-time are all UTC."""
        ms = 1_777_593_600_000
        for text in (
            "2026-05-01T00:00:00Z",
            "2026-05-01T00:00:00+00:00",
            "2026-05-01",
            "2026-05-01T00:00:00",
        ):
            assert parse_time_expr(text).absolute_ms == ms


class TestStrategy:
    def test_unknown_strategy(self) -> None:
        """A slug not in the registry is BACKTESTER_UNKNOWN_STRATEGY (spec 26 unit test)."""
        error = rejected({"strategy": "nonexistent_strategy"})
        assert error.code is ReasonCode.BACKTESTER_UNKNOWN_STRATEGY
        assert "sum_to_one_arb" in error.message  # says what is registered

    def test_window_is_checked_before_strategy(self) -> None:
        """The spec's order: the window first, then the strategy."""
        error = rejected({"strategy": "nope", "start_ts": "2026-05-09", "end_ts": "2026-05-01"})
        assert error.code is ReasonCode.BACKTESTER_INVALID_WINDOW


class TestSweep:
    def sweep(self, n: int) -> dict:
        return {"parameter_sweep": [{"min_edge_bps": i % 100} for i in range(n)]}

    @pytest.mark.parametrize("n", [1, 3, 50])
    def test_small_sweeps_run_every_variant(self, n: int) -> None:
        """1..50 variants run without a warning, one variant each, numbered in order."""
        run = resolve(self.sweep(n))
        assert [v.variant_id for v in run.variants] == list(range(n))
        assert run.notices == ()

    @pytest.mark.parametrize("n", [51, 200])
    def test_large_sweep_warns(self, n: int) -> None:
        """51..200 variants run with a BACKTESTER_LARGE_SWEEP warning on record."""
        run = resolve(self.sweep(n))
        assert len(run.variants) == n
        assert [notice.code for notice in run.notices] == [ReasonCode.BACKTESTER_LARGE_SWEEP]

    def test_oversized_sweep_needs_approval(self) -> None:
        """201 variants are rejected with PARAMETER_CHANGE_REQUIRES_APPROVAL (spec 19)."""
        error = rejected(self.sweep(201))
        assert error.code is ReasonCode.PARAMETER_CHANGE_REQUIRES_APPROVAL

    def test_variant_overrides_defaults(self) -> None:
        """A variant overrides only the keys it names; the rest keep the strategy's defaults."""
        run = resolve({"parameter_sweep": [{"max_size_pusd": "250.5"}]})
        params = run.variants[0].params
        assert params.max_size_pusd == Decimal("250.5")
        assert params.min_edge_bps == 12

    def test_unknown_parameter_names_variant_and_key(self) -> None:
        """An unknown key in a variant is rejected naming the variant index and the key."""
        error = rejected({"parameter_sweep": [{"min_edge_bps": 5}, {"min_edge_bsp": 5}]})
        assert error.code is ReasonCode.BACKTESTER_INVALID_CONFIG
        assert error.field == "parameter_sweep[1].min_edge_bsp"

    @pytest.mark.parametrize(
        ("variant", "key"),
        [
            ({"min_edge_bps": -1}, "min_edge_bps"),
            ({"min_edge_bps": "12"}, "min_edge_bps"),
            ({"min_edge_bps": 12.5}, "min_edge_bps"),
            ({"max_size_pusd": 0}, "max_size_pusd"),
            ({"max_size_pusd": "0.0000001"}, "max_size_pusd"),
            ({"max_size_pusd": "lots"}, "max_size_pusd"),
        ],
    )
    def test_bad_value_names_variant_and_key(self, variant: dict, key: str) -> None:
        """A bad value in a variant is rejected naming the variant index and the key."""
        error = rejected({"parameter_sweep": [{}, {}, variant]})
        assert error.code is ReasonCode.BACKTESTER_INVALID_CONFIG
        assert error.field == f"parameter_sweep[2].{key}"

    def test_variant_must_be_an_object(self) -> None:
        """Each sweep entry is an object of overrides."""
        error = rejected({"parameter_sweep": [{}, 5]})
        assert error.field == "parameter_sweep[1]"


class TestLocks:
    @pytest.mark.parametrize("mode", ["live", "limited_live", "paper", ""])
    def test_mode_is_locked_to_replay(self, mode: str) -> None:
        """mode is immutable (spec 8 'locked'): anything but replay is rejected."""
        error = rejected({"mode": mode})
        assert error.code is ReasonCode.BACKTESTER_INVALID_CONFIG
        assert error.field == "mode"
        assert "locked" in error.message

    def test_bot_id(self) -> None:
        """bot_id is gov.backtester."""
        error = rejected({"bot_id": "exec.router"})
        assert (error.code, error.field) == (ReasonCode.BACKTESTER_INVALID_CONFIG, "bot_id")

    def test_unknown_top_level_key(self) -> None:
        """An unknown top-level key is rejected, not ignored (a typo must not change a run)."""
        error = rejected({"strategy": "sum_to_one_arb", "start": "2026-05-01"})
        assert (error.code, error.field, error.message) == (
            ReasonCode.BACKTESTER_INVALID_CONFIG,
            "start",
            "unknown key",
        )


class TestReplayBlocks:
    def test_defaults(self) -> None:
        """The replay blocks have documented defaults: every market, exchange clock,
        no fee assumption, and the risk limits of RiskConfig."""
        plan = resolve({}).as_dict()
        assert (plan["markets"], plan["decision_clock"], plan["fee_assumption"]) == (None, "exchange", None)
        assert plan["risk"]["max_book_skew_ms"] == 1000

    def test_markets_must_be_condition_ids(self) -> None:
        """A market that is not a condition id is named."""
        error = rejected({"markets": ["0x1234"]})
        assert (error.code, error.field) == (ReasonCode.BACKTESTER_INVALID_CONFIG, "markets")

    @pytest.mark.parametrize(
        ("block", "field"),
        [
            ({"decision_clock": "local"}, "decision_clock"),
            (
                {"fee_assumption": {"model": "flat_bps", "fee_rate_bps": -1}},
                "fee_assumption.flat_bps.fee_rate_bps",
            ),
            ({"fee_assumption": {"model": "percent"}}, "fee_assumption"),
            ({"risk": {"max_book_skew_ms": -5}}, "risk.max_book_skew_ms"),
            ({"risk": {"max_position": 5}}, "risk.max_position"),
        ],
    )
    def test_bad_blocks(self, block: dict, field: str) -> None:
        """Bad replay blocks are rejected naming the key."""
        error = rejected(block)
        assert (error.code, error.field) == (ReasonCode.BACKTESTER_INVALID_CONFIG, field)


class TestLoading:
    def test_json_file_money_is_exact(self, tmp_path: Path) -> None:
        """Numbers in a JSON config are read as Decimal, never as binary floats."""
        path = tmp_path / "run.json"
        path.write_text(json.dumps({"parameter_sweep": [{"max_size_pusd": 0.1}]}).replace("0.1", "0.100001"))
        run = resolve_config(path, now=NOW, strategies=default_registry())
        assert run.variants[0].params.max_size_pusd == Decimal("0.100001")

    def test_bad_json_file(self, tmp_path: Path) -> None:
        """A file that is not JSON is BACKTESTER_INVALID_CONFIG with the line."""
        path = tmp_path / "run.json"
        path.write_text('{"strategy": }')
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert info.value.code is ReasonCode.BACKTESTER_INVALID_CONFIG
        assert "run.json:1" in info.value.message

    @pytest.mark.parametrize("name", ["sample-run.json", "sample-arb.json", "sample-fair-value.json"])
    def test_sample_configs(self, name: str) -> None:
        """The bundled sample configs validate; runs over the sample's generated live trail
        leave the live footprint alone (the recorded books never lacked its liquidity)."""
        run = resolve_config(Path("data") / name, now=NOW, strategies=default_registry())
        assert run.as_dict()["start_ts"].startswith("2025-12-11T")
        assert run.config.simulation.restore_live_footprint is False


class TestReasonCodes:
    def test_spec_codes_are_public(self) -> None:
        """Every code of spec section 14 (and 7, 10, 21) is in the enum, spelled as the spec does."""
        spec = {
            "BACKTESTER_REPLAY_COMPLETE", "BACKTESTER_TICK_PROCESSED", "BACKTESTER_INVALID_WINDOW",
            "BACKTESTER_UNKNOWN_STRATEGY", "BACKTESTER_WINDOW_CLAMPED", "BACKTESTER_TICK_SKIPPED",
            "BACKTESTER_ARCHIVE_UNAVAILABLE", "BACKTESTER_LARGE_SWEEP", "KILL_SWITCH_ACTIVE",
            "PARAMETER_CHANGE_REQUIRES_APPROVAL", "BACKTESTER_INTENT_REJECTED", "BACKTESTER_RUN_QUEUE_FULL",
        }  # fmt: skip
        assert spec <= {code.value for code in ReasonCode}
        ours = {
            "BACKTESTER_INVALID_CONFIG", "BACKTESTER_FEE_ASSUMED", "BACKTESTER_MARKET_SKIPPED",
            "BACKTESTER_RUN_ABORTED",
        }  # fmt: skip
        assert {code.value for code in ReasonCode} - spec == ours

    def test_severities_and_messages(self) -> None:
        """Severities and user-facing English are the spec's."""
        assert ReasonCode.BACKTESTER_INVALID_WINDOW.severity is Severity.HARD_REJECT
        assert ReasonCode.BACKTESTER_LARGE_SWEEP.severity is Severity.WARN
        assert user_message(ReasonCode.BACKTESTER_INVALID_WINDOW) == (
            "The backtest start date must be before the end date."
        )
