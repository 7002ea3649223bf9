"""The verdict on a run: the best variant by a stated metric, the data quality, and every
assumption that qualifies the figures. The report shows it in its opening box
(:mod:`backtester.evidence.html`); the notebooks print it (:func:`verdict`).
"""

from __future__ import annotations

from typing import Any

from backtester.errors import ReasonCode
from backtester.evidence.figures import varying_parameters
from backtester.evidence.numbers import pct, pusd, ratio, signed_pusd

__all__ = ["RANKED_BY", "assumptions", "best_variant", "quality_line", "varying_text", "verdict"]

RANKED_BY = "total P&L (realised + unrealised)"
"""The metric the best variant is chosen by."""


def best_variant(result: Any) -> Any:
    """The variant with the highest total P&L (ties: the lowest id)."""
    return min(result.variants, key=lambda v: (-v.pnl, v.variant_id))


def varying_text(result: Any, variant: Any) -> str:
    """The variant's values of the parameters that vary: ``annual_vol = 0.4, ...``."""
    varying = varying_parameters(result)
    return ", ".join(f"{k} = {variant.params.get(k)}" for k in varying) or "the only variant"


def quality_line(result: Any) -> str:
    """The data quality in one line (the feed's, the same for every variant)."""
    first = result.variants[0]
    return (
        f"{first.ticks_replayed:,} ticks replayed, {first.ticks_skipped:,} skipped "
        f"({first.ticks_missing:,} missing from the archive), {first.ticks_partial_book:,} decided on a "
        f"partial book, {sum(v.phantom_arbs for v in result.variants):,} phantom arbitrages refused "
        "(all variants)."
    )


def assumptions(result: Any, best: Any) -> list[str]:
    """Every assumption that qualifies the figures, one sentence each."""
    run, sim = result.run, result.run.config.simulation
    lines = []
    assumed = result.fee_assumed_markets
    if assumed:
        fee = run.config.fee_assumption
        zero = fee.model == "flat_bps" and not fee.fee_rate_bps
        what = (
            f"a flat {fee.fee_rate_bps} bps"
            if fee.model == "flat_bps"
            else f"the curve {fee.model_dump(mode='json')}"
        )
        lines.append(
            f"Fees assumed ({what}) for {len(assumed)} of {len(result.markets)} markets, whose fee schedule "
            f"the archive does not record: {'P&L is before real fees' if zero else 'real fees may differ'}."
        )
    if best.unrealised:
        lines.append(
            f"{pusd(best.unrealised)} pUSD of the best variant's P&L is unrealised: positions still open at "
            "the window's end are marked to the archive's mid, not sold (a sale would pay the bid, less "
            "fees)."
        )
    lines.append(
        f"Fills are simulated: each order meets the archive's displayed book {sim.latency_ms} ms after the "
        f"decision ({sim.time_in_force}); queue position and hidden liquidity are not modelled."
    )
    if not sim.restore_live_footprint:
        lines.append(
            "The live bot's own fills are not added back to the books (simulation.restore_live_footprint "
            "off): right after a live fill the replay sees the book without the liquidity the bot took."
        )
    if best.stats is not None and best.stats.sharpe is None:
        lines.append(f"Sharpe and Sortino are n/a: {best.stats.why_no_sharpe}.")
    lines += [
        f"{notice.code.value}: {notice.detail}"
        for notice in (*run.notices, *result.notices)
        if notice.code is not ReasonCode.BACKTESTER_FEE_ASSUMED and notice.code.severity.value != "info"
    ]
    return lines


def verdict(result: Any) -> str:
    """The verdict as text, for the notebooks (what the report's opening box says)."""
    if result.abort_report is not None:
        return f"Verdict: the run aborted ({result.abort_report.get('reason')}): there are no results."
    best = best_variant(result)
    stats, live = best.stats, result.original.stats if result.original is not None else None
    lines = [
        (
            f"Verdict: best of {len(result.variants)} variants by {RANKED_BY}: variant {best.variant_id} "
            if len(result.variants) > 1
            else f"Verdict: the only variant, variant {best.variant_id} "
        )
        + f"({varying_text(result, best)})",
        f"  P&L {pusd(stats.pnl)} pUSD (realised {pusd(stats.realised)}, unrealised "
        f"{pusd(stats.unrealised)}), max drawdown {pusd(stats.max_drawdown)} "
        f"({pct(stats.max_drawdown_pct)}), Sharpe {ratio(stats.sharpe)}, win rate {pct(stats.win_rate_pct)} "
        f"of {stats.round_trips} round trips",
    ]
    if live is not None:
        lines.append(
            f"  live (original): P&L {pusd(live.pnl)} pUSD, max drawdown {pusd(live.max_drawdown)}; "
            f"the variant {signed_pusd(best.pnl - live.pnl)} pUSD against it"
        )
    lines.append(f"Data quality: {quality_line(result)}")
    lines.append("Assumptions that qualify these figures:")
    lines += [f"  - {line}" for line in assumptions(result, best)]
    return "\n".join(lines)
