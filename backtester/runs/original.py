"""What the live bot really did in the window, under the replay's accounting, and how each
replay decision compares with it.

The live outcome is rebuilt from the archived ``ExecutionReport``s (fills, at the prices,
sizes and fees they report) and ``SettlementReport``s of the run's markets and window,
through the same FIFO ledger: complete sets merged as the replay merges them, open
positions marked at the same end-of-window marks. ``vs_original_pnl_delta_pusd`` is the
replay's P&L minus that.

Each replay decision linked to a live decision (``original_trace_id``), and each live
decision the replay did not match, becomes a comparison row: decided the same? filled
the same? price, size, fee and P&L deltas, and the likeliest cause of a difference where
the data shows one:

* ``decision``: one side decided and the other did not, or on other tokens;
* ``data_gap``: the replay skipped the tick (its book had lost sync);
* ``liquidity``: the replay filled fewer shares than the live bot;
* ``latency``: both filled, the replay at a worse price, and the book moved between the
  replay's decision and its order's arrival;
* ``fees``: same fills, different fees;
* ``none``: no difference.

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
    ledger = outcome.ledger
    for kind, trace, ts, market, asset, payload_text in rows:
        payload = json.loads(payload_text)
        if kind == "DecisionReport":
            intent = payload.get("intent")
            legs = intent.get("legs", []) if isinstance(intent, dict) else []
            outcome.decisions[trace or f"untraced-{ts}"] = {
                "ts_ms": ts, "market_id": market, "assets": sorted({leg["asset_id"] for leg in legs}),
            }  # fmt: skip
        elif kind == "SettlementReport":
            ledger.settle({t: parse_micros(v) for t, v in payload["payouts"].items()}, ts_ms=ts)
        elif payload.get("status") in ("FILLED", "PARTIAL"):
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
            )
        )  # fmt: skip
    for live_trace, live in sorted(original.decisions.items(), key=lambda item: (item[1]["ts_ms"], item[0])):
        if live_trace in matched:
            continue
        row = _row(
            None, live_trace, live["ts_ms"], intent=None, fills=[], live=live_fills[live_trace],
            live_decision=live, marks=marks,
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
) -> dict[str, Any]:
    replay_shares = sum(f.shares for f in fills)
    live_shares = sum(f.shares for f in live)
    replay_cost = sum(f.cost for f in fills)
    live_cost = sum(f.size_pusd for f in live)
    replay_fee = sum(f.fee for f in fills)
    live_fee = sum(f.fee_pusd for f in live)
    replay_pnl = sum(f.shares * marks.get(f.order.asset_id, 0) // MICRO - f.cost - f.fee for f in fills)
    live_pnl = sum(f.shares * marks.get(f.asset_id, 0) // MICRO - f.size_pusd - f.fee_pusd for f in live)
    replay_assets = sorted({leg.asset_id for leg in intent.legs}) if intent is not None else []
    live_assets = live_decision["assets"] if live_decision else sorted({f.asset_id for f in live})
    replay_price = _average(replay_cost, replay_shares)
    live_price = _average(live_cost, live_shares)
    price_delta_bps = None
    if replay_price is not None and live_price is not None and live_price:
        price_delta_bps = str(((replay_price - live_price) * 10_000 / live_price).quantize(Decimal("0.01")))
    if intent is None or replay_assets != live_assets:
        cause = "decision"
    else:
        cause = _cause(
            fills,
            shares=(replay_shares, live_shares),
            prices=(replay_price, live_price),
            fees=(replay_fee, live_fee),
        )
    return {
        "trace_id": trace,
        "original_trace_id": live_trace,
        "tick_ts_ms": ts_ms,
        "replay_decided": intent is not None,
        "live_decided": bool(live_assets),
        "decided_same": replay_assets == live_assets,
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


def _cause(
    fills: list[Any],
    *,
    shares: tuple[int, int],
    prices: tuple[Decimal | None, Decimal | None],
    fees: tuple[int, int],
) -> str:
    """Why a replay decision that matched the live one still ended differently."""
    (replay_shares, live_shares), (replay_price, live_price), (replay_fee, live_fee) = shares, prices, fees
    if replay_shares < live_shares:
        return "liquidity"
    if replay_price is not None and live_price is not None and replay_price > live_price:
        moved = any(f.order.decision_best is not None and f.levels and f.levels[0][0] != f.order.decision_best
                    for f in fills)  # fmt: skip
        return "latency" if moved else "liquidity"
    if replay_shares == live_shares and replay_fee != live_fee:
        return "fees"
    if replay_shares != live_shares or replay_price != live_price:
        return "liquidity"
    return "none"


def _average(cost: int, shares: int) -> Decimal | None:
    return Decimal(cost) / Decimal(shares) if shares else None


def _text(price: Decimal | None) -> str | None:
    return None if price is None else format(price.quantize(Decimal("0.000001"), ROUND_HALF_EVEN), "f")
