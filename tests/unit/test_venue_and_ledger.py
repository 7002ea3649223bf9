"""Fills, fees and the FIFO ledger: golden cases worked by hand. Books are GENERATED."""

from __future__ import annotations

from decimal import Decimal

import pytest

from backtester.book import MarketView
from backtester.fees import CLOB_V2_CUTOVER_MS, FeeModel
from backtester.ledger import Ledger
from backtester.venue import Order, execute
from tests.factories import CURVE_7, NO_FEE, book, info, m, mirrored

AFTER_V2 = CLOB_V2_CUTOVER_MS + 1
BEFORE_V2 = CLOB_V2_CUTOVER_MS - 1


def three_levels(fees: FeeModel = NO_FEE) -> MarketView:
    """Yes asks 0.40, 0.41, 0.42 x 100 each; bids 0.38 x 100 (the No book mirrors it)."""
    return mirrored(info(fees=fees), [("0.38", "100")], [("0.40", "100"), ("0.41", "100"), ("0.42", "100")])


def buy(market: MarketView, shares: str, limit: str, *, best: str = "0.40") -> Order:
    cid, asset = market.info.condition_id, market.yes.asset_id
    return Order(
        "t", 0, cid, asset, "BUY", m(limit), m(shares), decided_ms=0, arrival_ms=250, decision_best=m(best)
    )


class TestFills:
    def test_walks_three_levels(self) -> None:
        """250 shares up to 0.42: 100 x 0.40 + 100 x 0.41 + 50 x 0.42 = 40 + 41 + 21 = 102 pUSD,
        average 0.408, 200 bps worse than the 0.40 best at decision time. Curve fee 0.07:
        100 x 0.07 x 0.24 + 100 x 0.07 x 0.2419 + 50 x 0.07 x 0.2436 = 1.68 + 1.6933 + 0.8526."""
        market = three_levels(CURVE_7)
        fill = execute(buy(market, "250", "0.42"), market, ts_ms=AFTER_V2)
        assert (fill.status, fill.shares, fill.cost, fill.price) == ("FILLED", m("250"), m("102"), m("0.408"))
        assert fill.slippage_bps == Decimal("200.00")
        assert (fill.fee, fill.fee_asset) == (m("1.68") + m("1.6933") + m("0.8526"), "pusd")
        assert fill.levels == ((m("0.40"), m("100")), (m("0.41"), m("100")), (m("0.42"), m("50")))

    def test_partial_fill_at_the_limit(self) -> None:
        """Limit 0.41: only 200 of 250 fill (IOC, 81 pUSD); fill-or-kill refuses it all."""
        market = three_levels()
        fill = execute(buy(market, "250", "0.41"), market, ts_ms=AFTER_V2)
        assert (fill.status, fill.shares, fill.cost) == ("PARTIAL", m("200"), m("81"))
        fok = execute(buy(three_levels(), "250", "0.41"), three_levels(), ts_ms=AFTER_V2, time_in_force="FOK")
        assert (fok.status, fok.shares) == ("REJECTED", 0)

    def test_taken_liquidity_is_gone_for_the_next_order(self) -> None:
        """A first order of 150 takes 0.40 x 100 and 0.41 x 50; a second of 100 gets
        0.41 x 50 + 0.42 x 50 = 20.5 + 21 = 41.5 pUSD."""
        market = three_levels()
        execute(buy(market, "150", "0.42"), market, ts_ms=AFTER_V2)
        second = execute(buy(market, "100", "0.42"), market, ts_ms=AFTER_V2)
        assert (second.cost, second.levels) == (m("41.5"), ((m("0.41"), m("50")), (m("0.42"), m("50"))))

    def test_the_mirrored_view_is_depleted_too(self) -> None:
        """Buying 100 Yes at 0.40 takes the same shares the No view shows as a bid at 0.60."""
        market = three_levels()
        assert market.no.bids_sorted()[0] == (m("0.60"), m("100"))
        execute(buy(market, "100", "0.40"), market, ts_ms=AFTER_V2)
        assert market.no.bids_sorted()[0] == (m("0.59"), m("100"))
        assert market.mirror_consistent() is True

    def test_the_archive_showing_a_level_again_ends_the_take(self) -> None:
        """Once the archive updates the 0.40 level (80 shares now), the archive is the truth."""
        market = three_levels()
        execute(buy(market, "100", "0.40"), market, ts_ms=AFTER_V2)
        market.yes.set_level(is_bid=False, price=m("0.40"), size=m("80"), ts_ms=2_000)
        assert market.yes.asks_sorted()[0] == (m("0.40"), m("80"))

    def test_minimum_order_and_tick_grid(self) -> None:
        """Below 5 shares is refused; a limit of 0.419 on the 0.01 grid becomes 0.41."""
        market = three_levels()
        assert execute(buy(market, "4", "0.42"), market, ts_ms=AFTER_V2).status == "REJECTED"
        fill = execute(buy(market, "250", "0.419"), market, ts_ms=AFTER_V2)
        assert fill.shares == m("200")

    def test_fee_in_shares_before_clob_v2(self) -> None:
        """Before the v2 cutover a buyer's fee is taken in shares: 1.68 pUSD at 0.40 is
        4.2 shares, so 100 bought leaves 95.8 held."""
        market = three_levels(CURVE_7)
        fill = execute(buy(market, "100", "0.40"), market, ts_ms=BEFORE_V2)
        assert (fill.fee, fill.fee_asset, fill.fee_shares) == (m("1.68"), "shares", m("4.2"))
        ledger = Ledger()
        ledger.buy("Y", shares=fill.shares, cost=fill.cost, fee=fill.fee, fee_shares=fill.fee_shares, ts_ms=1)
        assert (ledger.position("Y"), ledger.cost_basis("Y")) == (m("95.8"), m("40"))

    def test_unknown_fee_schedule_is_not_filled(self) -> None:
        """A market whose fee schedule is unknown cannot be filled: no fee would be exact."""
        market = mirrored(info(fees=FeeModel("unknown")), [("0.38", "100")], [("0.40", "100")])
        assert execute(buy(market, "10", "0.40"), market, ts_ms=AFTER_V2).status == "REJECTED"


