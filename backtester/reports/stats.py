"""Tearsheet statistics of a ledger: what an analyst ranks variants on.

Computed from the exact ledger (its events carry what each one changed: see
:class:`~backtester.ledger.LedgerEvent`), in integer micro-pUSD wherever the figure is an
amount; ratios are :class:`~decimal.Decimal` quotients rounded to :data:`PLACES` places
(written as decimal strings, never via a binary float). The formulas, as the README
states them:

* **P&L** = realised + unrealised (the positions open at the window's end, marked to the
  archive's mid), as the spec's report fields.
* **Peak gross exposure** = the most the open lots ever cost at once (fees paid in pUSD
  included): the capital the run actually deployed. **Return on exposure** = P&L / peak
  gross exposure, in %. **Turnover** = volume / peak gross exposure.
* **The P&L curve**: the P&L after every ledger event (marked at that moment) and at
  every sample time, starting from 0 just before the first event.
  **Max drawdown** = the largest fall of the curve from a running peak (the peak starts at
  0), in pUSD; in % of peak equity, where equity = peak gross exposure + P&L (the capital
  deployed and what it made): the largest (peak equity - equity) / peak equity.
  **Its duration**: from the last time the curve stood at the peak before that fall to
  the first time it is back there, or to the window's end when it never is
  (``max_drawdown_recovered``).
* **Sharpe and Sortino** on the P&L sampled every ``sample_interval``
  (:func:`sample_interval` picks it) from the first market event of the window to the
  last market or ledger event (a settlement may come after the last book; the last,
  partial interval is left out): with ``d`` the P&L change over each interval,
  Sharpe = mean(d) / stdev(d) x sqrt(periods per year),
  Sortino = mean(d) / sqrt(mean(min(d, 0)^2)) x sqrt(periods per year); a year is 365
  days (Polymarket trades every day). Scale-free: the same as on returns of a constant
  capital. ``None`` ("n/a") with fewer than :data:`MIN_SAMPLES` intervals in which the
  P&L moved (``samples_moved``: a volatility is not estimated from a handful of moves, and
  a curve that moved once gives the same ratio whatever it made), or when the
  denominator is 0 (no losing interval for Sortino).
* **Round trips**: every event that closes lots (a sell, merge, conversion or
  settlement) ends one; its entry is the oldest lot it closed, its size the shares
  closed, its cost those lots' cost, its P&L the event's realised P&L.
  **Win rate** = round trips with P&L > 0 / all round trips, in %. **Profit factor** = sum
  of the winning P&L / -sum of the losing P&L (``None`` without a losing round trip).
  **Average win / loss** = the mean P&L of the winning / losing round trips, rounded to
  the micro-pUSD.
* **Time in market** = the time any share was held (a lot open, even one that cost
  nothing, as the Yes tokens a conversion gives), up to the window's end, in ms and in %
  of the window.
* **Fees** and **slippage** in bps of volume; slippage = what the fills cost above the
  best price when the strategy decided (as the P&L attribution counts it), unknown for
  the live bot (its decision-time book is not recorded).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal
from itertools import pairwise
from typing import Any

from backtester.ledger import LedgerEvent
from backtester.units import MICRO, format_micros

__all__ = [
    "INTERVALS", "MIN_SAMPLES", "MONEY", "PLACES", "RATIOS", "RoundTrip", "Sampling", "Stats", "market_stats",
    "round_trips", "sample_interval", "sample_times", "stats_of",
]  # fmt: skip

MIN_SAMPLES = 30
"""Fewer intervals in which the P&L moved than this, and Sharpe and Sortino are "n/a"."""
INTERVALS = (
    ("1d", 86_400_000), ("4h", 14_400_000), ("1h", 3_600_000), ("15min", 900_000), ("5min", 300_000),
    ("1min", 60_000),
)  # fmt: skip
"""The sampling intervals, coarsest first (see :func:`sample_interval`)."""
YEAR_MS = 365 * 86_400_000
PLACES = 4
"""Decimal places of the ratios (Sharpe, Sortino, profit factor, turnover, %, bps)."""
_CONTEXT = Context(prec=40)
_CLOSING = ("sell", "merge", "conversion", "settlement")


def sample_interval(span_ms: int) -> tuple[str, int]:
    """The coarsest interval of :data:`INTERVALS` that cuts ``span_ms`` into at least
    :data:`MIN_SAMPLES` intervals (the finest when none does).

    >>> sample_interval(89 * 86_400_000), sample_interval(3 * 86_400_000), sample_interval(600_000)
    (('1d', 86400000), ('1h', 3600000), ('1min', 60000))
    """
    for name, ms in INTERVALS:
        if span_ms // ms >= MIN_SAMPLES:
            return name, ms
    return INTERVALS[-1]


def sample_times(first_ms: int, last_ms: int, interval_ms: int) -> list[int]:
    """``first_ms`` and every ``interval_ms`` after it, up to ``last_ms``.

    >>> sample_times(0, 250, 100)
    [0, 100, 200]
    """
    return list(range(first_ms, last_ms + 1, interval_ms)) if last_ms >= first_ms else []


@dataclass(frozen=True)
class Sampling:
    """Where the P&L is sampled: ``times`` every ``interval_ms`` (named ``interval``), and
    the archive's marks (token -> mid, micro-pUSD) at each of them."""

    interval: str
    interval_ms: int
    times: Sequence[int]
    marks: Sequence[Mapping[str, int]]


