"""A replay run: validate, check the archive, read it once, replay each variant.

A run that cannot read its archive, or finds no market data in its window, is aborted
with ``BACKTESTER_ARCHIVE_UNAVAILABLE`` and an OperationsReport with
``status="aborted"``; it never produces a result that looks complete.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from ulid import ULID

from backtester.archive import Archive
from backtester.archive.deadline import archive_timeout_ms as archive_timeout
from backtester.archive.deadline import call_with_deadline
from backtester.book.feed import ArchiveFeed
from backtester.book.market import MarketInfo
from backtester.book.tape import Tape, replay_books
from backtester.config import ResolvedRun, RunConfig, resolve_config
from backtester.config.window import format_ms
from backtester.errors import ArchiveUnavailable, Notice, ReasonCode
from backtester.fees import FeeModel
from backtester.reports.envelopes import operations_report
from backtester.reports.stats import Sampling, market_stats, sample_interval, sample_times, stats_of
from backtester.reports.summary import RUN_COST, sweep_report, variant_report
from backtester.runs.control import RunStopped, StopSignal
from backtester.runs.engine import VariantResult
from backtester.runs.frames import (
    comparison_frame,
    equity_frame,
    fills_frame,
    reports_frame,
    round_trips_frame,
    stats_frame,
    stats_row,
)
from backtester.runs.original import OriginalOutcome, compare, load_original, mark_states, read_live
from backtester.runs.sweep import Plan, RayTarget, plan, run_variants
from backtester.runs.tables import result_tables, write_tables
from backtester.strategies.registry import StrategyRegistry, default_registry
from backtester.units import format_micros, parse_micros

__all__ = ["ReplayResult", "check_run_id", "new_run_id", "replay"]


def new_run_id() -> str:
    """``replay_<ULID>``: sortable by start time, unique across runs."""
    return f"replay_{ULID()}"


_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def check_run_id(run_id: str) -> str:
    """An explicit run id, checked: it names the run's folder, so letters, digits, ``_``,
    ``.`` and ``-`` only (at most 128, not starting with a separator).

    >>> check_run_id("replay_gate_2026_12_02")
    'replay_gate_2026_12_02'
    >>> check_run_id("../etc")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: replay_run_id '../etc' must be 1 to 128 letters, digits, '_', '.' or '-', ...
    """
    if not _RUN_ID.fullmatch(run_id):
        msg = (
            f"replay_run_id {run_id!r} must be 1 to 128 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
        raise ValueError(msg)
    return run_id


@dataclass
class ReplayResult:
    """A run's outcome: ``status`` is ``complete`` or ``aborted``."""

    replay_run_id: str
    status: str
    run: ResolvedRun
    markets: list[str] = field(default_factory=list)
    variants: list[VariantResult] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    abort_report: dict[str, Any] | None = None
    original: OriginalOutcome | None = None
    comparisons: list[list[dict[str, Any]]] = field(default_factory=list)
    """Per variant, one row per decision compared with the live bot (see runs.original)."""
    final_reports: list[dict[str, Any]] = field(default_factory=list)
    """``BACKTESTER_REPLAY_COMPLETE`` per variant, and the sweep's aggregate."""
    run_dir: Path | None = None
    """Where the run was written (``<out>/<replay_run_id>``), if it was."""
    execution: Plan | None = None
    """How the variants were run: workers, and the large-sweep throttle."""
    market_infos: dict[str, MarketInfo] = field(default_factory=dict)
    """Each replayed market's record (the latest in force in the window)."""
    tops: dict[str, list[tuple[int, int | None, int | None]]] = field(default_factory=dict)
    """The archive's top of book over the window, for the tokens of every market either
    side traded: (ts_ms, best bid, best ask) at each change (for price charts)."""
    fee_assumed_markets: list[str] = field(default_factory=list)
    """Markets without a recorded fee schedule, traded under the config's fee assumption."""
    archive_sha256: str | None = None
    """The content hash of the archive the run read, taken in the same session as the
    feed (only when asked for: it reads every row of the archive)."""

    @property
    def reports(self) -> list[dict[str, Any]]:
        """Every report of the run, in the order they were made, the summaries last."""
        if self.abort_report is not None:
            return [self.abort_report]
        return [report for variant in self.variants for report in variant.reports] + self.final_reports

    @property
    def fills(self) -> pd.DataFrame:
        """Every order the venue handled, per variant (float money; exact: ``exact.fills``)."""
        return fills_frame(self.variants)

    @property
    def equity(self) -> pd.DataFrame:
        """Realised, unrealised and total P&L over time, per variant (float money)."""
        return equity_frame(self.variants)

    @property
    def stats(self) -> pd.DataFrame:
        """One row per variant: its parameters and statistics (floats; NaN for "n/a")."""
        return stats_frame(self.variants)

    @property
    def live_stats(self) -> pd.DataFrame:
        """The live bot's statistics over the window, as one row of :attr:`stats`' columns."""
        return _live_stats(self.original, exact=False)

    @property
    def trades(self) -> pd.DataFrame:
        """Every round trip of every variant (entry, exit, size, P&L; float money)."""
        return round_trips_frame(self.variants)

    @property
    def exact(self) -> ExactFrames:
        """The same frames with exact ``Decimal`` money: where audit figures come from."""
        return ExactFrames(self)

    @property
    def comparison(self) -> pd.DataFrame:
        """Each decision compared with the live bot's, per variant."""
        return comparison_frame(self.comparisons)

    @property
    def reports_frame(self) -> pd.DataFrame:
        """Every report of the run."""
        return reports_frame(self.reports)

    @property
    def aggregate(self) -> dict[str, Any] | None:
        """The run's ``BACKTESTER_REPLAY_COMPLETE``: the sweep aggregate, or the only variant's."""
        return self.final_reports[-1] if self.final_reports else None

    def summary(self) -> dict[str, Any]:
        """What the run did: its aggregate report, per-variant counts and the live outcome."""
        out: dict[str, Any] = {
            "replay_run_id": self.replay_run_id,
            "status": self.status,
            "mode": "replay",
            "strategy": self.run.strategy,
            "window_start": format_ms(self.run.start_ms),
            "window_end": format_ms(self.run.end_ms),
            "decision_clock": self.run.config.decision_clock,
            "markets": self.markets,
            "notices": [n.as_dict() for n in (*self.run.notices, *self.notices)],
            "archive_content_sha256": self.archive_sha256,
        }
        if self.abort_report is not None:
            out["abort"] = self.abort_report
            return out
        out["parameter_variants_run"] = len(self.variants)
        out["execution"] = self.execution.as_dict() if self.execution else None
        out["variants"] = [v.summary() for v in self.variants]
        out["original_outcome"] = self.original.summary() if self.original else None
        out["comparison"] = [
            _comparison_summary(variant, rows, self.original)
            for variant, rows in zip(self.variants, self.comparisons, strict=True)
        ]
        out["aggregate_report"] = self.aggregate
        return out

    def to_parquet(self, folder: str | Path) -> list[Path]:
        """Write the run's tables (:func:`~backtester.runs.tables.result_tables`: fills,
        equity, stats, market_stats, trades, comparison, reports; an aborted run has only
        its reports) to ``folder/<name>.parquet``, money as exact ``decimal128(24, 6)``;
        return the paths, in that order."""
        return write_tables(result_tables(self), folder, to="parquet")

    def to_csv(self, folder: str | Path) -> list[Path]:
        """The same tables as :meth:`to_parquet`, as ``folder/<name>.csv`` (decimals
        written with their 6 places, times in UTC)."""
        return write_tables(result_tables(self), folder, to="csv")


