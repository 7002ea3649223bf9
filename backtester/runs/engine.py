"""The tick loop of one variant: apply the feed's events in order, and after every
instant (one value of the decision clock) let the strategy decide for each market group
the instant touched, then put its intent through the guard stack.

No look-ahead: events are applied strictly in clock order, and a decision at clock t is
taken after the last event stamped t and before the first event stamped later, so a
view holds only what was stamped at or before t. All events of one instant are applied
before deciding: Polymarket sends a change of one book as a pair of mirrored entries
(one per token) in one frame, and a decision between the two halves would see a book
that never existed.

A group whose books lost sync (a ``seq`` gap or a top-of-book disagreement) is not
decided until the next snapshot: each such tick is skipped and reported as
``BACKTESTER_TICK_SKIPPED`` with the token and the reason. Ticks decided on partial
books (a stream that never had a snapshot) are counted apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel

from backtester.book.book import BookState, TokenBook
from backtester.book.feed import ArchiveFeed, Kind, signal_values
from backtester.book.market import MarketInfo, MarketView
from backtester.config.replay import RiskConfig, SimulationConfig
from backtester.errors import ReasonCode
from backtester.guards.base import Guard, GuardContext, Outcome, combine
from backtester.ledger import Ledger
from backtester.reports.envelopes import ReportIds, envelope, operations_report
from backtester.runs.control import CHECK_EVERY, StopSignal
from backtester.runs.trading import Trading
from backtester.strategies.base import DecisionView, Intent, Signal
from backtester.strategies.registry import StrategySpec
from backtester.units import MICRO, format_micros
from backtester.venue import Execution

__all__ = ["MISSING", "MISSING_REPORTS_PER_GAP", "Decision", "VariantResult", "run_variant"]

MISSING = "missing from the archive"
"""The skip reason of a message the ``seq`` chain says is absent."""
MISSING_REPORTS_PER_GAP = 1000
"""At most this many skip reports for one ``seq`` gap (the last one covers the rest)."""


@dataclass(frozen=True)
class Decision:
    """An intent of the strategy and the guards' verdict on it: for ``approve`` and
    ``reshape`` the intent sent to the venue, for ``reject`` the intent as proposed."""

    ts_ms: int
    trace_id: str
    original_trace_id: str | None
    intent: Intent
    verdict: str
    proposed: Intent | None = None
    """The intent as the strategy proposed it, before any guard reshaped it."""


@dataclass
class VariantResult:
    """What one variant's replay did."""

    variant_id: int
    params: dict[str, Any]
    messages: int = 0
    ticks_replayed: int = 0
    ticks_skipped: int = 0
    """Ticks the replay could not use: messages missing from the archive (``ticks_missing``)
    and ticks of a group whose books were out of sync."""
    ticks_missing: int = 0
    """Messages the ``seq`` chains say the archive lacks (each reported as skipped)."""
    ticks_partial_book: int = 0
    intents: int = 0
    approved: int = 0
    reshaped: int = 0
    rejected: int = 0
    phantom_arbs: int = 0
    skipped_by_reason: Counter[str] = field(default_factory=Counter)
    decisions: list[Decision] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    trading: Trading | None = None
    marks: dict[str, int] = field(default_factory=dict)
    """Every token's mark at the window's end (the mid of the archive's book)."""
    gaps: dict[str, list[list[int | None]]] = field(default_factory=dict)
    """Per market group, the intervals [first skipped tick, first tick replayed again)
    its books were out of sync (None: still out of sync at the end)."""
    group_of: dict[str, str] = field(default_factory=dict)
    """Each market's decision group (itself, or its neg-risk event)."""

    @property
    def ledger(self) -> Ledger:
        assert self.trading is not None
        return self.trading.ledger

    @property
    def fills(self) -> list[Execution]:
        """Executions that filled something."""
        return [e for e in self.trading.executions if e.shares] if self.trading else []

    @property
    def realised(self) -> int:
        return self.ledger.realised

    @property
    def unrealised(self) -> int:
        return self.trading.unrealised if self.trading else 0

    @property
    def pnl(self) -> int:
        """Realised plus unrealised P&L (micro-pUSD)."""
        return self.realised + self.unrealised

    def summary(self) -> dict[str, Any]:
        return {
            "variant_id": self.variant_id,
            "params": self.params,
            "messages_applied": self.messages,
            "ticks_replayed": self.ticks_replayed,
            "ticks_skipped": self.ticks_skipped,
            "ticks_missing": self.ticks_missing,
            "ticks_partial_book": self.ticks_partial_book,
            "skipped_by_reason": dict(sorted(self.skipped_by_reason.items())),
            "intents": self.intents,
            "approved": self.approved,
            "reshaped": self.reshaped,
            "rejected": self.rejected,
            "phantom_arbs": self.phantom_arbs,
            "simulated_fills": len(self.fills),
            "simulated_volume_pusd": format_micros(self.ledger.volume),
            "simulated_net_fees_pusd": format_micros(self.ledger.fees),
            "realised_pnl_pusd": format_micros(self.realised),
            "unrealised_pnl_pusd": format_micros(self.unrealised),
            "simulated_pnl_pusd": format_micros(self.pnl),
        }


