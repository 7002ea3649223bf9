"""Tearsheet statistics: golden cases worked by hand on small ledgers (GENERATED trades)."""

from __future__ import annotations

from decimal import Decimal

from backtester.ledger import Ledger
from backtester.reports.stats import Sampling, market_stats, round_trips, sample_interval, stats_of
from tests.factories import m

DAY = 86_400_000
NO_SAMPLES = Sampling("1d", DAY, (), ())
WINDOW = (0, 100_000)


def six_trades() -> Ledger:
    """Two tokens A and B; amounts in pUSD, worked out:

    t=1000 buy A 100 @ 0.40, no fee        cost 40     A: 100 sh, basis 40    exposure 40
    t=2000 buy B 50 @ 0.60, fee 1 pUSD     cost 30+1   B: 50 sh, basis 31     exposure 71
    t=3000 sell A 100 @ 0.50               +50         realised 50 - 40 = +10 exposure 31
    t=4000 buy A 100 @ 0.45                cost 45     A: 100 sh, basis 45    exposure 76 (peak)
    t=5000 sell B 50 @ 0.40                +20         realised 20 - 31 = -11 exposure 45
    t=6000 sell A 50 @ 0.50                +25         basis 45 x 50/100 = 22.5, realised +2.5
                                                       A: 50 sh, basis 22.5   exposure 22.5
    window end t=100000, A marked 0.40: unrealised 50 x 0.40 - 22.5 = -2.5

    realised 10 - 11 + 2.5 = 1.5; P&L 1.5 - 2.5 = -1
    volume 40 + 30 + 50 + 45 + 20 + 25 = 210; fees 1 -> 1 / 210 = 47.6190 bps
    return on peak exposure -1 / 76 = -1.3158 %; turnover 210 / 76 = 2.7632
    round trips: the three sales, +10, -11, +2.5: win rate 2/3 = 66.6667 %,
    profit factor (10 + 2.5) / 11 = 1.1364, average win 6.25, average loss -11
    in the market from t=1000 (never flat) to the end: 99 000 ms = 99 % of the window
    """
    ledger = Ledger()
    ledger.buy("A", shares=m("100"), cost=m("40"), fee=0, fee_shares=0, ts_ms=1000)
    ledger.buy("B", shares=m("50"), cost=m("30"), fee=m("1"), fee_shares=0, ts_ms=2000)
    ledger.sell("A", shares=m("100"), proceeds=m("50"), fee=0, ts_ms=3000)
    ledger.buy("A", shares=m("100"), cost=m("45"), fee=0, fee_shares=0, ts_ms=4000)
    ledger.sell("B", shares=m("50"), proceeds=m("20"), fee=0, ts_ms=5000)
    ledger.sell("A", shares=m("50"), proceeds=m("25"), fee=0, ts_ms=6000)
    return ledger


# The P&L after each event, each open token marked at that moment (what the run's equity
# points hold): t=1000 A at 0.40: 0; t=2000 B at 0.58: 29 - 31 = -2; t=3000 realised 10,
# B still -2: 8; t=4000 A at 0.45: 8; t=5000 realised -1, A at 0.42: 42 - 45 = -3: -4;
# t=6000 realised 1.5, A at 0.46: 23 - 22.5 = 0.5: 2.
EQUITY = [(1000, 0), (2000, m("-2")), (3000, m("8")), (4000, m("8")), (5000, m("-4")), (6000, m("2"))]


def test_pnl_exposure_round_trips_and_costs_of_a_small_ledger() -> None:
    ledger = six_trades()
    stats = stats_of(
        ledger.events, window=WINDOW, sampling=NO_SAMPLES, equity=EQUITY, end_marks={"A": m("0.40")}
    )
    assert (stats.realised, stats.unrealised, stats.pnl) == (m("1.5"), m("-2.5"), m("-1"))
    assert stats.unrealised == ledger.unrealised({"A": m("0.40")})  # the ledger's own valuation
    assert (stats.volume, stats.fees, stats.fills) == (m("210"), m("1"), 6)
    assert stats.volume == ledger.volume
    assert stats.peak_exposure == m("76")
    assert stats.return_on_exposure_pct == Decimal("-1.3158")
    assert stats.turnover == Decimal("2.7632")
    assert stats.fees_bps == Decimal("47.6190")
    assert (stats.round_trips, stats.wins, stats.losses) == (3, 2, 1)
    assert stats.win_rate_pct == Decimal("66.6667")
    assert stats.profit_factor == Decimal("1.1364")
    assert (stats.average_win, stats.average_loss) == (m("6.25"), m("-11"))
    assert stats.time_in_market_ms == 99_000
    assert stats.time_in_market_pct == Decimal("99.0000")
    assert stats.slippage is None  # no executions given: the live bot's case


