"""``fair_value_taker``: buy a token whose asks sit below a fair value taken from the
archived ``ObservationReport`` signals, by at least ``min_edge_bps``, fees included.

The fair value of the Yes (Up) token comes from the signal named ``signal`` of the
market's newest ObservationReport at or before the tick:

* ``model="probability"``: the signal is the probability itself (0..1);
* ``model="updown_lognormal"``: the signal is the underlying's price S (the Caio
  recordings carry the Binance mid as ``asset_price``), and the Up token is worth
  P(S_T > K) = N(ln(S/K) / (sigma * sqrt(tau))) with tau the time to the market's end
  and K the strike: ``strike`` if given, else the first value of the signal this run
  saw (an approximation of the official opening price, and said so in the intent).

The No (Down) token is worth one minus that. The fair value is a model estimate, not
money: it is computed in floats and turned into micro-units once.
"""

from __future__ import annotations

import math

from backtester.book.book import BookState
from backtester.book.market import MarketView
from backtester.fees import taker_fee
from backtester.strategies.base import LOT, DecisionView, Intent, price_legs
from backtester.strategies.params import FairValueTakerParams
from backtester.units import MICRO

__all__ = ["evaluate", "fair_yes"]

_YEAR_MS = 365.25 * 24 * 3600 * 1000
DEFAULT_MIN_ORDER = 5 * MICRO


def fair_yes(view: DecisionView, market: MarketView, params: FairValueTakerParams) -> tuple[int, str] | None:
    """Fair value of the Yes token in micro-pUSD, and how it was reached (None: no signal).

    Worked case: S = 100.1, K = 100, one hour left, sigma = 0.5.
    tau = 3 600 000 / 31 557 600 000 = 1.1408e-4 years, sigma * sqrt(tau) = 0.0053405,
    ln(1.001) = 0.0009995, d = 0.18715, N(d) = 0.5742.

    >>> from decimal import Decimal
    >>> from types import SimpleNamespace
    >>> from backtester.strategies.base import Signal
    >>> p = FairValueTakerParams(signal="asset_price", model="updown_lognormal", annual_vol=Decimal("0.5"))
    >>> market = SimpleNamespace(info=SimpleNamespace(condition_id="m", end_date_ms=3_600_000))
    >>> s = Signal(Decimal("100.1"), 0, Decimal("100"), 0)
    >>> fair_yes(DecisionView(0, "m", (), {("m", "asset_price"): s}), market, p)[0]
    574233
    """
    info = market.info
    if info is None:
        return None
    signal = view.signal(info.condition_id, params.signal)
    if signal is None:
        return None
    if params.model == "probability":
        value = signal.value
        if not 0 <= value <= 1:
            return None
        return int(value * MICRO), f"{params.signal} = {value}"
    if info.end_date_ms is None:
        return None
    tau = (info.end_date_ms - view.ts_ms) / _YEAR_MS
    strike = params.strike if params.strike is not None else signal.first_value
    if tau <= 0 or strike <= 0 or signal.value <= 0:
        return None
    sigma = float(params.annual_vol)
    d = math.log(float(signal.value) / float(strike)) / (sigma * math.sqrt(tau))
    probability = 0.5 * math.erfc(-d / math.sqrt(2))
    where = "given" if params.strike is not None else "first observed"
    how = (
        f"P(up) from {params.signal} {signal.value} vs strike {strike} ({where}), {tau * 525960:.1f} min left"
    )
    return round(probability * MICRO), how


def evaluate(view: DecisionView, params: FairValueTakerParams) -> Intent | None:
    """The token (of any market in the view) furthest below its fair value, or None."""
    best: Intent | None = None
    for market in view.markets:
        info = market.info
        if info is None or not info.fees.known or market.state is BookState.UNKNOWN:
            continue
        fair = fair_yes(view, market, params)
        if fair is None:
            continue
        value, how = fair
        for asset, worth in ((market.yes.asset_id, value), (market.no.asset_id, MICRO - value)):
            intent = _take(view, params, market, asset, worth=worth, how=how)
            if intent is not None and (best is None or intent.edge_bps > best.edge_bps):
                best = intent
    return best


def _take(
    view: DecisionView, params: FairValueTakerParams, market: MarketView, asset: str, *, worth: int, how: str
) -> Intent | None:
    info = market.info
    assert info is not None
    ceiling = worth * (10_000 - params.min_edge_bps) // 10_000
    budget = int(params.max_size_pusd * MICRO)
    shares = spent = 0
    for price, size in market.book(asset).asks_sorted():
        per_share = price + taker_fee(info.fees, MICRO, price)
        if per_share > ceiling:
            break
        cost = -(-size * per_share // MICRO)
        if spent + cost > budget:
            shares += (budget - spent) * MICRO // per_share
            break
        shares += size
        spent += cost
    shares -= shares % LOT
    minimum = info.min_order_size or DEFAULT_MIN_ORDER
    while shares >= minimum:
        legs = price_legs(view, [(info.condition_id, asset)], shares)
        if legs is not None:
            spend = legs[0].cost + legs[0].fee
            if spend <= budget and spend * MICRO <= ceiling * shares:
                outcome = info.yes_outcome if asset == info.yes_token_id else info.no_outcome
                reason = f"{outcome} asks below a fair value of {worth / MICRO:.4f}: {how}"
                return Intent("fair_value_taker", "taker", view.group, legs, worth, reason)
        shares -= LOT * max(1, shares // (LOT * 200))
    return None
