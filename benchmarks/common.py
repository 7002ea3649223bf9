"""What every benchmark shares: the machine it ran on, timing, peak memory in a fresh
process, and the check that the fast path's results equal the reference's before
anything is timed (a fast wrong answer must not print a figure)."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NOW = datetime(2026, 11, 25, tzinfo=UTC)
NO_FEE = {"model": "flat_bps", "fee_rate_bps": 0}


def machine() -> str:
    """One line: CPU model, cores usable, memory, Python and the libraries that matter."""
    import duckdb  # noqa: PLC0415
    import numba  # noqa: PLC0415

    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            model = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or model
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return (
        f"machine: {model}, {len(os.sched_getaffinity(0))} cores, {memory:.0f} GiB, {platform.machine()}; "
        f"Python {platform.python_version()}, numba {numba.__version__}, duckdb {duckdb.__version__}"
    )


def best_of(runs: int, work: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from
    the parent that started it), in MB; with forked workers, the largest of them too."""
    own = 0.0
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            own = next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
    except (OSError, StopIteration):
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def in_child(script: Path, *args: str) -> dict[str, Any]:
    """Run ``script --child ARGS`` in a fresh process (its peak RSS is its own); its last
    stdout line is JSON."""
    out = subprocess.run(
        [sys.executable, str(script), "--child", *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def reports_text(result: Any) -> str:
    """A run's reports (but for the aggregate's wall-clock run_cost) as one text."""
    reports = [{k: v for k, v in r.items() if k != "run_cost"} for r in result.reports]
    return json.dumps(reports, sort_keys=True, default=str)


def check_equal_to_reference(config: Any, archive: Path, what: str) -> None:
    """Refuse to time anything unless the fast path (one pass, compiled, triggers) gives
    the reference's reports (each variant alone, the readable engine, no trigger)."""
    from dataclasses import replace  # noqa: PLC0415

    from backtester.config import resolve_config  # noqa: PLC0415
    from backtester.runs import replay  # noqa: PLC0415
    from backtester.strategies import default_registry  # noqa: PLC0415

    run = resolve_config(config, now=NOW, strategies=default_registry())
    fast = replay(run, now=NOW, archive=archive, run_id="replay_check", workers=1)
    for index, variant in enumerate(run.variants):
        alone = replay(
            replace(run, variants=(variant,)), now=NOW, archive=archive, run_id="replay_check", workers=1,
            triggers=False, engine="reference",
        )  # fmt: skip
        mine = json.dumps(fast.variants[index].reports, sort_keys=True, default=str)
        if mine != json.dumps(alone.variants[0].reports, sort_keys=True, default=str):
            raise SystemExit(f"MISMATCH: {what}, variant {variant.variant_id}: the fast path differs")
    print(f"checked: {what}: the fast path equals the reference ({len(run.variants)} variant(s))")