@dataclass(frozen=True)
class RoundTrip:
    """Lots opened and closed: by a sell, merge, conversion or settlement (micro-units)."""

    kind: str
    market_id: str | None
    assets: tuple[str, ...]
    entry_ms: int
    exit_ms: int
    shares: int
    cost: int
    proceeds: int
    pnl: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "market_id": self.market_id, "assets": list(self.assets),
            "entry_ts_ms": self.entry_ms, "exit_ts_ms": self.exit_ms, "shares": format_micros(self.shares),
            "cost_pusd": format_micros(self.cost), "proceeds_pusd": format_micros(self.proceeds),
            "pnl_pusd": format_micros(self.pnl),
        }  # fmt: skip


@dataclass(frozen=True)
class Stats:
    """The statistics of one ledger (see the module docstring). Amounts in micro-pUSD,
    ratios as Decimal; None where a figure does not exist ("n/a")."""

    pnl: int
    realised: int
    unrealised: int
    volume: int
    fees: int
    fills: int
    peak_exposure: int
    return_on_exposure_pct: Decimal | None
    turnover: Decimal | None
    max_drawdown: int
    max_drawdown_pct: Decimal | None
    max_drawdown_duration_ms: int
    max_drawdown_recovered: bool
    sample_interval: str
    samples: int
    samples_moved: int
    annualisation: Decimal | None
    """sqrt(intervals per year); None where nothing is sampled (a market's figures)."""
    sharpe: Decimal | None
    sortino: Decimal | None
    round_trips: int
    wins: int
    losses: int
    win_rate_pct: Decimal | None
    profit_factor: Decimal | None
    average_win: int | None
    average_loss: int | None
    time_in_market_ms: int
    time_in_market_pct: Decimal | None
    fees_bps: Decimal | None
    slippage: int | None
    slippage_bps: Decimal | None
    curve: tuple[tuple[int, int], ...] = field(default=(), repr=False, compare=False)
    """The P&L curve the drawdown is taken on: (ts_ms, P&L)."""

    @property
    def why_no_sharpe(self) -> str | None:
        """Why Sharpe is n/a, in words (None when it is a number)."""
        if self.sharpe is not None:
            return None
        if not self.samples:
            return "the P&L is not sampled here"
        if self.samples_moved < MIN_SAMPLES:
            intervals = self.samples - 1
            return f"the P&L moved in {self.samples_moved} of {intervals} intervals ({MIN_SAMPLES} needed)"
        return "the P&L changed by the same amount in every interval"

    def as_dict(self) -> dict[str, Any]:
        """Exact decimal strings (amounts to the micro-pUSD), integers for counts and
        durations, None for "n/a": what the reports carry."""
        money = {name: getattr(self, attr) for name, attr in MONEY.items()}
        ratios = {name: getattr(self, name) for name in RATIOS}
        return {
            **{k: None if v is None else format_micros(v) for k, v in money.items()},
            **{k: None if v is None else str(v) for k, v in ratios.items()},
            "fills": self.fills, "round_trips": self.round_trips, "wins": self.wins, "losses": self.losses,
            "max_drawdown_duration_ms": self.max_drawdown_duration_ms,
            "max_drawdown_recovered": self.max_drawdown_recovered, "sample_interval": self.sample_interval,
            "samples": self.samples, "samples_moved": self.samples_moved,
            "time_in_market_ms": self.time_in_market_ms,
        }  # fmt: skip


