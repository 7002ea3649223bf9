"""Where a variant's P&L came from, in exact micro-pUSD that add up to its total.

Per approved intent that filled, with ``sets`` = the fewest shares any of its legs
filled (a single-leg intent: its filled shares):

* **edge at decision**: ``sets x payout - sum over legs of filled shares x best price at
  decision``. The payout is what the strategy counted one set to be worth: 1 pUSD for a
  complete set, k - 1 for a converted No basket, the fair value for a single-token
  taker. It is the edge the strategy saw when it decided, on what was filled.
* **slippage**: what the fills cost above the best price at decision (the book moved
  during the latency, or the order walked deeper levels), as a cost.
* **fees**: taker fees, in pUSD (a fee taken in shares counts at its pUSD value).
* **outcome vs the model**: the rest, so that the four add up to the total P&L exactly:
  how merges, conversions, settlements, sales and the end-of-window marks turned out
  against the payout the strategy assumed (for an arbitrage, about 0; for a fair-value
  taker, whether its fair value was right).

The total is also split by source: realised by kind of ledger event (merge,
conversion, settlement, sale) and unrealised at the window's end.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from backtester.units import MICRO, parse_micros

__all__ = ["Attribution", "attribute"]


@dataclass(frozen=True)
class Attribution:
    """One variant's P&L, decomposed (micro-pUSD)."""

    edge: int
    slippage: int
    fees: int
    outcome: int
    total: int
    by_source: dict[str, int]

    def components(self) -> list[tuple[str, int]]:
        """The waterfall: edge, minus slippage, minus fees, plus the outcome = total."""
        return [
            ("edge at decision", self.edge),
            ("slippage", -self.slippage),
            ("fees", -self.fees),
            ("outcome vs the model", self.outcome),
        ]


def attribute(variant: Any) -> Attribution:
    """Decompose ``variant``'s P&L (a :class:`~backtester.runs.engine.VariantResult`)."""
    fills = defaultdict(list)
    for execution in variant.trading.executions if variant.trading else ():
        if execution.shares:
            fills[execution.order.trace_id].append(execution)
    edge = slippage = fees = 0
    for decision in variant.decisions:
        done = fills.get(decision.trace_id)
        if decision.verdict == "reject" or not done:
            continue
        by_leg: dict[int, int] = defaultdict(int)
        for execution in done:
            order = execution.order
            by_leg[order.leg] += execution.shares
            best = (
                order.decision_best
                if order.decision_best is not None
                else execution.cost * MICRO // execution.shares
            )
            at_best = execution.shares * best // MICRO
            edge -= at_best
            slippage += execution.cost - at_best
            fees += execution.fee
        sets = min(by_leg.get(index, 0) for index in range(len(decision.intent.legs)))
        edge += sets * decision.intent.payout // MICRO
    by_source: dict[str, int] = defaultdict(int)
    for report in variant.reports:
        if report.get("event_type") == "BACKTESTER_TICK_PROCESSED":
            fill = report["simulated_fill"]
            if fill["kind"] not in ("buy",):
                by_source[_SOURCE.get(fill["kind"], fill["kind"])] += parse_micros(fill["pnl_pusd"])
    by_source["unrealised at the window's end"] = variant.unrealised
    total = variant.pnl
    return Attribution(edge, slippage, fees, total - edge + slippage + fees, total, dict(by_source))


_SOURCE = {"sell": "sales", "merge": "merges", "conversion": "conversions", "settlement": "settlements"}
