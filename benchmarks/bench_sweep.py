"""Sweep throughput: the same sweep in one process and in worker processes; prints
seconds and variants per second, asserts nothing.

    python benchmarks/bench_sweep.py

* the bundled sample's 6-variant sweep (data/sample-sweep.json, fair_value_taker);
* 8 variants of sum_to_one_arb over the real Tickscope stream (358k level updates),
  imported into a throwaway archive first.

The archive is read once per sweep either way; with workers, the variants run in
forked processes that share the loaded feed. Times are the best of two runs.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tickscope import WINDOW, tickscope_archive  # noqa: E402

from backtester.runs import replay  # noqa: E402
from backtester.sample import SAMPLE_ARCHIVE  # noqa: E402

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def bench(label: str, config: object, archive: Path) -> None:
    print(label)
    for workers in (1, len(os.sched_getaffinity(0))):
        best = float("inf")
        for _ in range(2):
            start = time.perf_counter()
            result = replay(config, now=NOW, archive=archive, workers=workers)  # type: ignore[arg-type]
            best = min(best, time.perf_counter() - start)
        variants = len(result.variants)
        print(
            f"  {workers} worker(s): {variants} variants in {best:.2f} s = {variants / best:.2f} variants/s"
        )


def main() -> None:
    print(f"machine: {len(os.sched_getaffinity(0))} cores")
    bench(
        "bundled sample sweep (data/sample-sweep.json)",
        str(ROOT / "data" / "sample-sweep.json"),
        SAMPLE_ARCHIVE,
    )
    with tickscope_archive() as db:
        config = {
            **WINDOW,
            "fee_assumption": {"model": "flat_bps", "fee_rate_bps": 0},
            "parameter_sweep": [{"min_edge_bps": edge} for edge in (0, 5, 10, 20, 40, 80, 160, 320)],
        }  # fmt: skip
        bench("sum_to_one_arb, 8 variants, real Tickscope stream", config, db)


if __name__ == "__main__":
    main()