class _Markets:
    """Books, groups and market records of a run (records can change with time)."""

    def __init__(self, records: dict[str, list[tuple[int, MarketInfo]]]) -> None:
        self.records = records
        self.books: dict[str, TokenBook] = {}
        self.group_of_asset: dict[str, str] = {}
        self.group_of_market = {cid: history[-1][1].group for cid, history in records.items()}
        self.market_of_asset = {
            token: cid for cid, history in records.items() for token in history[-1][1].tokens
        }
        groups: dict[str, list[MarketInfo]] = {}
        for history in records.values():
            info = history[-1][1]
            for token in info.tokens:
                self.books[token] = TokenBook(token, history[0][1].tick_size)
                self.group_of_asset[token] = info.group
            groups.setdefault(info.group, []).append(info)
        self.groups = {
            group: tuple(
                sorted(infos, key=lambda m: (m.outcome_index is None, m.outcome_index, m.condition_id))
            )
            for group, infos in groups.items()
        }
        self._views: dict[str, tuple[tuple[MarketView, ...], tuple[TokenBook, ...]]] = {}
        self._changing = {
            info.group for history in records.values() if len(history) > 1 for _, info in history
        }

    def view(self, condition_id: str, ts_ms: int) -> MarketView:
        """The view of one market (its record in force at ``ts_ms``)."""
        info = self.info_at(condition_id, ts_ms)
        return MarketView(info, self.books[info.yes_token_id], self.books[info.no_token_id])

    def event_views(self, condition_id: str) -> tuple[MarketView, ...]:
        """Every market of the same decision group (a neg-risk event), in outcome order."""
        group = self.group_of_market[condition_id]
        return tuple(self.view(info.condition_id, 0) for info in self.groups[group])

    def info_at(self, condition_id: str, ts_ms: int) -> MarketInfo:
        history = self.records[condition_id]
        current = history[0][1]
        for effective, info in history:
            if effective <= ts_ms:
                current = info
        return current

    def views(self, group: str, ts_ms: int) -> tuple[tuple[MarketView, ...], tuple[TokenBook, ...]]:
        """The group's market views at ``ts_ms`` and all their books.

        Views read the live books, so they are built once per group and rebuilt only
        for groups whose market records change over time.
        """
        cached = self._views.get(group)
        if cached is not None and group not in self._changing:
            return cached
        views = []
        for latest in self.groups[group]:
            info = self.info_at(latest.condition_id, ts_ms)
            views.append(MarketView(info, self.books[info.yes_token_id], self.books[info.no_token_id]))
        books = tuple(book for view in views for book in (view.yes, view.no))
        self._views[group] = (tuple(views), books)
        return self._views[group]


def run_variant(
    feed: ArchiveFeed,
    spec: StrategySpec,
    params: BaseModel,
    *,
    variant_id: int,
    run_id: str,
    limits: RiskConfig,
    guards: Sequence[Guard],
    simulation: SimulationConfig | None = None,
    stop: StopSignal | None = None,
) -> VariantResult:
    """Replay ``feed`` once through ``spec`` with ``params`` (see the module docstring).

    With ``stop``, the loop reads the signal at tick boundaries (every
    :data:`~backtester.runs.control.CHECK_EVERY` instants) and raises
    :class:`~backtester.runs.control.RunStopped` once a stop is requested."""
    loop = _Replay(
        feed, spec, params, ids=ReportIds(run_id, variant_id), limits=limits, guards=tuple(guards),
        simulation=simulation or SimulationConfig(), stop=stop,
    )  # fmt: skip
    return loop.run()


