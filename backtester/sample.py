"""The bundled sample archive: rebuilt from the vendored real recordings by one command,
``backtester sample build``, and committed as Parquet under ``data/sample-archive``.

Every row is real recorded data, imported through the adapters and the validating
importer; the sample only *selects* markets (whole markets, never parts of a stream):

* Caio, 2025-12-11 11:00-11:15 UTC: full-depth books and trades of both tokens of the
  SOL 15-minute, BTC 1-hour and ETH 1-hour Up/Down markets, with the underlying's
  price as ``ObservationReport`` signals;
* selcukguler, 2026-03-10: the SOL 15-minute market of 19:15 ET, whose two books were
  read a moment apart and show a phantom YES+NO < 1 (the skew the engine must refuse);
* Tickscope, 2026-06-07: the NHL game-winner market (both tokens), a level-update
  stream without book snapshots (partial books).

Licences and attribution of the sources are in ``data/polymarket-real/SOURCES.md``.

**The live trail is generated, and labelled so.** None of these recordings comes with
a live bot's reports, and a replay is judged against what the live bot did. So the
build adds one, made by :func:`generate_live_trail`: the ``fair_value_taker`` strategy
run over the Caio window as the live bot would have run it (its own, more cautious
parameters; the decision clock of a live process, the archiver's receive time; and a
live order round trip of :data:`LIVE_LATENCY_MS`), through this package's own venue
simulation against the real books. Its ``DecisionReport``, ``RiskVote`` and
``ExecutionReport``s are written as contract envelopes (``mode: live``, bot
``generated.live-bot``, ids ``gen-live-…``) to ``data/sample-live-trail.jsonl.gz`` and
imported with the real data. It holds no ``SettlementReport``: no recording in the
sample shows a market's resolution, and none is made up. Because the trail was made
after the fact, the recorded books never lacked its liquidity: runs over the sample
set ``simulation.restore_live_footprint`` to false.
"""

from __future__ import annotations

import gzip
import json
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backtester.archive import Archive
from backtester.archive.adapters import conversions_for
from backtester.errors import ArchiveError
from backtester.runs.replay import replay

__all__ = [
    "LIVE_BOT_CONFIG", "LIVE_LATENCY_MS", "LIVE_TRAIL", "REAL_DATA", "SAMPLE_ARCHIVE", "build_sample",
    "generate_live_trail",
]  # fmt: skip

_REPO = Path(__file__).resolve().parents[1]
REAL_DATA = _REPO / "data" / "polymarket-real"
SAMPLE_ARCHIVE = _REPO / "data" / "sample-archive"
LIVE_TRAIL = _REPO / "data" / "sample-live-trail.jsonl.gz"

LIVE_LATENCY_MS = 600
"""The generated live bot's decision-to-book time: the Caio recorder's median receive
delay (about 120 ms) is already in its clock; 600 ms more is a slow but ordinary
order round trip (sign, post, match) for a bot outside the exchange's data centre."""

LIVE_BOT_CONFIG: dict[str, Any] = {
    "bot_id": "gov.backtester",
    "mode": "replay",
    "strategy": "fair_value_taker",
    "start_ts": "2025-12-11T11:00:00Z",
    "end_ts": "2025-12-11T11:16:00Z",
    "decision_clock": "receive",
    "parameter_sweep": [
        {"signal": "asset_price", "model": "updown_lognormal", "annual_vol": "0.8", "min_edge_bps": 500,
         "max_size_pusd": "50"},
    ],
    "fee_assumption": {"model": "flat_bps", "fee_rate_bps": 0},
    "simulation": {"latency_ms": LIVE_LATENCY_MS, "restore_live_footprint": False},
}  # fmt: skip
"""How the generated live bot ran (a run config of this package, replayed to make the trail)."""

_LIVE_BOT = "generated.live-bot"
_GENERATOR_CLOCK = datetime(2026, 11, 25, tzinfo=UTC)  # any instant after the window

_CAIO = [
    f"caio_updown_l2_2025-12-11/{market}_{kind}_1765450800{side}.json.gz"
    for market in ("15m_sol", "1h_btc", "1h_eth")
    for kind in ("orderbooks", "trades")
    for side in ("up", "down")
]
_SOURCES = [
    ("caio", _CAIO),
    ("selcukguler", ["selcukguler_updown_2026-03-10"]),
    (
        "tickscope",
        [
            "tickscope_nhl_stanley_cup_g4_2026-06-07/polymarket_20260607_0130.parquet",
            "tickscope_nhl_stanley_cup_g4_2026-06-07/polymarket_20260607_0145.parquet",
        ],
    ),
]

