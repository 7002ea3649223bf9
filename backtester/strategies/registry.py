"""The strategy registry: built-ins plus strategies other packages register.

A desk adds a strategy without touching the core by exposing a :class:`StrategySpec`
under the ``backtester.strategies`` entry-point group of its own package::

    [project.entry-points."backtester.strategies"]
    my_strategy = "my_desk.strategies:SPEC"

The registry is built once and is read-only afterwards (spec section 23: "Strategy
registry is read-only within the backtester").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel

from backtester.book.market import MarketView
from backtester.strategies import fair_value_taker, sum_to_one_arb
from backtester.strategies.base import AskSum, DecisionView, Intent
from backtester.strategies.params import FairValueTakerParams, SumToOneArbParams

__all__ = ["ENTRY_POINT_GROUP", "StrategyRegistry", "StrategySpec", "default_registry"]

ENTRY_POINT_GROUP = "backtester.strategies"


@dataclass(frozen=True)
class StrategySpec:
    """A registered strategy: its slug, parameter model, pure ``evaluate`` and a summary.

    The parameter model's defaults are the strategy's defaults: an empty
    ``parameter_sweep`` runs them, and each sweep entry overrides some of them.
    ``evaluate(view, params)`` returns an :class:`~backtester.strategies.base.Intent` or
    None, and must depend on nothing but its arguments.

    ``trigger`` (optional) lets the engine skip ticks where ``evaluate`` cannot act:
    called once per pass with the parameters of every variant of the pass, it returns a
    function giving a group's :class:`~backtester.strategies.base.AskSum` rules from its
    market views (their records, not their books). ``evaluate`` must return None for
    every one of those parameters wherever no rule fires on the archive's own books; a
    variant whose fills changed one of the group's books is evaluated regardless.
    """

    slug: str
    params_model: type[BaseModel]
    evaluate: Callable[[DecisionView, Any], Intent | None]
    summary: str
    trigger: Callable[[Sequence[Any]], Callable[[tuple[MarketView, ...]], Sequence[AskSum]]] | None = None


BUILTINS = (
    StrategySpec(
        slug="sum_to_one_arb",
        params_model=SumToOneArbParams,
        evaluate=sum_to_one_arb.evaluate,
        trigger=sum_to_one_arb.trigger,
        summary="Buy a set of tokens with a certain payout (complete set, neg-risk Yes basket, "
        "No basket through conversion) when it costs less than the payout by min_edge_bps.",
    ),
    StrategySpec(
        slug="fair_value_taker",
        params_model=FairValueTakerParams,
        evaluate=fair_value_taker.evaluate,
        summary="Buy a token whose asks are below a fair value from archived signals by min_edge_bps.",
    ),
)


class StrategyRegistry(Mapping[str, StrategySpec]):
    """A read-only mapping from slug to :class:`StrategySpec`.

    >>> registry = StrategyRegistry(BUILTINS)
    >>> "sum_to_one_arb" in registry, "nonexistent_strategy" in registry
    (True, False)
    >>> registry.params_model("sum_to_one_arb")().min_edge_bps
    12
    """

    def __init__(self, specs: Iterable[StrategySpec]) -> None:
        table: dict[str, StrategySpec] = {}
        for spec in specs:
            if not isinstance(spec, StrategySpec):
                msg = f"a registered strategy must be a StrategySpec, got {spec!r}"
                raise TypeError(msg)
            if spec.slug in table:
                msg = f"strategy {spec.slug!r} is registered twice"
                raise ValueError(msg)
            table[spec.slug] = spec
        self._specs = MappingProxyType(dict(sorted(table.items())))

    def __getitem__(self, slug: str) -> StrategySpec:
        return self._specs[slug]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def params_model(self, slug: str) -> type[BaseModel]:
        return self._specs[slug].params_model

    def slugs(self) -> Sequence[str]:
        return tuple(self._specs)


def default_registry() -> StrategyRegistry:
    """Built-in strategies plus every ``backtester.strategies`` entry point installed."""
    plugins = [ep.load() for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=_ep_key)]
    return StrategyRegistry([*BUILTINS, *plugins])


def _ep_key(ep: object) -> tuple[str, str]:
    return (getattr(ep, "name", ""), getattr(ep, "value", ""))
