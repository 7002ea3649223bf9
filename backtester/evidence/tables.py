"""The report's tables as pandas DataFrames, for the notebooks.

Every amount is the exact decimal string written from micro-pUSD (never a float), but in
:func:`stats_table`, which shows the statistics as the report does (pUSD to 2 decimals,
bps as integers: :mod:`backtester.evidence.numbers`; the exact values are in
``result.exact.stats``). A run that aborted, or has nothing to show, gives an empty
table with the same columns, so a template renders it instead of failing.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from backtester.evidence.attribution import Attribution
from backtester.evidence.figures import sweep_table, varying_parameters
from backtester.evidence.numbers import bps, pct, pusd, ratio
from backtester.evidence.overview import attribution_rows

__all__ = ["attribution_table", "comparison_table", "ranked_table", "stats_table"]

_COMPONENTS = [name for name, _ in Attribution(0, 0, 0, 0, 0, 0, {}).components()]
_COMPARISON = ["live_decisions", "linked_decisions", "decided_same", "filled_same"]


def attribution_table(result: Any) -> pd.DataFrame:
    """P&L attribution: one column per variant, one row per component (then the total
    and its split by source)."""
    rows = attribution_rows(result)
    if not rows:
        return pd.DataFrame(index=pd.Index([*_COMPONENTS, "total"], name="variant"))
    return pd.DataFrame(rows).set_index("variant").T


def ranked_table(result: Any) -> pd.DataFrame:
    """The variants ranked by P&L, best first (:func:`~backtester.evidence.figures.sweep_table`)."""
    rows = sweep_table(result)
    if not rows:
        return pd.DataFrame(columns=["rank", "variant_id", "fills", "pnl_pusd"]).set_index("rank")
    return pd.DataFrame(rows).set_index("rank")


def comparison_table(result: Any) -> pd.DataFrame:
    """Per variant, how its decisions compare with the live bot's, by cause."""
    summary = result.summary().get("comparison") or []
    causes = sorted({cause for c in summary for cause in c["by_cause"]})
    rows = []
    for c in summary:
        row = {"variant_id": c["variant_id"], **{k: c[k] for k in _COMPARISON}}
        row |= {f"cause: {k}": c["by_cause"].get(k, 0) for k in causes}
        row["vs_original_pnl_delta_pusd"] = c["vs_original_pnl_delta_pusd"]
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=["variant_id", *_COMPARISON, "vs_original_pnl_delta_pusd"]).set_index(
            "variant_id"
        )
    return pd.DataFrame(rows).set_index("variant_id")


def stats_table(result: Any) -> pd.DataFrame:
    """Each variant's statistics (and the live bot's), ranked by P&L, formatted as the
    report shows them; the parameters that vary only."""
    varying = varying_parameters(result)
    ranked = sorted((v for v in result.variants if v.stats is not None), key=lambda v: (-v.pnl, v.variant_id))
    rows = [
        {"variant": str(v.variant_id), **{k: v.params.get(k) for k in varying}, **_formatted(v.stats)}
        for v in ranked
    ]
    if result.original is not None and result.original.stats is not None:
        rows.append({"variant": "live", **dict.fromkeys(varying, ""), **_formatted(result.original.stats)})
    if not rows:
        return pd.DataFrame(columns=["variant", "pnl"]).set_index("variant")
    return pd.DataFrame(rows).set_index("variant")


def _formatted(s: Any) -> dict[str, str]:
    return {
        "pnl": pusd(s.pnl), "realised": pusd(s.realised), "unrealised": pusd(s.unrealised),
        "return": pct(s.return_on_exposure_pct), "max_dd": pusd(s.max_drawdown),
        "max_dd_%": pct(s.max_drawdown_pct),
        "sharpe": ratio(s.sharpe), "win_rate": pct(s.win_rate_pct), "profit_factor": ratio(s.profit_factor),
        "trips": str(s.round_trips), "fills": str(s.fills), "fees_bps": bps(s.fees_bps),
        "slippage_bps": bps(s.slippage_bps),
    }  # fmt: skip
