"""The risk-guard stack: ordered guards voting on each intent, and how votes combine."""

from backtester.guards.base import GuardContext, Outcome, Vote, combine
from backtester.guards.rules import BookSkewGuard, LiquidityGuard, PortfolioGuard, PriceGuard, default_guards

__all__ = [
    "BookSkewGuard",
    "GuardContext",
    "LiquidityGuard",
    "Outcome",
    "PortfolioGuard",
    "PriceGuard",
    "Vote",
    "combine",
    "default_guards",
]
