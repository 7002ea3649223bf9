"""Replay throughput: prints level updates/s and ticks/s; asserts nothing.

    python benchmarks/bench_replay.py

For the real Tickscope stream (both Parquet files, 358k messages, imported into a
throwaway archive first) and for the bundled sample (``data/sample-arb.json``):

* ``feed``: reading the window from the archive once (shared by every variant);
* ``book only``: the tick loop with a strategy that never trades (book reconstruction,
  sync checks and the decision loop);
* ``+ abort check``: the same, watched by a stop signal (read every 256 instants);
* ``sum_to_one_arb``: the same with the default strategy and the guard stack;
* ``whole replay``: ``backtester.run`` end to end (validation, archive, feed, one variant);
* the main sample job (``data/sample-run.json``, ``fair_value_taker``, which trades):
  the whole replay with fills, the ledger, the live outcome and the comparison, and
  writing the run (``write_run``: the JSONL files and the operations topic's Parquet).

Times are the best of three runs on one core.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tickscope import WINDOW, tickscope_archive  # noqa: E402

from backtester.archive import Archive  # noqa: E402
from backtester.book.feed import ArchiveFeed  # noqa: E402
from backtester.config import RiskConfig, resolve_config  # noqa: E402
from backtester.guards import default_guards  # noqa: E402
from backtester.runs import replay, run_variant, write_run  # noqa: E402
from backtester.runs.control import StopSignal  # noqa: E402
from backtester.sample import SAMPLE_ARCHIVE  # noqa: E402
from backtester.strategies import StrategySpec, default_registry  # noqa: E402
from backtester.strategies.params import SumToOneArbParams  # noqa: E402

NOW = datetime(2026, 11, 25, tzinfo=UTC)
NO_FEE = {"model": "flat_bps", "fee_rate_bps": 0}


def best_of(runs: int, work: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    return best, result


def bench(label: str, archive: Path, config: dict | str) -> None:
    registry = default_registry()
    run = resolve_config(config, now=NOW, strategies=registry)
    with Archive.open(archive, read_only=True) as store:
        markets = [r[0] for r in store.con.execute("SELECT DISTINCT condition_id FROM markets").fetchall()]
        load, feed = best_of(
            3, lambda: ArchiveFeed.load(store, markets, start_ms=run.start_ms, end_ms=run.end_ms)
        )
    assert isinstance(feed, ArchiveFeed)
    noop = StrategySpec("noop", SumToOneArbParams, lambda view, params: None, "never trades")
    arb = registry["sum_to_one_arb"]
    print(f"{label}: {len(feed.events):,} events read in {load:.3f} s")
    cases = (
        ("book only", noop, None),
        ("  + abort check", noop, StopSignal()),
        ("sum_to_one_arb", arb, None),
    )
    for name, spec, stop in cases:
        seconds, result = best_of(
            3,
            lambda spec=spec, stop=stop: run_variant(
                feed,
                spec,
                SumToOneArbParams(),
                variant_id=0,
                run_id="bench",
                limits=RiskConfig(),
                guards=default_guards(),
                stop=stop,
            ),
        )
        updates, ticks = result.messages, result.ticks_replayed
        print(
            f"  {name:<15} {updates:>9,} updates, {ticks:>9,} ticks in {seconds:.3f} s = "
            f"{updates / seconds:>11,.0f} updates/s, {ticks / seconds:>9,.0f} ticks/s"
        )
    seconds, result = best_of(3, lambda: replay(config, now=NOW, archive=archive))
    updates = result.variants[0].messages
    rate = updates / seconds
    print(f"  {'whole replay':<15} {updates:>9,} updates in {seconds:.3f} s = {rate:>11,.0f} updates/s")


def bench_trading(config: str) -> None:
    print("bundled sample, main job (data/sample-run.json, fair_value_taker, trading)")
    seconds, result = best_of(3, lambda: replay(config, now=NOW, archive=SAMPLE_ARCHIVE))
    [variant] = result.variants
    orders = len(variant.trading.executions)
    print(
        f"  {'whole replay':<15} {variant.messages:>9,} updates, {orders:,} orders, {len(variant.fills):,} "
        f"fills, {len(result.reports):,} reports in {seconds:.3f} s = "
        f"{variant.messages / seconds:>11,.0f} updates/s"
    )
    with tempfile.TemporaryDirectory(prefix="bench-out-") as out:
        start = time.perf_counter()
        write_run(result, out)
        print(f"  {'write_run':<15} {time.perf_counter() - start:.3f} s")


def main() -> None:
    cores = len(os.sched_getaffinity(0))
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, {cores} cores")
    with tickscope_archive() as db:
        window = {**WINDOW, "fee_assumption": NO_FEE}
        bench("Tickscope stream (real, 12 tokens, partial books)", db, window)
    bench("bundled sample (data/sample-arb.json)", SAMPLE_ARCHIVE, str(ROOT / "data" / "sample-arb.json"))
    bench_trading(str(ROOT / "data" / "sample-run.json"))


if __name__ == "__main__":
    main()
