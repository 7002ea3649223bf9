"""Sweeps past one machine: a sweep's variant slices as Ray tasks.

The run's archive, exported to Parquet on storage every node can read (or a Parquet
archive already there), is scanned in place by DuckDB in each task: a task opens it,
reads the window (streamed in chunks when it is large, as in one process), and makes one
pass for its slice of variants. Results come back whole and are merged in ``variant_id``
order, so the output is byte for byte the local executor's (a test runs both).

On a cluster (``ray start --head`` on one node, ``ray start --address HEAD:6379`` on the
others, the same Python environment with this package installed on each, plugin
strategies included), point the sweep at it with ``--executor ray --ray-address
HEAD:6379 --ray-storage /shared/path`` (NFS, a mounted bucket: any path every node
sees). Without an address, Ray starts (or joins) a cluster on this machine. Ray is an
optional extra: ``pip install -e '.[ray]'``.

A stop request (an operator's abort) is watched here, in the driver: the tasks still
running are cancelled and the run ends aborted, as it does locally.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from backtester.archive import Archive
from backtester.book.feed import ArchiveFeed
from backtester.book.market import MarketInfo
from backtester.config import ResolvedRun
from backtester.runs.control import StopSignal
from backtester.runs.variant import VariantResult

__all__ = ["cluster_cpus", "run_on_ray"]


def _ray() -> Any:
    try:
        import ray  # noqa: PLC0415 - an optional extra
    except ImportError:  # pragma: no cover - the test setup installs it
        msg = "the ray executor needs Ray: pip install -e '.[ray]'"
        raise RuntimeError(msg) from None
    return ray


def cluster_cpus(address: str | None) -> int:
    """Join the cluster at ``address`` (None: this machine's; started if there is none,
    unless Ray is already initialised in this process) and count its CPUs."""
    ray = _ray()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def run_on_ray(  # noqa: PLR0917 - what a sweep hands over
    parquet: Path,
    markets: list[str],
    records: dict[str, list[tuple[int, MarketInfo]]],
    run: ResolvedRun,
    run_id: str,
    slices: list[list[int]],
    *,
    address: str | None,
    triggers: bool,
    engine: str,
    done: Callable[[list[VariantResult]], None],
    stop: StopSignal | None,
) -> list[VariantResult]:
    """Run each slice of variants as a Ray task over the Parquet archive ``parquet``;
    ``records`` are the markets' records as the run uses them (fee assumption applied)."""
    ray = _ray()
    cluster_cpus(address)
    task = ray.remote(num_cpus=1, max_retries=0)(_slice)
    pending = [
        task.remote(str(parquet), markets, records, run, run_id, indices, triggers, engine)
        for indices in slices
    ]
    results: dict[int, VariantResult] = {}
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=1.0)
            for ref in ready:
                finished = ray.get(ref)
                for result in finished:
                    results[result.variant_id] = result
                done(finished)
            if stop is not None and stop.requested:
                stop.check()
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    return [results[variant.variant_id] for variant in run.variants]


def _slice(  # noqa: PLR0917 - a Ray task's arguments are positional
    parquet: str, markets: list[str], records: dict[str, Any], run: ResolvedRun, run_id: str,
    indices: list[int], triggers: bool, engine: str,
) -> list[VariantResult]:  # fmt: skip
    """One task: read the window from the Parquet archive, one pass over the slice."""
    from backtester.runs.sweep import replay_slice  # noqa: PLC0415 - the sweep module imports this one
    from backtester.strategies.registry import default_registry  # noqa: PLC0415

    with Archive.open(parquet, read_only=True) as store:
        feed = ArchiveFeed.load(
            store, markets, start_ms=run.start_ms, end_ms=run.end_ms,
            receive_clock=run.config.decision_clock == "receive",
        )  # fmt: skip
    feed.markets = records
    spec = default_registry()[run.strategy]
    return replay_slice(feed, spec, run, run_id, indices, stop=None, triggers=triggers, engine=engine)
