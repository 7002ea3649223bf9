"""The tick loop: one pass over the feed's events, in order, for one variant or many.
After every instant (one value of the decision clock) each variant's strategy decides
for each market group the instant touched, and its intent goes through the guard stack.

**One pass, many variants.** The archive is decoded and the books rebuilt once: the
books are shared, and each variant keeps only what is its own (its strategy state, its
orders and ledger, the liquidity its fills consumed: an overlay on the shared books, see
:class:`~backtester.book.overlay.OverlayScope`). Before a variant acts (decides, has an
order arrive, restores a live fill) the books are switched to its overlays. Variants
never see each other's changes, so each variant's reports are byte-identical to a run
of it alone.

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

**Triggers.** A strategy may declare a trigger (``StrategySpec.trigger``): built from
the parameters of every variant of the pass, it tells from the archive's own top of book
whether ``evaluate`` could return an intent for any of them at this tick. Where it says
no, ``evaluate`` is not called, except for a variant whose own fills or restored live
fills changed one of the group's books (the trigger cannot see those). A trigger never
changes a result (``triggers=False`` calls every strategy at every tick; the tests
compare both).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from copy import deepcopy
from types import MappingProxyType

from pydantic import BaseModel

from backtester.book.book import BookState, TokenBook
from backtester.book.feed import ArchiveFeed, Kind, apply_market_event, signal_values
from backtester.book.market import MarketView
from backtester.config.replay import RiskConfig, SimulationConfig
from backtester.guards.base import Guard
from backtester.runs.control import CHECK_EVERY, StopSignal
from backtester.runs.markets import Markets
from backtester.runs.variant import MISSING, MISSING_REPORTS_PER_GAP, Decision, Variant, VariantResult
from backtester.strategies.base import AskSum, DecisionView, Signal, fires
from backtester.strategies.registry import StrategySpec

__all__ = [
    "MISSING",
    "MISSING_REPORTS_PER_GAP",
    "Decision",
    "VariantResult",
    "run_pass",
    "run_variant",
]


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
    triggers: bool = True,
    engine: str = "auto",
) -> VariantResult:
    """Replay ``feed`` once through ``spec`` with ``params`` (see the module docstring)."""
    [result] = run_pass(
        feed, spec, [(variant_id, params)], run_id=run_id, limits=limits, guards=guards,
        simulation=simulation, stop=stop, triggers=triggers, engine=engine,
    )  # fmt: skip
    return result


def run_pass(
    feed: ArchiveFeed,
    spec: StrategySpec,
    variants: Sequence[tuple[int, BaseModel]],
    *,
    run_id: str,
    limits: RiskConfig,
    guards: Sequence[Guard],
    simulation: SimulationConfig | None = None,
    stop: StopSignal | None = None,
    triggers: bool = True,
    progress: Callable[[int], None] | None = None,
    engine: str = "auto",
) -> list[VariantResult]:
    """Replay ``feed`` once for every ``(variant_id, params)`` of ``variants``; results in
    the order given.

    With ``stop``, the loop reads the signal at tick boundaries (every
    :data:`~backtester.runs.control.CHECK_EVERY` instants) and raises
    :class:`~backtester.runs.control.RunStopped` once a stop is requested. ``progress``
    is called at the same boundaries with the number of events read since its last call.

    ``engine``: ``"reference"`` (:class:`Pass`, the readable one), ``"compiled"``
    (:class:`~backtester.runs.compiled.CompiledPass`: the books and the instant loop in
    numba; the same results), or ``"auto"``: compiled where the strategy has a trigger
    (without one, Python decides every tick anyway and the reference is faster).
    """
    kinds: list[type[Pass]] = [Pass]
    fallback: tuple[type[Exception], ...] = ()
    if engine == "compiled" or (engine == "auto" and triggers and spec.trigger is not None):
        # Imported only here: numba costs a few hundred ms to import, for nothing when unused.
        from backtester.runs.compiled import CompiledPass, OffGrid  # noqa: PLC0415 - it builds on Pass

        kinds.insert(0, CompiledPass)
        fallback = (OffGrid,)
    for kind in kinds:
        loop = kind(
            feed, spec, variants, run_id=run_id, limits=limits, guards=tuple(guards),
            simulation=simulation or SimulationConfig(), stop=stop, triggers=triggers, progress=progress,
        )  # fmt: skip
        try:
            return loop.run()
        except fallback:
            continue  # a price off the compiled grid: the reference takes the whole pass again
    raise AssertionError("unreachable: the reference pass has no grid")


class Pass:
    """One pass over a feed (see the module docstring)."""

    def __init__(
        self,
        feed: ArchiveFeed,
        spec: StrategySpec,
        variants: Sequence[tuple[int, BaseModel]],
        *,
        run_id: str,
        limits: RiskConfig,
        guards: tuple[Guard, ...],
        simulation: SimulationConfig,
        stop: StopSignal | None = None,
        triggers: bool = True,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        if not variants:
            msg = "a pass needs at least one variant"
            raise ValueError(msg)
        self.feed, self.spec, self.limits, self.guards, self.sim = feed, spec, limits, guards, simulation
        self.stop, self.progress = stop, progress
        self.markets = self.make_markets(feed, simulation)
        self.signals: dict[tuple[str, str], Signal] = {}
        self.signal_view = MappingProxyType(self.signals)  # read-only, always current
        self.variants = [
            Variant(vid, params, run_id=run_id, markets=self.markets, simulation=simulation, mark=self.mark)
            for vid, params in variants
        ]
        self.rules_of = spec.trigger([p for _, p in variants]) if triggers and spec.trigger else None
        self._rules: dict[str, Sequence[AskSum]] = {}
        self.waiting: list[Variant] = []  # variants with orders on their way
        self.live: list[tuple[str, str]] = []
        # What is the same for every variant is counted once, here.
        self.last_tick: dict[str, int] = {}
        self.ticks_replayed = self.ticks_partial = self.ticks_skipped = self.ticks_missing = 0
        self.skipped_by_reason: Counter[str] = Counter()
        self.gaps: dict[str, list[list[int | None]]] = {}

    def make_markets(self, feed: ArchiveFeed, simulation: SimulationConfig) -> Markets:
        """The run's markets and their books (the reference's TokenBooks)."""
        markets = Markets(feed.markets)
        if simulation.restore_live_footprint and feed.has_live_executions:
            for book in markets.books.values():
                book.drops = {}  # remember the archive's drops: a live fill's echo may come first
        return markets

    def activate(self, variant: Variant) -> None:
        """Make the shared books show (and record in) ``variant``'s overlays."""
        self.markets.scope.active = variant.overlays

    def mark(self, asset: str) -> int:
        """What a share is worth now, by the archive's book (see TokenBook.mid)."""
        book = self.markets.books.get(asset)
        return book.mid() if book is not None else 0

    def run(self) -> list[VariantResult]:
        self.activate(self.variants[0])
        # token -> (its book, its decision group): one lookup per event on the hot path
        slots = {
            asset: (book, self.markets.group_of_asset[asset]) for asset, book in self.markets.books.items()
        }
        start = self.feed.start_ms
        level, signal = Kind.LEVEL, Kind.SIGNAL
        variants = self.variants
        stop, progress, countdown = self.stop, self.progress, CHECK_EVERY
        clock = None
        touched: set[str] = set()
        applied = read = reported = 0
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
        ) in self.feed.iter_events():
            read += 1
            if event_clock != clock:
                self.end_instant(touched, clock)
                if self.waiting:  # orders that arrive before this instant meet the book as it was
                    self.execute_due(before=event_clock)
                clock = event_clock
                countdown -= 1
                if not countdown:
                    countdown = CHECK_EVERY
                    if progress is not None:
                        progress(read - reported)
                        reported = read
                    if stop is not None and stop.requested:
                        stop.check(at_ms=clock, variant_id=variants[0].ids.variant_id,
                                   ticks=self.ticks_replayed)  # fmt: skip
            if kind >= signal:
                self.on_event(kind, event_clock, ts, market, asset, is_bid, price, size, extra)
                continue
            slot = slots.get(asset)
            if slot is None:
                continue
            book, group = slot
            if seq >= 0:  # seq counts every message of the token, whatever its kind
                missing = book.check_seq(seq)
                if missing and event_clock >= start:
                    self.report_missing(book, group, event_clock, seq, missing)
            if kind == level:  # the most common, kept inline on the hot path
                book.apply(is_bid, price, size, ts, best_bid, best_ask)
            else:
                apply_market_event(book, kind, ts, is_bid, price, size, best_bid, best_ask, extra)
            if event_clock >= start:
                applied += 1
                touched.add(group)
        self.end_instant(touched, clock)
        if progress is not None:
            progress(read - reported)
        return self.finish(applied)

    def on_event(  # noqa: PLR0917 - an event's fields, as the loop has them
        self, kind: int, clock: int, ts: int, market: str, asset: str | None, is_bid: int, price: int,
        size: int, extra: str,
    ) -> None:  # fmt: skip
        """An event that is not market data: a signal, a live decision, a settlement, a
        fill of the live bot."""
        if kind == Kind.SIGNAL:
            _take_signals(self.signals, market, ts, extra)
        elif kind == Kind.LIVE_DECISION:
            if extra and clock >= self.feed.start_ms:
                self.live.append((market, extra))
        elif kind == Kind.SETTLEMENT:
            for variant in self.variants:
                variant.trading.settle(market, extra, ts)
        elif kind == Kind.LIVE_EXECUTION and self.sim.restore_live_footprint:
            for variant in self.variants:
                self.activate(variant)
                variant.restore_footprint(asset, taker_buys=is_bid == 1, price=price, shares=size, ts_ms=ts)

    def finish(self, applied: int) -> list[VariantResult]:
        """The window's end: orders still due, the marks, and each variant's counts."""
        variants, end = self.variants, self.feed.end_ms
        marks = {asset: self.mark(asset) for asset in sorted(self.markets.books)}
        for variant in variants:
            self.activate(variant)
            variant.trading.execute_due(until=end)
            variant.trading.expire()
        for variant in variants:
            result = variant.result
            result.marks = dict(marks)
            variant.trading.finish(end, result.marks)
            result.messages = applied
            result.ticks_replayed = self.ticks_replayed
            result.ticks_partial_book = self.ticks_partial
            result.ticks_skipped = self.ticks_skipped
            result.ticks_missing = self.ticks_missing
            result.skipped_by_reason = Counter(self.skipped_by_reason)
            result.gaps = deepcopy(self.gaps)
        return [variant.result for variant in variants]

    def execute_due(self, *, before: int) -> None:
        """Execute every variant's orders that arrive before ``before``."""
        still = []
        for variant in self.waiting:
            self.activate(variant)
            variant.trading.execute_due(before=before)
            if variant.trading.pending:
                still.append(variant)
        self.waiting = still

    def end_instant(self, touched: set[str], clock: int | None) -> None:
        """Decide for every group the instant touched, then link the instant's live decisions."""
        if touched:
            for group in sorted(touched):
                self.decide(group, clock)  # type: ignore[arg-type]
            touched.clear()
        if self.live:
            for variant in self.variants:
                variant.link_live(self.live, self.last_tick)
            self.live.clear()

    def decide(self, group: str, clock: int) -> None:
        self.last_tick[group] = clock
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
        self.ticks_replayed += 1
        self.ticks_partial += partial
        gaps = self.gaps.get(group)
        if gaps and gaps[-1][1] is None:
            gaps[-1][1] = clock  # back in sync
        fired = self.rules_of is None or any(
            fires(rule, self.markets.books) for rule in self.rules(group, views)
        )
        assets = self.markets.assets_of_group[group]
        evaluate = self.spec.evaluate
        for variant in self.variants:
            if not fired and not (variant.overlays and variant.shows_changes_on(assets)):
                continue
            self.activate(variant)
            view = DecisionView(clock, group, views, self.signal_view, variant.positions)
            variant.result.evaluations += 1
            intent = evaluate(view, variant.params)
            if intent is None:
                continue
            if (
                variant.decided(intent, view, limits=self.limits, guards=self.guards)
                and variant not in self.waiting
            ):
                self.waiting.append(variant)

    def rules(self, group: str, views: tuple[MarketView, ...]) -> Sequence[AskSum]:
        """The trigger's rules of a group (made once, unless its market records change)."""
        assert self.rules_of is not None
        rules = self._rules.get(group)
        if rules is None or group in self.markets.changing:
            rules = self._rules[group] = self.rules_of(views)
        return rules

    def report_missing(self, book: TokenBook, group: str, clock: int, seq: int, missing: int) -> None:
        self.ticks_skipped += missing
        self.ticks_missing += missing
        self.skipped_by_reason[MISSING] += missing
        for variant in self.variants:
            variant.report_missing(book, group, clock, seq, missing)

    def skip(self, book: TokenBook, group: str, clock: int) -> None:
        gaps = self.gaps.setdefault(group, [])
        if not gaps or gaps[-1][1] is not None:
            gaps.append([clock, None])
        self.ticks_skipped += 1
        self.skipped_by_reason[book.reason.split(":")[0]] += 1
        for variant in self.variants:
            variant.skip(book, group, clock)


def _take_signals(signals: dict[tuple[str, str], Signal], market: str, ts: int, payload: str) -> None:
    for name, value in signal_values(payload).items():
        old = signals.get((market, name))
        first, first_ts = (old.first_value, old.first_ts_ms) if old else (value, ts)
        signals[(market, name)] = Signal(value, ts, first, first_ts)
