"""The spec's six metrics (section 15), computed from the run registry.

Runs are short-lived processes, so no process can hold a counter across runs. The
figures are therefore derived from the registry, which keeps every run for good: a
custom ``prometheus_client`` collector (:class:`RegistryCollector`) reads it at each
scrape, so a restarted server, or a second one on another host over the same
PostgreSQL registry, reports the same counters, never a smaller value.

Their names, types and labels (the units: counts, ``pusd`` for the P&L gauge, ``ms``
for the duration histogram) are :data:`CONTRACT`, which tests and the dashboards'
checks read.

How each is read from the registry:

* ``runs_total``: runs that ended, by strategy and status: ``complete``, ``aborted``
  (the spec's two), and ``failed`` and ``interrupted`` (ours: a run that crashed or
  whose process died also ended; leaving it out would hide it). A launch ``refused``
  by governance never ran and is not counted (so ``BacktesterNoRunsIn24h`` still fires
  while the kill switch suppresses every launch, as its runbook expects). A terminal
  status never changes in the registry and rows are never deleted, so each count only
  grows.
* ``ticks_processed_total``: per run, the ticks its aggregate report says it replayed;
  0 while it runs (so the series exists before its final value arrives) and for a run
  that ended without an aggregate report.
* ``simulated_fills_total`` and ``ticks_skipped_total``: summed over the runs that
  completed (a sweep's fills over its variants; its ticks once, as its feed's).
* ``simulated_pnl_pusd``: for each strategy, the P&L of its most recent completed run
  with one variant, labelled with that run's id. A sweep's aggregate report has no
  single P&L (spec section 11: its variants each have one), so sweeps are not shown
  here; ``GET /runs/{id}`` has each variant's. The value is the exact decimal as a
  float (Prometheus samples are floats); audit figures come from the reports.
* ``run_duration_ms``: the wall-clock duration (registry start to end) of every
  completed run, in buckets around the spec's 300 000 ms alert threshold
  (:data:`DURATION_BUCKETS_MS`), so its p99 is resolved near where the alert fires.

Every strategy of the strategy registry has its per-strategy series from the start (at
0), so the first run of a strategy is an increase Prometheus sees, not the birth of a
series whose first sample ``rate()`` ignores. Counters carry no ``_created`` series
(custom families only emit one when given): the exposition is the same bytes for the
same registry.
"""

from __future__ import annotations

import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_text
from prometheus_client.registry import Collector, CollectorRegistry

from backtester.errors import RegistryUnavailable
from backtester.governance import Registry, RunRecord
from backtester.strategies.registry import default_registry

__all__ = [
    "CONTRACT",
    "DURATION_BUCKETS_MS",
    "ENDED",
    "PREFIX",
    "RUNS_TOTAL",
    "RUN_DURATION_MS",
    "SIMULATED_FILLS_TOTAL",
    "SIMULATED_PNL_PUSD",
    "TEXTFILE",
    "TEXTFILE_DIR_ENV",
    "TICKS_PROCESSED_TOTAL",
    "TICKS_SKIPPED_TOTAL",
    "RegistryCollector",
    "families",
    "metrics_registry",
    "openmetrics_text",
    "write_run_metrics",
    "write_textfile",
]

PREFIX = "polytraders_gov_backtester"
RUNS_TOTAL = f"{PREFIX}_runs_total"
TICKS_PROCESSED_TOTAL = f"{PREFIX}_ticks_processed_total"
SIMULATED_FILLS_TOTAL = f"{PREFIX}_simulated_fills_total"
SIMULATED_PNL_PUSD = f"{PREFIX}_simulated_pnl_pusd"
TICKS_SKIPPED_TOTAL = f"{PREFIX}_ticks_skipped_total"
RUN_DURATION_MS = f"{PREFIX}_run_duration_ms"

