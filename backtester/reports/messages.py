"""What a reviewer reads: the spec's plain-English explanations (section 17) and the
user-facing message of each reason code (section 14), word for word. Where the spec
gives a code no message, or the code is ours, the message here is ours and says so in
:data:`OURS`.
"""

from __future__ import annotations

from collections.abc import Iterable

from backtester.errors import ReasonCode

__all__ = ["ABORTED", "OURS", "PLAIN_ENGLISH", "USER_MESSAGES", "explain"]

PLAIN_ENGLISH = {
    "completed": "The strategy was replayed over the selected historical period. Results include simulated "
    "trades, P&L estimates, and a comparison against what actually happened.",
    "sweep": "Multiple parameter variants were tested over the same historical data. A summary of results "
    "for each variant is available.",
    "clamped": "The requested end date is in the future. The backtest was run up to the most recent "
    "available data.",
    "incomplete": "Some historical data is unavailable for the requested window. The backtest covered only "
    "the periods with complete records.",
}
"""Spec section 17, by situation."""

ABORTED = (
    "The backtest stopped before replaying the window, so it has no trades, P&L or comparison to show. "
    "The message below says why."
)
"""Ours: section 17 has no text for a run that aborted."""

USER_MESSAGES = {
    ReasonCode.BACKTESTER_REPLAY_COMPLETE: "The backtest finished. Results are available in the governance "
    "audit report.",
    ReasonCode.BACKTESTER_INVALID_WINDOW: "The backtest start date must be before the end date.",
    ReasonCode.BACKTESTER_UNKNOWN_STRATEGY: "The requested strategy is not available for backtesting.",
    ReasonCode.BACKTESTER_WINDOW_CLAMPED: "The backtest end date was set to the most recent available data.",
    ReasonCode.KILL_SWITCH_ACTIVE: "New backtests are paused while the system kill switch is active.",
    # The spec leaves these without a user-facing message: ours.
    ReasonCode.BACKTESTER_TICK_SKIPPED: "Some moments of the market were skipped because the recorded order "
    "book was incomplete; nothing was made up for them.",
    ReasonCode.BACKTESTER_ARCHIVE_UNAVAILABLE: "The historical data could not be read, so the backtest did "
    "not run.",
    ReasonCode.BACKTESTER_LARGE_SWEEP: "Many parameter variants were requested, so the backtest ran with "
    "fewer resources at a time.",
    ReasonCode.BACKTESTER_FEE_ASSUMED: "Some markets had no recorded fee schedule; the backtest used the fee "
    "assumption given in its configuration.",
    ReasonCode.BACKTESTER_MARKET_SKIPPED: "Some markets could not be replayed because their description is "
    "missing from the archive.",
    ReasonCode.BACKTESTER_INTENT_REJECTED: "Some trades the strategy proposed were stopped by the risk "
    "checks.",
}
"""Spec section 14's user-facing messages, and ours where it has none."""

OURS = frozenset(
    {
        ReasonCode.BACKTESTER_TICK_SKIPPED,
        ReasonCode.BACKTESTER_ARCHIVE_UNAVAILABLE,
        ReasonCode.BACKTESTER_LARGE_SWEEP,
        ReasonCode.BACKTESTER_FEE_ASSUMED,
        ReasonCode.BACKTESTER_MARKET_SKIPPED,
        ReasonCode.BACKTESTER_INTENT_REJECTED,
    }
)
"""Codes whose message is ours, not the spec's."""


def explain(*, codes: Iterable[ReasonCode], sweep: bool, skipped: int, aborted: bool = False) -> list[str]:
    """The plain-English paragraphs for a run that raised ``codes`` (spec section 17;
    :data:`ABORTED`, ours, for a run that aborted).

    >>> explain(codes=[ReasonCode.BACKTESTER_WINDOW_CLAMPED], sweep=False, skipped=0)[1]
    'The requested end date is in the future. The backtest was run up to the most recent available data.'
    """
    if aborted:
        return [ABORTED]
    raised = set(codes)
    out = [PLAIN_ENGLISH["sweep" if sweep else "completed"]]
    if ReasonCode.BACKTESTER_WINDOW_CLAMPED in raised:
        out.append(PLAIN_ENGLISH["clamped"])
    if skipped or ReasonCode.BACKTESTER_TICK_SKIPPED in raised:
        out.append(PLAIN_ENGLISH["incomplete"])
    return out
