"""One pass, many variants: every variant of a sweep made in one pass over the shared
books gives byte for byte the reports, fills and comparison it gives alone; a strategy's
trigger never changes a result; worker slices give the same as one process.

Inputs: the bundled sample (real books), the real Tickscope stream, and
Hypothesis-GENERATED archives (random books around the real ids of the "Trump wins
2024" market) with random sweeps.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backtester.archive import Archive, contract_conversion
from backtester.archive.adapters import conversions_for
from backtester.config import resolve_config
from backtester.runs import ReplayResult, replay
from backtester.sample import REAL_DATA, SAMPLE_ARCHIVE
from backtester.strategies import default_registry
from backtester.units import MICRO
from tests.factories import mirrored_books

NOW = datetime(2026, 11, 25, tzinfo=UTC)
NO_FEE = {"model": "flat_bps", "fee_rate_bps": 0}


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


RUN_WIDE = "parameter_variants_run"


def variant_record(result: ReplayResult, index: int) -> dict[str, str]:
    """Everything one variant produced, as text (reports, summary, fills, equity, comparison)."""
    variant = result.variants[index]
    return {
        "reports": dumps(variant.reports),
        "summary": dumps(variant.summary()),
        "fills": dumps([e.__dict__ for e in variant.trading.executions]),
        "equity": dumps([p.__dict__ for p in variant.trading.equity]),
        "decisions": dumps([d.__dict__ for d in variant.decisions]),
        "comparison": dumps(result.comparisons[index]),
        # the variant's own BACKTESTER_REPLAY_COMPLETE, but for the count of variants in its run
        "final": dumps({k: v for k, v in result.final_reports[index].items() if k != RUN_WIDE}),
    }


def assert_pass_equals_alone(
    config: Any, archive: Path, *, workers: int = 1, engine: str = "auto"
) -> ReplayResult:
    """Every variant of ``config`` in one pass (triggers on, the compiled path where the
    strategy has a trigger, or as ``engine`` says) equals the same variant run alone on
    the reference path with triggers off, field by field."""
    run = resolve_config(config, now=NOW, strategies=default_registry())
    together = replay(run, now=NOW, archive=archive, run_id="r", workers=workers, engine=engine)
    assert together.status == "complete"
    for index, variant in enumerate(run.variants):
        alone = replay(
            replace(run, variants=(variant,)), now=NOW, archive=archive, run_id="r", workers=1,
            triggers=False, engine="reference",
        )  # fmt: skip
        mine, reference = variant_record(together, index), variant_record(alone, 0)
        for key in reference:
            assert mine[key] == reference[key], f"variant {variant.variant_id}: {key} differs"
    return together


def sample_config(name: str, **changes: Any) -> dict[str, Any]:
    return json.loads(Path("data", name).read_text()) | changes


ARB_SWEEP = [{"min_edge_bps": e, "max_size_pusd": s} for e, s in ((0, "50"), (12, "500"), (200, "20"))]


class TestSample:
    @pytest.mark.parametrize("engine", ["reference", "compiled"])
    def test_fair_value_sweep(self, engine: str) -> None:
        """The sample's 6-variant fair_value_taker sweep (it trades; no trigger), on each
        path: in the compiled one, every tick and every change of a traded book goes back
        to Python."""
        result = assert_pass_equals_alone(sample_config("sample-sweep.json"), SAMPLE_ARCHIVE, engine=engine)
        assert sum(len(v.fills) for v in result.variants) > 0

    def test_live_footprint_restored(self) -> None:
        """With the live bot's 592 archived fills restored (the books' drops remembered),
        the compiled path, forced, gives the reference's reports."""
        config = sample_config("sample-sweep.json")
        config["simulation"]["restore_live_footprint"] = True
        config["parameter_sweep"] = config["parameter_sweep"][:3]
        compiled = replay(config, now=NOW, archive=SAMPLE_ARCHIVE, run_id="r", workers=1, engine="compiled")
        reference = replay(config, now=NOW, archive=SAMPLE_ARCHIVE, run_id="r", workers=1, engine="reference")
        for index in range(3):
            assert variant_record(compiled, index) == variant_record(reference, index)
        assert sum(len(v.fills) for v in compiled.variants) > 0

    def test_sum_to_one_arb_sweep(self) -> None:
        """sum_to_one_arb over the sample with its trigger, variants that fill and that don't."""
        config = sample_config("sample-arb.json", parameter_sweep=ARB_SWEEP)
        result = assert_pass_equals_alone(config, SAMPLE_ARCHIVE)
        assert sum(v.intents for v in result.variants) > 0
        for variant in result.variants:  # the trigger ruled out most ticks
            assert 0 < variant.evaluations < variant.ticks_replayed / 100

    def test_worker_slices(self) -> None:
        """Two workers, each one pass over its slice, give the same as one process."""
        config = sample_config("sample-arb.json", parameter_sweep=ARB_SWEEP)
        run = resolve_config(config, now=NOW, strategies=default_registry())
        one = replay(run, now=NOW, archive=SAMPLE_ARCHIVE, run_id="r", workers=1)
        two = replay(run, now=NOW, archive=SAMPLE_ARCHIVE, run_id="r", workers=2)
        assert [r for r in one.reports if r.get("event_type") != "BACKTESTER_REPLAY_COMPLETE"] == [
            r for r in two.reports if r.get("event_type") != "BACKTESTER_REPLAY_COMPLETE"
        ]
        for index in range(len(run.variants)):
            assert variant_record(one, index) == variant_record(two, index)

    def test_triggers_off_calls_every_tick(self) -> None:
        config = sample_config("sample-arb.json", parameter_sweep=ARB_SWEEP[:1])
        result = replay(config, now=NOW, archive=SAMPLE_ARCHIVE, run_id="r", triggers=False)
        [variant] = result.variants
        assert variant.evaluations == variant.ticks_replayed