CONTRACT = {
    RUNS_TOTAL: ("counter", ("strategy", "status")),
    TICKS_PROCESSED_TOTAL: ("counter", ("strategy", "replay_run_id")),
    SIMULATED_FILLS_TOTAL: ("counter", ("strategy",)),
    SIMULATED_PNL_PUSD: ("gauge", ("strategy", "replay_run_id")),
    TICKS_SKIPPED_TOTAL: ("counter", ("strategy",)),
    RUN_DURATION_MS: ("histogram", ("strategy",)),
}
"""The spec's metrics (section 15): name -> (type, labels). Tests and the dashboards'
checks read this, so a renamed metric fails them."""

ENDED = ("complete", "aborted", "failed", "interrupted")
"""The statuses ``runs_total`` counts: a run that ended (a ``refused`` launch never ran)."""

DURATION_BUCKETS_MS = (
    1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000, 180_000, 240_000, 270_000, 300_000, 330_000,
    360_000, 480_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000,
)  # fmt: skip
"""Upper bounds (ms) of the duration histogram: dense from 4 to 6 minutes, so a p99
above the spec's 300 000 ms is told from one just below it."""

TEXTFILE = f"{PREFIX}.prom"
"""The name of the desk-wide textfile (:func:`write_textfile`)."""

_HELP = {
    RUNS_TOTAL: "Total backtester runs launched, labelled by strategy slug and completion status.",
    TICKS_PROCESSED_TOTAL: "Total ticks processed across all replay runs.",
    SIMULATED_FILLS_TOTAL: "Total simulated fills produced across all runs.",
    SIMULATED_PNL_PUSD: "Simulated P&L in pUSD for the most recent completed replay run per strategy.",
    TICKS_SKIPPED_TOTAL: "Ticks skipped due to archive gaps. Should remain near zero.",
    RUN_DURATION_MS: "Wall-clock duration of a complete backtest run.",
}


def families(records: Iterable[RunRecord], *, strategies: Sequence[str] = ()) -> list[Metric]:
    """The six metric families over ``records`` (registry rows, any order), with zero
    series for every one of ``strategies`` that has no run yet.

    >>> fams = {f.name: f for f in families([], strategies=["sum_to_one_arb"])}
    >>> [(s.name, s.labels, s.value) for s in fams["polytraders_gov_backtester_simulated_fills"].samples]
    [('polytraders_gov_backtester_simulated_fills_total', {'strategy': 'sum_to_one_arb'}, 0)]
    """
    runs = sorted((r for r in records if r.status != "refused"), key=lambda r: r.replay_run_id)
    names = sorted({*strategies, *(_strategy(r) for r in runs)})
    ended: dict[tuple[str, str], int] = defaultdict(int)
    fills: dict[str, int] = defaultdict(int)
    skipped: dict[str, int] = defaultdict(int)
    durations: dict[str, list[int]] = defaultdict(list)
    latest: dict[str, RunRecord] = {}
    for r in runs:
        name = _strategy(r)
        if r.status in ENDED:
            ended[name, r.status] += 1
        if r.status != "complete":
            continue
        fills[name] += r.simulated_fills or 0
        skipped[name] += r.ticks_skipped or 0
        if r.duration_ms is not None:
            durations[name].append(r.duration_ms)
        if r.variants == 1 and r.simulated_pnl_pusd is not None:
            held = latest.get(name)
            if held is None or (r.ended_ms or 0, r.replay_run_id) > (held.ended_ms or 0, held.replay_run_id):
                latest[name] = r

    runs_total = _counter(RUNS_TOTAL)
    for name in names:
        for status in ENDED:
            runs_total.add_metric([name, status], ended[name, status])
    processed = _counter(TICKS_PROCESSED_TOTAL)
    for r in runs:
        processed.add_metric([_strategy(r), r.replay_run_id], r.ticks_replayed or 0)
    fills_total = _counter(SIMULATED_FILLS_TOTAL)
    skipped_total = _counter(TICKS_SKIPPED_TOTAL)
    for name in names:
        fills_total.add_metric([name], fills[name])
        skipped_total.add_metric([name], skipped[name])
    pnl_labels = CONTRACT[SIMULATED_PNL_PUSD][1]
    pnl = GaugeMetricFamily(SIMULATED_PNL_PUSD, _HELP[SIMULATED_PNL_PUSD], labels=pnl_labels, unit="pusd")
    for name in sorted(latest):
        r = latest[name]
        pnl.add_metric([name, r.replay_run_id], float(Decimal(r.simulated_pnl_pusd or "0")))
    duration = HistogramMetricFamily(RUN_DURATION_MS, _HELP[RUN_DURATION_MS], labels=["strategy"], unit="ms")
    for name in names:
        taken = durations[name]
        buckets = [(_bound(b), sum(1 for d in taken if d <= b)) for b in DURATION_BUCKETS_MS]
        duration.add_metric([name], [*buckets, ("+Inf", len(taken))], sum_value=sum(taken))
    return [runs_total, processed, fills_total, pnl, skipped_total, duration]


