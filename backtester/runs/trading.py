"""What happens to approved intents: orders, fills, the ledger, and their reports.

Each leg of an approved intent becomes an :class:`~backtester.venue.Order` that reaches
the book ``latency_ms`` later. The engine calls :meth:`Trading.execute_due` whenever it
is about to apply an event stamped after an order's arrival, so an order always meets
the book as it stood when it arrived. Fills go to the FIFO ledger; complete sets are
merged and converted No baskets converted when the simulation says so; settlements pay
out; at the window's end open positions are marked to the mid (unrealised).

Reports: a replay-tagged ``ExecutionReport`` copy per order (filled, partly filled or
refused), and a ``BACKTESTER_TICK_PROCESSED`` OperationsReport per fill, merge,
conversion and settlement, carrying its P&L. Opening buys carry 0: P&L is realised by
the event that closes the lots. The sum of those P&L is the variant's realised P&L, to
the micro-pUSD.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backtester.book.market import MarketView
from backtester.config.replay import SimulationConfig
from backtester.errors import ReasonCode
from backtester.fees import fee_asset
from backtester.ledger import Ledger, LedgerEvent
from backtester.reports.envelopes import ReportIds, envelope, operations_report
from backtester.strategies.base import Intent
from backtester.units import format_micros, parse_micros
from backtester.venue import Execution, Order, execute

__all__ = ["EquityPoint", "Trading"]


@dataclass(frozen=True)
class EquityPoint:
    """The variant's P&L after a ledger event (micro-pUSD)."""

    ts_ms: int
    realised: int
    unrealised: int

    @property
    def total(self) -> int:
        return self.realised + self.unrealised


@dataclass
class _Submitted:
    """An approved intent on its way: its orders, and what came back so far."""

    intent: Intent
    decided_ms: int
    verdict: str
    votes: list[dict[str, str]]
    waiting: int
    filled: dict[str, int] = field(default_factory=dict)