MONEY = {
    "pnl_pusd": "pnl", "realised_pnl_pusd": "realised", "unrealised_pnl_pusd": "unrealised",
    "volume_pusd": "volume", "fees_pusd": "fees", "peak_gross_exposure_pusd": "peak_exposure",
    "max_drawdown_pusd": "max_drawdown", "average_win_pusd": "average_win",
    "average_loss_pusd": "average_loss", "slippage_pusd": "slippage",
}  # fmt: skip
"""The amounts of :meth:`Stats.as_dict` (decimal strings of pUSD) and their attributes."""
RATIOS = (
    "return_on_exposure_pct", "turnover", "max_drawdown_pct", "sharpe", "sortino", "win_rate_pct",
    "profit_factor",
    "time_in_market_pct", "fees_bps", "slippage_bps", "annualisation",
)  # fmt: skip
"""The ratios of :meth:`Stats.as_dict` (decimal strings rounded to :data:`PLACES`), named
as the attributes."""


def _ratio(num: int | Decimal, den: int | Decimal, scale: int = 1) -> Decimal | None:
    """``num / den x scale`` rounded to :data:`PLACES` places (None when ``den`` is 0)."""
    if not den:
        return None
    value = _CONTEXT.divide(Decimal(num) * scale, Decimal(den))
    return value.quantize(Decimal(1).scaleb(-PLACES), rounding=ROUND_HALF_EVEN, context=_CONTEXT)


def _mean_micros(total: int, n: int) -> int | None:
    """``total / n`` rounded to the micro-unit (half to even), None when ``n`` is 0."""
    if not n:
        return None
    return int(_CONTEXT.divide(Decimal(total), Decimal(n)).to_integral_value(rounding=ROUND_HALF_EVEN))


def round_trips(
    events: Iterable[LedgerEvent], market_of_asset: Mapping[str, str] | None = None
) -> list[RoundTrip]:
    """Every round trip of the events, in order (see the module docstring)."""
    markets = market_of_asset or {}
    trips = []
    for e in events:
        if e.kind in _CLOSING:
            entry = e.opened_ms if e.opened_ms is not None else e.ts_ms
            market = markets.get(e.assets[0]) if e.assets else None
            trips.append(
                RoundTrip(e.kind, market, e.assets, entry, e.ts_ms, e.shares, e.basis, e.cash, e.realised)
            )
    return trips