class _Replay:
    def __init__(
        self,
        feed: ArchiveFeed,
        spec: StrategySpec,
        params: BaseModel,
        *,
        ids: ReportIds,
        limits: RiskConfig,
        guards: tuple[Guard, ...],
        simulation: SimulationConfig,
        stop: StopSignal | None = None,
    ) -> None:
        self.stop = stop
        self.feed = feed
        self.spec = spec
        self.params = params
        self.ids = ids
        self.limits = limits
        self.guards = guards
        self.sim = simulation
        self.markets = _Markets(feed.markets)
        if simulation.restore_live_footprint and any(e[2] == Kind.LIVE_EXECUTION for e in feed.events):
            for book in self.markets.books.values():
                book.drops = {}  # remember the archive's drops: a live fill's echo may come first
        self.result = VariantResult(ids.variant_id, params.model_dump(mode="json"))
        self.result.group_of = dict(self.markets.group_of_market)
        self.signals: dict[tuple[str, str], Signal] = {}
        self.signal_view = MappingProxyType(self.signals)  # read-only, always current
        # The latest decided tick of each group that produced an intent (its trace), for
        # linking live decisions; every report of a trace, for patching in the link.
        self.latest: dict[str, str | None] = {}
        self.linked: set[str] = set()
        self.original_of: dict[str, str] = {}
        self.by_trace: dict[str, list[dict[str, Any]]] = {}
        self.decision_index: dict[str, int] = {}
        self.live: list[tuple[str, str]] = []
        self.trading = Trading(
            sim=simulation,
            ids=ids,
            view_of=self.markets.view,
            siblings=self.markets.event_views,
            emit=self.emit,
            original=self.original_of.get,
            mark_of=self.mark,
            market_of_asset=self.markets.market_of_asset,
        )
        self.positions = MappingProxyType(self.trading.positions)
        self.result.trading = self.trading

    def emit(self, trace: str, report: dict[str, Any]) -> None:
        self.result.reports.append(report)
        if trace:
            self.by_trace.setdefault(trace, []).append(report)

    def mark(self, asset: str) -> int:
        """What a share is worth now, by the archive's book (see TokenBook.mid)."""
        book = self.markets.books.get(asset)
        return book.mid() if book is not None else 0

    def run(self) -> VariantResult:
        # token -> (its book, its decision group): one lookup per event on the hot path
        slots = {
            asset: (book, self.markets.group_of_asset[asset]) for asset, book in self.markets.books.items()
        }
        start, end = self.feed.start_ms, self.feed.end_ms
        level, book_kind, signal, live_decision = Kind.LEVEL, Kind.BOOK, Kind.SIGNAL, Kind.LIVE_DECISION
        trade, settlement, live_execution = Kind.TRADE, Kind.SETTLEMENT, Kind.LIVE_EXECUTION
        trading = self.trading
        stop, countdown = self.stop, CHECK_EVERY
        clock = None
        touched: set[str] = set()
        applied = 0
        for (
            event_clock,
            ts,
            kind,
            market,
            asset,
            seq,
            is_bid,
            price,
            size,
            best_bid,
            best_ask,
            extra,
        ) in self.feed.events:
            if event_clock != clock:
                self.end_instant(touched, clock)
                if trading.pending:  # orders that arrive before this instant meet the book as it was
                    trading.execute_due(before=event_clock)
                clock = event_clock
                if stop is not None:
                    countdown -= 1
                    if not countdown:
                        countdown = CHECK_EVERY
                        if stop.requested:
                            stop.check(at_ms=clock, variant_id=self.ids.variant_id,
                                       ticks=self.result.ticks_replayed)  # fmt: skip
            if kind == signal:
                _take_signals(self.signals, market, ts, extra)
                continue
            if kind == live_decision:
                if extra and event_clock >= start:
                    self.live.append((market, extra))
                continue
            if kind == settlement:
                trading.settle(market, extra, ts)
                continue
            if kind == live_execution:
                if self.sim.restore_live_footprint:
                    self.restore_footprint(asset, taker_buys=is_bid == 1, price=price, shares=size, ts_ms=ts)
                continue
            slot = slots.get(asset)
            if slot is None:
                continue
            book, group = slot
            if seq >= 0:  # seq counts every message of the token, whatever its kind
                missing = book.check_seq(seq)
                if missing and event_clock >= start:
                    self.report_missing(book, group, event_clock, seq, missing)
            if kind == level:
                book.apply(is_bid, price, size, ts, best_bid, best_ask)
            elif kind == book_kind:
                bid_px, bid_sz, ask_px, ask_sz, (depth,) = extra
                book.snapshot(
                    bid_px, bid_sz, ask_px, ask_sz, ts_ms=ts, depth_limit=depth if depth >= 0 else None
                )
            elif kind == trade:
                book.trade(taker_buys=is_bid == 1, price=price, size=size)
            else:  # a tick-size change: the feed carries the new tick in the price column
                book.tick = price
            if event_clock >= start:
                applied += 1
                touched.add(group)
        self.end_instant(touched, clock)
        trading.execute_due(until=end)
        trading.expire()
        self.result.marks = {asset: self.mark(asset) for asset in sorted(self.markets.books)}
        trading.finish(end, self.result.marks)
        self.result.messages = applied
        return self.result

    def restore_footprint(
        self, asset: str | None, *, taker_buys: bool, price: int, shares: int, ts_ms: int
    ) -> None:
        """Add back, on both views, the shares a live fill of the bot took (see book.overlay)."""
        market_id = self.markets.market_of_asset.get(asset or "")
        if market_id is None or price <= 0 or shares <= 0:
            return
        view = self.markets.view(market_id, 0)
        echo = self.sim.live_fill_echo_ms
        view.book(asset).live_fill(  # type: ignore[arg-type]
            bid_side=not taker_buys, price=price, shares=shares, ts_ms=ts_ms, echo_ms=echo
        )
        view.other(asset).live_fill(  # type: ignore[arg-type]
            bid_side=taker_buys, price=MICRO - price, shares=shares, ts_ms=ts_ms, echo_ms=echo
        )

    def end_instant(self, touched: set[str], clock: int | None) -> None:
        """Decide for every group the instant touched, then link the instant's live decisions."""
        if touched:
            for group in sorted(touched):
                self.decide(group, clock)  # type: ignore[arg-type]
            touched.clear()
        if self.live:
            self.link_live()

    def link_live(self) -> None:
        """Link each live DecisionReport to the replay's decision at the latest tick of its
        market at or before it (the tick the live bot was acting on), if the replay decided
        something there. Links are bookkeeping for the comparison: decisions never see them."""
        group_of = self.markets.group_of_market
        for market, live_trace in self.live:
            trace = self.latest.get(group_of.get(market, market))
            if trace is None or trace in self.linked:
                continue
            self.linked.add(trace)
            self.original_of[trace] = live_trace
            for report in self.by_trace.get(trace, ()):
                report["original_trace_id"] = live_trace
            index = self.decision_index.get(trace)
            if index is not None:
                decisions = self.result.decisions
                decisions[index] = replace(decisions[index], original_trace_id=live_trace)
        self.live.clear()

    def decide(self, group: str, clock: int) -> None:
        ids, result = self.ids, self.result
        self.latest[group] = None
        views, books = self.markets.views(group, clock)
        partial = False
        for book in books:
            state = book.state
            if state is BookState.FULL:
                continue
            if state is BookState.PARTIAL:
                partial = True
            elif book.stamp_ms is not None:  # unknown after a loss of sync
                self.skip(book, group, clock)
                return
        result.ticks_replayed += 1
        result.ticks_partial_book += partial
        gaps = result.gaps.get(group)
        if gaps and gaps[-1][1] is None:
            gaps[-1][1] = clock  # back in sync
        view = DecisionView(clock, group, views, self.signal_view, self.positions)
        intent = self.spec.evaluate(view, self.params)
        if intent is None:
            return
        if self.trading.settled and any(leg.market_id in self.trading.settled for leg in intent.legs):
            return  # a resolved market has nothing left to trade
        result.intents += 1
        context = GuardContext(view, self.limits, self.trading.exposure())
        votes = [guard.vote(intent, context) for guard in self.guards]
        outcome = combine(intent, votes, view)
        trace = ids.next("trace")
        self.latest[group] = trace
        self.decision_index[trace] = len(result.decisions)
        result.decisions.append(
            Decision(clock, trace, None, outcome.intent or intent, outcome.verdict, proposed=intent)
        )
        self.emit(
            trace, _decision_report(ids, intent, outcome, trace=trace, clock=clock, params=result.params)
        )
        for vote in votes:
            payload = {**vote.as_payload(), "market_id": intent.legs[0].market_id}
            self.emit(
                trace,
                envelope(
                    "RiskVote",
                    ids.next("vote"),
                    trace_id=trace,
                    replay_run_id=ids.run_id,
                    ts_ms=clock,
                    payload=payload,
                ),
            )
        if outcome.verdict == "reject":
            self.emit(trace, self.reject(intent, outcome, trace=trace, group=group, clock=clock))
            return
        assert outcome.intent is not None
        result.approved += 1
        result.reshaped += outcome.verdict == "reshape"
        self.trading.submit(
            trace,
            outcome.intent,
            decided_ms=clock,
            verdict=outcome.verdict,
            votes=[v.as_risk_vote() for v in votes],
        )

    def report_missing(self, book: TokenBook, group: str, clock: int, seq: int, missing: int) -> None:
        """One ``BACKTESTER_TICK_SKIPPED`` per message the ``seq`` chain says the archive
        lacks (a tick is one market-data message; contract section 2), stamped with the
        message that revealed the gap (the missing ones lie before it). A gap of more than
        :data:`MISSING_REPORTS_PER_GAP` messages (a corrupt ``seq``) gets that many reports,
        the last covering the rest; the counts are exact either way."""
        result = self.result
        result.ticks_skipped += missing
        result.ticks_missing += missing
        result.skipped_by_reason[MISSING] += missing
        first = seq - missing
        for n in range(min(missing, MISSING_REPORTS_PER_GAP)):
            rest = missing - n if n == MISSING_REPORTS_PER_GAP - 1 else 1
            self.emit(
                "",
                operations_report(
                    self.ids.next("ops_backtester"), str(ReasonCode.BACKTESTER_TICK_SKIPPED),
                    replay_run_id=self.ids.run_id, ts_ms=clock, severity="WARN", tick_ts_ms=clock,
                    group=group, asset_id=book.asset_id, missing_seq=first + n, missing_ticks=rest,
                    reason=f"{MISSING}: seq {first + n}" + (f" to {seq - 1}" if rest > 1 else "")
                    + f" of the token, before seq {seq}", parameter_variant=self.ids.variant_id,
                ),
            )  # fmt: skip

    def skip(self, book: TokenBook, group: str, clock: int) -> None:
        gaps = self.result.gaps.setdefault(group, [])
        if not gaps or gaps[-1][1] is not None:
            gaps.append([clock, None])
        self.result.ticks_skipped += 1
        self.result.skipped_by_reason[book.reason.split(":")[0]] += 1
        self.emit(
            "",
            operations_report(
                self.ids.next("ops_backtester"), str(ReasonCode.BACKTESTER_TICK_SKIPPED),
                replay_run_id=self.ids.run_id, ts_ms=clock, severity="WARN", tick_ts_ms=clock,
                group=group, asset_id=book.asset_id, reason=book.reason,
                parameter_variant=self.ids.variant_id,
            ),
        )  # fmt: skip

    def reject(
        self, intent: Intent, outcome: Outcome, *, trace: str, group: str, clock: int
    ) -> dict[str, Any]:
        self.result.rejected += 1
        phantom = any(
            v.reason and v.reason.startswith("phantom") for v in outcome.votes if v.vote == "reject"
        )
        self.result.phantom_arbs += phantom
        return operations_report(
            self.ids.next("ops_backtester"), str(ReasonCode.BACKTESTER_INTENT_REJECTED),
            replay_run_id=self.ids.run_id, ts_ms=clock, severity="INFO", tick_ts_ms=clock,
            market_id=intent.legs[0].market_id, group=group, trace_id=trace,
            original_trace_id=None, simulated_verdict="reject", phantom_arb=phantom,
            reasons=list(outcome.reasons), risk_votes=[v.as_risk_vote() for v in outcome.votes],
            parameter_variant=self.ids.variant_id,
        )  # fmt: skip


