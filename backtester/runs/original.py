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
from backtester.ledger import Ledger
from backtester.units import MICRO, format_micros, parse_micros

__all__ = ["LiveFill", "OriginalOutcome", "compare", "load_original"]


@dataclass(frozen=True)
class LiveFill:
    trace_id: str | None
    ts_ms: int
    market_id: str
    asset_id: str
    side: str
    price: int
    shares: int
    size_pusd: int
    fee_pusd: int


@dataclass
class OriginalOutcome:
    """The live bot's window: its decisions, fills and P&L under the replay's accounting."""

    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    fills: list[LiveFill] = field(default_factory=list)
    verdicts: dict[str, str] = field(default_factory=dict)
    """Per trace, the live guards' verdict from its RiskVotes (approve, reshape, reject)."""
    executed_ms: dict[str, int] = field(default_factory=dict)
    """Per trace, when its first ExecutionReport (of any status) was stamped."""
    ledger: Ledger = field(default_factory=Ledger)
    unrealised: int = 0

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
        }


def load_original(
    store: Archive,
    markets: dict[str, tuple[str, str]],
    *,
    start_ms: int,
    end_ms: int,
    marks: dict[str, int],
    merge_sets: bool,
) -> OriginalOutcome:
    """Rebuild the live outcome of ``markets`` (condition id -> (yes, no)) in the window."""
    outcome = OriginalOutcome()
    rows = store.con.execute(
        """
        SELECT report_kind, trace_id, ts_ms, market_id, asset_id, payload FROM reports
        WHERE mode <> 'replay' AND market_id IN (SELECT unnest(?::VARCHAR[]))
          AND ts_ms BETWEEN ? AND ?
          AND report_kind IN ('DecisionReport', 'ExecutionReport', 'SettlementReport')
        ORDER BY ts_ms, report_kind, report_id
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
    severity = {"pass": 0, "approve": 0, "reshape": 1, "reject": 2}
    for trace, payload_text in votes:  # the strictest vote decides, as the guard stack combines them
        vote = json.loads(payload_text)["vote"]
        verdict = outcome.verdicts.get(trace, "approve")
        outcome.verdicts[trace] = max(
            verdict, "approve" if vote == "pass" else vote, key=severity.__getitem__
        )
    ledger = outcome.ledger
    for kind, trace, ts, market, asset, payload_text in rows:
        payload = json.loads(payload_text)
        if kind == "DecisionReport":
            intent = payload.get("intent")
            legs = intent.get("legs", []) if isinstance(intent, dict) else []
            outcome.decisions[trace or f"untraced-{ts}"] = {
                "ts_ms": ts, "market_id": market, "assets": sorted({leg["asset_id"] for leg in legs}),
                "orders": sorted(
                    (leg["asset_id"], leg["side"], parse_micros(leg["limit_price"]),
                     parse_micros(leg["size_pusd"]))
                    for leg in legs
                ),
            }  # fmt: skip
        elif kind == "SettlementReport":
            ledger.settle({t: parse_micros(v) for t, v in payload["payouts"].items()}, ts_ms=ts)
        elif trace is not None and trace not in outcome.executed_ms:
            outcome.executed_ms[trace] = ts
        if kind == "ExecutionReport" and payload.get("status") in ("FILLED", "PARTIAL"):
            amounts = [parse_micros(payload[key]) for key in ("price", "size", "size_pusd", "fee_pusd")]
            fill = LiveFill(trace, ts, market, asset, payload["side"], *amounts)
            outcome.fills.append(fill)
            if fill.side == "BUY":
                ledger.buy(
                    asset, shares=fill.shares, cost=fill.size_pusd, fee=fill.fee_pusd, fee_shares=0, ts_ms=ts
                )
            else:
                ledger.sell(asset, shares=fill.shares, proceeds=fill.size_pusd, fee=fill.fee_pusd, ts_ms=ts)
            if merge_sets and market in markets:
                ledger.merge(*markets[market], ts_ms=ts)
    outcome.unrealised = ledger.unrealised({asset: marks.get(asset, 0) for asset in ledger.open_assets()})
    return outcome


def compare(
    decisions: list[Any],
    executions: list[Any],
    skipped_ticks: set[tuple[str, int]],
    original: OriginalOutcome,
    marks: dict[str, int],
) -> list[dict[str, Any]]:
    """One row per replay decision linked to the live bot and per live decision left alone."""
    replay_fills: dict[str, list[Any]] = defaultdict(list)
    for execution in executions:
        replay_fills[execution.order.trace_id].append(execution)
    live_fills: dict[str, list[LiveFill]] = defaultdict(list)
    for fill in original.fills:
        if fill.trace_id:
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
                decision.trace_id, live_trace, decision.ts_ms, intent=decision.intent,
                fills=replay_fills[decision.trace_id], live=live_fills[live_trace],
                live_decision=original.decisions.get(live_trace), marks=marks,
                live_executed_ms=original.executed_ms.get(live_trace),
                verdicts=(decision.verdict, _live_verdict(original, live_trace)),
            )
        )  # fmt: skip
    for live_trace, live in sorted(original.decisions.items(), key=lambda item: (item[1]["ts_ms"], item[0])):
        if live_trace in matched:
            continue
        row = _row(
            None, live_trace, live["ts_ms"], intent=None, fills=[], live=live_fills[live_trace],
            live_decision=live, marks=marks, live_executed_ms=original.executed_ms.get(live_trace),
            verdicts=(None, _live_verdict(original, live_trace)),
        )  # fmt: skip
        if any(market == live["market_id"] and ts <= live["ts_ms"] for market, ts in skipped_ticks):
            row["cause"] = "data_gap"
        rows.append(row)
    return rows


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
    replay_pnl = sum(f.shares * marks.get(f.order.asset_id, 0) // MICRO - f.cost - f.fee for f in fills)
    live_pnl = sum(f.shares * marks.get(f.asset_id, 0) // MICRO - f.size_pusd - f.fee_pusd for f in live)
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
