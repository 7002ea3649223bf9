"""What the live bot really did in the window, under the replay's accounting, and how each
replay decision compares with it.

The live outcome is rebuilt from the archived ``ExecutionReport``s (fills, at the prices,
sizes and fees they report) and ``SettlementReport``s of the run's markets and window,
through the same FIFO ledger: complete sets merged as the replay merges them, open
positions marked at the same end-of-window marks. ``vs_original_pnl_delta_pusd`` is the
replay's P&L minus that.

Each replay decision linked to a live decision (``original_trace_id``), and each live
decision the replay did not match, becomes a comparison row: decided the same? ordered
the same? filled the same? price, size, fee and P&L deltas, both latencies, and the
likeliest cause of a difference, by the first rule that holds:

* ``decision``: one side decided and the other did not, or on other tokens or sides, or
  the same tokens at another limit or size, and the fills differ;
* ``risk``: the same tokens, but one side's guards rejected what the other's let through
  (limits see different positions, or other guard settings);
* ``data_gap``: the replay skipped the tick (its book had lost sync);
* ``none``: the same shares at the same price and fee;
* ``fees``: the same shares at the same price, another fee;
* ``liquidity``: the same order, and the archive displayed what the replay's order
  missed at its arrival: the run's own earlier fills had taken it;
* ``latency``: the same order, and the book the replay's order met at arrival was not
  the one it decided on (the archive's best price moved, or no longer displayed the
  order's size), or the live order met the book after another delay than the replay's;
* ``liquidity`` otherwise: the same order at the same delay met another book.

P&L per trace is marked to the end of the window: shares x end mark - cost - fee.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from backtester.archive import Archive
from backtester.config.replay import SimulationConfig
from backtester.fees import fee_asset, fee_in_shares
from backtester.ledger import Ledger
from backtester.reports.stats import Stats
from backtester.units import MICRO, format_micros, parse_micros

__all__ = [
    "LiveFill",
    "LiveRecords",
    "OriginalOutcome",
    "compare",
    "load_original",
    "mark_states",
    "read_live",
]


@dataclass(frozen=True)
class LiveFill:
    trace_id: str
    ts_ms: int
    market_id: str
    asset_id: str
    side: str
    price: int
    shares: int
    size_pusd: int
    fee_pusd: int
    fee_shares: int = 0
    """The fee taken in shares of the bought token, by the same dated rule as the replay."""


@dataclass
class OriginalOutcome:
    """The live bot's window: its decisions, fills and P&L under the replay's accounting."""

    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    fills: list[LiveFill] = field(default_factory=list)
    verdicts: dict[str, str] = field(default_factory=dict)
    """Per trace, the live guards' verdict from its RiskVotes (approve, reshape, reject)."""
    executed_ms: dict[str, int] = field(default_factory=dict)
    """Per trace, when its first ExecutionReport (of any status) was stamped."""
    states: list[tuple[int, int, dict[str, tuple[int, int]]]] = field(default_factory=list)
    """After each live ledger event: (ts_ms, realised, {asset: (shares, cost basis)})."""
    equity: list[tuple[int, int, int]] = field(default_factory=list)
    """(ts_ms, realised, unrealised) after each live ledger event, marked with the archive's
    mids at that time, and at the window's end (filled in by the run)."""
    unheld_sell_shares: int = 0
    """Shares the live bot sold in the window beyond what it had bought in it (a position
    from before the window, which neither side's accounting starts with): not counted."""
    ledger: Ledger = field(default_factory=Ledger)
    unrealised: int = 0
    stats: Stats | None = None
    """The live ledger's statistics over the window (filled in by the run)."""

    @property
    def realised(self) -> int:
        return self.ledger.realised

    @property
    def pnl(self) -> int:
        return self.realised + self.unrealised

    def summary(self) -> dict[str, Any]:
        return {
            "decisions": len(self.decisions),
            "fills": len(self.fills),
            "volume_pusd": format_micros(self.ledger.volume),
            "net_fees_pusd": format_micros(self.ledger.fees),
            "realised_pnl_pusd": format_micros(self.realised),
            "unrealised_pnl_pusd": format_micros(self.unrealised),
            "pnl_pusd": format_micros(self.pnl),
            "unheld_sell_shares": format_micros(self.unheld_sell_shares),
            "stats": self.stats.as_dict() if self.stats is not None else None,
        }


