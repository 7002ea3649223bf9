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
    "DECIMALS", "TIMES", "comparison_frame", "comparison_rows", "equity_frame", "equity_rows", "fills_frame",
    "fills_rows", "frame_of", "reports_frame", "round_trip_rows", "round_trips_frame", "stats_frame",
    "stats_row", "stats_rows",
]  # fmt: skip


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


TIMES = {
    "decided": "decided_ms",
    "arrival": "arrival_ms",
    "ts": "ts_ms",
    "entry": "entry_ts_ms",
    "exit": "exit_ts_ms",
}
"""The UTC time columns a frame gets, each from its epoch-ms column (placed before it)."""


def frame_of(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """``rows`` as a DataFrame, with a UTC time column before each epoch-ms one."""
    frame = pd.DataFrame(list(rows))
    for name, ms in TIMES.items():
        if ms in frame.columns:
            frame.insert(frame.columns.get_loc(ms), name, _time(frame[ms]))
    return frame


def fills_frame(variants: Sequence[Any], *, exact: bool = False) -> pd.DataFrame:
    """One row per order the venue handled (filled, partly filled or refused)."""
    return frame_of(fills_rows(variants, exact=exact))


def fills_rows(variants: Sequence[Any], *, exact: bool = False) -> list[dict[str, Any]]:
    """The rows of :func:`fills_frame`."""
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
                    "fee_asset": e.fee_asset, "slippage_bps": _number(e.slippage_bps, exact),
                    "reason": e.reason,
                }
            )  # fmt: skip
    return rows


def equity_frame(variants: Sequence[Any], *, exact: bool = False) -> pd.DataFrame:
    """P&L over time per variant: after every ledger event, and at the window's end."""
    return frame_of(equity_rows(variants, exact=exact))


def equity_rows(variants: Sequence[Any], *, exact: bool = False) -> list[dict[str, Any]]:
    """The rows of :func:`equity_frame`."""
    dec = _money(exact)
    return [
        {
            "variant_id": variant.variant_id, "ts_ms": point.ts_ms, "realised_pnl_pusd": dec(point.realised),
            "unrealised_pnl_pusd": dec(point.unrealised), "pnl_pusd": dec(point.total),
        }
        for variant in variants
        for point in variant.trading.equity
    ]  # fmt: skip


def comparison_frame(comparisons: Sequence[Sequence[dict[str, Any]]]) -> pd.DataFrame:
    """Per variant, each decision compared with the live bot's (see runs.original)."""
    return pd.DataFrame(comparison_rows(comparisons))


def comparison_rows(comparisons: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The rows of :func:`comparison_frame` (amounts as the reports' decimal strings)."""
    return [{"variant_id": v, **row} for v, rows in enumerate(comparisons) for row in rows]


def reports_frame(reports: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Every report: its id, kind, event type, time, and the report itself."""
    return frame_of(
        [
            {
                "report_id": r["report_id"], "report_kind": r.get("report_kind"),
                "event_type": r.get("event_type"), "ts_ms": r["ts_ms"], "trace_id": r.get("trace_id"),
                "report": r,
            }
            for r in reports
        ]
    )  # fmt: skip


def stats_frame(variants: Sequence[Any], *, exact: bool = False) -> pd.DataFrame:
    """One row per variant (indexed by ``variant_id``): its parameters (``param.<name>``)
    and its statistics (see :mod:`backtester.reports.stats`), money in pUSD."""
    frame = pd.DataFrame(stats_rows(variants, exact=exact))
    return frame.set_index("variant_id") if not frame.empty else frame


def stats_rows(variants: Sequence[Any], *, exact: bool = False) -> list[dict[str, Any]]:
    """The rows of :func:`stats_frame`."""
    return [
        {
            "variant_id": v.variant_id,
            **{f"param.{k}": p for k, p in v.params.items()},
            **stats_row(v.stats, exact=exact),
        }
        for v in variants
        if v.stats is not None
    ]


def stats_row(stats: Any, *, exact: bool = False) -> dict[str, Any]:
    """One ledger's statistics as a row: pUSD amounts and ratios (Decimal, or float with
    NaN for "n/a"), counts and durations as they are."""
    return {
        name: _number(None if value is None else Decimal(value), exact) if name in DECIMALS else value
        for name, value in stats.as_dict().items()
    }


DECIMALS = frozenset(MONEY) | frozenset(RATIOS)
"""The statistics that are decimal amounts or ratios."""


def round_trips_frame(variants: Sequence[Any], *, exact: bool = False) -> pd.DataFrame:
    """Every round trip of every variant: entry, exit, size, cost, proceeds and P&L."""
    return frame_of(round_trip_rows(variants, exact=exact))


def round_trip_rows(variants: Sequence[Any], *, exact: bool = False) -> list[dict[str, Any]]:
    """The rows of :func:`round_trips_frame`."""
    money = _money(exact)
    return [
        {
            "variant_id": variant.variant_id, "kind": t.kind, "market_id": t.market_id,
            "assets": ",".join(t.assets), "entry_ts_ms": t.entry_ms, "exit_ts_ms": t.exit_ms,
            "shares": money(t.shares), "cost_pusd": money(t.cost), "proceeds_pusd": money(t.proceeds),
            "pnl_pusd": money(t.pnl),
        }
        for variant in variants
        for t in variant.round_trips
    ]  # fmt: skip