@dataclass(frozen=True)
class ExactFrames:
    """A run's frames with exact ``Decimal`` money and ratios (``result.exact.fills``)."""

    result: ReplayResult

    @property
    def fills(self) -> pd.DataFrame:
        return fills_frame(self.result.variants, exact=True)

    @property
    def equity(self) -> pd.DataFrame:
        return equity_frame(self.result.variants, exact=True)

    @property
    def stats(self) -> pd.DataFrame:
        return stats_frame(self.result.variants, exact=True)

    @property
    def live_stats(self) -> pd.DataFrame:
        return _live_stats(self.result.original, exact=True)

    @property
    def trades(self) -> pd.DataFrame:
        return round_trips_frame(self.result.variants, exact=True)


def _live_stats(original: OriginalOutcome | None, *, exact: bool) -> pd.DataFrame:
    if original is None or original.stats is None:
        return pd.DataFrame()
    return pd.DataFrame([{"who": "live (original)", **stats_row(original.stats, exact=exact)}]).set_index(
        "who"
    )


def _comparison_summary(
    variant: VariantResult, rows: list[dict[str, Any]], original: OriginalOutcome | None
) -> dict[str, Any]:
    """How one variant's decisions compare with the live bot's, in counts."""
    causes = Counter(row["cause"] for row in rows)
    return {
        "variant_id": variant.variant_id,
        "live_decisions": len(original.decisions) if original else 0,
        "linked_decisions": sum(row["trace_id"] is not None for row in rows),
        "decided_same": sum(row["decided_same"] for row in rows),
        "filled_same": causes["none"] + causes["fees"],
        "by_cause": dict(sorted(causes.items())),
        "vs_original_pnl_delta_pusd": format_micros(variant.pnl - original.pnl) if original else None,
    }


