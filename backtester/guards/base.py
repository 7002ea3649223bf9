"""Votes, the context guards see, and the rule that combines votes.

A guard looks at an intent and at what a live desk would also have: the books of the
intent's markets, its own exposure and its limits. Nothing replay-only reaches it, so
the same guard code can run live.

Votes combine (:func:`combine`): any reject rejects; of the reshapes the smallest size
wins; a reshaped multi-leg intent keeps every leg at the same number of shares.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from backtester.config.replay import RiskConfig
from backtester.strategies.base import DecisionView, Intent, resized
from backtester.units import MICRO, format_micros

__all__ = ["GuardContext", "Outcome", "Vote", "combine"]

DEFAULT_MIN_ORDER = 5 * MICRO


@dataclass(frozen=True)
class Vote:
    """One guard's vote: ``pass``, ``reshape`` (to ``new_size_pusd``) or ``reject``."""

    guard: str
    vote: str
    new_size_pusd: int | None = None
    reason: str | None = None

    def as_payload(self) -> dict[str, str]:
        """The vote as a ``RiskVote`` payload (archive contract: ``guard``)."""
        out = {"guard": self.guard, "vote": self.vote}
        if self.new_size_pusd is not None:
            out["new_size_pusd"] = format_micros(self.new_size_pusd)
        if self.reason:
            out["reason"] = self.reason
        return out

    def as_risk_vote(self) -> dict[str, str]:
        """The vote as an entry of an OperationsReport's ``risk_votes`` (spec section 16
        names the voter ``bot``)."""
        payload = self.as_payload()
        return {"bot": payload.pop("guard"), **payload}


@dataclass(frozen=True)
class GuardContext:
    """What guards may read: the view the intent came from, limits, and exposure."""

    view: DecisionView
    limits: RiskConfig
    exposure: Mapping[str, int] = field(default_factory=dict)
    """pUSD (micro) already committed per market."""

    @property
    def gross(self) -> int:
        return sum(self.exposure.values())


class Guard(Protocol):
    name: str

    def vote(self, intent: Intent, ctx: GuardContext) -> Vote: ...


@dataclass(frozen=True)
class Outcome:
    """The combined result: the intent to act on (None when rejected) and why."""

    verdict: str
    intent: Intent | None
    votes: tuple[Vote, ...]
    reasons: tuple[str, ...]


def combine(intent: Intent, votes: Sequence[Vote], view: DecisionView) -> Outcome:
    """Combine votes: any reject rejects; else the smallest reshape applies to every leg.

    >>> Vote("a", "pass").vote, Vote("b", "reshape", 5_000_000).as_payload()
    ('pass', {'guard': 'b', 'vote': 'reshape', 'new_size_pusd': '5'})
    """
    votes = tuple(votes)
    rejects = tuple(f"{v.guard}: {v.reason}" for v in votes if v.vote == "reject")
    if rejects:
        return Outcome("reject", None, votes, rejects)
    sizes = [v.new_size_pusd for v in votes if v.vote == "reshape" and v.new_size_pusd is not None]
    if not sizes:
        return Outcome("approve", intent, votes, ())
    target = min(sizes)
    reshaped = _shrink(intent, target, view)
    if reshaped is None:
        reason = f"reshaped to {format_micros(target)} pUSD, below the minimum order"
        return Outcome("reject", None, votes, (reason,))
    return Outcome("reshape", reshaped, votes, (f"reshaped to {format_micros(reshaped.size_pusd)} pUSD",))


def _shrink(intent: Intent, target: int, view: DecisionView) -> Intent | None:
    """The largest balanced version of ``intent`` spending at most ``target``."""
    minimum = max(_min_order(view, leg.market_id) for leg in intent.legs)
    shares = intent.shares * target // intent.size_pusd if intent.size_pusd else 0
    while shares >= minimum:
        smaller = resized(view, intent, shares)
        if smaller is not None and smaller.size_pusd <= target:
            return smaller
        shares -= 10_000 * max(1, shares // 2_000_000)
    return None


def _min_order(view: DecisionView, market_id: str) -> int:
    for market in view.markets:
        if market.info is not None and market.info.condition_id == market_id:
            return market.info.min_order_size or DEFAULT_MIN_ORDER
    return DEFAULT_MIN_ORDER
