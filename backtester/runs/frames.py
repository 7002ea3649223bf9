"""A run's results as pandas DataFrames, for notebooks.

Money, prices and sizes are exact ``Decimal`` values (object columns): the ledger's
micro-units turned into decimals, never floats. Times are UTC timestamps.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pandas as pd

from backtester.units import MICRO

__all__ = ["comparison_frame", "equity_frame", "fills_frame", "reports_frame"]


def dec(micros: int | None) -> Decimal | None:
    """Micro-units as an exact Decimal."""
    return None if micros is None else Decimal(micros) / MICRO


def _time(ms: Sequence[int]) -> pd.Series:
    return pd.to_datetime(pd.Series(ms, dtype="int64"), unit="ms", utc=True)


def fills_frame(variants: Sequence[Any]) -> pd.DataFrame:
    """One row per order the venue handled (filled, partly filled or refused)."""
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


def equity_frame(variants: Sequence[Any]) -> pd.DataFrame:
    """P&L over time per variant: after every ledger event, and at the window's end."""
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