def replay(
    config: str | Path | Mapping[str, Any] | RunConfig | ResolvedRun,
    *,
    now: datetime,
    archive: str | Path | None = None,
    strategies: StrategyRegistry | None = None,
    run_id: str | None = None,
    workers: int | None = None,
    progress: bool | None = None,
    hash_archive: bool = False,
    stop: StopSignal | None = None,
    archive_timeout_ms: int | None = None,
    triggers: bool = True,
    engine: str = "auto",
    executor: str = "local",
    ray_address: str | None = None,
    ray_storage: str | Path | None = None,
    ray_tasks: int | None = None,
) -> ReplayResult:
    """Validate ``config`` (or take an already resolved run) and replay it over
    ``archive``; with ``hash_archive``, also record the archive's content hash, from the
    same open archive the feed is read from.

    Raises :class:`~backtester.errors.ConfigError` for a rejected config. An archive
    problem gives an aborted result instead (it is a run, and it is on the record): an
    archive that cannot be read, holds no market data for the window, or stalls (a call
    that does not answer within ``archive_timeout_ms``, by default the spec's 300 000 ms;
    see :mod:`backtester.archive.deadline`). So does a stop requested through ``stop``
    (an operator's abort), seen at the next tick boundary or while the archive is read.

    ``triggers=False`` calls the strategy at every tick even where its trigger says it
    cannot act, and ``engine`` chooses the pass (``"reference"``, ``"compiled"`` or
    ``"auto"``); neither changes a result (see :func:`backtester.runs.engine.run_pass`).

    ``executor="ray"`` runs the variants as Ray tasks (:mod:`backtester.runs.distributed`)
    on the cluster at ``ray_address`` (None: this machine's), over the archive exported
    to Parquet under ``ray_storage`` (a path every node reads; by default a temporary
    folder, fine on one machine; a Parquet archive is read in place), in ``ray_tasks``
    tasks (None: one per CPU of the cluster). The results are the local executor's.
    """
    if executor not in ("local", "ray"):
        msg = f"executor must be 'local' or 'ray', not {executor!r}"
        raise ValueError(msg)
    registry = strategies if strategies is not None else default_registry()
    run = config if isinstance(config, ResolvedRun) else resolve_config(config, now=now, strategies=registry)
    run_id = run_id or new_run_id()
    timeout = archive_timeout(archive_timeout_ms)
    try:
        return _replay(
            run, run_id, archive, registry, workers=workers, progress=progress, hash_archive=hash_archive,
            stop=stop, timeout=timeout, triggers=triggers, engine=engine,
            ray=(ray_address, ray_storage, ray_tasks) if executor == "ray" else None,
        )  # fmt: skip
    except ArchiveUnavailable as exc:
        return _aborted(run, run_id, exc.message)
    except RunStopped as exc:
        return _aborted(
            run, run_id, exc.reason, code=exc.code, stopped=exc if exc.at_ms is not None else None
        )