class Trading:
    """Orders, fills and the ledger of one variant."""

    _CALLBACKS = ("view_of", "siblings", "emit", "original", "mark_of")

    def __getstate__(self) -> dict[str, Any]:
        """What survives the trip back from a worker process: the data, not the
        callbacks into the finished tick loop."""
        state = dict(self.__dict__)
        for name in self._CALLBACKS:
            state[name] = None
        return state

    def __init__(
        self,
        *,
        sim: SimulationConfig,
        ids: ReportIds,
        view_of: Callable[[str, int], MarketView],
        siblings: Callable[[str], tuple[MarketView, ...]],
        emit: Callable[[str, dict[str, Any]], None],
        original: Callable[[str], str | None],
        mark_of: Callable[[str], int],
        market_of_asset: dict[str, str],
    ) -> None:
        self.sim = sim
        self.ids = ids
        self.view_of = view_of
        self.siblings = siblings
        self.emit = emit
        self.original = original
        self.mark_of = mark_of
        self.market_of_asset = market_of_asset
        self.ledger = Ledger()
        self.positions: dict[str, int] = {}
        self.pending: list[tuple[int, int, Order]] = []
        self.pending_spend: dict[str, int] = {}
        self.submitted: dict[str, _Submitted] = {}
        self.executions: list[Execution] = []
        self.equity: list[EquityPoint] = []
        self.marks: dict[str, int] = {}
        self.unrealised = 0
        self.settled: set[str] = set()
        """Markets resolved so far: nothing more is traded there."""
        self._count = 0

    # ------------------------------------------------------------ orders

    def submit(
        self, trace: str, intent: Intent, *, decided_ms: int, verdict: str, votes: list[dict[str, str]]
    ) -> None:
        """Send every leg of an approved intent; each reaches the book after the latency."""
        arrival = decided_ms + self.sim.latency_ms
        self.submitted[trace] = _Submitted(intent, decided_ms, verdict, votes, len(intent.legs))
        for index, leg in enumerate(intent.legs):
            book = self.view_of(leg.market_id, decided_ms).book(leg.asset_id)
            buying = leg.side == "BUY"
            order = Order(
                trace, index, leg.market_id, leg.asset_id, leg.side, leg.limit_price, leg.shares,
                decided_ms=decided_ms, arrival_ms=arrival, decision_best=book.ask if buying else book.bid,
                decision_top=book.archive_best(bid_side=not buying),
            )  # fmt: skip
            self._count += 1
            heapq.heappush(self.pending, (arrival, self._count, order))
            self.pending_spend[leg.market_id] = self.pending_spend.get(leg.market_id, 0) + leg.cost + leg.fee

    def execute_due(self, *, before: int | None = None, until: int | None = None) -> None:
        """Execute orders arriving before ``before`` (or at ``until`` at the latest), one
        arrival time after the other: the sets the orders of one arrival complete are
        merged (and baskets converted) at that time, before any later order fills, so a
        merge never takes shares that arrive after it, and the ledger's events stay in
        time order."""
        touched: list[str] = []
        arrived: int | None = None
        while self.pending:
            arrival = self.pending[0][0]
            if (before is not None and arrival >= before) or (until is not None and arrival > until):
                break
            if arrival != arrived:
                self._close_all(touched)
                touched, arrived = [], arrival
            _, _, order = heapq.heappop(self.pending)
            self._execute(order)
            touched.append(order.trace_id)
        self._close_all(touched)

    def _close_all(self, traces: list[str]) -> None:
        for trace in dict.fromkeys(traces):
            self._close_sets(trace)

    def expire(self) -> None:
        """Orders still on their way at the window's end never reach the book."""
        while self.pending:
            _, _, order = heapq.heappop(self.pending)
            late = Execution(order, "REJECTED", 0, 0, 0, "pusd", 0, (), "arrives after the window end")
            self.executions.append(late)
            self._report_execution(late)

    def _execute(self, order: Order) -> None:
        market = self.view_of(order.market_id, order.arrival_ms)
        if order.market_id in self.settled:
            asset = fee_asset(buying=order.side == "BUY", ts_ms=order.arrival_ms, override=self.sim.fee_asset)
            execution = Execution(order, "REJECTED", 0, 0, 0, asset, 0, (), "the market had resolved")
        else:
            execution = execute(
                order,
                market,
                ts_ms=order.arrival_ms,
                time_in_force=self.sim.time_in_force,
                fee_rule=self.sim.fee_asset,
            )
        submitted = self.submitted[order.trace_id]
        leg = submitted.intent.legs[order.leg]
        self.pending_spend[order.market_id] -= leg.cost + leg.fee
        submitted.waiting -= 1
        self.executions.append(execution)
        self._report_execution(execution)
        if not execution.shares:
            return
        submitted.filled[order.asset_id] = submitted.filled.get(order.asset_id, 0) + execution.shares
        if order.side == "BUY":
            event = self.ledger.buy(
                order.asset_id, shares=execution.shares, cost=execution.cost, fee=execution.fee,
                fee_shares=execution.fee_shares, ts_ms=order.arrival_ms,
            )  # fmt: skip
        else:
            event = self.ledger.sell(
                order.asset_id, shares=execution.shares, proceeds=execution.cost, fee=execution.fee,
                ts_ms=order.arrival_ms,
            )  # fmt: skip
        self._after(event, market_id=order.market_id, execution=execution)

    def _close_sets(self, trace: str) -> None:
        """Merge complete sets, and convert a No basket whose legs have all come back."""
        submitted = self.submitted[trace]
        if self.sim.merge_sets:
            for market_id in submitted.intent.market_ids:
                market = self.view_of(market_id, submitted.decided_ms)
                event = self.ledger.merge(market.yes.asset_id, market.no.asset_id, ts_ms=self._now(trace))
                if event is not None:
                    self._after(event, market_id=market_id, trace=trace)
        intent = submitted.intent
        if intent.kind == "no_basket" and self.sim.convert_no_baskets and not submitted.waiting:
            nos = tuple(leg.asset_id for leg in intent.legs)
            basket = set(intent.market_ids)
            others = tuple(
                m.yes.asset_id for m in self.siblings(intent.legs[0].market_id)
                if m.info is not None and m.info.condition_id not in basket
            )  # fmt: skip
            event = self.ledger.convert(nos, yes_of_others=others, ts_ms=self._now(trace))
            if event is not None:
                self._after(event, market_id=intent.legs[0].market_id, trace=trace)

    def _now(self, trace: str) -> int:
        return self.submitted[trace].decided_ms + self.sim.latency_ms

    # ------------------------------------------------------------ settlement, footprint, end

    def settle(self, market_id: str, payload: str, ts_ms: int) -> None:
        """Pay out the variant's shares of a resolved market (CTF or NegRiskAdapter)."""
        body = json.loads(payload)
        payouts = {token: parse_micros(value) for token, value in body["payouts"].items()}
        self.settled.add(market_id)
        event = self.ledger.settle(payouts, ts_ms=ts_ms)
        if event is not None:
            self._after(event, market_id=market_id, adapter=body["adapter"])

    def finish(self, end_ms: int, marks: dict[str, int]) -> None:
        """Mark what is still open at the window's end (unrealised, kept apart)."""
        self.marks = {asset: marks.get(asset, 0) for asset in self.ledger.open_assets()}
        self.unrealised = self.ledger.unrealised(self.marks)
        self.equity.append(EquityPoint(end_ms, self.ledger.realised, self.unrealised))

    def exposure(self) -> dict[str, int]:
        """pUSD committed per market: the cost of what is held and of what is on its way."""
        out = dict(self.pending_spend)
        for asset in self.ledger.open_assets():
            market = self.market_of_asset.get(asset)
            if market is not None:
                out[market] = out.get(market, 0) + self.ledger.cost_basis(asset)
        return {m: v for m, v in out.items() if v}

    def _unrealised_now(self) -> int:
        return self.ledger.unrealised({asset: self.mark_of(asset) for asset in self.ledger.open_assets()})

    # ------------------------------------------------------------ reports

    def _after(self, event: LedgerEvent, *, market_id: str, execution: Execution | None = None,
               trace: str | None = None, adapter: str | None = None) -> None:  # fmt: skip
        for asset in event.assets:
            self.positions[asset] = self.ledger.position(asset)
        self.equity.append(EquityPoint(event.ts_ms, self.ledger.realised, self._unrealised_now()))
        trace = trace or (execution.order.trace_id if execution else None)
        submitted = self.submitted.get(trace) if trace else None
        fill: dict[str, Any] = {
            "kind": event.kind,
            "shares": format_micros(event.shares),
            "cash_pusd": format_micros(event.cash),
            "fee_pusd": format_micros(event.fee),
            "pnl_pusd": format_micros(event.realised),
        }
        fields: dict[str, Any] = {}
        if execution is not None:
            price = execution.price
            fill |= {
                "asset_id": execution.order.asset_id,
                "side": execution.order.side,
                "price": format_micros(price) if price is not None else None,
                "size_pusd": format_micros(execution.size_pusd),
                "fee_asset": execution.fee_asset,
                "fee_shares": format_micros(execution.fee_shares),
                "slippage_bps": str(execution.slippage_bps) if execution.slippage_bps is not None else None,
                "levels": [[format_micros(p), format_micros(s)] for p, s in execution.levels],
            }
            fields = {
                "simulated_fill_price": fill["price"],
                "simulated_fill_size_pusd": fill["size_pusd"],
                "simulated_slippage_bps": fill["slippage_bps"],
                "decided_ts_ms": execution.order.decided_ms,
            }
        if adapter is not None:
            fill["adapter"] = adapter
        report = operations_report(
            self.ids.next("ops_backtester"), str(ReasonCode.BACKTESTER_TICK_PROCESSED),
            replay_run_id=self.ids.run_id, ts_ms=event.ts_ms, tick_ts_ms=event.ts_ms, market_id=market_id,
            trace_id=trace, original_trace_id=self.original(trace) if trace else None,
            simulated_intent_emitted=submitted is not None,
            simulated_verdict=submitted.verdict if submitted else None,
            simulated_fill=fill, **fields,
            risk_votes=submitted.votes if submitted else [],
            comparison=None, parameter_variant=self.ids.variant_id,
        )  # fmt: skip
        self.emit(trace or "", report)

    def _report_execution(self, execution: Execution) -> None:
        order = execution.order
        payload = {
            "market_id": order.market_id,
            "asset_id": order.asset_id,
            "side": order.side,
            "price": format_micros(execution.price) if execution.price is not None else None,
            "size": format_micros(execution.shares),
            "size_pusd": format_micros(execution.size_pusd),
            "fee_pusd": format_micros(execution.fee),
            "fee_asset": execution.fee_asset,
            "status": execution.status,
            "limit_price": format_micros(order.limit_price),
            "order_shares": format_micros(order.shares),
            "decided_ts_ms": order.decided_ms,
            "reason": execution.reason,
        }
        report = envelope(
            "ExecutionReport", self.ids.next("exec"), trace_id=order.trace_id, replay_run_id=self.ids.run_id,
            ts_ms=order.arrival_ms, payload=payload, original_trace_id=self.original(order.trace_id),
        )  # fmt: skip
        self.emit(order.trace_id, report)