def _counter(name: str) -> CounterMetricFamily:
    return CounterMetricFamily(name, _HELP[name], labels=CONTRACT[name][1])


def _strategy(record: RunRecord) -> str:
    return record.strategy or "unknown"


def _bound(ms: int) -> str:
    return f"{float(ms):.1f}"


class RegistryCollector(Collector):
    """Collects the six metrics from the run registry at ``location`` at each scrape
    (runs whose process is gone are marked ``interrupted`` first, so they are counted)."""

    def __init__(self, location: str | os.PathLike[str] | None = None) -> None:
        self.location = str(location) if location is not None else None
        self.strategies = tuple(default_registry().slugs())

    def collect(self) -> Iterable[Metric]:
        with Registry(self.location) as store:
            store.reap()
            records = store.runs()
        return families(records, strategies=self.strategies)


def metrics_registry(location: str | os.PathLike[str] | None = None) -> CollectorRegistry:
    """A ``prometheus_client`` registry holding only the spec's metrics, from the run
    registry at ``location`` (no process or platform collectors: a scrape shows what the
    spec names)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RegistryCollector(location))
    return registry


def write_textfile(path: str | os.PathLike[str], metrics: Sequence[Metric]) -> Path:
    """Write ``metrics`` to ``path`` in the OpenMetrics text format, atomically (a temp
    file in the same folder, renamed over it), as a node-exporter textfile collector
    expects (``*.prom``)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(metrics))
    fd, aside = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(openmetrics_text(registry))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(aside, 0o644)  # mkstemp makes it 0600; a collector running as another user reads it
        os.replace(aside, target)
    except BaseException:
        Path(aside).unlink(missing_ok=True)
        raise
    return target


class _Fixed(Collector):
    def __init__(self, metrics: Sequence[Metric]) -> None:
        self.metrics = list(metrics)

    def collect(self) -> Iterable[Metric]:
        return self.metrics


TEXTFILE_DIR_ENV = "BACKTESTER_TEXTFILE_DIR"
"""A node-exporter textfile collector's folder: when set, every run's end rewrites
:data:`TEXTFILE` there with the registry's totals (the same figures as ``/metrics``)."""


def write_run_metrics(
    run_dir: str | os.PathLike[str], run_id: str, *, registry: str | None = None
) -> Path | None:
    """After a run's end is recorded: its own figures as ``<run_dir>/metrics.prom`` (the six
    metrics over this one run), and, with ``$BACKTESTER_TEXTFILE_DIR``, the registry's
    totals in that folder. The per-run file is not in ``status.json``'s hashes: it holds
    the run's wall-clock duration. None (and nothing written) if the registry cannot be
    read now."""
    import fcntl  # noqa: PLC0415 - POSIX only, like the rest of the service half

    try:
        with Registry(registry) as store:
            record = store.run(run_id)
            if record is None:
                return None
            own = write_textfile(
                Path(run_dir) / "metrics.prom", families([record], strategies=[_strategy(record)])
            )
            folder = os.environ.get(TEXTFILE_DIR_ENV)
            if folder:
                Path(folder).mkdir(parents=True, exist_ok=True)
                # One writer at a time: totals read later are never renamed over by older ones.
                with (Path(folder) / f".{TEXTFILE}.lock").open("w") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    totals = families(store.runs(), strategies=default_registry().slugs())
                    write_textfile(Path(folder) / TEXTFILE, totals)
    except RegistryUnavailable:
        return None
    return own
