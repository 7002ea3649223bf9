"""Neg-risk arbitrage end to end: the real Fed January 2025 event (five outcomes,
metadata from the statground Gamma crawl) with GENERATED books, through the archive,
the engine and the guards.

Each outcome's No book is its Yes book seen from the other side (No ask = 1 - Yes bid),
as on the venue. Tick 1: Yes asks sum to 0.95 (a Yes basket pays 1). Tick 2: Yes bids
sum to 1.04, so No asks sum to 5 - 1.04 = 3.96, and five No tokens convert into 4 pUSD.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backtester.archive import Archive, contract_conversion
from backtester.archive.adapters import conversions_for
from backtester.runs import replay
from backtester.sample import REAL_DATA
from backtester.units import MICRO, parse_micros
from tests.factories import mirrored_books

FED = REAL_DATA / "statground_gamma_events_2024" / "event_14220_fed-interest-rates-january-2025.json"
T1 = 1_737_000_000_000  # 2025-01-16, before the event closed
T2 = T1 + 60_000
NOW = datetime(2026, 11, 25, tzinfo=UTC)
CONFIG = {"start_ts": "2025-01-16T00:00:00Z", "end_ts": "2025-01-17T00:00:00Z"}


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("fed")
    db = tmp / "fed.duckdb"
    with Archive.open(db) as store:
        assert store.import_conversions(conversions_for("gamma", [FED])).ok
        markets = store.con.execute(
            "SELECT condition_id, yes_token_id, no_token_id FROM markets ORDER BY question_id"
        ).fetchall()
        # Tick 1: Yes asks 0.150 + 0.200 + 0.250 + 0.300 + 0.050 = 0.950; bids 5 below.
        # Tick 2: Yes bids 0.210 + 0.210 + 0.210 + 0.210 + 0.200 = 1.040; asks 10 above.
        first = zip(markets, (150, 200, 250, 300, 50), strict=True)
        second = zip(markets, (210, 210, 210, 210, 200), strict=True)
        rows = [
            r for (cid, yes, no), ask in first for r in mirrored_books(cid, yes, no, T1, bid=ask - 5, ask=ask)
        ]
        rows += [
            r
            for (cid, yes, no), bid in second
            for r in mirrored_books(cid, yes, no, T2, bid=bid, ask=bid + 10)
        ]
        feed = tmp / "feed.jsonl"
        feed.write_text("".join(json.dumps(r) + "\n" for r in rows))
        outcome = store.import_conversions([contract_conversion(feed)])
        assert outcome.ok, [str(e) for _, e in outcome.rejected]
    return db


def test_yes_basket_then_no_basket_through_conversion(fed: Path) -> None:
    """Tick 1 buys 200 Yes baskets at 0.95 (edge 500 bps); tick 2 buys 200 No baskets for
    3.96 that convert into 4 pUSD (edge 100 bps). The feesEnabled=false markets pay no fee."""
    result = replay(CONFIG, now=NOW, archive=fed)
    [variant] = result.variants
    assert len(result.markets) == 5
    assert variant.approved == 2
    first, second = [d for d in variant.decisions if d.verdict != "reject"]
    assert (first.ts_ms, first.intent.kind, first.intent.shares, first.intent.size_pusd) == (
        T1, "yes_basket", 200 * MICRO, 190 * MICRO,
    )  # fmt: skip
    assert first.intent.edge_bps == 500
    assert (second.ts_ms, second.intent.kind, second.intent.payout) == (T2, "no_basket", 4 * MICRO)
    assert second.intent.size_pusd == 792 * MICRO  # 200 x 3.96
    assert second.intent.edge_bps == 100
    assert len({leg.market_id for leg in second.intent.legs}) == 5


def test_edge_threshold(fed: Path) -> None:
    """At a 600 bps minimum edge neither basket qualifies."""
    result = replay({**CONFIG, "parameter_sweep": [{"min_edge_bps": 600}]}, now=NOW, archive=fed)
    assert result.variants[0].intents == 0


def test_settlement_through_the_neg_risk_adapter(fed: Path, tmp_path: Path) -> None:
    """The event resolves as it really did (Gamma's outcomePrices: "No Change"), each
    market paid through the NegRiskAdapter 10 s after tick 1; the window ends before
    tick 2. Worked by hand, per market in question-id order:

    * tick 1 buys 200 Yes of each at 0.15, 0.20, 0.25, 0.30, 0.05: 190 pUSD, P&L 0;
    * settlement: 75+ bps -30, 50 bps -40, 25 bps -50, No Change 200 - 60 = +140,
      increase -10: realised +10 = 200 - 190, nothing left open."""
    db = tmp_path / "fed.duckdb"
    shutil.copy(fed, db)
    # the real resolution: Gamma's outcomePrices, ["1", "0"] for the market whose Yes won
    resolved = {
        m["conditionId"]: json.loads(m["outcomePrices"]) for m in json.loads(FED.read_text())["markets"]
    }
    with Archive.open(db) as store:
        markets = store.con.execute(
            "SELECT condition_id, yes_token_id, no_token_id, question FROM markets"
        ).fetchall()
    lines = [
        {"kind": "report", "report_kind": "SettlementReport", "report_id": f"settle_{cid}", "trace_id": None,
         "bot_id": "settlement.watcher", "ts_ms": T1 + 10_000, "mode": "live", "schema_version": 2,
         "payload": {"market_id": cid, "payouts": dict(zip((yes, no), resolved[cid], strict=True)),
                     "adapter": "NegRiskAdapter"}}
        for cid, yes, no, _ in markets
    ]  # fmt: skip
    assert [q for cid, _, _, q in markets if resolved[cid] == ["1", "0"]] == [
        "No change in Fed interest rates after January 2025 meeting?"
    ]
    settle = tmp_path / "settle.jsonl"
    settle.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with Archive.open(db) as store:
        assert store.import_conversions([contract_conversion(settle)]).ok
    [variant] = replay({**CONFIG, "end_ts": "2025-01-16T04:00:30Z"}, now=NOW, archive=db).variants
    processed = [r for r in variant.reports if r.get("event_type") == "BACKTESTER_TICK_PROCESSED"]
    settled = [r["simulated_fill"] for r in processed if r["simulated_fill"]["kind"] == "settlement"]
    assert [f["pnl_pusd"] for f in settled] == ["-30", "-40", "-50", "140", "-10"]
    assert [f["cash_pusd"] for f in settled] == ["0", "0", "0", "200", "0"]
    assert {f["adapter"] for f in settled} == {"NegRiskAdapter"}
    assert sum(parse_micros(r["simulated_fill"]["pnl_pusd"]) for r in processed) == variant.realised
    assert (variant.realised, variant.unrealised) == (10 * MICRO, 0)
