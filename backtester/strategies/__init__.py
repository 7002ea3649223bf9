"""Strategies under test and the read-only registry that names them."""

from backtester.strategies.registry import (
    ENTRY_POINT_GROUP,
    StrategyRegistry,
    StrategySpec,
    default_registry,
)

__all__ = ["ENTRY_POINT_GROUP", "StrategyRegistry", "StrategySpec", "default_registry"]
