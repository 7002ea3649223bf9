"""The report's tables as pandas DataFrames, for the notebooks.

Every amount is the exact decimal string written from micro-pUSD (never a float). A run
that aborted, or has nothing to show, gives an empty table with the same columns, so a
template renders it instead of failing.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from backtester.evidence.attribution import Attribution
from backtester.evidence.figures import sweep_table
from backtester.evidence.overview import attribution_rows

__all__ = ["attribution_table", "comparison_table", "ranked_table"]

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
