"""``sum_to_one_arb``: buy a set of tokens whose payout is certain, when the displayed
asks make it cheaper than the payout by at least ``min_edge_bps``, fees included.

Sets it knows, per decision group:

* **complete set** of one binary market (one Yes + one No; pays 1 pUSD, can be merged
  back into 1 pUSD at once). The two books of a market are one liquidity seen from two
  sides, so a consistent snapshot never prices a set below 1 (Yes ask + No ask =
  1 + spread). When this fires, the two books were stamped at different moments: a
  phantom, which the book-skew guard rejects and the run counts.
* **Yes basket** of a neg-risk event (one Yes of every outcome; exactly one resolves
  Yes, so it pays 1 pUSD). Only when the event is known complete: the market records
  say how many outcomes it has (``neg_risk_outcomes``, from the Gamma event), the view
  holds exactly that many, with outcome indices (last byte of ``question_id``) 0 to
  n - 1, all active. Without the count a missing outcome cannot be ruled out, and a
  basket missing the winner pays nothing. An augmented event has placeholders
  (inactive, untradeable) that may become the winner, so its Yes basket is never
  bought.
* **No basket, converted** (one No of each of k active outcomes of an event). The
  NegRiskAdapter converts k No tokens into k - 1 pUSD and one Yes of every other
  outcome, so the basket is worth at least k - 1 pUSD at once, whatever wins, and
  whether the event is augmented or not (the Yes tokens of outcomes left out are a
  bonus valued at zero). This is the conversion route ("one No of market i = one Yes
  of every other market").

Size: as many shares as the depth allows while every further share still clears the
edge, at most ``max_size_pusd`` spent, in whole hundredths of a share, and at least the
market's minimum order (5 shares where the record does not say).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from backtester.book.book import BookState
from backtester.book.market import MarketView
from backtester.fees import taker_fee
from backtester.strategies.base import LOT, AskSum, DecisionView, Intent, price_legs
from backtester.strategies.params import SumToOneArbParams
from backtester.units import MICRO

__all__ = ["evaluate", "trigger"]

DEFAULT_MIN_ORDER = 5 * MICRO
_KIND_ORDER = ("yes_basket", "no_basket", "complete_set")


def evaluate(view: DecisionView, params: SumToOneArbParams) -> Intent | None:
    """The best set at this tick clearing ``min_edge_bps``, or None."""
    candidates: list[Intent] = []
    for market in view.markets:
        info = market.info
        if info is not None and info.fees.known:
            legs = [(info.condition_id, market.yes.asset_id), (info.condition_id, market.no.asset_id)]
            _add(candidates, view, params, legs, payout=MICRO, kind="complete_set")
    event = [m for m in view.markets if m.info is not None and m.info.neg_risk]
    if len(event) > 1 and all(m.info is not None and m.info.fees.known for m in event):
        if _complete_event(event):
            legs = [(_cid(m), m.yes.asset_id) for m in event]
            _add(candidates, view, params, legs, payout=MICRO, kind="yes_basket")
        tradable = [m for m in event if _active(m) and m.no.state is not BookState.UNKNOWN]
        if len(tradable) >= 2:
            legs = [(_cid(m), m.no.asset_id) for m in tradable]
            _add(candidates, view, params, legs, payout=(len(legs) - 1) * MICRO, kind="no_basket")
    if not candidates:
        return None
    return max(candidates, key=lambda c: (c.edge_bps, -_KIND_ORDER.index(c.kind)))


def trigger(sweep: Sequence[SumToOneArbParams]) -> Callable[[tuple[MarketView, ...]], list[AskSum]]:
    """The sets of a group that could clear the smallest ``min_edge_bps`` of the sweep.

    A necessary condition of :func:`evaluate` returning an intent: every set it prices
    first needs the sum of its legs' best asks below ``payout * (1 - edge)`` (the
    "quick exit" in ``_size_set``; deeper levels and fees only cost more), and the
    ceiling is largest for the smallest edge. The rules are looser than ``evaluate``
    (a Yes basket is counted even if the event is not known complete), which keeps a
    "no" a promise and a "yes" a maybe.
    """
    edge = min(params.min_edge_bps for params in sweep)

    def ceiling(payout: int) -> int:
        return payout * (10_000 - edge) // 10_000

    def rules(markets: tuple[MarketView, ...]) -> list[AskSum]:
        out = [
            AskSum((m.yes.asset_id, m.no.asset_id), (0, 0, ceiling(MICRO)))
            for m in markets
            if m.info is not None and m.info.fees.known
        ]
        event = [m for m in markets if m.info is not None and m.info.neg_risk]
        if len(event) < 2 or not all(m.info is not None and m.info.fees.known for m in event):
            return out
        yes = tuple(m.yes.asset_id for m in event)
        out.append(AskSum(yes, (0,) * len(yes) + (ceiling(MICRO),)))
        active = tuple(m.no.asset_id for m in event if _active(m))
        if len(active) >= 2:  # a No basket of the tradable ones (books not out of sync), k >= 2
            ceilings = tuple(ceiling((k - 1) * MICRO) if k >= 2 else 0 for k in range(len(active) + 1))
            out.append(AskSum(active, ceilings, skip_unknown=True, min_count=2))
        return out

    return rules


def _cid(market: MarketView) -> str:
    assert market.info is not None
    return market.info.condition_id


def _active(market: MarketView) -> bool:
    return market.info is not None and market.info.active


def _complete_event(event: Sequence[MarketView]) -> bool:
    counts = {m.info.neg_risk_outcomes for m in event if m.info is not None}
    if len(counts) != 1 or counts != {len(event)}:
        return False  # the event's size is unknown, or the view lacks some of its outcomes
    indices = sorted(i for m in event if m.info is not None and (i := m.info.outcome_index) is not None)
    return all(_active(m) for m in event) and indices == list(range(len(event)))


def _add(
    out: list[Intent],
    view: DecisionView,
    params: SumToOneArbParams,
    legs: list[tuple[str, str]],
    *,
    payout: int,
    kind: str,
) -> None:
    intent = _size_set(view, params, legs, payout=payout, kind=kind)
    if intent is not None:
        out.append(intent)


def _size_set(
    view: DecisionView, params: SumToOneArbParams, legs: list[tuple[str, str]], *, payout: int, kind: str
) -> Intent | None:
    markets = {m.info.condition_id: m for m in view.markets if m.info is not None}
    books = [markets[mid].book(aid) for mid, aid in legs]
    # Most a share of the set may cost (fees included) to clear the edge.
    ceiling = payout * (10_000 - params.min_edge_bps) // 10_000
    tops = [book.ask for book in books]
    if None in tops or sum(tops) >= ceiling:  # type: ignore[arg-type]
        return None  # quick exit: the top of book alone fails (deeper levels only cost more)
    fees = [markets[mid].info.fees for mid, _ in legs]  # type: ignore[union-attr]
    ladders = [book.asks_sorted() for book in books]
    if any(not ladder for ladder in ladders):
        return None
    budget = int(params.max_size_pusd * MICRO)
    shares = _greedy_shares(ladders, fees, ceiling, budget)
    shares -= shares % LOT
    minimum = max(_min_order(markets[mid]) for mid, _ in legs)
    # Rounding per level can push the exact total a little over; step down to the
    # largest size whose exact price clears both the edge and the budget.
    while shares >= minimum:
        priced = price_legs(view, legs, shares)
        if priced is not None:
            spend = sum(leg.cost + leg.fee for leg in priced)
            if spend <= budget and spend * MICRO <= ceiling * shares:
                reason = (
                    f"{kind.replace('_', ' ')} of {len(legs)} legs costs {spend / shares:.6f} per share "
                    f"(fees included) against a payout of {payout / MICRO:g}"
                )
                return Intent("sum_to_one_arb", kind, view.group, priced, payout, reason)
        shares -= LOT * max(1, shares // (LOT * 200))
    return None


def _min_order(market: MarketView) -> int:
    assert market.info is not None
    return market.info.min_order_size or DEFAULT_MIN_ORDER


def _greedy_shares(ladders: list[list[tuple[int, int]]], fees: list, ceiling: int, budget: int) -> int:
    """Shares of the set to buy walking all ladders together: each step takes the
    smallest size left at the current levels, while a share at those levels still
    costs no more than ``ceiling`` and the budget lasts."""
    index = [0] * len(ladders)
    left = [ladder[0][1] for ladder in ladders]
    shares = spent = 0
    while all(i < len(ladder) for i, ladder in zip(index, ladders, strict=True)):
        prices = [ladder[i][0] for i, ladder in zip(index, ladders, strict=True)]
        step = min(left)
        cost = sum(-(-step * p // MICRO) for p in prices)
        cost += sum(taker_fee(fee, step, p) for fee, p in zip(fees, prices, strict=True))
        if cost * MICRO > ceiling * step:
            break
        if spent + cost > budget:
            shares += (budget - spent) * step // cost
            break
        shares += step
        spent += cost
        for k in range(len(ladders)):
            left[k] -= step
            if left[k] == 0:
                index[k] += 1
                if index[k] < len(ladders[k]):
                    left[k] = ladders[k][index[k]][1]
    return shares