class TestLedger:
    def test_fifo_over_several_lots(self) -> None:
        """Buy 100 @ 0.40 (40) and 50 @ 0.50 (25); sell 120 @ 0.60 for 72: FIFO cost is
        40 + 20 x 0.50 = 50, realised 22; 30 shares costing 15 stay."""
        ledger = Ledger()
        ledger.buy("Y", shares=m("100"), cost=m("40"), fee=0, fee_shares=0, ts_ms=1)
        ledger.buy("Y", shares=m("50"), cost=m("25"), fee=0, fee_shares=0, ts_ms=2)
        event = ledger.sell("Y", shares=m("120"), proceeds=m("72"), fee=0, ts_ms=3)
        assert event.realised == m("22")
        assert (ledger.position("Y"), ledger.cost_basis("Y"), ledger.realised) == (m("30"), m("15"), m("22"))

    def test_merge(self) -> None:
        """100 Yes @ 0.45 + 100 No @ 0.53 merge into 100 pUSD: realised 100 - 98 = 2."""
        ledger = Ledger()
        ledger.buy("Y", shares=m("100"), cost=m("45"), fee=0, fee_shares=0, ts_ms=1)
        ledger.buy("N", shares=m("100"), cost=m("53"), fee=0, fee_shares=0, ts_ms=1)
        event = ledger.merge("Y", "N", ts_ms=2)
        assert (event.shares, event.cash, event.realised) == (m("100"), m("100"), m("2"))
        assert ledger.open_assets() == []
        assert ledger.cash == m("2")

    def test_binary_settlement(self) -> None:
        """100 Yes costing 45 paid out at 1: realised 55; No pays 0."""
        ledger = Ledger()
        ledger.buy("Y", shares=m("100"), cost=m("45"), fee=0, fee_shares=0, ts_ms=1)
        event = ledger.settle({"Y": m("1"), "N": 0}, ts_ms=9)
        assert (event.cash, event.realised) == (m("100"), m("55"))

    def test_neg_risk_settlement(self) -> None:
        """A Yes basket of three outcomes bought for 0.30 + 0.30 + 0.35 (95 for 100): the
        third outcome wins; the basket pays 100, realised 5, settled outcome by outcome."""
        ledger = Ledger()
        for asset, cost in (("Y0", "30"), ("Y1", "30"), ("Y2", "35")):
            ledger.buy(asset, shares=m("100"), cost=m(cost), fee=0, fee_shares=0, ts_ms=1)
        realised = sum(
            event.realised
            for payouts in ({"Y0": 0, "N0": m("1")}, {"Y1": 0, "N1": m("1")}, {"Y2": m("1"), "N2": 0})
            if (event := ledger.settle(payouts, ts_ms=9)) is not None
        )
        assert realised == ledger.realised == m("5")

    def test_no_basket_conversion(self) -> None:
        """No of three outcomes for 0.60 + 0.62 + 0.70 (192 for 100) converts into 200 pUSD."""
        ledger = Ledger()
        for asset, cost in (("N0", "60"), ("N1", "62"), ("N2", "70")):
            ledger.buy(asset, shares=m("100"), cost=m(cost), fee=0, fee_shares=0, ts_ms=1)
        event = ledger.convert(("N0", "N1", "N2"), yes_of_others=(), ts_ms=2)
        assert (event.cash, event.realised) == (m("200"), m("8"))

    def test_unrealised_at_window_end(self) -> None:
        """100 Yes costing 45 marked at a 0.50 mid: 5 unrealised, nothing realised."""
        ledger = Ledger()
        ledger.buy("Y", shares=m("100"), cost=m("45"), fee=0, fee_shares=0, ts_ms=1)
        assert (ledger.unrealised({"Y": m("0.50")}), ledger.realised) == (m("5"), 0)

    def test_lot_splits_keep_every_micro(self) -> None:
        """Selling a third of a lot three times takes all of its cost, to the micro-pUSD."""
        ledger = Ledger()
        ledger.buy("Y", shares=3, cost=10, fee=0, fee_shares=0, ts_ms=1)
        taken = [ledger.sell("Y", shares=1, proceeds=0, fee=0, ts_ms=2).realised for _ in range(3)]
        assert -sum(taken) == 10

    def test_cannot_sell_more_than_held(self) -> None:
        """Selling more than is held is an error, not a short position."""
        with pytest.raises(ValueError, match="more micro-shares"):
            Ledger().sell("Y", shares=1, proceeds=0, fee=0, ts_ms=1)


def test_market_of_factories_is_consistent() -> None:
    """The generated three-level market is one book seen from two sides."""
    market = three_levels()
    assert market.mirror_consistent() is True
    assert book(market.yes.asset_id).state.value == "full"