def test_round_trips_run_from_the_oldest_lot_closed_to_the_closing_event() -> None:
    trips = round_trips(six_trades().events, {"A": "market-a", "B": "market-b"})
    assert [(t.market_id, t.entry_ms, t.exit_ms, t.cost, t.proceeds, t.pnl) for t in trips] == [
        ("market-a", 1000, 3000, m("40"), m("50"), m("10")),
        ("market-b", 2000, 5000, m("31"), m("20"), m("-11")),
        ("market-a", 4000, 6000, m("22.5"), m("25"), m("2.5")),
    ]


def test_max_drawdown_its_percentage_and_duration() -> None:
    """The curve: 0 just before the first event (t=1000), the equity points above, and
    -1 at the window's end. Running peak: 0 until t=3000 (8), held to the end.
    Falls: 2 at t=2000, 12 at t=5000 (8 to -4), 6 at t=6000, 9 at the end: max 12 pUSD.
    In % of peak equity (peak exposure 76 + the running peak): 2/76 = 2.63 %,
    12/84 = 14.2857 %, 9/84 = 10.71 %: max 14.2857 %.
    The curve last stands at the peak at t=4000 (8 again) before it falls; never back at 8
    after the trough: the drawdown lasts from t=4000 to the window's end (t=100000):
    96 000 ms, not recovered."""
    stats = stats_of(
        six_trades().events, window=WINDOW, sampling=NO_SAMPLES, equity=EQUITY, end_marks={"A": m("0.40")}
    )
    assert stats.max_drawdown == m("12")
    assert stats.max_drawdown_pct == Decimal("14.2857")
    assert (stats.max_drawdown_duration_ms, stats.max_drawdown_recovered) == (96_000, False)
    assert stats.sharpe is None
    assert stats.sortino is None


def test_a_drawdown_that_recovers_ends_when_the_peak_is_regained() -> None:
    """Curve 0 (t=1000), 5 (t=2000), 1 (t=3000), 6 (t=4000): a fall of 4 from t=2000,
    back above 5 at t=4000: 2000 ms, recovered."""
    ledger = six_trades()
    equity = [(1000, 0), (2000, m("5")), (3000, m("1")), (4000, m("6")), (5000, m("6")), (6000, m("6"))]
    stats = stats_of(
        ledger.events, window=(0, 6000), sampling=NO_SAMPLES, equity=equity, end_marks={"A": m("0.5")}
    )
    # the end point: realised 1.5 + 50 x 0.5 - 22.5 = 4, a fall of 2 from the peak 6: smaller
    assert stats.pnl == m("4")
    assert (stats.max_drawdown, stats.max_drawdown_duration_ms, stats.max_drawdown_recovered) == (
        m("4"),
        2000,
        True,
    )


def alternating(changes: int) -> tuple[Ledger, Sampling]:
    """A buy of 100 A for 50 pUSD at t=0, then A marked once a day so that the P&L moves
    +2, -1, +2, -1, ... pUSD (marks 0.50, 0.52, 0.51, 0.53, 0.52, ...)."""
    ledger = Ledger()
    ledger.buy("A", shares=m("100"), cost=m("50"), fee=0, fee_shares=0, ts_ms=0)
    marks, pnl = [], 0
    for k in range(changes + 1):
        if k:
            pnl += 2 if k % 2 else -1
        marks.append({"A": m("0.50") + pnl * 10_000})  # +1 pUSD on 100 shares = +0.01 a share
    return ledger, Sampling("1d", DAY, [k * DAY for k in range(changes + 1)], marks)


def test_sharpe_and_sortino_on_daily_pnl_changes() -> None:
    """30 daily changes, 15 of +2 and 15 of -1 pUSD: mean 0.5; deviations +-1.5, so the
    sample variance is 30 x 2.25 / 29 = 2.3276 and the stdev 1.5256; annualised by
    sqrt(365) = 19.1050 (a daily interval): Sharpe = 0.5 / 1.5256 x 19.1050
    = 0.5 x sqrt(29 x 365 / 67.5) = 6.2613.
    Downside deviation sqrt(15 x 1 / 30) = 0.7071: Sortino = 0.5 / 0.7071 x 19.1050 = 13.5093."""
    ledger, sampling = alternating(30)
    stats = stats_of(ledger.events, window=(0, 30 * DAY), sampling=sampling, end_marks=sampling.marks[-1])
    assert (stats.sample_interval, stats.samples, stats.annualisation) == ("1d", 31, Decimal("19.1050"))
    assert stats.sharpe == Decimal("6.2613")
    assert stats.sortino == Decimal("13.5093")
    assert stats.pnl == m("15")