def _replay(
    run: ResolvedRun, run_id: str, archive: str | Path | None, registry: StrategyRegistry, *,
    workers: int | None, progress: bool | None, hash_archive: bool, stop: StopSignal | None, timeout: int,
    triggers: bool = True, engine: str = "auto", ray: tuple[Any, Any, Any] | None = None,
) -> ReplayResult:  # fmt: skip
    started = time.perf_counter()
    check = stop.check if stop is not None else None
    store = call_with_deadline(
        "opening the archive", lambda: Archive.open(archive, read_only=True), timeout_ms=timeout, check=check,
        discard=Archive.close,
    )  # fmt: skip

    def read(what: str, call: Any) -> Any:
        return call_with_deadline(what, call, timeout_ms=timeout, interrupt=store.con.interrupt, check=check)

    with store:  # everything is read here; the archive is closed before any worker forks
        content = read("hashing the archive", store.content_hash) if hash_archive else None
        markets, notices = read("listing the window's markets", lambda: _markets_to_replay(store, run))
        if not markets:
            reason = "the archive holds no market data of a known market in the window"
            aborted = _aborted(run, run_id, reason)
            aborted.archive_sha256 = content
            return aborted
        feed = read(
            "reading the feed",
            lambda: ArchiveFeed.load(
                store, markets, start_ms=run.start_ms, end_ms=run.end_ms,
                receive_clock=run.config.decision_clock == "receive",
            ),
        )  # fmt: skip
        span = read("finding the span of the market data", lambda: _data_span(store, markets, run))
        live = read(
            "reading the live reports",
            lambda: read_live(store, sorted(feed.markets), start_ms=run.start_ms, end_ms=run.end_ms),
        )
        if hash_archive and read("hashing the archive", store.content_hash) != content:
            return _aborted(run, run_id, "the archive changed while the run read it")
        target = _ray_target(store, markets, ray, read) if ray is not None else None
    feed.markets, assumed = _with_fee_assumption(feed.markets, run)
    if assumed:
        notices.append(_assumption_notice(run, assumed))
    spec = registry[run.strategy]
    large = any(n.code is ReasonCode.BACKTESTER_LARGE_SWEEP for n in run.notices)
    execution = plan(len(run.variants), large=large, workers=workers)
    try:
        variants = run_variants(
            feed, spec, run, run_id, execution=execution, progress=progress, stop=stop, triggers=triggers,
            engine=engine, ray=target,
        )  # fmt: skip
    finally:
        if target is not None and target.temporary:
            shutil.rmtree(target.parquet.parent, ignore_errors=True)
    if stop is not None:  # asked to stop after the last tick: no tick to name
        stop.check()
    tokens = {cid: history[-1][1].tokens for cid, history in feed.markets.items()}
    events = {
        cid: info.neg_risk_market_id if info.neg_risk else None
        for cid, history in feed.markets.items()
        for info in [history[-1][1]]
    }
    original = load_original(
        live, tokens, marks=variants[0].marks, simulation=run.config.simulation, events=events
    )
    traded = {f.order.asset_id for v in variants for f in v.fills} | {f.asset_id for f in original.fills}
    watch = {token for cid, pair in tokens.items() if set(pair) & traded for token in pair}
    times = [ts for ts, _, _ in original.states]
    # Sampled up to the last market or ledger event: a settlement may come after the last book.
    ledgers = [v.trading.ledger for v in variants if v.trading is not None] + [original.ledger]
    last = max([span[1], *(ledger.events[-1].ts_ms for ledger in ledgers if ledger.events)])
    span = (span[0], min(last, run.end_ms))
    interval, interval_ms = sample_interval(span[1] - span[0])
    grid = sample_times(*span, interval_ms)
    held = times or any(v.trading is not None and v.trading.ledger.events for v in variants)
    at = sorted({*times, *grid}) if held else []  # no ledger held anything: no marks to take
    # The archive's books once more, for what the variants' pass does not sample: marks at
    # the live bot's ledger events and at the statistics' sample times, and the traded
    # tokens' tops (none to take: no pass).
    tape = replay_books(feed, at=at, watch=watch) if at or watch else Tape()
    mark_states(original, [tape.mark_at(at, ts) for ts in times], (run.end_ms, original.unrealised))
    sampling = Sampling(
        interval, interval_ms, grid, [tape.mark_at(at, ts) for ts in grid] if at else [{}] * len(grid)
    )
    result = ReplayResult(
        run_id, "complete", run, markets, variants, notices, original=original, execution=execution,
        tops=tape.tops, market_infos={cid: history[-1][1] for cid, history in sorted(feed.markets.items())},
        archive_sha256=content, fee_assumed_markets=assumed,
    )  # fmt: skip
    _finish(result, sampling)
    elapsed = max(time.perf_counter() - started, 1e-9)
    result.final_reports[-1][RUN_COST] = {
        "duration_ms": round(elapsed * 1000),
        "events": feed.size,
        "events_per_s": round(feed.size / elapsed),
    }
    return result


