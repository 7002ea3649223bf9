"""One variant's own state in a pass: its ledger and orders (through
:class:`~backtester.runs.trading.Trading`), its overlays on the shared books, its links
to the live bot's decisions, and every report it makes.

The pass (:mod:`backtester.runs.engine`) owns the books and the clock; a variant is told
what happened (a decided tick, a skipped one, a message the archive lacks, a live fill,
a settlement) and answers with its own reports, so that N variants over one pass make
exactly the reports each would make alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel

from backtester.book.book import TokenBook
from backtester.book.overlay import Overlay
from backtester.config.replay import RiskConfig, SimulationConfig
from backtester.errors import ReasonCode
from backtester.guards.base import Guard, GuardContext, Outcome, combine
from backtester.ledger import Ledger
from backtester.reports.envelopes import ReportIds, envelope, operations_report
from backtester.reports.stats import RoundTrip, Stats, round_trips
from backtester.runs.markets import Markets
from backtester.runs.trading import Trading
from backtester.strategies.base import DecisionView, Intent
from backtester.units import MICRO, format_micros
from backtester.venue import Execution

__all__ = ["MISSING", "MISSING_REPORTS_PER_GAP", "Decision", "Variant", "VariantResult"]

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
    evaluations: int = 0
    """Times the strategy's ``evaluate`` was called (fewer than the ticks where a trigger
    ruled ticks out; not in the reports, which must not depend on triggers)."""
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
    stats: Stats | None = None
    """The tearsheet statistics (:mod:`backtester.reports.stats`), once the run is done."""
    market_stats: dict[str, Stats] = field(default_factory=dict)
    """The same per market (of the markets it traded)."""

    @property
    def round_trips(self) -> list[RoundTrip]:
        """Every round trip: lots opened and closed by a sell, merge, conversion or settlement."""
        if self.trading is None:
            return []
        return round_trips(self.ledger.events, self.trading.market_of_asset)

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
            "stats": self.stats.as_dict() if self.stats is not None else None,
            "stats_by_market": {m: st.as_dict() for m, st in self.market_stats.items()},
        }


class Variant:
    """One variant of a pass (see the module docstring)."""

    def __init__(
        self,
        variant_id: int,
        params: BaseModel,
        *,
        run_id: str,
        markets: Markets,
        simulation: SimulationConfig,
        mark: Callable[[str], int],
    ) -> None:
        self.ids = ReportIds(run_id, variant_id)
        self.params = params
        self.sim = simulation
        self.markets = markets
        self.overlays: dict[tuple[str, bool], Overlay] = {}
        """This variant's overlays on the shared books: (asset_id, is_bid) -> Overlay."""
        self.result = VariantResult(variant_id, params.model_dump(mode="json"))
        self.result.group_of = dict(markets.group_of_market)
        # The latest tick of each group at which this variant made an intent, and its
        # trace, for linking live decisions; every report of a trace, for patching in the link.
        self.latest: dict[str, tuple[int, str]] = {}
        self.linked: set[str] = set()
        self.original_of: dict[str, str] = {}
        self.by_trace: dict[str, list[dict[str, Any]]] = {}
        self.decision_index: dict[str, int] = {}
        self.trading = Trading(
            sim=simulation,
            ids=self.ids,
            view_of=markets.view,
            siblings=markets.event_views,
            emit=self.emit,
            original=self.original_of.get,
            mark_of=mark,
            market_of_asset=markets.market_of_asset,
        )
        self.positions = MappingProxyType(self.trading.positions)
        self.result.trading = self.trading

    def emit(self, trace: str, report: dict[str, Any]) -> None:
        self.result.reports.append(report)
        if trace:
            self.by_trace.setdefault(trace, []).append(report)

    def shows_changes_on(self, assets: frozenset[str]) -> bool:
        """Has this variant changed any of these books (an overlay with something in it)?"""
        return any(overlay and key[0] in assets for key, overlay in self.overlays.items())

    # ------------------------------------------------------------ what the pass tells it

    def restore_footprint(
        self, asset: str | None, *, taker_buys: bool, price: int, shares: int, ts_ms: int
    ) -> None:
        """Add back, on both views, the shares a live fill of the bot took (see book.overlay).
        The variant's overlays must be the books' active ones."""
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

    def link_live(self, live: list[tuple[str, str]], last_tick: dict[str, int]) -> None:
        """Link each live DecisionReport to this variant's decision at the latest tick of
        its market at or before it (the tick the live bot was acting on), if the variant
        decided something there. Links are bookkeeping for the comparison: decisions
        never see them."""
        group_of = self.markets.group_of_market
        for market, live_trace in live:
            group = group_of.get(market, market)
            made = self.latest.get(group)
            if made is None or made[0] != last_tick.get(group) or made[1] in self.linked:
                continue
            trace = made[1]
            self.linked.add(trace)
            self.original_of[trace] = live_trace
            for report in self.by_trace.get(trace, ()):
                report["original_trace_id"] = live_trace
            index = self.decision_index.get(trace)
            if index is not None:
                decisions = self.result.decisions
                decisions[index] = replace(decisions[index], original_trace_id=live_trace)

    def decided(
        self, intent: Intent, view: DecisionView, *, limits: RiskConfig, guards: tuple[Guard, ...]
    ) -> bool:
        """Put the strategy's intent at this tick through the guards; True if orders went out."""
        trading, ids, result = self.trading, self.ids, self.result
        if trading.settled and any(leg.market_id in trading.settled for leg in intent.legs):
            return False  # a resolved market has nothing left to trade
        clock, group = view.ts_ms, view.group
        result.intents += 1
        context = GuardContext(view, limits, trading.exposure())
        votes = [guard.vote(intent, context) for guard in guards]
        outcome = combine(intent, votes, view)
        trace = ids.next("trace")
        self.latest[group] = (clock, trace)
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
            return False
        assert outcome.intent is not None
        result.approved += 1
        result.reshaped += outcome.verdict == "reshape"
        trading.submit(
            trace,
            outcome.intent,
            decided_ms=clock,
            verdict=outcome.verdict,
            votes=[v.as_risk_vote() for v in votes],
        )
        return True

    def report_missing(self, book: TokenBook, group: str, clock: int, seq: int, missing: int) -> None:
        """One ``BACKTESTER_TICK_SKIPPED`` per message the ``seq`` chain says the archive
        lacks (a tick is one market-data message; contract section 2), stamped with the
        message that revealed the gap (the missing ones lie before it). A gap of more than
        :data:`MISSING_REPORTS_PER_GAP` messages (a corrupt ``seq``) gets that many reports,
        the last covering the rest (the pass keeps the exact counts)."""
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
        """Report a tick of ``group`` skipped because ``book`` is out of sync."""
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
