"""Built-in strategies on GENERATED books, with the arithmetic worked in comments."""

from __future__ import annotations

from decimal import Decimal
from importlib.metadata import EntryPoint

import pytest

from backtester.book import MarketView
from backtester.strategies import ENTRY_POINT_GROUP, StrategySpec, default_registry
from backtester.strategies import registry as registry_module
from backtester.strategies.base import DecisionView, Signal
from backtester.strategies.fair_value_taker import evaluate as fair_value
from backtester.strategies.params import FairValueTakerParams, SumToOneArbParams
from backtester.strategies.sum_to_one_arb import evaluate as arb
from tests.factories import CURVE_7, book, info, m, mirrored, view

EVENT = "0x" + "ab" * 31 + "00"


def event_market(
    index: int, yes_ask: str, no_ask: str, *, fees=CURVE_7, active: bool = True, size: str = "100", outcomes=3
):
    """Market ``index`` of a neg-risk event of ``outcomes`` outcomes, one ask level on each token."""
    market = info(
        f"0x{index + 1:064x}", yes=str(10**76 + 2 * index), no=str(10**76 + 2 * index + 1), fees=fees,
        neg_risk=True, event=EVENT, index=index, active=active, outcomes=outcomes,
    )  # fmt: skip
    return MarketView(
        market,
        book(market.yes_token_id, [], [(yes_ask, size)]),
        book(market.no_token_id, [], [(no_ask, size)]),
    )


class TestSumToOneArbBinary:
    def test_mirrored_book_never_fires(self) -> None:
        """A consistent market: Yes ask 0.52 + No ask (1 - Yes bid 0.48 = 0.52) = 1.04 > 1."""
        market = mirrored(info(), [("0.48", "100")], [("0.52", "100")])
        assert arb(view(market), SumToOneArbParams(min_edge_bps=0)) is None

    def test_phantom_from_books_read_apart(self) -> None:
        """Yes and No both offered at 0.49 (books read at different moments): a set costs
        0.98, edge (1 - 0.98) / 1 = 200 bps; depth 100 shares; 100 x 0.98 = 98 pUSD."""
        market = info()
        pair = MarketView(
            market,
            book(market.yes_token_id, [("0.47", "100")], [("0.49", "100")], ts=1_000),
            book(market.no_token_id, [("0.47", "100")], [("0.49", "100")], ts=1_000),
        )
        intent = arb(view(pair), SumToOneArbParams())
        assert intent is not None
        assert (intent.kind, intent.shares, intent.size_pusd, intent.edge_bps) == (
            "complete_set",
            m("100"),
            m("98"),
            200,
        )
        assert {leg.asset_id for leg in intent.legs} == {market.yes_token_id, market.no_token_id}

    def test_size_bounded_by_budget(self) -> None:
        """With 49 pUSD to spend at 0.98 a set: 50 shares."""
        market = info()
        pair = MarketView(
            market,
            book(market.yes_token_id, [], [("0.49", "100")]),
            book(market.no_token_id, [], [("0.49", "100")]),
        )
        intent = arb(view(pair), SumToOneArbParams(max_size_pusd=Decimal(49)))
        assert intent is not None
        assert (intent.shares, intent.size_pusd) == (m("50"), m("49"))

    def test_below_minimum_order(self) -> None:
        """Depth of 4 shares is below the 5-share minimum: nothing."""
        market = info()
        pair = MarketView(
            market,
            book(market.yes_token_id, [], [("0.49", "4")]),
            book(market.no_token_id, [], [("0.49", "4")]),
        )
        assert arb(view(pair), SumToOneArbParams()) is None