def _ray_target(store: Archive, markets: list[str], ray: tuple[Any, Any, Any], read: Any) -> RayTarget:
    """Where the Ray tasks read the archive: a Parquet archive in place, else an export of
    it under the storage given (kept there, by content hash, for the next sweep) or in a
    temporary folder (removed after the run)."""
    address, storage, tasks = ray
    if store.storage == "parquet":
        return RayTarget(address, Path(store.location), markets, tasks)
    if storage is None:
        folder = Path(tempfile.mkdtemp(prefix="backtester-ray-")) / "archive"
    else:
        folder = Path(storage) / f"archive-{read('hashing the archive', store.content_hash)[:16]}"
    if not folder.exists():
        read("exporting the archive to Parquet for the Ray tasks", lambda: store.export_parquet(folder))
    return RayTarget(address, folder, markets, tasks, temporary=storage is None)


def _finish(result: ReplayResult, sampling: Sampling) -> None:
    """Compare each variant with the live outcome, take every ledger's statistics, and
    write the end-of-run reports."""
    run, original = result.run, result.original
    assert original is not None
    window = (run.start_ms, run.end_ms)
    end_marks = result.variants[0].marks if result.variants else {}
    original.stats = stats_of(
        original.ledger.events, window=window, sampling=sampling, end_marks=end_marks,
        equity=[(ts, realised + unrealised) for ts, realised, unrealised in original.equity],
    )  # fmt: skip
    summaries = []
    for variant in result.variants:
        _take_stats(variant, window, sampling)
        rows = compare(
            variant.decisions, variant.trading.executions if variant.trading else [], original, variant.marks,
            gaps=variant.gaps, group_of=variant.group_of,
        )  # fmt: skip
        result.comparisons.append(rows)
        _annotate_fills(variant.reports, rows)
        summary = variant.summary() | {
            "vs_original_pnl_delta_pusd": format_micros(variant.pnl - original.pnl)
        }
        summaries.append(summary)
        result.final_reports.append(
            variant_report(
                result.replay_run_id, strategy=run.strategy, window=window, variant=summary,
                variants_run=len(result.variants), original=original.summary(),
                delta_pusd=summary["vs_original_pnl_delta_pusd"],
            )
        )  # fmt: skip
    if run.is_sweep:
        result.final_reports.append(
            sweep_report(result.replay_run_id, strategy=run.strategy, window=window, variants=summaries)
        )


def _take_stats(variant: VariantResult, window: tuple[int, int], sampling: Sampling) -> None:
    """A variant's statistics, and per market (:mod:`backtester.reports.stats`)."""
    trading = variant.trading
    assert trading is not None
    events = trading.ledger.events
    common = {"window": window, "end_marks": variant.marks, "market_of_asset": trading.market_of_asset}
    variant.stats = stats_of(
        events, sampling=sampling, equity=[(p.ts_ms, p.total) for p in trading.equity],
        executions=trading.executions, **common,
    )  # fmt: skip
    variant.market_stats = market_stats(events, executions=trading.executions, **common)


def _data_span(store: Archive, markets: list[str], run: ResolvedRun) -> tuple[int, int]:
    """The first and last market data of the window (the window itself when it has none)."""
    row = store.con.execute(
        f"""
        SELECT min(ts_ms), max(ts_ms) FROM {_MARKET_DATA}
        WHERE ts_ms BETWEEN {int(run.start_ms)} AND {int(run.end_ms)} AND list_contains(?, market)
        """,
        [markets],
    ).fetchone()
    if row is None or row[0] is None:
        return run.start_ms, run.end_ms
    return int(row[0]), int(row[1])


