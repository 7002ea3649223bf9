"""Running a run's variants: in this process, or in parallel worker processes.

The archive is read once per run (one :class:`~backtester.book.feed.ArchiveFeed`), and
the variants share one pass over it (see :mod:`backtester.runs.engine`). With more than
one worker, the workers are forked after the feed is loaded, so they share it instead
of reading the archive again; each takes a slice of the variants and makes one pass for
them; the results come back whole and are put in ``variant_id`` order, so nothing in the
output depends on which worker finished first.

**Throttle** (spec section 7: a sweep of more than 50 variants runs with
``BACKTESTER_LARGE_SWEEP`` and a resource throttle). A large sweep runs on at most half
the machine's cores, always in worker processes (one at least), and every worker may
grow by at most :data:`LARGE_SWEEP_WORKER_MEMORY` bytes of address space beyond what it
inherited at the fork (``RLIMIT_AS`` set to its size then plus that budget): a variant
that needs more fails with a ``MemoryError`` naming the variant, and the run fails,
loudly, instead of pushing the machine into swap. ``summary()["execution"]`` records
whether the run was throttled and the budget; the number of workers depends on the
machine, so it is in ``result.execution`` only, never in the reports.

**Workers die with their parent.** Each worker asks the kernel to kill it when the
process that forked it dies (``PR_SET_PDEATHSIG``), so a run killed outright (SIGKILL,
or SIGTERM, which Python does not turn into an exception) leaves no orphan replaying on.

**Progress.** A tqdm bar (``tqdm.auto``: a widget in a notebook, text on a terminal)
counts the events read by every pass (one pass in this process; one per worker), with
their rate (events/s) and an ETA, and the variants done; it is on when stderr is a
terminal, unless asked for or turned off.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import resource
import signal
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backtester.book.feed import ArchiveFeed
from backtester.config import ResolvedRun
from backtester.guards import default_guards
from backtester.runs.control import StopSignal
from backtester.runs.engine import VariantResult, run_pass
from backtester.strategies.registry import StrategySpec

__all__ = ["LARGE_SWEEP_WORKER_MEMORY", "Plan", "RayTarget", "plan", "replay_slice", "run_variants"]

LARGE_SWEEP_WORKER_MEMORY = 4 * 1024**3
"""Address space a worker of a large sweep may add to what it inherited (bytes)."""


@dataclass(frozen=True)
class Plan:
    """How a run's variants are executed."""

    workers: int
    throttled: bool
    memory_cap_bytes: int | None
    """Address space each worker may add to what it inherited (None: no cap)."""

    def as_dict(self) -> dict[str, Any]:
        """What goes on the run's record: nothing that depends on the machine."""
        return {"throttled": self.throttled, "worker_memory_budget_bytes": self.memory_cap_bytes}


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def plan(variants: int, *, large: bool, workers: int | None = None) -> Plan:
    """Workers for ``variants`` variants: ``workers`` if given (at most one per variant),
    else one per core; a large sweep gets at most half the cores and a memory cap.

    >>> plan(3, large=False, workers=1)
    Plan(workers=1, throttled=False, memory_cap_bytes=None)
    >>> plan(60, large=True, workers=8).workers <= max(1, _cores() // 2)
    True
    """
    cores = _cores()
    chosen = min(workers if workers is not None else cores, variants)
    if large:
        return Plan(max(1, min(chosen, cores // 2)), True, LARGE_SWEEP_WORKER_MEMORY)
    return Plan(max(1, chosen), False, None)


@dataclass(frozen=True)
class RayTarget:
    """Where a sweep runs on Ray: the cluster (None: this machine's), the Parquet archive
    every node reads, the markets to read, and how many tasks to make."""

    address: str | None
    parquet: Path
    markets: list[str]
    tasks: int | None = None
    """Tasks to make (None: one per CPU of the cluster)."""
    temporary: bool = False
    """The Parquet export is the run's own, in a temporary folder (removed after the run)."""


# What a forked worker needs, set just before the fork (never pickled: shared by the fork).
_SHARED: dict[str, Any] = {}


def run_variants(
    feed: ArchiveFeed,
    spec: StrategySpec,
    run: ResolvedRun,
    run_id: str,
    *,
    execution: Plan,
    progress: bool | None = None,
    stop: StopSignal | None = None,
    triggers: bool = True,
    engine: str = "auto",
    ray: RayTarget | None = None,
) -> list[VariantResult]:
    """Replay every variant of ``run`` over ``feed``; results in ``variant_id`` order.

    In this process, all the variants share one pass over the feed (see
    :mod:`backtester.runs.engine`); with workers, each worker takes a slice of the
    variants (every ``workers``-th one) and makes one pass for its slice.

    ``stop`` reaches every variant, in this process or in a worker (the signal is shared
    memory, inherited by the fork); the first pass that sees it raises
    :class:`~backtester.runs.control.RunStopped`, and the slices not started are
    cancelled."""
    variants = run.variants
    show = sys.stderr.isatty() if progress is None else progress
    in_process = execution.memory_cap_bytes is None and (execution.workers <= 1 or len(variants) <= 1)
    if ray is not None:
        from backtester.runs.distributed import cluster_cpus, run_on_ray  # noqa: PLC0415 - an optional extra

        slices = _slices(len(variants), ray.tasks or cluster_cpus(ray.address))
    elif in_process:
        slices = [list(range(len(variants)))]
    else:
        slices = _slices(len(variants), execution.workers)
    bar = _Bar(feed.size * len(slices), len(variants), show)
    try:
        if ray is not None:

            def done(results: list[VariantResult]) -> None:
                bar.events(feed.size)
                bar.variants_done(results)

            return run_on_ray(
                ray.parquet, ray.markets, feed.markets, run, run_id, slices, address=ray.address,
                triggers=triggers, engine=engine, done=done, stop=stop,
            )  # fmt: skip
        if in_process:
            results = replay_slice(feed, spec, run, run_id, slices[0], stop=stop, triggers=triggers,
                                    progress=bar.events, engine=engine)  # fmt: skip
            bar.variants_done(results)
            return results
        return _in_workers(feed, spec, run, run_id, slices, execution=execution, bar=bar, stop=stop,
                           triggers=triggers, engine=engine)  # fmt: skip
    finally:
        bar.close()


def _slices(variants: int, workers: int) -> list[list[int]]:
    """Variant indices per worker, dealt round-robin (neighbouring variants, often alike in
    cost, go to different workers).

    >>> _slices(5, 2)
    [[0, 2, 4], [1, 3]]
    """
    count = max(1, min(workers, variants))
    return [list(range(k, variants, count)) for k in range(count)]


def replay_slice(
    feed: ArchiveFeed,
    spec: StrategySpec,
    run: ResolvedRun,
    run_id: str,
    indices: list[int],
    *,
    stop: StopSignal | None,
    triggers: bool = True,
    progress: Callable[[int], None] | None = None,
    engine: str = "auto",
) -> list[VariantResult]:
    chosen = [run.variants[index] for index in indices]
    return run_pass(
        feed,
        spec,
        [(variant.variant_id, variant.params) for variant in chosen],
        run_id=run_id,
        limits=run.config.risk,
        guards=default_guards(),
        simulation=run.config.simulation,
        stop=stop,
        triggers=triggers,
        progress=progress,
        engine=engine,
    )


def _in_workers(
    feed: ArchiveFeed,
    spec: StrategySpec,
    run: ResolvedRun,
    run_id: str,
    slices: list[list[int]],
    *,
    execution: Plan,
    bar: _Bar,
    stop: StopSignal | None,
    triggers: bool,
    engine: str,
) -> list[VariantResult]:
    _SHARED.update(feed=feed, spec=spec, run=run, run_id=run_id, stop=stop, triggers=triggers, engine=engine)
    try:
        context = multiprocessing.get_context("fork")  # the workers share the loaded feed
        done: dict[int, VariantResult] = {}
        with ProcessPoolExecutor(
            max_workers=execution.workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(execution.memory_cap_bytes, os.getpid()),
        ) as pool:
            futures = [pool.submit(_worker, indices) for indices in slices]
            try:
                for future in as_completed(futures):
                    results = future.result()
                    for result in results:
                        done[result.variant_id] = result
                    bar.events(feed.size)
                    bar.variants_done(results)
            except BaseException:  # a stop, or a failed variant: start nothing more
                for future in futures:
                    future.cancel()
                raise
        return [done[variant.variant_id] for variant in run.variants]
    finally:
        _SHARED.clear()


def _init_worker(budget: int | None, parent: int) -> None:
    # The parent's SIGTERM handler (a CLI run's "stop at the next tick") is not the
    # worker's: the pool terminates its workers with SIGTERM, and they must go.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent)
    _limit(budget)


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this worker when the process that forked it dies, however it
    dies (a SIGKILL included): an orphaned worker would hold its pipes open and go on
    replaying for no one. Linux only (``prctl(PR_SET_PDEATHSIG)``); elsewhere, nothing."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return
    if prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) == 0 and os.getppid() != parent:
        os._exit(1)  # the parent died before the signal was armed


_PR_SET_PDEATHSIG = 1


def _limit(budget: int | None) -> None:
    """Cap this (just forked) worker's address space at its size now plus ``budget``:
    a fixed cap could sit below what the parent had already mapped."""
    if budget is not None:
        cap = _address_space() + budget
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _address_space() -> int:
    """This process's virtual memory size (bytes; 0 where /proc is not there)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[0])
    except OSError:
        return 0
    return pages * resource.getpagesize()


def _worker(indices: list[int]) -> list[VariantResult]:
    try:
        return replay_slice(
            _SHARED["feed"], _SHARED["spec"], _SHARED["run"], _SHARED["run_id"], indices,
            stop=_SHARED["stop"], triggers=_SHARED["triggers"], engine=_SHARED["engine"],
        )  # fmt: skip
    except MemoryError as exc:
        budget = LARGE_SWEEP_WORKER_MEMORY // 1024**2
        ids = ", ".join(str(i) for i in indices)  # a variant's id is its index in the run
        which = f"variant {ids}" if len(indices) == 1 else f"one of variants {ids}"
        msg = f"{which} ran out of its worker's memory budget ({budget} MiB beyond the fork): {exc}"
        raise MemoryError(msg) from None


class _Bar:
    """A tqdm bar over the events of every pass (its rate: events/s, and an ETA), with the
    variants done."""

    def __init__(self, total: int, variants: int, show: bool) -> None:
        self.variants, self.done = variants, 0
        self.bar: Any = None
        if show:
            from tqdm.auto import tqdm  # noqa: PLC0415 - only when a bar is shown

            tqdm.monitor_interval = 0  # no monitor thread: the sweep may fork workers
            self.bar = tqdm(total=total, unit="event", unit_scale=True, desc="replay", file=sys.stderr)
            self.bar.set_postfix_str(f"variants 0/{variants}", refresh=False)

    def events(self, count: int) -> None:
        if self.bar is not None:
            self.bar.update(count)

    def variants_done(self, results: list[VariantResult]) -> None:
        self.done += len(results)
        if self.bar is not None:
            self.bar.set_postfix_str(f"variants {self.done}/{self.variants}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