class TestSumToOneArbNegRisk:
    def test_yes_basket_at_the_fee_boundary(self) -> None:
        """Three outcomes at 0.30, 0.30, 0.35 = 0.95, with the 0.07 curve fee:
        fees per share 0.07 x 0.30 x 0.70 = 0.0147 (twice) + 0.07 x 0.35 x 0.65 = 0.015925,
        so a basket costs 0.995325 and the edge is 46.75 bps: it fires at 46, not at 47."""
        markets = [
            event_market(0, "0.30", "0.80"),
            event_market(1, "0.30", "0.80"),
            event_market(2, "0.35", "0.80"),
        ]
        fired = arb(view(*markets, group=EVENT), SumToOneArbParams(min_edge_bps=46))
        assert fired is not None
        assert (fired.kind, fired.shares, fired.size_pusd) == ("yes_basket", m("100"), m("99.5325"))
        assert arb(view(*markets, group=EVENT), SumToOneArbParams(min_edge_bps=47)) is None

    def test_no_basket_through_conversion(self) -> None:
        """No asks 0.60 + 0.62 + 0.70 = 1.92 for three No tokens that convert into 2 pUSD:
        edge (2 - 1.92) / 2 = 400 bps (no fee). The Yes basket (1.35) does not fire."""
        markets = [
            event_market(0, "0.45", "0.60", fees=info().fees),
            event_market(1, "0.45", "0.62", fees=info().fees),
            event_market(2, "0.45", "0.70", fees=info().fees),
        ]
        intent = arb(view(*markets, group=EVENT), SumToOneArbParams())
        assert intent is not None
        assert (intent.kind, intent.payout, intent.edge_bps) == ("no_basket", m("2"), 400)
        assert intent.size_pusd == m("192")

    def test_augmented_event_has_no_yes_basket(self) -> None:
        """An inactive placeholder can still become the winner: Yes of the active outcomes
        is not a complete set, however cheap. The conversion basket stays riskless."""
        markets = [
            event_market(0, "0.30", "0.90", fees=info().fees),
            event_market(1, "0.30", "0.90", fees=info().fees),
            event_market(2, "0.30", "0.90", fees=info().fees, active=False),
        ]
        assert arb(view(*markets, group=EVENT), SumToOneArbParams()) is None

    def test_missing_last_outcome(self) -> None:
        """Outcomes 0 and 1 of a 3-outcome event: the last one is missing, so Yes of the two
        recorded ones (0.40 + 0.40) is not a complete set, however cheap."""
        markets = [
            event_market(0, "0.40", "0.90", fees=info().fees),
            event_market(1, "0.40", "0.90", fees=info().fees),
        ]
        assert arb(view(*markets, group=EVENT), SumToOneArbParams()) is None

    def test_event_size_unknown(self) -> None:
        """Without the event's outcome count (a lone Gamma market object), no Yes basket."""
        markets = [event_market(i, "0.30", "0.90", fees=info().fees, outcomes=None) for i in range(3)]
        assert arb(view(*markets, group=EVENT), SumToOneArbParams()) is None

    def test_incomplete_outcome_indices(self) -> None:
        """Outcomes 0 and 2 without 1 (not in the archive) are not a complete event."""
        markets = [
            event_market(0, "0.30", "0.90", fees=info().fees),
            event_market(2, "0.30", "0.90", fees=info().fees),
        ]
        assert arb(view(*markets, group=EVENT), SumToOneArbParams()) is None

    def test_unknown_fees_are_not_guessed(self) -> None:
        """A market whose fee schedule is unknown is not traded."""
        market = info(fees=info().fees.__class__("unknown"))
        pair = MarketView(
            market,
            book(market.yes_token_id, [], [("0.40", "100")]),
            book(market.no_token_id, [], [("0.40", "100")]),
        )
        assert arb(view(pair), SumToOneArbParams()) is None


class TestFairValueTaker:
    def test_buys_below_fair_value(self) -> None:
        """Fair value 0.60, Yes asks 0.55 x 100: edge (0.60 - 0.55) / 0.60 = 833 bps.
        Budget 100 pUSD allows 181 shares, depth 100: buy 100 for 55 pUSD. The No side
        (fair 0.40, ask 1 - 0.50 = 0.50) does not qualify."""
        market = mirrored(info(), [("0.50", "100")], [("0.55", "100")])
        signals = {
            (market.info.condition_id, "fair_value"): Signal(Decimal("0.60"), 900, Decimal("0.60"), 900)
        }
        intent = fair_value(view(market, signals=signals), FairValueTakerParams())
        assert intent is not None
        assert (intent.kind, intent.legs[0].asset_id, intent.shares, intent.size_pusd) == (
            "taker", market.yes.asset_id, m("100"), m("55"),
        )  # fmt: skip
        assert intent.edge_bps == 833

    def test_not_enough_edge(self) -> None:
        """Fair value 0.56 against ask 0.55 is 178 bps: below the default 200."""
        market = mirrored(info(), [("0.50", "100")], [("0.55", "100")])
        signals = {
            (market.info.condition_id, "fair_value"): Signal(Decimal("0.56"), 900, Decimal("0.56"), 900)
        }
        assert fair_value(view(market, signals=signals), FairValueTakerParams()) is None

    def test_no_signal_no_trade(self) -> None:
        """Without the signal there is no fair value and no trade."""
        market = mirrored(info(), [("0.50", "100")], [("0.55", "100")])
        assert fair_value(view(market), FairValueTakerParams()) is None


def test_registry_holds_both_builtins() -> None:
    """Both built-ins are registered with their parameter models and evaluate functions."""
    registry = default_registry()
    assert list(registry) == ["fair_value_taker", "sum_to_one_arb"]
    assert registry["sum_to_one_arb"].evaluate is arb


@pytest.mark.parametrize("slug", ["sum_to_one_arb", "fair_value_taker"])
def test_strategies_are_pure(slug: str) -> None:
    """The same view and parameters give the same intent, twice."""
    market = info()
    pair = MarketView(
        market,
        book(market.yes_token_id, [], [("0.45", "50")]),
        book(market.no_token_id, [], [("0.45", "50")]),
    )
    signals = {(market.condition_id, "fair_value"): Signal(Decimal("0.9"), 1, Decimal("0.9"), 1)}
    spec = default_registry()[slug]
    params = spec.params_model()
    assert spec.evaluate(view(pair, signals=signals), params) == spec.evaluate(
        view(pair, signals=signals), params
    )


def test_a_desk_registers_a_strategy_through_an_entry_point(monkeypatch) -> None:
    """A strategy exposed under the backtester.strategies entry-point group joins the
    registry without touching the core."""
    plugin = EntryPoint(
        name="desk_arb", value="tests.unit.test_strategies:DESK_SPEC", group=ENTRY_POINT_GROUP
    )
    monkeypatch.setattr(
        registry_module, "entry_points", lambda group: [plugin] if group == ENTRY_POINT_GROUP else []
    )
    registry = registry_module.default_registry()
    assert "desk_arb" in registry
    assert registry.params_model("desk_arb") is SumToOneArbParams


def _never(view: DecisionView, params: SumToOneArbParams) -> None:
    return None


DESK_SPEC = StrategySpec("desk_arb", SumToOneArbParams, _never, "a desk's own strategy (test plugin)")
