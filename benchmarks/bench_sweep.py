"""Sweep cost (d): sweeps of 1, 10, 50 and 200 variants; prints wall time, peak RSS and
t(N)/t(1), asserts nothing.

    python benchmarks/bench_sweep.py

Two sweeps, each size in a fresh process (its peak RSS is its own), the whole replay
timed (archive, feed, the variants, the comparison and the reports), default workers
(one pass per worker; above 50 variants the spec's large-sweep throttle: half the cores):

* ``sum_to_one_arb`` over the real Tickscope stream (358k level updates): variants
  differ in ``min_edge_bps`` (0 to 199) and ``max_size_pusd``; compiled path, trigger on;
* ``fair_value_taker`` over the bundled sample (it trades on every variant, and has no
  trigger: the reference path calls it at every tick for every variant).

First the fast path's reports are checked against the reference path's on a 3-variant
sweep of each (else MISMATCH and nothing is timed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import NO_FEE, NOW, ROOT, check_equal_to_reference, in_child, machine, peak_rss_mb
from tickscope import WINDOW, tickscope_archive

from backtester.sample import SAMPLE_ARCHIVE

SIZES = (1, 10, 50, 200)


def arb_config(variants: int) -> dict:
    sweep = [{"min_edge_bps": k, "max_size_pusd": str(50 + 10 * (k % 7))} for k in range(variants)]
    return {**WINDOW, "strategy": "sum_to_one_arb", "fee_assumption": NO_FEE, "parameter_sweep": sweep}


def fair_value_config(variants: int) -> dict:
    base = json.loads((ROOT / "data" / "sample-fair-value.json").read_text())
    template = base["parameter_sweep"][0]
    sweep = [{**template, "min_edge_bps": 100 + 10 * k} for k in range(variants)]
    return {**base, "parameter_sweep": sweep}


def child(kind: str, variants: int, archive: str) -> None:
    from backtester.runs import replay  # noqa: PLC0415

    config = arb_config(variants) if kind == "arb" else fair_value_config(variants)
    start = time.perf_counter()
    result = replay(config, now=NOW, archive=archive, progress=False)
    seconds = time.perf_counter() - start
    assert result.status == "complete"
    assert len(result.variants) == variants
    events = result.variants[0].messages
    print(json.dumps({"seconds": seconds, "rss_mb": peak_rss_mb(), "events": events}))


def sweep(label: str, kind: str, archive: Path) -> None:
    print(label)
    base = None
    for variants in SIZES:
        out = in_child(Path(__file__), kind, str(variants), str(archive))
        base = base or out["seconds"]
        print(
            f"  {variants:>3} variant(s): {out['seconds']:7.2f} s, peak RSS {out['rss_mb']:6.0f} MB, "
            f"t(N)/t(1) = {out['seconds'] / base:5.2f}, {out['events'] * variants / out['seconds']:>13,.0f} "
            "variant-events/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.child[2])
        return
    print(machine())
    with tickscope_archive() as db:
        check_equal_to_reference(arb_config(3), db, "sum_to_one_arb x 3, Tickscope")
        check_equal_to_reference(fair_value_config(3), SAMPLE_ARCHIVE, "fair_value_taker x 3, sample")
        sweep("sum_to_one_arb over the real Tickscope stream (compiled, trigger)", "arb", db)
    sweep("fair_value_taker over the bundled sample (reference path, no trigger)", "fair", SAMPLE_ARCHIVE)


if __name__ == "__main__":
    main()