@dataclass(frozen=True)
class LiveRecords:
    """The live bot's archived reports of a run's markets and window, as read."""

    rows: list[tuple[Any, ...]]
    votes: list[tuple[Any, ...]]


def read_live(store: Archive, markets: list[str], *, start_ms: int, end_ms: int) -> LiveRecords:
    """Read the live decisions, executions, settlements and votes of ``markets`` in the window."""
    rows = store.con.execute(
        """
        SELECT report_kind, report_id, trace_id, ts_ms, market_id, asset_id, payload FROM reports
        WHERE mode <> 'replay' AND market_id IN (SELECT unnest(?::VARCHAR[]))
          AND ts_ms BETWEEN ? AND ?
          AND report_kind IN ('DecisionReport', 'ExecutionReport', 'SettlementReport')
        ORDER BY ts_ms, report_kind, coalesce(json_extract_string(payload, '$.side'), '') = 'SELL', report_id
        """,
        [sorted(markets), start_ms, end_ms],
    ).fetchall()
    votes = store.con.execute(
        """
        SELECT trace_id, payload FROM reports
        WHERE report_kind = 'RiskVote' AND mode <> 'replay' AND trace_id IN (
            SELECT trace_id FROM reports WHERE report_kind = 'DecisionReport' AND mode <> 'replay'
              AND market_id IN (SELECT unnest(?::VARCHAR[])) AND ts_ms BETWEEN ? AND ?)
        ORDER BY trace_id, report_id
        """,
        [sorted(markets), start_ms, end_ms],
    ).fetchall()
    return LiveRecords(rows, votes)


def load_original(
    live: LiveRecords,
    markets: dict[str, tuple[str, str]],
    *,
    marks: dict[str, int],
    simulation: SimulationConfig,
    events: dict[str, str | None] | None = None,
) -> OriginalOutcome:
    """Rebuild the live outcome of ``markets`` (condition id -> (yes, no)) from ``live``,
    under the replay's accounting: the same dated fee-asset rule, complete sets merged
    and No baskets converted as the simulation settings say, the same end marks.
    ``events``: each market's neg-risk event id (None for a binary market)."""
    outcome = OriginalOutcome()
    _verdicts(outcome, live.votes)
    ledger = outcome.ledger
    legs_of: dict[str, list[str]] = {}
    executions: dict[str, int] = defaultdict(int)
    for kind, report_id, trace_id, ts, market, asset, payload_text in live.rows:
        payload = json.loads(payload_text)
        trace = trace_id or f"untraced-{report_id}"
        if kind == "DecisionReport":
            intent = payload.get("intent")
            legs = intent.get("legs", []) if isinstance(intent, dict) else []
            legs_of[trace] = [leg["asset_id"] for leg in legs]
            outcome.decisions[trace] = {
                "ts_ms": ts, "market_id": market, "assets": sorted({leg["asset_id"] for leg in legs}),
                "orders": sorted(
                    (leg["asset_id"], leg["side"], parse_micros(leg["limit_price"]),
                     parse_micros(leg["size_pusd"]))
                    for leg in legs
                ),
            }  # fmt: skip
            continue
        if kind == "SettlementReport":
            if ledger.settle({t: parse_micros(v) for t, v in payload["payouts"].items()}, ts_ms=ts):
                _note_state(outcome, ts)
            continue
        outcome.executed_ms.setdefault(trace, ts)
        executions[trace] += 1
        if payload.get("status") in ("FILLED", "PARTIAL"):
            _book_fill(outcome, trace, ts, market, asset, payload=payload, simulation=simulation)
            if simulation.merge_sets:
                ledger.merge(*markets[market], ts_ms=ts)
        legs = legs_of.get(trace, [])
        if simulation.convert_no_baskets and executions[trace] == len(legs) >= 2:
            _convert(ledger, legs, markets, events or {}, ts)
        if payload.get("status") in ("FILLED", "PARTIAL"):
            _note_state(outcome, ts)
    outcome.unrealised = ledger.unrealised({asset: marks.get(asset, 0) for asset in ledger.open_assets()})
    return outcome


