"""Each guard's vote, and how votes combine. Books are GENERATED."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from backtester.book import MarketView
from backtester.config import RiskConfig
from backtester.guards import (
    BookSkewGuard,
    GuardContext,
    LiquidityGuard,
    PortfolioGuard,
    PriceGuard,
    Vote,
    combine,
)
from backtester.strategies.params import SumToOneArbParams
from backtester.strategies.sum_to_one_arb import evaluate as arb
from tests.factories import book, info, m, mirrored, view


def phantom(*, yes_ts: int = 1_000, no_ts: int = 1_000, depth: str = "100"):
    """Yes and No both offered at 0.49: a 0.98 set from books that disagree."""
    market = info()
    pair = MarketView(
        market,
        book(market.yes_token_id, [("0.47", depth)], [("0.49", depth), ("0.50", depth)], ts=yes_ts),
        book(market.no_token_id, [("0.47", depth)], [("0.49", depth), ("0.50", depth)], ts=no_ts),
    )
    decision_view = view(pair)
    intent = arb(decision_view, SumToOneArbParams())
    assert intent is not None
    return decision_view, intent


def ctx(decision_view, **limits) -> GuardContext:
    return GuardContext(decision_view, RiskConfig(**limits))


class TestBookSkewGuard:
    def test_books_stamped_apart(self) -> None:
        """The Yes and No books of a market stamped 2 000 ms apart (limit 1 000): a phantom."""
        decision_view, intent = phantom(yes_ts=1_000, no_ts=3_000)
        vote = BookSkewGuard().vote(intent, ctx(decision_view))
        assert (vote.vote, vote.reason) == (
            "reject",
            "phantom: the Yes and No books were stamped 2000 ms apart",
        )

    def test_one_leg_per_market_is_checked_too(self) -> None:
        """A basket with one leg per market is checked against each market's other view:
        No asks of 0.60 while the (newer) Yes bids say the No ask is 0.70 are stale."""
        markets = []
        for index in range(3):
            market = info(f"0x{index + 1:064x}", yes=str(10**76 + 2 * index), no=str(10**76 + 2 * index + 1))
            yes = book(market.yes_token_id, [("0.30", "100")], [("0.32", "100")], ts=5_000)
            no = book(market.no_token_id, [("0.40", "100")], [("0.60", "100")], ts=4_500)
            markets.append(MarketView(market, yes, no))
        decision_view = view(*markets)
        _, template = phantom()
        legs = tuple(
            replace(template.legs[0], market_id=m.info.condition_id, asset_id=m.no.asset_id) for m in markets
        )
        basket = replace(template, kind="no_basket", legs=legs)
        vote = BookSkewGuard().vote(basket, ctx(decision_view))
        assert vote.vote == "reject"
        assert vote.reason.startswith("phantom: the Yes and No books disagree")

    def test_a_quiet_market_is_not_a_phantom(self) -> None:
        """Markets of a basket whose books last changed 4 s apart are each consistent:
        a streamed book that did not change is current. No phantom."""
        markets = []
        for index, ts in enumerate((1_000, 5_000, 5_000)):
            market = info(f"0x{index + 1:064x}", yes=str(10**76 + 2 * index), no=str(10**76 + 2 * index + 1))
            markets.append(mirrored(market, [("0.30", "100")], [("0.32", "100")], ts=ts))
        decision_view = view(*markets)
        _, template = phantom()
        legs = tuple(
            replace(template.legs[0], market_id=m.info.condition_id, asset_id=m.yes.asset_id) for m in markets
        )
        assert BookSkewGuard().vote(replace(template, legs=legs), ctx(decision_view)).vote == "pass"

    def test_books_that_disagree_as_mirrors(self) -> None:
        """Same stamps, but the two views are not one book: a phantom all the same."""
        decision_view, intent = phantom()
        vote = BookSkewGuard().vote(intent, ctx(decision_view))
        assert vote.vote == "reject"
        assert vote.reason.startswith("phantom: the Yes and No books disagree")

    def test_one_leg_passes(self) -> None:
        """A single-leg intent on a consistent book passes."""
        market = mirrored(info(), [("0.48", "100")], [("0.52", "100")])
        decision_view = view(market)
        _, intent = phantom()
        leg = replace(intent.legs[0], asset_id=market.yes.asset_id, book_stamp_ms=1_000)
        single = replace(intent, legs=(leg,))
        assert BookSkewGuard().vote(single, ctx(decision_view)).vote == "pass"


class TestPriceGuard:
    def test_within_and_beyond_the_band(self) -> None:
        """Best ask 0.49, band 500 bps (0.05): a limit of 0.50 passes, 0.55 is rejected."""
        decision_view, intent = phantom()
        assert PriceGuard().vote(intent, ctx(decision_view)).vote == "pass"
        far = replace(intent, legs=tuple(replace(leg, limit_price=m("0.55")) for leg in intent.legs))
        vote = PriceGuard().vote(far, ctx(decision_view))
        assert vote.vote == "reject"
        assert "more than 500 bps above the best ask 0.49" in vote.reason


class TestLiquidityGuard:
    def test_reshapes_to_displayed_depth(self) -> None:
        """200 shares wanted, 100 displayed within the limit 0.49 on each leg: reshape to
        half the size (98 pUSD of 196)."""
        decision_view, intent = phantom(depth="100")
        legs = tuple(
            replace(leg, limit_price=m("0.49"), shares=m("200"), cost=m("98")) for leg in intent.legs
        )
        wanted = replace(intent, legs=legs)
        vote = LiquidityGuard().vote(wanted, ctx(decision_view))
        assert (vote.vote, vote.new_size_pusd) == ("reshape", m("98"))

    def test_depth_fraction(self) -> None:
        """With depth_fraction 0.5 only half the displayed depth may be taken."""
        decision_view, intent = phantom()
        vote = LiquidityGuard().vote(intent, ctx(decision_view, depth_fraction=Decimal("0.5")))
        assert (vote.vote, vote.new_size_pusd) == ("reshape", intent.size_pusd // 2)


class TestPortfolioGuard:
    def test_reshapes_to_the_position_limit(self) -> None:
        """A 98 pUSD set under a 50 pUSD position limit is reshaped to 50."""
        decision_view, intent = phantom()
        vote = PortfolioGuard().vote(intent, ctx(decision_view, max_position_pusd=Decimal(50)))
        assert (vote.vote, vote.new_size_pusd) == ("reshape", m("50"))

    def test_rejects_when_nothing_is_left(self) -> None:
        """Exposure already at the gross limit leaves nothing."""
        decision_view, intent = phantom()
        full = GuardContext(decision_view, RiskConfig(max_gross_exposure_pusd=Decimal(100)), {"x": m("100")})
        assert PortfolioGuard().vote(intent, full).vote == "reject"


class TestCombine:
    def test_any_reject_rejects(self) -> None:
        """One reject among passes and reshapes rejects the intent."""
        decision_view, intent = phantom()
        votes = [Vote("a", "pass"), Vote("b", "reshape", m("50")), Vote("c", "reject", reason="no")]
        outcome = combine(intent, votes, decision_view)
        assert (outcome.verdict, outcome.intent, outcome.reasons) == ("reject", None, ("c: no",))

    def test_smallest_reshape_wins_and_legs_stay_balanced(self) -> None:
        """Reshapes to 60 and 40 pUSD: 40 wins. At 0.98 a set that is 40 / 0.98 = 40.81
        shares, floored to the lot: 40.81 shares on both legs, 39.9938 pUSD."""
        decision_view, intent = phantom()
        votes = [Vote("a", "pass"), Vote("b", "reshape", m("60")), Vote("c", "reshape", m("40"))]
        outcome = combine(intent, votes, decision_view)
        assert outcome.verdict == "reshape"
        assert outcome.intent is not None
        assert [leg.shares for leg in outcome.intent.legs] == [m("40.81"), m("40.81")]
        assert outcome.intent.size_pusd == m("39.9938")

    def test_reshape_below_minimum_rejects(self) -> None:
        """A reshape to 2 pUSD (about 2 shares) is below the 5-share minimum order."""
        decision_view, intent = phantom()
        outcome = combine(intent, [Vote("b", "reshape", m("2"))], decision_view)
        assert outcome.verdict == "reject"

    def test_all_pass_approves(self) -> None:
        """No objection approves the intent as it is."""
        decision_view, intent = phantom()
        assert combine(intent, [Vote("a", "pass")], decision_view).intent == intent
