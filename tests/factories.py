"""Builders for GENERATED market views in unit tests: books and markets made up around
real ids, so golden cases can be worked by hand. Nothing here is recorded data."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from backtester.book import MarketInfo, MarketView, TokenBook
from backtester.fees import FeeModel
from backtester.strategies.base import DecisionView
from backtester.units import format_micros, parse_micros

NO_FEE = FeeModel("flat_bps", rate_bps=0)
CURVE_7 = FeeModel("curve", rate=70_000, exponent=1, taker_only=True, rebate_rate=200_000)


def m(text: str) -> int:
    """Micro-units of a decimal string."""
    return parse_micros(text)


def info(
    cid: str = "0x" + "11" * 32,
    *,
    yes: str = "1" * 77,
    no: str = "2" * 77,
    fees: FeeModel = NO_FEE,
    neg_risk: bool = False,
    event: str | None = None,
    index: int | None = None,
    active: bool = True,
    min_order: str | None = "5",
    end_ms: int | None = None,
    outcomes: int | None = None,
) -> MarketInfo:
    question_id = None
    if event is not None and index is not None:
        question_id = event[:-2] + f"{index:02x}"
    return MarketInfo(
        condition_id=cid, question="generated", yes_token_id=yes, yes_outcome="Yes", no_token_id=no,
        no_outcome="No", neg_risk=neg_risk, neg_risk_market_id=event, question_id=question_id,
        neg_risk_other=False, group_item_title=None, active=active, tick_size=m("0.01"),
        min_order_size=m(min_order) if min_order else None, fees=fees, end_date_ms=end_ms,
        neg_risk_outcomes=outcomes,
    )  # fmt: skip


def book(
    asset: str, bids: Iterable[tuple[str, str]] = (), asks: Iterable[tuple[str, str]] = (), *, ts: int = 1_000
) -> TokenBook:
    """A full book from (price, size) decimal strings, in any order."""
    bid_levels = sorted(((m(p), m(s)) for p, s in bids), reverse=True)
    ask_levels = sorted((m(p), m(s)) for p, s in asks)
    result = TokenBook(asset)
    bid_px, bid_sz = [p for p, _ in bid_levels], [s for _, s in bid_levels]
    ask_px, ask_sz = [p for p, _ in ask_levels], [s for _, s in ask_levels]
    result.snapshot(bid_px, bid_sz, ask_px, ask_sz, ts_ms=ts)
    return result


def mirrored(
    market: MarketInfo, bids: Iterable[tuple[str, str]], asks: Iterable[tuple[str, str]], *, ts: int = 1_000
) -> MarketView:
    """A consistent market: the No book is the Yes book seen from the other side."""
    bids, asks = list(bids), list(asks)

    def flip(levels: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(str(Decimal(1) - Decimal(p)), s) for p, s in levels]

    yes_book = book(market.yes_token_id, bids, asks, ts=ts)
    no_book = book(market.no_token_id, flip(asks), flip(bids), ts=ts)
    return MarketView(market, yes_book, no_book)


def view(*markets: MarketView, ts: int = 1_000, group: str | None = None, signals=None) -> DecisionView:
    first = markets[0].info
    assert first is not None
    return DecisionView(ts, group or first.group, tuple(markets), signals or {})


def crash_before_status(monkeypatch: Any) -> Callable[[Path, bytes], None]:
    """Make :func:`backtester.runs.write_run` fail as if killed just before it writes
    ``status.json`` (an ``OSError("killed")``); return the real writer, to put back."""
    from backtester.runs import output  # noqa: PLC0415 - only the tests that crash a run need it

    real_write = output._write

    def fail_on_status(path: Path, data: bytes) -> None:
        if path.name == "status.json":
            raise OSError("killed")
        real_write(path, data)

    monkeypatch.setattr(output, "_write", fail_on_status)
    return real_write


def file_text(path: Path) -> str:
    """A run's or a bundle's file as text: gzip decompressed, a Parquet table as JSON rows."""
    if path.suffix == ".gz":
        return gzip.decompress(path.read_bytes()).decode()
    if path.suffix == ".parquet":
        rows = pq.read_table(path).to_pylist()
        for row in rows:  # a report's JSON text, as the object (as normalised reads it)
            if isinstance(row.get("report"), str):
                row["report"] = json.loads(row["report"])
        return json.dumps(rows, default=str, sort_keys=True)
    return path.read_text()


def normalised(text: str, run_id: str) -> str:
    """A run's file with what differs between identical reruns taken out: the run id,
    and the aggregate's wall-clock ``run_cost`` (see backtester.reports.summary.RUN_COST)."""
    text = text.replace(run_id, "RUN")
    return re.sub(r'"run_cost":\s*\{[^{}]*\}', '"run_cost": {}', text)


def mirrored_books(
    market: str, yes: str, no: str, ts: int, *, bid: int, ask: int, size: int = 200
) -> list[dict]:
    """GENERATED: a Yes ``book`` message (bid and ask in thousandths, ``size`` shares at
    each) and its mirror on the No token (No bid = 1 - Yes ask), as the venue shows them."""

    def side(price: int) -> list[dict]:
        return [{"price": format_micros(price * 1000), "size": str(size)}]

    return [
        {"event_type": "book", "market": market, "asset_id": yes, "timestamp": str(ts),
         "bids": side(bid), "asks": side(ask)},
        {"event_type": "book", "market": market, "asset_id": no, "timestamp": str(ts),
         "bids": side(1000 - ask), "asks": side(1000 - bid)},
    ]  # fmt: skip