def _annotate_fills(reports: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    """Put each linked trace's comparison on its fills' TICK_PROCESSED reports."""
    by_trace = {row["trace_id"]: row for row in rows if row["trace_id"]}
    for report in reports:
        if report.get("event_type") == "BACKTESTER_TICK_PROCESSED" and report.get("trace_id") in by_trace:
            report["comparison"] = by_trace[report["trace_id"]]


_MARKET_DATA = """(
    SELECT market, ts_ms FROM md_book UNION ALL SELECT market, ts_ms FROM md_level
    UNION ALL SELECT market, ts_ms FROM md_trade)"""
"""Every market data row's market and time, as a DuckDB subquery."""


def _markets_to_replay(store: Archive, run: ResolvedRun) -> tuple[list[str], list[Notice]]:
    """Markets with market data in the window (or the config's list), and their events'."""
    chosen = run.config.markets
    rows = store.con.execute(
        f"""
        SELECT DISTINCT market FROM {_MARKET_DATA}
        WHERE ts_ms BETWEEN {int(run.start_ms)} AND {int(run.end_ms)}
        ORDER BY market
        """
    ).fetchall()
    with_data = [r[0] for r in rows]
    if chosen is not None:
        with_data = [m for m in with_data if m in set(chosen)]
    known = {
        r[0]: r[1]
        for r in store.con.execute(
            "SELECT condition_id, any_value(neg_risk_market_id) FROM markets GROUP BY condition_id"
        ).fetchall()
    }
    notices = [
        Notice(ReasonCode.BACKTESTER_MARKET_SKIPPED, f"{m} has data in the window but no market record")
        for m in with_data
        if m not in known
    ]
    replayed = [m for m in with_data if m in known]
    events = {known[m] for m in replayed if known[m]}
    siblings = [m for m, event in known.items() if event in events and m not in replayed]
    return sorted([*replayed, *siblings]), notices


def _with_fee_assumption(
    records: dict[str, list[tuple[int, MarketInfo]]], run: ResolvedRun
) -> tuple[dict[str, list[tuple[int, MarketInfo]]], list[str]]:
    assumption = run.config.fee_assumption
    if assumption is None:
        return records, []
    if assumption.model == "flat_bps":
        fees = FeeModel("flat_bps", rate_bps=assumption.fee_rate_bps)
    else:
        fees = FeeModel(
            "curve",
            rate=parse_micros(assumption.rate),
            exponent=assumption.exponent,
            taker_only=assumption.taker_only,
            rebate_rate=parse_micros(assumption.rebate_rate),
        )
    assumed: list[str] = []
    out = {}
    for market, history in records.items():
        new_history = []
        for effective, info in history:
            if not info.fees.known:
                assumed.append(market)
            new_history.append((effective, info if info.fees.known else replace(info, fees=fees)))
        out[market] = new_history
    return out, sorted(set(assumed))


def _assumption_notice(run: ResolvedRun, markets: list[str]) -> Notice:
    assumption = run.config.fee_assumption
    assert assumption is not None
    model = assumption.model_dump(mode="json")
    return Notice(
        ReasonCode.BACKTESTER_FEE_ASSUMED,
        f"fee schedule not recorded for {len(markets)} market(s); assumed {model}",
    )


def _aborted(
    run: ResolvedRun,
    run_id: str,
    reason: str,
    *,
    code: str = str(ReasonCode.BACKTESTER_ARCHIVE_UNAVAILABLE),
    stopped: RunStopped | None = None,
) -> ReplayResult:
    """The run's one report when it aborts: an OperationsReport with ``status="aborted"``,
    the reason code (the archive's, or the operator's abort) and why; a run stopped at a
    tick also says which tick and how many ticks the variant had replayed."""
    where = {}
    if stopped is not None:
        where = {"stopped_at_tick_ts_ms": stopped.at_ms, "stopped_in_variant": stopped.variant_id,
                 "ticks_replayed_before_stop": stopped.ticks}  # fmt: skip
    report = operations_report(
        f"ops_backtester_{run_id}_abort",
        code,
        replay_run_id=run_id,
        ts_ms=run.now_ms,
        severity=str(ReasonCode(code).severity),
        status="aborted",
        reason=reason,
        strategy=run.strategy,
        window_start=format_ms(run.start_ms),
        window_end=format_ms(run.end_ms),
        **where,
    )
    return ReplayResult(run_id, "aborted", run, abort_report=report)
