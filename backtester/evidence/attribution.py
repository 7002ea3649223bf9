"""Where a variant's P&L came from, in exact micro-pUSD that add up to its total.

Per approved intent that filled, leg by leg: ``g`` shares bought, ``f`` of them taken
as the fee (a fee in shares; 0 when it is paid in pUSD), ``h = g - f`` shares kept,
``b`` the best ask when the strategy decided, ``C`` what the fills cost. ``sets`` is
the fewest shares any leg kept (a single-leg intent: the shares it kept), and the
``payout`` is what the strategy counted one set to be worth: 1 pUSD for a complete set,
k - 1 for a converted No basket, its fair value for a single-token taker.

* **edge at decision** = ``sets x (payout - sum of b over the legs)``: the edge the
  strategy saw when it decided, on the complete sets it ended up holding.
* **unhedged legs** = ``sum of (h - sets) x (m - b)``: the shares of a multi-leg intent
  bought beyond its complete sets (one leg filled more than another), valued at ``m``,
  the archive's mid of that token at the window's end, against what they cost at the
  decision's prices. They are not part of any set, so not part of the edge; this is
  what being left unhedged came to by the window's end. Always 0 for a single-leg
  intent.
* **slippage** = ``sum of (C - g x b)``: what the fills cost above the best price at
  decision (the book moved during the latency, or the order walked deeper levels).
* **fees** = fees paid in pUSD, plus ``f x b`` for a fee taken in shares (what those
  shares cost at the decision's price).
* **outcome vs the model**: the rest, so that the five add up to the total P&L exactly:
  how merges, conversions, settlements, sales and the end-of-window marks turned out
  against the payout the strategy assumed (for an arbitrage, about 0; for a fair-value
  taker, whether its fair value was right), and how unhedged shares fared against
  their end-of-window mid (sold, merged or settled at other prices).

The first four add up to ``sets x payout`` minus everything spent plus the unhedged
shares at their end mid, so the outcome is the total P&L minus that.
The total is also split by source: realised by kind of ledger event (merge, conversion,
settlement, sale) and unrealised at the window's end.
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
    unhedged: int
    slippage: int
    fees: int
    outcome: int
    total: int
    by_source: dict[str, int]

    def components(self) -> list[tuple[str, int]]:
        """The waterfall: edge, unhedged legs, minus slippage, minus fees, plus the
        outcome = total."""
        return [
            ("edge at decision", self.edge),
            ("unhedged legs", self.unhedged),
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
    edge = unhedged = slippage = fees = 0
    for decision in variant.decisions:
        done = fills.get(decision.trace_id)
        if decision.verdict == "reject" or not done:
            continue
        kept: dict[int, int] = defaultdict(int)
        best: dict[int, int] = {}
        asset: dict[int, str] = {}
        for execution in done:
            order = execution.order
            price = (
                order.decision_best
                if order.decision_best is not None
                else execution.cost * MICRO // execution.shares
            )
            best.setdefault(order.leg, price)
            asset.setdefault(order.leg, order.asset_id)
            kept[order.leg] += execution.shares - execution.fee_shares
            slippage += execution.cost - execution.shares * price // MICRO
            fees += execution.fee_shares * price // MICRO if execution.fee_shares else execution.fee
        legs = range(len(decision.intent.legs))
        sets = min(kept.get(index, 0) for index in legs)
        edge += sets * decision.intent.payout // MICRO
        edge -= sum(sets * best[i] // MICRO for i in legs if i in best)
        marks = variant.marks
        unhedged += sum((kept[i] - sets) * (marks.get(asset[i], 0) - best[i]) // MICRO for i in best)
    by_source: dict[str, int] = defaultdict(int)
    for report in variant.reports:
        if report.get("event_type") == "BACKTESTER_TICK_PROCESSED":
            fill = report["simulated_fill"]
            if fill["kind"] not in ("buy",):
                by_source[_SOURCE.get(fill["kind"], fill["kind"])] += parse_micros(fill["pnl_pusd"])
    by_source["unrealised at the window's end"] = variant.unrealised
    total = variant.pnl
    outcome = total - edge - unhedged + slippage + fees
    return Attribution(edge, unhedged, slippage, fees, outcome, total, dict(by_source))


_SOURCE = {"sell": "sales", "merge": "merges", "conversion": "conversions", "settlement": "settlements"}