@pytest.fixture(scope="module")
def tickscope(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("tickscope") / "tickscope.duckdb"
    with Archive.open(db) as store:
        folder = REAL_DATA / "tickscope_nhl_stanley_cup_g4_2026-06-07"
        assert store.import_conversions(conversions_for("tickscope", [folder])).ok
    return db


def test_real_tickscope_stream(tickscope: Path) -> None:
    """The real Tickscope stream (358k level updates, 6 markets, partial books)."""
    config = {
        "strategy": "sum_to_one_arb", "start_ts": "2026-06-07T00:00:00Z", "end_ts": "2026-06-08T00:00:00Z",
        "fee_assumption": NO_FEE,
        "parameter_sweep": [{"min_edge_bps": 0}, {"min_edge_bps": 50, "max_size_pusd": "10"}],
    }  # fmt: skip
    result = assert_pass_equals_alone(config, tickscope)
    assert result.variants[0].messages > 300_000


# ---------------------------------------------------------------- generated archives

FED = REAL_DATA / "statground_gamma_events_2024" / "event_14220_fed-interest-rates-january-2025.json"
T1 = 1_737_000_000_000  # 2025-01-16, while the real five-outcome Fed event was open
FED_CONFIG = {
    "strategy": "sum_to_one_arb",
    "start_ts": "2025-01-16T00:00:00Z",
    "end_ts": "2025-01-17T00:00:00Z",
}


def fed_markets(store: Archive) -> list[tuple[str, str, str]]:
    return store.con.execute(
        "SELECT condition_id, yes_token_id, no_token_id FROM markets ORDER BY question_id"
    ).fetchall()


@pytest.fixture(scope="module")
def fed_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive holding only the real Fed event's market records."""
    db = tmp_path_factory.mktemp("fed") / "base.duckdb"
    with Archive.open(db) as store:
        assert store.import_conversions(conversions_for("gamma", [FED])).ok
    return db


def fed_archive(base: Path, folder: Path, ticks: list[list[tuple[int, int, int, int] | None]]) -> Path:
    """The real Fed event's five markets with GENERATED books: per tick, per market,
    None (no change) or (ms after the tick, bid, ask, size)."""
    db = folder / "fed.duckdb"
    shutil.copyfile(base, db)
    with Archive.open(db) as store:
        markets = fed_markets(store)
        rows = []
        for k, tick in enumerate(ticks):
            for tokens, change in zip(markets, tick, strict=True):
                if change is not None:
                    late, bid, ask, size = change
                    rows += mirrored_books(*tokens, T1 + 10_000 * k + late, bid=bid, ask=ask, size=size)
        feed = folder / "feed.jsonl"
        feed.write_text("".join(json.dumps(r) + "\n" for r in rows))
        outcome = store.import_conversions([contract_conversion(feed)])
        assert outcome.ok, [str(e) for _, e in outcome.rejected]
    return db


quote = st.tuples(st.integers(0, 3), st.integers(1, 15), st.integers(100, 260), st.integers(5, 400)).map(
    lambda q: (q[0], q[2] - q[1], q[2], q[3])
)
ticks = st.lists(st.lists(st.none() | quote, min_size=5, max_size=5), min_size=1, max_size=5).filter(
    lambda generated: any(q is not None for tick in generated for q in tick)  # some market data
)
entry = st.fixed_dictionaries(
    {"min_edge_bps": st.integers(0, 1_500), "max_size_pusd": st.sampled_from(["5", "20", "100", "1000"])}
)
sweeps = st.lists(entry, min_size=1, max_size=4)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(generated=ticks, sweep=sweeps, latency=st.sampled_from([0, 5_000]))
def test_generated_archives_and_sweeps(fed_base, tmp_path_factory, generated, sweep, latency) -> None:
    """GENERATED books of the Fed event (Yes and No baskets fire, fill and leave their
    mark on the shared books) under random sweeps, with and without order latency."""
    db = fed_archive(fed_base, tmp_path_factory.mktemp("gen"), generated)
    config = {**FED_CONFIG, "parameter_sweep": sweep, "simulation": {"latency_ms": latency}}
    assert_pass_equals_alone(config, db)


def test_generated_fills_share_the_books(fed_base: Path, tmp_path: Path) -> None:
    """GENERATED golden case: two identical variants see the same 200 displayed shares of
    each Yes at one tick (Yes asks 0.150 + 0.200 + 0.250 + 0.300 + 0.050 = 0.950, 200
    each). Each buys 200 baskets (190 pUSD) in the pass as alone: each takes its own copy
    of the liquidity, not 100 each nor 200 then 0."""
    asks = (150, 200, 250, 300, 50)
    db = fed_archive(fed_base, tmp_path, [[(0, ask - 5, ask, 200) for ask in asks]])
    config = {**FED_CONFIG, "parameter_sweep": [{"min_edge_bps": 100, "max_size_pusd": "1000"}] * 2}
    result = assert_pass_equals_alone(config, db)
    for variant in result.variants:
        [decision] = [d for d in variant.decisions if d.verdict != "reject"]
        assert (decision.intent.kind, decision.intent.shares, decision.intent.size_pusd) == (
            "yes_basket", 200 * MICRO, 190 * MICRO,
        )  # fmt: skip
        assert sum(f.shares for f in variant.fills) == 5 * 200 * MICRO


# ---------------------------------------------------------------- streamed windows


def test_streamed_window_equals_in_memory(monkeypatch) -> None:
    """A window streamed from the archive in small chunks (a few thousand rows, whole
    hours) gives the same run as the window read at once: the sample's main job, and a
    sweep in two workers (each streams the window from its own connection)."""
    import backtester.book.feed as feed_module  # noqa: PLC0415

    def everything(result: ReplayResult) -> str:
        return dumps([r for r in result.reports if r.get("event_type") != "BACKTESTER_REPLAY_COMPLETE"])

    at_once = replay("data/sample-run.json", now=NOW, archive=SAMPLE_ARCHIVE, run_id="r")
    sweep = sample_config("sample-arb.json", parameter_sweep=ARB_SWEEP)
    sweep_at_once = replay(sweep, now=NOW, archive=SAMPLE_ARCHIVE, run_id="r", workers=1)
    monkeypatch.setattr(feed_module, "MEMORY_EVENTS", 0)
    monkeypatch.setattr(feed_module, "CHUNK_EVENTS", 3_000)
    streamed = replay("data/sample-run.json", now=NOW, archive=SAMPLE_ARCHIVE, run_id="r")
    sweep_streamed = replay(sweep, now=NOW, archive=SAMPLE_ARCHIVE, run_id="r", workers=2)
    assert everything(streamed) == everything(at_once)
    assert everything(sweep_streamed) == everything(sweep_at_once)
    assert streamed.variants[0].messages == at_once.variants[0].messages == 45_156


def test_run_cost_in_the_aggregate() -> None:
    """The aggregate report says what the run cost (wall clock: duration, events/s) and
    how many events a pass read; the variants' own reports do not (they stay identical
    between reruns)."""
    config = sample_config("sample-arb.json", parameter_sweep=ARB_SWEEP)
    result = replay(config, now=NOW, archive=SAMPLE_ARCHIVE, run_id="r")
    cost = result.aggregate["run_cost"]  # type: ignore[index]
    assert cost["events"] == 48_241
    assert cost["duration_ms"] > 0
    assert cost["events_per_s"] == pytest.approx(48_241 / (cost["duration_ms"] / 1000), rel=0.01)
    assert all("run_cost" not in report for report in result.final_reports[:-1])
    from backtester.governance.launch import aggregate_counts  # noqa: PLC0415

    assert aggregate_counts(result.aggregate)["events_replayed"] == 48_241
