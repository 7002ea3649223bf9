"""A run's results as pandas DataFrames, for notebooks.

Two views of the same figures. By default money, prices, sizes and ratios are float64
columns, for plotting and pandas work (the micro-units divided by 10^6: the nearest
float, not the exact value). With ``exact=True`` they are exact ``Decimal`` values
(object columns): the ledger's micro-units turned into decimals, never via a float;
these are the ones audit figures come from, as the reports' decimal strings are.
Times are UTC timestamps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import pandas as pd

from backtester.reports.stats import MONEY, RATIOS
from backtester.units import MICRO

__all__ = [
    "comparison_frame",
    "equity_frame",
    "fills_frame",
    "reports_frame",
    "round_trips_frame",
    "stats_frame",
]


def dec(micros: int | None) -> Decimal | None:
    """Micro-units as an exact Decimal."""
    return None if micros is None else Decimal(micros) / MICRO


def _money(exact: bool) -> Callable[[int | None], Decimal | float | None]:
    """Micro-units as an exact Decimal, or as the nearest float (NaN for None)."""
    if exact:
        return dec
    return lambda micros: float("nan") if micros is None else micros / MICRO


def _number(value: Decimal | None, exact: bool) -> Decimal | float | None:
    """A ratio as it is (Decimal), or as a float (NaN for "n/a")."""
    if exact:
        return value
    return float("nan") if value is None else float(value)


def _time(ms: Sequence[int]) -> pd.Series:
    return pd.to_datetime(pd.Series(ms, dtype="int64"), unit="ms", utc=True)


def fills_frame(variants: Sequence[Any], *, exact: bool = False) -> pd.DataFrame:
    """One row per order the venue handled (filled, partly filled or refused)."""
    dec = _money(exact)
    rows = []
    for variant in variants:
        original = {d.trace_id: d.original_trace_id for d in variant.decisions}
        for e in variant.trading.executions:
            o = e.order
            rows.append(
                {
                    "variant_id": variant.variant_id, "trace_id": o.trace_id,
                    "original_trace_id": original.get(o.trace_id), "decided_ms": o.decided_ms,
                    "arrival_ms": o.arrival_ms, "market_id": o.market_id, "asset_id": o.asset_id,
                    "side": o.side, "status": e.status, "order_shares": dec(o.shares),
                    "shares": dec(e.shares),
                    "price": dec(e.price), "cost_pusd": dec(e.cost), "fee_pusd": dec(e.fee),
                    "fee_asset": e.fee_asset, "slippage_bps": e.slippage_bps, "reason": e.reason,
                }
            )  # fmt: skip
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame.insert(3, "decided", _time(frame["decided_ms"]))
        frame.insert(5, "arrival", _time(frame["arrival_ms"]))
    return frame


def equity_frame(variants: Sequence[Any], *, exact: bool = False) -> pd.DataFrame:
    """P&L over time per variant: after every ledger event, and at the window's end."""
    dec = _money(exact)
    rows = [
        {
            "variant_id": variant.variant_id, "ts_ms": point.ts_ms, "realised_pnl_pusd": dec(point.realised),
            "unrealised_pnl_pusd": dec(point.unrealised), "pnl_pusd": dec(point.total),
        }
        for variant in variants
        for point in variant.trading.equity
    ]  # fmt: skip
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame.insert(1, "ts", _time(frame["ts_ms"]))
    return frame


def comparison_frame(comparisons: Sequence[Sequence[dict[str, Any]]]) -> pd.DataFrame:
    """Per variant, each decision compared with the live bot's (see runs.original)."""
    return pd.DataFrame([{"variant_id": v, **row} for v, rows in enumerate(comparisons) for row in rows])


def reports_frame(reports: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Every report: its id, kind, event type, time, and the report itself."""
    frame = pd.DataFrame(
        [
            {
                "report_id": r["report_id"], "report_kind": r.get("report_kind"),
                "event_type": r.get("event_type"),
                "ts_ms": r["ts_ms"], "trace_id": r.get("trace_id"), "report": r,
            }
            for r in reports
        ]
    )  # fmt: skip
    if not frame.empty:
        frame.insert(4, "ts", _time(frame["ts_ms"]))
    return frame


def stats_frame(variants: Sequence[Any], *, exact: bool = False) -> pd.DataFrame:
    """One row per variant (indexed by ``variant_id``): its parameters (``param.<name>``)
    and its statistics (see :mod:`backtester.reports.stats`), money in pUSD."""
    rows = []
    for variant in variants:
        stats = variant.stats
        if stats is None:
            continue
        row: dict[str, Any] = {"variant_id": variant.variant_id}
        row |= {f"param.{k}": v for k, v in variant.params.items()}
        row |= stats_row(stats, exact=exact)
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.set_index("variant_id") if not frame.empty else frame


def stats_row(stats: Any, *, exact: bool = False) -> dict[str, Any]:
    """One ledger's statistics as a row: pUSD amounts and ratios (Decimal, or float with
    NaN for "n/a"), counts and durations as they are."""
    return {
        name: _number(None if value is None else Decimal(value), exact) if name in _DECIMALS else value
        for name, value in stats.as_dict().items()
    }


_DECIMALS = frozenset(MONEY) | frozenset(RATIOS)


def round_trips_frame(variants: Sequence[Any], *, exact: bool = False) -> pd.DataFrame:
    """Every round trip of every variant: entry, exit, size, cost, proceeds and P&L."""
    money = _money(exact)
    rows = [
        {
            "variant_id": variant.variant_id, "kind": t.kind, "market_id": t.market_id,
            "assets": ",".join(t.assets), "entry_ts_ms": t.entry_ms, "exit_ts_ms": t.exit_ms,
            "shares": money(t.shares), "cost_pusd": money(t.cost), "proceeds_pusd": money(t.proceeds),
            "pnl_pusd": money(t.pnl),
        }
        for variant in variants
        for t in variant.round_trips
    ]  # fmt: skip
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame.insert(5, "entry", _time(frame["entry_ts_ms"]))
        frame.insert(7, "exit", _time(frame["exit_ts_ms"]))
    return frame