def _take_signals(signals: dict[tuple[str, str], Signal], market: str, ts: int, payload: str) -> None:
    for name, value in signal_values(payload).items():
        old = signals.get((market, name))
        first, first_ts = (old.first_value, old.first_ts_ms) if old else (value, ts)
        signals[(market, name)] = Signal(value, ts, first, first_ts)


def _decision_report(
    ids: ReportIds, intent: Intent, outcome: Outcome, *, trace: str, clock: int, params: dict[str, Any]
) -> dict[str, Any]:
    payload = {
        "strategy": intent.strategy,
        "market_id": intent.legs[0].market_id,
        "params": params,
        "intent": {
            "kind": intent.kind,
            "group": intent.group,
            "legs": [
                {
                    "market_id": leg.market_id,
                    "asset_id": leg.asset_id,
                    "side": leg.side,
                    "limit_price": format_micros(leg.limit_price),
                    "shares": format_micros(leg.shares),
                    "size_pusd": format_micros(leg.cost + leg.fee),
                    "fee_pusd": format_micros(leg.fee),
                    "book_stamp_ms": leg.book_stamp_ms,
                }
                for leg in intent.legs
            ],
            "payout_per_share_pusd": format_micros(intent.payout),
            "expected_edge_bps": intent.edge_bps,
            "reason": intent.reason,
        },
        "simulated_verdict": outcome.verdict,
    }
    return envelope(
        "DecisionReport",
        ids.next("dec"),
        trace_id=trace,
        replay_run_id=ids.run_id,
        ts_ms=clock,
        payload=payload,
    )