def _note_state(outcome: OriginalOutcome, ts: int) -> None:
    ledger = outcome.ledger
    held = {asset: (ledger.position(asset), ledger.cost_basis(asset)) for asset in ledger.open_assets()}
    outcome.states.append((ts, ledger.realised, held))


def mark_states(outcome: OriginalOutcome, marks: list[dict[str, int]], end: tuple[int, int]) -> None:
    """Fill in ``outcome.equity`` from its states and the marks at their times, plus the
    window's end ``(end_ms, unrealised)``."""
    outcome.equity = [
        (
            ts,
            realised,
            sum(shares * mark.get(asset, 0) // MICRO - basis for asset, (shares, basis) in held.items()),
        )
        for (ts, realised, held), mark in zip(outcome.states, marks, strict=True)
    ]
    outcome.equity.append((end[0], outcome.realised, end[1]))


def _verdicts(outcome: OriginalOutcome, votes: list[tuple[Any, ...]]) -> None:
    """Each live trace's verdict: the strictest of its RiskVotes, as the guard stack combines them."""
    severity = {"approve": 0, "reshape": 1, "reject": 2}
    for trace, payload_text in votes:
        vote = json.loads(payload_text)["vote"]
        verdict = outcome.verdicts.get(trace, "approve")
        outcome.verdicts[trace] = max(
            verdict, "approve" if vote == "pass" else vote, key=severity.__getitem__
        )


def _book_fill(
    outcome: OriginalOutcome, trace: str, ts: int, market: str, asset: str, *, payload: dict[str, Any],
    simulation: SimulationConfig,
) -> None:  # fmt: skip
    """Put one live fill on the ledger, as the replay would have booked it."""
    price, shares, size_pusd, fee = (
        parse_micros(payload[k]) for k in ("price", "size", "size_pusd", "fee_pusd")
    )
    buying = payload["side"] == "BUY"
    in_shares = buying and fee_asset(buying=True, ts_ms=ts, override=simulation.fee_asset) == "shares"
    fee_shares = fee_in_shares(fee, price) if in_shares and fee else 0
    ledger = outcome.ledger
    if not buying:
        held = ledger.position(asset)
        if shares > held:  # sold what it held before the window: only the in-window part counts
            outcome.unheld_sell_shares += shares - held
            size_pusd, fee = size_pusd * held // shares, fee * held // shares
            shares = held
        if not shares:
            return
    fill = LiveFill(trace, ts, market, asset, payload["side"], price, shares, size_pusd, fee, fee_shares)
    outcome.fills.append(fill)
    if buying:
        ledger.buy(asset, shares=shares, cost=size_pusd, fee=fee, fee_shares=fee_shares, ts_ms=ts)
    else:
        ledger.sell(asset, shares=shares, proceeds=size_pusd, fee=fee, ts_ms=ts)


def _convert(
    ledger: Ledger,
    legs: list[str],
    markets: dict[str, tuple[str, str]],
    events: dict[str, str | None],
    ts: int,
) -> None:
    """Convert a live No basket (every leg a No token of one neg-risk event) once all its
    legs have executed, as the replay converts its own."""
    market_of_no = {no: cid for cid, (_, no) in markets.items()}
    basket = [market_of_no.get(asset) for asset in legs]
    event_ids = {events.get(cid) for cid in basket if cid is not None}
    if None in basket or len(event_ids) != 1 or None in event_ids:
        return
    (event,) = event_ids
    others = tuple(
        yes for cid, (yes, _) in sorted(markets.items()) if events.get(cid) == event and cid not in basket
    )
    ledger.convert(tuple(legs), yes_of_others=others, ts_ms=ts)


def compare(
    decisions: list[Any],
    executions: list[Any],
    original: OriginalOutcome,
    marks: dict[str, int],
    *,
    gaps: dict[str, list[list[int | None]]] | None = None,
    group_of: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One row per replay decision linked to the live bot, and per live decision (or live
    execution without one) left unmatched. ``gaps``: per market group, when the replay's
    books were out of sync; ``group_of``: each market's group."""
    replay_fills: dict[str, list[Any]] = defaultdict(list)
    for execution in executions:
        replay_fills[execution.order.trace_id].append(execution)
    live_fills: dict[str, list[LiveFill]] = defaultdict(list)
    for fill in original.fills:
        live_fills[fill.trace_id].append(fill)
    rows = []
    matched: set[str] = set()
    for decision in decisions:
        live_trace = decision.original_trace_id
        if live_trace is None:
            continue
        matched.add(live_trace)
        rows.append(
            _row(
                decision.trace_id, live_trace, decision.ts_ms, intent=decision.proposed or decision.intent,
                fills=replay_fills[decision.trace_id], live=live_fills[live_trace],
                live_decision=original.decisions.get(live_trace), marks=marks,
                live_executed_ms=original.executed_ms.get(live_trace),
                verdicts=(decision.verdict, _live_verdict(original, live_trace)),
            )
        )  # fmt: skip
    unmatched = {trace: live["ts_ms"] for trace, live in original.decisions.items() if trace not in matched}
    unmatched |= {  # executions of no decision in the window
        trace: ts
        for trace, ts in original.executed_ms.items()
        if trace not in original.decisions and trace not in matched
    }
    for live_trace, ts in sorted(unmatched.items(), key=lambda item: (item[1], item[0])):
        live = original.decisions.get(live_trace)
        row = _row(
            None, live_trace, ts, intent=None, fills=[], live=live_fills[live_trace],
            live_decision=live, marks=marks, live_executed_ms=original.executed_ms.get(live_trace),
            verdicts=(None, _live_verdict(original, live_trace)),
        )  # fmt: skip
        market = live["market_id"] if live else next((f.market_id for f in live_fills[live_trace]), None)
        if market is not None and _in_gap(ts, (gaps or {}).get((group_of or {}).get(market, market), [])):
            row["cause"] = "data_gap"
        rows.append(row)
    return rows


def _in_gap(ts: int, gaps: list[list[int | None]]) -> bool:
    """Whether the replay's books were out of sync at ``ts``."""
    return any(start is not None and start <= ts and (end is None or ts < end) for start, end in gaps)


def _to_mark(side: str, shares: int, fee_shares: int, *, cash: int, fee: int, mark: int) -> int:
    """P&L of one fill marked at ``mark``: a buy's shares (less any fee taken in shares)
    at the mark minus what they cost; a sale's proceeds minus the shares at the mark."""
    if side == "BUY":
        return (shares - fee_shares) * mark // MICRO - cash - (0 if fee_shares else fee)
    return cash - fee - shares * mark // MICRO


def _row(
    trace: str | None,
    live_trace: str,
    ts_ms: int,
    *,
    intent: Any,
    fills: list[Any],
    live: list[LiveFill],
    live_decision: dict[str, Any] | None,
    marks: dict[str, int],
    live_executed_ms: int | None,
    verdicts: tuple[str | None, str | None],
) -> dict[str, Any]:
    replay_shares = sum(f.shares for f in fills)
    live_shares = sum(f.shares for f in live)
    replay_cost = sum(f.cost for f in fills)
    live_cost = sum(f.size_pusd for f in live)
    replay_fee = sum(f.fee for f in fills)
    live_fee = sum(f.fee_pusd for f in live)
    replay_pnl = sum(
        _to_mark(
            f.order.side, f.shares, f.fee_shares, cash=f.cost, fee=f.fee, mark=marks.get(f.order.asset_id, 0)
        )
        for f in fills
    )
    live_pnl = sum(
        _to_mark(
            f.side, f.shares, f.fee_shares, cash=f.size_pusd, fee=f.fee_pusd, mark=marks.get(f.asset_id, 0)
        )
        for f in live
    )
    legs = intent.legs if intent is not None else ()
    replay_assets = sorted({(leg.asset_id, leg.side) for leg in legs})
    replay_orders = sorted((leg.asset_id, leg.side, leg.limit_price, leg.cost + leg.fee) for leg in legs)
    live_orders = live_decision["orders"] if live_decision else []
    live_assets = sorted({(asset, side) for asset, side, _, _ in live_orders}) or sorted(
        {(f.asset_id, f.side) for f in live}
    )
    replay_price = _average(replay_cost, replay_shares)
    live_price = _average(live_cost, live_shares)
    price_delta_bps = None
    if replay_price is not None and live_price is not None and live_price:
        price_delta_bps = str(((replay_price - live_price) * 10_000 / live_price).quantize(Decimal("0.01")))
    replay_latency = fills[0].order.arrival_ms - fills[0].order.decided_ms if fills else None
    live_latency = (
        live_executed_ms - live_decision["ts_ms"] if live_executed_ms is not None and live_decision else None
    )
    same_outcome = (replay_shares, replay_cost) == (live_shares, live_cost)
    replay_acted, live_acted = (verdict not in (None, "reject") for verdict in verdicts)
    if intent is None or not live_assets or replay_assets != live_assets:
        cause = "decision"
    elif replay_acted != live_acted:
        cause = "risk"
    elif same_outcome:
        cause = "none" if replay_fee == live_fee else "fees"
    elif replay_orders != live_orders:
        cause = "decision"
    else:
        cause = _cause(fills, replay_latency, live_latency)
    return {
        "trace_id": trace,
        "original_trace_id": live_trace,
        "tick_ts_ms": ts_ms,
        "replay_decided": intent is not None,
        "live_decided": bool(live_assets),
        "decided_same": replay_assets == live_assets,
        "ordered_same": replay_assets == live_assets and replay_orders == live_orders,
        "replay_verdict": verdicts[0],
        "live_verdict": verdicts[1],
        "replay_latency_ms": replay_latency,
        "live_latency_ms": live_latency,
        "replay_shares": format_micros(replay_shares),
        "live_shares": format_micros(live_shares),
        "size_delta_shares": format_micros(replay_shares - live_shares),
        "replay_avg_price": _text(replay_price),
        "live_avg_price": _text(live_price),
        "price_delta_bps": price_delta_bps,
        "fee_delta_pusd": format_micros(replay_fee - live_fee),
        "replay_pnl_to_mark_pusd": format_micros(replay_pnl),
        "live_pnl_to_mark_pusd": format_micros(live_pnl),
        "pnl_delta_pusd": format_micros(replay_pnl - live_pnl),
        "cause": cause,
    }


def _live_verdict(original: OriginalOutcome, trace: str) -> str | None:
    """The live guards' verdict; without recorded votes, ``approve`` if it executed."""
    verdict = original.verdicts.get(trace)
    if verdict is None and trace in original.executed_ms:
        return "approve"
    return verdict


def _cause(fills: list[Any], replay_latency: int | None, live_latency: int | None) -> str:
    """Why the same order ended differently (see the module docstring for the rules)."""
    if any(f.shares < f.order.shares <= f.archive_shares for f in fills):
        return "liquidity"  # the archive displayed it; the run's own earlier fills had taken it
    moved = any(f.arrival_top != f.order.decision_top or f.archive_shares < f.order.shares for f in fills)
    if moved or (live_latency is not None and live_latency != replay_latency):
        return "latency"
    return "liquidity"


def _average(cost: int, shares: int) -> Decimal | None:
    return Decimal(cost) / Decimal(shares) if shares else None


def _text(price: Decimal | None) -> str | None:
    return None if price is None else format(price.quantize(Decimal("0.000001"), ROUND_HALF_EVEN), "f")
