"""The compiled path against the reference, event by event kind: Hypothesis-GENERATED
streams of the real Trump 2024 market's two tokens (mirrored snapshots, level updates
with and without ``seq`` and with gaps, stated tops right and wrong, trades, tick-size
changes), traded by a test strategy whose trigger fires on a cheap Yes ask, so that
fills leave overlays on the books the kernel keeps applying updates to. Every report,
fill and mark must be the same."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from backtester.archive import Archive, contract_conversion
from backtester.runs import replay
from backtester.strategies import StrategyRegistry, StrategySpec
from backtester.strategies.base import AskSum, DecisionView, Intent, price_legs
from backtester.strategies.registry import BUILTINS
from backtester.units import MICRO, format_micros
from tests.conftest import T0, TRUMP_MARKET, TRUMP_NO, TRUMP_YES, market_record

NOW = datetime(2026, 11, 25, tzinfo=UTC)
CHEAP = 450_000


class TakeParams(BaseModel):
    shares: int = 20


def take_cheap_yes(view: DecisionView, params: TakeParams) -> Intent | None:
    """Buy ``shares`` Yes whenever its best ask is below 0.45 (test strategy)."""
    [market] = view.markets
    ask = market.yes.ask
    if ask is None or ask >= CHEAP:
        return None
    legs = price_legs(view, [(TRUMP_MARKET, TRUMP_YES)], params.shares * MICRO)
    return None if legs is None else Intent("take_cheap_yes", "single", view.group, legs, MICRO, "cheap")


def cheap_rule(sweep: Sequence[TakeParams]) -> Any:
    return lambda views: [AskSum((TRUMP_YES,), (0, CHEAP))]


REGISTRY = StrategyRegistry([
    *BUILTINS,
    StrategySpec("take_cheap_yes", TakeParams, take_cheap_yes, "test strategy", trigger=cheap_rule),
])  # fmt: skip


def price(cents: int) -> str:
    return format_micros(cents * 10_000)


@st.composite
def streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    """GENERATED events; prices on the cent grid, No mirrored from Yes where both move."""
    events: list[dict[str, Any]] = []
    seq = {TRUMP_YES: 0, TRUMP_NO: 0}
    with_seq = draw(st.booleans())
    snapshots = draw(st.booleans())  # without, every book is partial (a level-update recorder)
    ts = T0

    def next_seq(asset: str) -> dict[str, int]:
        if not with_seq:
            return {}
        seq[asset] += 1 + draw(st.sampled_from([0, 0, 0, 0, 1, 3]))  # now and then a gap
        return {"seq": seq[asset]}

    for _ in range(draw(st.integers(1, 25))):
        ts += draw(st.integers(0, 2_000))
        what = draw(st.sampled_from(["book", "book", "change", "change", "change", "trade", "tick"]))
        if what == "book" and snapshots:
            ask = draw(st.integers(30, 70))
            bid = ask - draw(st.integers(1, 5))
            size = str(draw(st.integers(1, 300)))
            for asset, (b, a) in ((TRUMP_YES, (bid, ask)), (TRUMP_NO, (100 - ask, 100 - bid))):
                if draw(st.integers(0, 9)) == 0:
                    continue  # now and then one side of the pair is not recorded
                events.append({
                    "event_type": "book", "market": TRUMP_MARKET, "asset_id": asset, "timestamp": str(ts),
                    "bids": [{"price": price(b), "size": size}, {"price": price(b - 1), "size": "50"}],
                    "asks": [{"price": price(a), "size": size}, {"price": price(a + 1), "size": "50"}],
                    **next_seq(asset),
                })  # fmt: skip
        elif what in ("change", "book"):
            asset = draw(st.sampled_from([TRUMP_YES, TRUMP_NO]))
            size = draw(st.sampled_from([0, 0, 5, 10, 80]))
            entry: dict[str, Any] = {
                "asset_id": asset, "side": draw(st.sampled_from(["BUY", "SELL"])),
                "price": price(draw(st.integers(25, 75))), "size": str(size),
            }  # fmt: skip
            if draw(st.booleans()):  # a stated top, right or (often) wrong, never crossed
                top = draw(st.integers(25, 50))
                entry |= {"best_bid": price(top), "best_ask": price(top + draw(st.integers(1, 25)))}
            events.append({"event_type": "price_change", "market": TRUMP_MARKET, "timestamp": str(ts),
                           "price_changes": [entry], **next_seq(asset)})  # fmt: skip
        elif what == "trade":
            asset = draw(st.sampled_from([TRUMP_YES, TRUMP_NO]))
            events.append({"event_type": "last_trade_price", "market": TRUMP_MARKET, "asset_id": asset,
                           "timestamp": str(ts), "price": price(draw(st.integers(30, 70))),
                           "size": str(draw(st.sampled_from([5, 10, 80]))),
                           "side": draw(st.sampled_from(["BUY", "SELL"])), **next_seq(asset)})  # fmt: skip
        else:
            asset = draw(st.sampled_from([TRUMP_YES, TRUMP_NO]))
            events.append({"event_type": "tick_size_change", "market": TRUMP_MARKET, "asset_id": asset,
                           "timestamp": str(ts), "old_tick_size": "0.01", "new_tick_size": "0.01",
                           **next_seq(asset)})  # fmt: skip
    return events


def everything(result: Any) -> str:
    reports = [{k: v for k, v in r.items() if k != "run_cost"} for r in result.reports]
    marks = [v.marks for v in result.variants]
    fills = [[e.__dict__ for e in v.trading.executions] for v in result.variants]
    return json.dumps([reports, marks, fills], sort_keys=True, default=str)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=streams(), latency=st.sampled_from([0, 700]), skew=st.sampled_from([1_000, 10_000_000]))
def test_compiled_equals_reference(tmp_path_factory, events, latency, skew) -> None:
    folder = tmp_path_factory.mktemp("k")
    feed = folder / "feed.jsonl"
    records = [market_record(neg_risk=False, neg_risk_market_id=None), *events]
    feed.write_text("".join(json.dumps(r) + "\n" for r in records))
    db = folder / "a.duckdb"
    with Archive.open(db) as store:
        outcome = store.import_conversions([contract_conversion(feed)])
        assert outcome.ok, [str(e) for _, e in outcome.rejected]
    config = {
        "strategy": "take_cheap_yes", "start_ts": "2024-10-13T00:00:00Z", "end_ts": "2024-10-14T00:00:00Z",
        "fee_assumption": {"model": "flat_bps", "fee_rate_bps": 0},
        "parameter_sweep": [{"shares": 20}, {"shares": 60}],
        "simulation": {"latency_ms": latency}, "risk": {"max_book_skew_ms": skew},
    }  # fmt: skip
    runs = [
        replay(config, now=NOW, archive=db, strategies=REGISTRY, run_id="replay_k", workers=1, engine=engine)
        for engine in ("compiled", "reference")
    ]
    assert runs[0].status == runs[1].status
    assert everything(runs[0]) == everything(runs[1])


def test_the_generated_streams_reach_every_path(tmp_path: Path) -> None:
    """The generator does reach fills, skips and missing messages (else the property
    above would prove little): one fixed example with each."""
    head = {"event_type": "book", "market": TRUMP_MARKET, "timestamp": str(T0), "seq": 1}
    yes = {**head, "asset_id": TRUMP_YES, "bids": [{"price": "0.4", "size": "100"}],
           "asks": [{"price": "0.42", "size": "100"}]}  # fmt: skip
    no = {**head, "asset_id": TRUMP_NO, "bids": [{"price": "0.58", "size": "100"}],
          "asks": [{"price": "0.6", "size": "100"}]}  # fmt: skip
    change = {"asset_id": TRUMP_YES, "side": "SELL", "price": "0.42", "size": "30"}
    later = {"event_type": "price_change", "market": TRUMP_MARKET, "timestamp": str(T0 + 10), "seq": 4,
             "price_changes": [change]}  # fmt: skip
    feed = tmp_path / "feed.jsonl"
    records = [market_record(neg_risk=False, neg_risk_market_id=None), yes, no, later]
    feed.write_text("".join(json.dumps(r) + "\n" for r in records))
    db = tmp_path / "a.duckdb"
    with Archive.open(db) as store:
        assert store.import_conversions([contract_conversion(feed)]).ok
    config = {
        "strategy": "take_cheap_yes", "start_ts": "2024-10-13T00:00:00Z", "end_ts": "2024-10-14T00:00:00Z",
        "fee_assumption": {"model": "flat_bps", "fee_rate_bps": 0}, "simulation": {"latency_ms": 0},
    }  # fmt: skip
    runs = [replay(config, now=NOW, archive=db, strategies=REGISTRY, run_id="replay_k", engine=engine)
            for engine in ("compiled", "reference")]  # fmt: skip
    assert everything(runs[0]) == everything(runs[1])
    [variant] = runs[0].variants
    assert [(f.shares, f.price) for f in variant.fills] == [(20 * MICRO, 420_000)]  # 20 Yes at 0.42 ...
    assert variant.ticks_missing == 2  # ... seq 2 and 3 of the Yes token are missing ...
    assert variant.skipped_by_reason == {"missing from the archive": 2, "seq gap": 1}  # ... its tick skipped
