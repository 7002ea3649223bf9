"""Replay throughput: book reconstruction (b) and one variant end to end (c); prints
events/s, asserts nothing.

    python benchmarks/bench_replay.py

First, on the bundled sample and the real Tickscope stream, the compiled path's reports
are checked against the reference path's (else it stops with MISMATCH). Then, for the
real Tickscope stream (358k messages, imported into a throwaway archive) and the
bundled sample (``data/sample-arb.json``), best of three:

* ``feed``: reading the window from the archive into column batches;
* ``books (compiled)``: the compiled pass with a trigger that never fires (book
  reconstruction, sync checks, the instant loop: no strategy call);
* ``books (reference)``: the same on the readable reference engine;
* ``sum_to_one_arb (compiled/reference)``: the pass with the strategy and the guard stack;
* ``whole replay`` (timed first): ``backtester.run``'s replay end to end (validation, archive, feed,
  one variant of sum_to_one_arb with the guards, the live comparison, the reports);
* the main sample job (``data/sample-run.json``, ``fair_value_taker``: it trades, has no
  trigger, so it runs on the reference path): the whole replay and ``write_run``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import NO_FEE, NOW, ROOT, best_of, check_equal_to_reference, machine
from tickscope import WINDOW, tickscope_archive

from backtester.archive import Archive
from backtester.book.feed import ArchiveFeed
from backtester.config import RiskConfig, resolve_config
from backtester.guards import default_guards
from backtester.runs import replay, run_variant, write_run
from backtester.sample import SAMPLE_ARCHIVE
from backtester.strategies import StrategySpec, default_registry
from backtester.strategies.params import SumToOneArbParams

NEVER = StrategySpec(
    "books_only",
    SumToOneArbParams,
    lambda view, params: None,
    "never trades",
    trigger=lambda sweep: lambda v: [],
)
"""A strategy whose trigger has no rule: the pass only rebuilds books."""


def bench(label: str, archive: Path, config: dict | str) -> None:
    registry = default_registry()
    run = resolve_config(config, now=NOW, strategies=registry)
    # First, before this process holds a feed's 358k event tuples (the reference path's)
    # that every garbage collection would then walk.
    seconds, result = best_of(3, lambda: replay(config, now=NOW, archive=archive))
    updates = result.variants[0].messages
    rate = updates / seconds
    whole = f"  {'whole replay':<27} {updates:>9,} events in {seconds:.3f} s = {rate:>11,.0f} events/s"
    del result
    with Archive.open(archive, read_only=True) as store:
        markets = [r[0] for r in store.con.execute("SELECT DISTINCT condition_id FROM markets").fetchall()]
        load, feed = best_of(
            3, lambda: ArchiveFeed.load(store, markets, start_ms=run.start_ms, end_ms=run.end_ms)
        )
    print(f"{label}: {feed.size:,} events read in {load:.3f} s = {feed.size / load:,.0f} events/s")
    arb = registry["sum_to_one_arb"]
    cases = (
        ("books (compiled)", NEVER, "compiled"),
        ("books (reference)", NEVER, "reference"),
        ("sum_to_one_arb (compiled)", arb, "compiled"),
        ("sum_to_one_arb (reference)", arb, "reference"),
    )
    for name, spec, engine in cases:
        seconds, result = best_of(
            3,
            lambda spec=spec, engine=engine: run_variant(
                feed, spec, SumToOneArbParams(), variant_id=0, run_id="bench", limits=RiskConfig(),
                guards=default_guards(), simulation=run.config.simulation, engine=engine,
            ),
        )  # fmt: skip
        updates = result.messages
        rate = updates / seconds
        print(f"  {name:<27} {updates:>9,} events applied in {seconds:.3f} s = {rate:>11,.0f} events/s")
    print(whole)


def bench_trading(config: str) -> None:
    print("bundled sample, main job (data/sample-run.json, fair_value_taker, trading)")
    seconds, result = best_of(3, lambda: replay(config, now=NOW, archive=SAMPLE_ARCHIVE))
    [variant] = result.variants
    orders = len(variant.trading.executions)
    print(
        f"  {'whole replay':<27} {variant.messages:>9,} events, {orders:,} orders, {len(variant.fills):,} "
        f"fills, {len(result.reports):,} reports in {seconds:.3f} s"
    )
    with tempfile.TemporaryDirectory(prefix="bench-out-") as out:
        start = time.perf_counter()
        write_run(result, out)
        print(f"  {'write_run':<27} {time.perf_counter() - start:.3f} s")


def main() -> None:
    print(machine())
    arb = str(ROOT / "data" / "sample-arb.json")
    with tickscope_archive() as db:
        window = {**WINDOW, "fee_assumption": NO_FEE}
        check_equal_to_reference({**window, "parameter_sweep": [{"min_edge_bps": 0}]}, db, "Tickscope")
        check_equal_to_reference(arb, SAMPLE_ARCHIVE, "sample-arb")
        bench("Tickscope stream (real, 12 tokens, partial books)", db, window)
    bench("bundled sample (data/sample-arb.json)", SAMPLE_ARCHIVE, arb)
    bench_trading(str(ROOT / "data" / "sample-run.json"))


if __name__ == "__main__":
    main()