def _value(held: Mapping[str, tuple[int, int]], marks: Mapping[str, int]) -> int:
    """Open positions at ``marks`` minus their cost (floored per token, as the ledger)."""
    return sum(shares * marks.get(a, 0) // MICRO - basis for a, (shares, basis) in held.items() if shares)


def stats_of(
    events: Sequence[LedgerEvent],
    *,
    window: tuple[int, int],
    sampling: Sampling,
    equity: Sequence[tuple[int, int]] = (),
    end_marks: Mapping[str, int] | None = None,
    executions: Iterable[Any] | None = None,
    market_of_asset: Mapping[str, str] | None = None,
    tokens: Collection[str] | None = None,
) -> Stats:
    """The statistics of a ledger's ``events`` over ``window`` (see the module docstring).

    ``equity``: the P&L (ts_ms, micro-pUSD) after each event, marked at that moment (the
    run's equity points; the curve takes them with the P&L at the sample times).
    ``end_marks``: the marks at the window's end (the unrealised P&L). ``executions``:
    the venue's executions (fills and slippage; None: unknown, as for the live bot, whose
    fills are then the buys and sells among the events). ``tokens``: only these tokens'
    part (a market's: see :func:`market_stats`): their holdings, and the P&L, fees,
    volume and round trips of the events whose first token is one of them.
    """
    start, end = window
    mine = None if tokens is None else frozenset(tokens)

    def owns(event: LedgerEvent) -> bool:
        return mine is None or (bool(event.assets) and event.assets[0] in mine)

    owned = [e for e in events if owns(e)]
    realised = 0
    volume = fees = 0
    held: dict[str, tuple[int, int]] = {}
    gross = holding = 0  # the cost of what is held, and how many tokens are held
    peak_exposure = 0
    in_market = 0
    opened_at: int | None = None
    # The P&L at every sample time, walking the events in time order.
    sampled: list[tuple[int, int]] = []
    s = 0
    times, marks = sampling.times, sampling.marks
    for event in events:
        while s < len(times) and times[s] < event.ts_ms:
            sampled.append((times[s], realised + _value(held, marks[s])))
            s += 1
        if owns(event):
            realised += event.realised
            fees += event.fee
            volume += event.notional
        for asset, shares, basis in event.holdings:
            if mine is None or asset in mine:
                was_shares, was_basis = held.get(asset, (0, 0))
                held[asset] = (shares, basis)
                gross += basis - was_basis
                holding += (shares > 0) - (was_shares > 0)
        if opened_at is None and holding:
            opened_at = event.ts_ms
        elif opened_at is not None and not holding:
            in_market += event.ts_ms - opened_at
            opened_at = None
        peak_exposure = max(peak_exposure, gross)
    while s < len(times):
        sampled.append((times[s], realised + _value(held, marks[s])))
        s += 1
    if opened_at is not None:
        in_market += max(end - opened_at, 0)
    unrealised = _value(held, end_marks or {})
    pnl = realised + unrealised
    curve = _curve(events, equity, sampled, (end, pnl))
    drawdown = _drawdown(curve, peak_exposure, end)
    trips = round_trips(owned, market_of_asset)
    won = [t.pnl for t in trips if t.pnl > 0]
    lost = [t.pnl for t in trips if t.pnl < 0]
    sharpe, sortino, factor, moved = _risk_ratios([p for _, p in sampled], sampling.interval_ms)
    fills, slippage = _fills(owned, executions)
    return Stats(
        pnl=pnl, realised=realised, unrealised=unrealised, volume=volume, fees=fees, fills=fills,
        peak_exposure=peak_exposure, return_on_exposure_pct=_ratio(pnl, peak_exposure, 100),
        turnover=_ratio(volume, peak_exposure), **drawdown, sample_interval=sampling.interval,
        samples=len(sampled), samples_moved=moved, annualisation=factor, sharpe=sharpe, sortino=sortino,
        round_trips=len(trips),
        wins=len(won), losses=len(lost), win_rate_pct=_ratio(len(won), len(trips), 100),
        profit_factor=_ratio(sum(won), -sum(lost)) if lost else None,
        average_win=_mean_micros(sum(won), len(won)), average_loss=_mean_micros(sum(lost), len(lost)),
        time_in_market_ms=in_market, time_in_market_pct=_ratio(in_market, end - start, 100),
        fees_bps=_ratio(fees, volume, 10_000), slippage=slippage,
        slippage_bps=None if slippage is None else _ratio(slippage, volume, 10_000), curve=tuple(curve),
    )  # fmt: skip


def _curve(
    events: Sequence[LedgerEvent],
    equity: Sequence[tuple[int, int]],
    sampled: Sequence[tuple[int, int]],
    last: tuple[int, int],
) -> list[tuple[int, int]]:
    """The P&L curve: 0 just before the first event, the P&L after each event and at each
    sample time (time order; at one time, the events in their order, then the sample,
    which counts them), and the window's end."""
    if not events:
        return [*sampled, last]
    points = sorted(
        [(ts, 0, i, p) for i, (ts, p) in enumerate(equity)]
        + [(ts, 1, i, p) for i, (ts, p) in enumerate(sampled)]
    )
    return [(events[0].ts_ms, 0), *((ts, p) for ts, _, _, p in points if ts >= events[0].ts_ms), last]


def _drawdown(curve: Sequence[tuple[int, int]], capital: int, end: int) -> dict[str, Any]:
    """The max drawdown of ``curve`` in pUSD and in % of peak equity (``capital`` + the
    P&L's running peak), and the duration of the largest one: from the last time the
    curve stood at its peak before the fall to the first time it is back there (or
    ``end``)."""
    peak, peak_ts = 0, curve[0][0] if curve else end
    worst = worst_peak = worst_peak_ts = 0
    trough = -1
    worst_pct: Decimal | None = None
    for i, (ts, pnl) in enumerate(curve):
        if pnl >= peak:
            peak, peak_ts = pnl, ts
        fall = peak - pnl
        if fall > worst:
            worst, worst_peak, worst_peak_ts, trough = fall, peak, peak_ts, i
        if capital + peak > 0:
            pct = _ratio(fall, capital + peak, 100)
            if pct is not None and (worst_pct is None or pct > worst_pct):
                worst_pct = pct
    recovered_at = None
    if worst:
        recovered_at = next((ts for ts, pnl in curve[trough + 1 :] if pnl >= worst_peak), None)
    duration = 0 if not worst else (recovered_at if recovered_at is not None else end) - worst_peak_ts
    return {
        "max_drawdown": worst,
        "max_drawdown_pct": worst_pct if capital > 0 else None,
        "max_drawdown_duration_ms": duration,
        "max_drawdown_recovered": not worst or recovered_at is not None,
    }


def _risk_ratios(
    pnl: Sequence[int], interval_ms: int
) -> tuple[Decimal | None, Decimal | None, Decimal | None, int]:
    """Sharpe and Sortino of the changes of ``pnl`` (sampled every ``interval_ms``), the
    annualisation factor sqrt(periods per year), and the number of intervals it moved in."""
    if not pnl:
        return None, None, None, 0
    factor = _CONTEXT.sqrt(Decimal(YEAR_MS) / interval_ms)
    shown = factor.quantize(Decimal(1).scaleb(-PLACES), rounding=ROUND_HALF_EVEN, context=_CONTEXT)
    changes = [b - a for a, b in pairwise(pnl)]
    n = len(changes)
    moved = sum(1 for d in changes if d)
    if moved < MIN_SAMPLES:
        return None, None, shown, moved
    mean = _CONTEXT.divide(Decimal(sum(changes)), n)
    variance = _CONTEXT.divide(sum((Decimal(d) - mean) ** 2 for d in changes), n - 1)
    downside = _CONTEXT.divide(Decimal(sum(min(d, 0) ** 2 for d in changes)), n)
    sharpe = _ratio(mean * factor, _CONTEXT.sqrt(variance)) if variance else None
    sortino = _ratio(mean * factor, _CONTEXT.sqrt(downside)) if downside else None
    return sharpe, sortino, shown, moved


def _fills(events: Sequence[LedgerEvent], executions: Iterable[Any] | None) -> tuple[int, int | None]:
    """The number of fills and their slippage against the best price at decision
    (micro-pUSD; None when the executions, or their decision-time books, are unknown)."""
    if executions is None:
        return sum(e.kind in ("buy", "sell") for e in events), None
    fills = slippage = 0
    for execution in executions:
        if not execution.shares:
            continue
        fills += 1
        best = execution.order.decision_best
        if best is not None:
            at_best = execution.shares * best // MICRO
            slippage += (
                execution.cost - at_best if execution.order.side == "BUY" else at_best - execution.cost
            )
    return fills, slippage


def market_stats(
    events: Sequence[LedgerEvent],
    *,
    window: tuple[int, int],
    end_marks: Mapping[str, int],
    market_of_asset: Mapping[str, str],
    executions: Iterable[Any] | None = None,
) -> dict[str, Stats]:
    """The statistics of each market's part of the ledger, by market id: its tokens'
    holdings (a conversion takes the Nos of several markets and gives Yes tokens of
    others: each market sees its own tokens come and go), and the P&L, fees, volume and
    round trips of the events that belong to it (an event belongs to the market of its
    first token, as its report does: a conversion's P&L to its first No's market). The
    markets' P&L add up to the ledger's.

    A market's P&L curve is its realised P&L after each of its events and its P&L at the
    window's end (no sample times: the marks of every market at every sample would be
    needed), so Sharpe and Sortino are "n/a" here."""
    tokens: dict[str, set[str]] = {}
    touched: dict[str, list[LedgerEvent]] = {}
    for event in events:
        for market in dict.fromkeys(
            market_of_asset.get(a) for a in (*event.assets, *(h[0] for h in event.holdings))
        ):
            if market is not None:
                touched.setdefault(market, []).append(event)
    for asset, market in market_of_asset.items():
        tokens.setdefault(market, set()).add(asset)
    fills_of: dict[str, list[Any]] = {}
    for execution in executions or ():
        fills_of.setdefault(execution.order.market_id, []).append(execution)
    none = Sampling("n/a", INTERVALS[0][1], (), ())
    out = {}
    for market, own in sorted(touched.items()):
        mine = frozenset(tokens[market])
        out[market] = stats_of(
            own, window=window, sampling=none, end_marks=end_marks, market_of_asset=market_of_asset,
            executions=fills_of.get(market, []) if executions is not None else None,
            equity=_own_equity(own, mine), tokens=mine,
        )  # fmt: skip
    return out


def _own_equity(events: Sequence[LedgerEvent], tokens: frozenset[str]) -> list[tuple[int, int]]:
    """The realised P&L of ``tokens``' market after each of ``events`` (its own curve,
    unmarked)."""
    total, out = 0, []
    for event in events:
        if event.assets and event.assets[0] in tokens:
            total += event.realised
        out.append((event.ts_ms, total))
    return out
