"""P&L attribution: hand-computed golden cases (money in micro-pUSD, shares in micro-shares)."""

from __future__ import annotations

from types import SimpleNamespace

from backtester.evidence.attribution import attribute

M = 1_000_000


def _fill(  # noqa: PLR0917 - one golden fill per line reads best positionally
    trace: str, leg: int, best: int, shares: int, cost: int, fee: int = 0, fee_shares: int = 0
) -> SimpleNamespace:
    order = SimpleNamespace(trace_id=trace, leg=leg, decision_best=best, asset_id=f"{trace}-{leg}")
    return SimpleNamespace(order=order, shares=shares, cost=cost, fee=fee, fee_shares=fee_shares)


def _decision(trace: str, legs: int, payout: int, verdict: str = "approve") -> SimpleNamespace:
    intent = SimpleNamespace(legs=(None,) * legs, payout=payout)
    return SimpleNamespace(trace_id=trace, verdict=verdict, intent=intent)


def _variant() -> SimpleNamespace:
    executions = [
        # Intent "set": a complete set (payout 1). Leg 0: best ask 0.40 at decision,
        # 10 shares for 4.10 (walked a level: 0.10 of slippage), fee 0.05 pUSD.
        _fill("set", 0, 400_000, 10 * M, 4_100_000, fee=50_000),
        # Leg 1: best ask 0.55, 8 shares for 4.40 (no slippage), 0.1 share taken as fee
        # (worth 0.055 at the fill price), so 7.9 shares kept.
        _fill("set", 1, 550_000, 8 * M, 4_400_000, fee=55_000, fee_shares=100_000),
        # Intent "one": a single-token taker with fair value 0.70, best ask 0.60,
        # 5 shares for 3.05 (0.05 of slippage), fee 0.02 pUSD.
        _fill("one", 0, 600_000, 5 * M, 3_050_000, fee=20_000),
        # A rejected intent's and an unfilled intent's orders count for nothing.
        _fill("rejected", 0, 100_000, 1 * M, 100_000),
        _fill("unfilled", 0, 100_000, 0, 0),
    ]
    decisions = [
        _decision("set", 2, M),
        _decision("one", 1, 700_000),
        _decision("rejected", 1, M, verdict="reject"),
        _decision("unfilled", 1, M),
    ]
    reports = [
        {"event_type": "BACKTESTER_TICK_PROCESSED", "simulated_fill": {"kind": "buy", "pnl_pusd": "0"}},
        {
            "event_type": "BACKTESTER_TICK_PROCESSED",
            "simulated_fill": {"kind": "settlement", "pnl_pusd": "1.25"},
        },
        {"event_type": "BACKTESTER_TICK_PROCESSED", "simulated_fill": {"kind": "merge", "pnl_pusd": "-0.2"}},
    ]
    return SimpleNamespace(
        trading=SimpleNamespace(executions=executions), decisions=decisions, reports=reports,
        unrealised=-1_550_000, pnl=-500_000, marks={"set-0": 450_000, "set-1": 520_000, "one-0": 650_000},
    )  # fmt: skip


def test_golden_attribution() -> None:
    """Worked by hand:

    set: sets = min(10, 7.9) = 7.9; edge = 7.9 x (1 - 0.40 - 0.55) = 0.395;
         unhedged: leg 0 kept 2.1 shares beyond the sets; the token's mid at the window's
         end is 0.45, so 2.1 x (0.45 - 0.40) = 0.105 (leg 1: 0 extra shares);
         slippage = (4.10 - 10 x 0.40) + (4.40 - 8 x 0.55) = 0.10;
         fees = 0.05 + 0.1 x 0.55 (the fee share at the decision's ask) = 0.105.
         Check: 0.395 + 0.105 - 0.10 - 0.105 = 0.295
              = 7.9 x 1 - (4.10 + 0.05 + 4.40) + 2.1 x 0.45 (the extra shares at their mid).
    one: sets = 5; edge = 5 x (0.70 - 0.60) = 0.50; unhedged 0; slippage 3.05 - 3.00 =
         0.05; fees 0.02. Check: 0.50 - 0.05 - 0.02 = 0.43 = 5 x 0.70 - 3.07.
    totals: edge 0.895, unhedged 0.105, slippage 0.15, fees 0.125;
    outcome = P&L - (edge + unhedged - slippage - fees) = -0.5 - 0.725 = -1.225.
    """
    a = attribute(_variant())
    assert (a.edge, a.unhedged, a.slippage, a.fees) == (895_000, 105_000, 150_000, 125_000)
    assert a.outcome == -1_225_000
    assert a.total == -500_000
    assert sum(value for _, value in a.components()) == a.total
    assert [name for name, _ in a.components()] == [
        "edge at decision", "unhedged legs", "slippage", "fees", "outcome vs the model",
    ]  # fmt: skip
    assert a.by_source == {
        "settlements": 1_250_000,
        "merges": -200_000,
        "unrealised at the window's end": -1_550_000,
    }


def test_no_trading_attributes_everything_to_the_outcome() -> None:
    variant = SimpleNamespace(trading=None, decisions=[], reports=[], unrealised=0, pnl=0, marks={})
    a = attribute(variant)
    assert (a.edge, a.unhedged, a.slippage, a.fees, a.outcome, a.total) == (0, 0, 0, 0, 0, 0)