# The markets kept, as predicates on the `markets` table.
_KEEP = """
    provenance LIKE 'caio:%'
    OR provenance LIKE 'selcukguler market list (sol-updown-15m-1773170100)%'
    OR '21123571021115008514603852731317089375146660203715473286496393403189264306691'
       IN (yes_token_id, no_token_id)
"""


def build_sample(sources: Path = REAL_DATA, out: Path = SAMPLE_ARCHIVE, trail: Path = LIVE_TRAIL) -> Path:
    """Rebuild the sample archive at ``out`` (replacing it) from the real recordings, and
    the generated live trail at ``trail`` (replacing it), which the archive also holds."""
    with tempfile.TemporaryDirectory(prefix="backtester-sample-") as work:
        db = Path(work) / "sample.duckdb"
        _import_real(sources, db)
        write_live_trail(generate_live_trail(db), trail)
        with Archive.open(db) as archive:
            outcome = archive.import_conversions(conversions_for("contract", [trail]))
            if outcome.rejected:
                msg = "\n".join(str(exc) for _, exc in outcome.rejected)
                raise ArchiveError(f"the generated live trail did not import:\n{msg}")
            staged = Path(work) / "export"
            archive.export_parquet(staged)
        if out.exists():
            shutil.rmtree(out)
        shutil.move(str(staged), out)
    return out


def _import_real(sources: Path, db: Path) -> None:
    """Import the vendored recordings into ``db`` and keep the sample's markets."""
    with Archive.open(db) as archive:
        for source_format, names in _SOURCES:
            outcome = archive.import_conversions(conversions_for(source_format, [sources / n for n in names]))
            if outcome.rejected:
                msg = "\n".join(str(exc) for _, exc in outcome.rejected)
                raise ArchiveError(f"the sample sources did not import:\n{msg}")
        con = archive.con
        keep = f"SELECT condition_id FROM markets WHERE {_KEEP}"
        for table, column in (("md_book", "market"), ("md_level", "market"), ("md_trade", "market"),
                              ("md_tick", "market"), ("reports", "market_id")):  # fmt: skip
            con.execute(f"DELETE FROM {table} WHERE {column} NOT IN ({keep})")
        con.execute(f"DELETE FROM markets WHERE condition_id NOT IN ({keep})")


def generate_live_trail(archive: str | Path) -> list[dict[str, Any]]:
    """The generated live bot's reports over ``archive``, as contract envelopes (see the
    module docstring). Deterministic: ids are numbered in the order the run made them."""
    result = replay(LIVE_BOT_CONFIG, now=_GENERATOR_CLOCK, archive=archive, run_id="live")
    if result.status != "complete":
        raise ArchiveError(f"the live trail could not be generated: {result.abort_report}")
    traces: dict[str, str] = {}
    envelopes = []
    for report in result.variants[0].reports:
        kind = report.get("report_kind")
        if kind not in _PAYLOADS:
            continue
        trace = traces.setdefault(report["trace_id"], f"gen-live-tr-{len(traces) + 1:06d}")
        envelopes.append(
            {
                "kind": "report",
                "report_kind": kind,
                "report_id": f"gen-live-{len(envelopes) + 1:06d}",
                "trace_id": trace,
                "bot_id": _LIVE_BOT,
                "ts_ms": report["ts_ms"],
                "mode": "live",
                "schema_version": 2,
                "payload": _PAYLOADS[kind](report["payload"]),
            }
        )
    return envelopes


def write_live_trail(envelopes: list[dict[str, Any]], path: Path) -> None:
    """One envelope per line, keys in a fixed order, gzip without a timestamp: the same
    run gives the same bytes."""
    text = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in envelopes)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))


def _decision(payload: dict[str, Any]) -> dict[str, Any]:
    intent = payload.get("intent")
    legs = [
        {key: leg[key] for key in ("asset_id", "side", "limit_price", "size_pusd")}
        for leg in (intent or {}).get("legs", [])
    ]
    return {
        "strategy": payload["strategy"], "market_id": payload["market_id"], "params": payload["params"],
        "intent": {"legs": legs} if legs else None,
    }  # fmt: skip


def _vote(payload: dict[str, Any]) -> dict[str, Any]:
    keys = ("guard", "vote", "new_size_pusd", "reason", "market_id")
    return {key: payload[key] for key in keys if payload.get(key) is not None}


def _execution(payload: dict[str, Any]) -> dict[str, Any]:
    keys = ("market_id", "asset_id", "side", "status")
    if payload["status"] != "REJECTED":
        keys += ("price", "size", "size_pusd", "fee_pusd")
    return {key: payload[key] for key in keys}


_PAYLOADS = {"DecisionReport": _decision, "RiskVote": _vote, "ExecutionReport": _execution}
