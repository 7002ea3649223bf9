"""Parameter sweeps: one summary per variant, the aggregate, the spec's limits, the
large-sweep throttle, and worker processes that change nothing in the output. Books and
signals are GENERATED fixtures around the real Trump 2024 market ids, except where the
bundled sample is used."""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pytest

from backtester.book import feed as feed_module
from backtester.errors import ConfigError, ReasonCode
from backtester.runs import replay
from backtester.runs import sweep as sweep_module
from backtester.runs.sweep import LARGE_SWEEP_WORKER_MEMORY, _init_worker, plan
from backtester.sample import SAMPLE_ARCHIVE
from tests.factories import normalised
from tests.integration.test_run_accounting import fair_value_archive

NOW = datetime(2026, 11, 25, tzinfo=UTC)
BASE = {"start_ts": "2024-10-13T00:00:00Z", "end_ts": "2024-10-14T00:00:00Z", "strategy": "fair_value_taker"}


def variant(edge: int, size: str = "1000") -> dict[str, Any]:
    return {"signal": "fair_value", "model": "probability", "min_edge_bps": edge, "max_size_pusd": size}


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Yes asks 0.40 / 0.41 / 0.42 x 100 at fair value 0.50; settled Yes a minute later."""
    return fair_value_archive(tmp_path_factory.mktemp("sweep"))


def test_three_variants_three_summaries(archive: Path) -> None:
    """Edges of 1000, 1700 and 1900 bps buy up to 0.45, 0.415 and 0.405: all 300 shares
    (40 + 41 + 42 = 123 pUSD), 200 (81) and 100 (40); settled Yes, realised
    300 - 123 = 177, 200 - 81 = 119 and 100 - 40 = 60. Each variant has its own summary
    report with its own parameters and P&L, and the aggregate lists them as in the spec's
    wire example."""
    config = {**BASE, "parameter_sweep": [variant(1000), variant(1700), variant(1900)]}
    result = replay(config, now=NOW, archive=archive, workers=1)
    *summaries, aggregate = result.final_reports
    assert [s["report_id"].rsplit("_", 2)[-2:] for s in summaries] == [["v0", "complete"], ["v1", "complete"],
                                                                       ["v2", "complete"]]  # fmt: skip
    assert [s["parameter_variant"]["min_edge_bps"] for s in summaries] == [1000, 1700, 1900]
    assert [s["simulated_pnl_pusd"] for s in summaries] == ["177", "119", "60"]
    assert [s["simulated_volume_pusd"] for s in summaries] == ["123", "81", "40"]
    assert aggregate["parameter_variants_run"] == 3
    assert [v["variant_id"] for v in aggregate["variants"]] == [0, 1, 2]
    assert set(aggregate["variants"][0]) >= {
        "variant_id", "params", "simulated_fills", "simulated_volume_pusd", "simulated_pnl_pusd",
        "simulated_net_fees_pusd",
    }  # fmt: skip


def test_workers_change_nothing(archive: Path) -> None:
    """The same sweep in two worker processes and in this process: the same reports,
    byte for byte (results are merged in variant order, never in finishing order)."""
    config = {**BASE, "parameter_sweep": [variant(edge) for edge in (900, 1000, 1100, 1200, 1300)]}
    alone = replay(config, now=NOW, archive=archive, workers=1, run_id="replay_X")
    forked = replay(config, now=NOW, archive=archive, workers=2, run_id="replay_X")
    assert (alone.execution.workers, forked.execution.workers) == (1, 2)
    assert normalised(json.dumps(forked.reports, sort_keys=True), "replay_X") == normalised(
        json.dumps(alone.reports, sort_keys=True), "replay_X"
    )
    assert forked.comparisons == alone.comparisons
    assert forked.fills.equals(alone.fills)


def test_more_than_200_variants_rejected_before_any_work(tmp_path: Path) -> None:
    """201 variants: PARAMETER_CHANGE_REQUIRES_APPROVAL, before the archive is even
    opened (this one does not exist)."""
    config = {**BASE, "parameter_sweep": [variant(1000 + i) for i in range(201)]}
    with pytest.raises(ConfigError) as info:
        replay(config, now=NOW, archive=tmp_path / "missing.duckdb")
    assert info.value.code is ReasonCode.PARAMETER_CHANGE_REQUIRES_APPROVAL


def test_sixty_variants_warn_and_throttle(archive: Path) -> None:
    """60 variants: BACKTESTER_LARGE_SWEEP on the record, and the run throttled (at most
    half the cores, in capped worker processes), with the same results as unthrottled."""
    sweep = [variant(1000 + 5 * i) for i in range(60)]
    result = replay({**BASE, "parameter_sweep": sweep}, now=NOW, archive=archive, run_id="replay_Y")
    summary = result.summary()
    assert any(n["code"] == "BACKTESTER_LARGE_SWEEP" for n in summary["notices"])
    # The record says throttled, and the budget; the worker count depends on the machine,
    # so it is on the result only, never in the reports.
    budget = LARGE_SWEEP_WORKER_MEMORY
    assert summary["execution"] == {"throttled": True, "worker_memory_budget_bytes": budget}
    assert result.execution.workers == plan(60, large=True).workers
    assert len(result.variants) == 60
    assert [v.variant_id for v in result.variants] == list(range(60))
    alone = replay(
        {**BASE, "parameter_sweep": sweep[:3]}, now=NOW, archive=archive, run_id="replay_Y", workers=1
    )
    assert [v.pnl for v in result.variants[:3]] == [v.pnl for v in alone.variants]


def _cap_size_and_death_signal() -> tuple[int, int, int]:
    death = ctypes.c_int(0)
    ctypes.CDLL(None).prctl(2, ctypes.byref(death))  # PR_GET_PDEATHSIG
    return resource.getrlimit(resource.RLIMIT_AS)[0], sweep_module._address_space(), death.value


def test_worker_memory_cap_is_applied() -> None:
    """A throttled worker really runs under an address-space cap: what it had mapped at
    the fork plus the budget (a fixed cap could sit below what the parent had mapped);
    and it is killed if its parent dies (no orphan after a SIGKILL or SIGTERM)."""
    assert LARGE_SWEEP_WORKER_MEMORY == 4 * 1024**3
    with ProcessPoolExecutor(1, mp_context=get_context("fork"), initializer=_init_worker,
                             initargs=(LARGE_SWEEP_WORKER_MEMORY, os.getpid())) as pool:  # fmt: skip
        soft, size, death = pool.submit(_cap_size_and_death_signal).result()
    assert size > 0
    headroom = soft - size  # the budget, less what the worker mapped since the cap was set
    assert LARGE_SWEEP_WORKER_MEMORY - 256 * 1024**2 < headroom <= LARGE_SWEEP_WORKER_MEMORY
    assert death == signal.SIGKILL


def _sigterm_handler() -> object:
    return signal.getsignal(signal.SIGTERM)


def test_workers_do_not_inherit_the_parents_sigterm_handler() -> None:
    """A CLI run's SIGTERM handler (stop at the next tick) is the parent's alone: the pool
    ends its workers with SIGTERM, so in a worker it is the default action again."""
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        with ProcessPoolExecutor(1, mp_context=get_context("fork"), initializer=_init_worker,
                                 initargs=(None, os.getpid())) as pool:  # fmt: skip
            assert pool.submit(_sigterm_handler).result() == signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_worker_out_of_memory_names_its_variant(monkeypatch) -> None:
    """A variant that exhausts its worker's budget fails the run with its variant id."""

    def exhausted(*_args: object, **_kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(sweep_module, "replay_slice", exhausted)
    keys = ("feed", "spec", "run", "run_id", "stop", "triggers", "engine")
    monkeypatch.setattr(sweep_module, "_SHARED", dict.fromkeys(keys))
    with pytest.raises(MemoryError, match=r"variant 7 ran out of its worker's memory budget \(4096 MiB"):
        sweep_module._worker([7])
    with pytest.raises(MemoryError, match=r"one of variants 1, 3 ran out of its worker's memory budget"):
        sweep_module._worker([1, 3])


def test_archive_read_once_for_all_variants(monkeypatch) -> None:
    """The archive is read once per sweep, not once per variant."""
    calls = []
    real = feed_module.ArchiveFeed.load.__func__

    def counting(cls, *args, **kwargs):
        calls.append(1)
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(feed_module.ArchiveFeed, "load", classmethod(counting))
    result = replay("data/sample-fair-value.json", now=NOW, archive=SAMPLE_ARCHIVE, workers=1)
    assert (len(result.variants), len(calls)) == (2, 1)