def test_too_few_samples_or_a_flat_curve_give_no_sharpe() -> None:
    ledger, sampling = alternating(29)  # 29 changes: below the minimum of 30
    stats = stats_of(ledger.events, window=(0, 29 * DAY), sampling=sampling, end_marks=sampling.marks[-1])
    assert stats.sharpe is None
    assert stats.sortino is None
    # 40 samples (39 intervals), the P&L moving in one: the ratio would be the same whatever it made
    once = Sampling("1d", DAY, [k * DAY for k in range(40)], [{"A": m("0.5")}] * 20 + [{"A": m("0.6")}] * 20)
    stats = stats_of(ledger.events, window=(0, 40 * DAY), sampling=once, end_marks={"A": m("0.6")})
    assert (stats.samples, stats.samples_moved) == (40, 1)
    assert stats.sharpe is None
    flat = Sampling("1d", DAY, [k * DAY for k in range(40)], [{"A": m("0.5")}] * 40)
    stats = stats_of(ledger.events, window=(0, 40 * DAY), sampling=flat, end_marks={"A": m("0.5")})
    assert stats.sharpe is None
    assert stats.sortino is None
    assert stats.as_dict()["sharpe"] is None


def test_the_interval_is_the_coarsest_giving_enough_samples() -> None:
    assert sample_interval(30 * DAY) == ("1d", DAY)
    assert sample_interval(29 * DAY) == ("4h", 4 * 3_600_000)
    assert sample_interval(60 * 60_000) == ("1min", 60_000)


def test_markets_split_the_pnl_exactly() -> None:
    ledger = six_trades()
    markets = {"A": "market-a", "B": "market-b"}
    parts = market_stats(ledger.events, window=WINDOW, end_marks={"A": m("0.40")}, market_of_asset=markets)
    assert {k: (v.realised, v.unrealised, v.volume, v.round_trips) for k, v in parts.items()} == {
        "market-a": (m("12.5"), m("-2.5"), m("160"), 2),
        "market-b": (m("-11"), 0, m("50"), 1),
    }
    assert sum(p.pnl for p in parts.values()) == m("-1")


def test_every_figure_is_written_as_an_exact_string() -> None:
    stats = stats_of(
        six_trades().events, window=WINDOW, sampling=NO_SAMPLES, equity=EQUITY, end_marks={"A": m("0.40")}
    )
    out = stats.as_dict()
    assert out["pnl_pusd"] == "-1"
    assert out["average_win_pusd"] == "6.25"
    assert out["max_drawdown_pct"] == "14.2857"
    assert out["profit_factor"] == "1.1364"
    assert out["sharpe"] is None
    assert out["round_trips"] == 3


def test_points_at_one_time_keep_their_order() -> None:
    """Two ledger events in one millisecond (a fill, then the merge it completes): the
    curve goes 0, +3, -5 at t=1000 in that order, so the fall is 8 from the peak of 3 (in
    P&L order it would be 5 from 0)."""
    equity = [(1000, m("3")), (1000, m("-5"))]
    stats = stats_of(
        six_trades().events, window=WINDOW, sampling=NO_SAMPLES, equity=equity, end_marks={"A": m("0.40")}
    )
    assert stats.max_drawdown == m("8")


def test_a_conversion_splits_across_the_markets_it_touches() -> None:
    """A neg-risk event of three outcomes A, B, C (pUSD):

    t=1000 buy 10 No of A @ 0.50   cost 5
    t=2000 buy 10 No of B @ 0.60   cost 6
    t=3000 convert the No basket {A, B}: 10 x (2 - 1) = 10 pUSD for 11 of cost: -1
           (and 10 Yes of C at zero cost)
    t=4000 sell the 10 Yes of C @ 0.30: +3

    The conversion belongs to A's market (its first No, as its report does): A -1, B 0
    (its No came and went), C +3 (the sale): 2 in all, the ledger's P&L. Each market held
    its own tokens only: A from 1000 to 3000, B from 2000 to 3000, C from 3000 to 4000."""
    ledger = Ledger()
    ledger.buy("noA", shares=m("10"), cost=m("5"), fee=0, fee_shares=0, ts_ms=1000)
    ledger.buy("noB", shares=m("10"), cost=m("6"), fee=0, fee_shares=0, ts_ms=2000)
    ledger.convert(("noA", "noB"), yes_of_others=("yesC",), ts_ms=3000)
    ledger.sell("yesC", shares=m("10"), proceeds=m("3"), fee=0, ts_ms=4000)
    markets = {"noA": "A", "yesA": "A", "noB": "B", "yesB": "B", "noC": "C", "yesC": "C"}
    parts = market_stats(ledger.events, window=(0, 10_000), end_marks={}, market_of_asset=markets)
    assert {k: (v.realised, v.unrealised, v.round_trips, v.time_in_market_ms) for k, v in parts.items()} == {
        "A": (m("-1"), 0, 1, 2000),
        "B": (0, 0, 0, 1000),
        "C": (m("3"), 0, 1, 1000),
    }
    assert sum(p.pnl for p in parts.values()) == ledger.realised == m("2")
    assert parts["A"].annualisation is None  # nothing sampled per market: no factor to state
    assert parts["A"].why_no_sharpe == "the P&L is not sampled here"
