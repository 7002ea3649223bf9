"""selcukguler0/polymarket-data-collector: REST book polls (best 5 levels per side),
trades with transaction hashes, and a market-discovery list (CSV, plain or gzip).

What the source lacks, and what the adapter does about it:

* only the best 5 levels of each side: books are imported with ``depth_limit: 5``, so a
  replay knows that a side with 5 levels may go deeper than recorded (a full side is
  never assumed);
* no tick size: inferred per market from the recorded book and trade prices; markets of
  the discovery list with no recorded price are not imported (their tick is unknown and
  nothing else refers to them);
* no fee schedule: ``{"model": "unknown"}``;
* the discovery list repeats markets: each market is imported once.

Pass the three files (or their directory) in one call: the market records need the
prices in the other two.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from backtester.archive.adapters.common import price_micros, read_csv, tick_text
from backtester.archive.sources import Conversion
from backtester.errors import ImportRejected

__all__ = ["convert"]

_KINDS = ("active_markets", "book_snapshots", "live_trades")
_LEVELS = 5


def _kind(path: Path) -> str:
    for kind in _KINDS:
        if path.name.startswith(kind):
            return kind
    raise ImportRejected.single(
        str(path), 0, "(file name)",
        f"not a selcukguler file: expected a name starting with {', '.join(_KINDS)}",
    )  # fmt: skip


def _by_kind(paths: list[Path]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in paths:
        kind = _kind(path)
        if kind in found:
            raise ImportRejected.single(str(path), 0, "(file name)", f"a second {kind} file in one import")
        found[kind] = path
    return found


def convert(paths: list[Path]) -> list[Conversion]:
    """Conversions in dependency order: markets, then books, then trades."""
    files = _by_kind(paths)
    prices: dict[str, set[int]] = defaultdict(set)
    if "book_snapshots" in files:
        for _, row in read_csv(files["book_snapshots"]):
            for side in ("bid", "ask"):
                for level in range(1, _LEVELS + 1):
                    micros = price_micros(row.get(f"{side}_{level}_price"))
                    if micros is not None:
                        prices[row["condition_id"].lower()].add(micros)
    if "live_trades" in files:
        for _, row in read_csv(files["live_trades"]):
            micros = price_micros(row.get("price"))
            if micros is not None:
                prices[row["condition_id"].lower()].add(micros)
    out = []
    if "active_markets" in files:
        data = tuple(files[k] for k in ("book_snapshots", "live_trades") if k in files)
        out.append(_markets(files["active_markets"], data, prices))
    if "book_snapshots" in files:
        out.append(_simple(files["book_snapshots"], _book))
    if "live_trades" in files:
        out.append(_simple(files["live_trades"], _trade))
    return out


def _markets(path: Path, data: tuple[Path, ...], prices: dict[str, set[int]]) -> Conversion:
    def records() -> Iterator[tuple[int, Any]]:
        seen: set[str] = set()
        for line, row in read_csv(path):
            condition_id = (row.get("condition_id") or "").lower()
            if condition_id in seen or condition_id not in prices:
                continue
            seen.add(condition_id)
            yield (
                line,
                {
                    "kind": "market",
                    "condition_id": row.get("condition_id"),
                    "question": row.get("question"),
                    "neg_risk": False,
                    "tick_size": tick_text(prices[condition_id]),
                    "fees": {"model": "unknown"},
                    "end_date": row.get("end_date") or None,
                    "tokens": [
                        {"token_id": row.get("token_id_up"), "outcome": "Up"},
                        {"token_id": row.get("token_id_down"), "outcome": "Down"},
                    ],
                    "provenance": (
                        f"selcukguler market list ({row.get('market_slug')}); tick size inferred from "
                        "recorded prices; fee schedule not recorded"
                    ),
                },
            )

    # The records depend on the data files too (the inferred ticks), so they are inputs.
    return Conversion(path=path, source_format="selcukguler", inputs=(path, *data), records=records)


def _simple(path: Path, make: Any) -> Conversion:
    def records() -> Iterator[tuple[int, Any]]:
        for line, row in read_csv(path):
            yield line, make(row)

    return Conversion(path=path, source_format="selcukguler", inputs=(path,), records=records)


def _book(row: dict[str, str]) -> dict[str, Any]:
    def levels(side: str) -> list[dict[str, str]]:
        out = []
        for level in range(1, _LEVELS + 1):
            price, size = row.get(f"{side}_{level}_price"), row.get(f"{side}_{level}_size")
            if price or size:
                out.append({"price": price, "size": size})
        return out

    return {
        "event_type": "book",
        "market": row.get("condition_id"),
        "asset_id": row.get("token_id"),
        "timestamp": row.get("timestamp_ms"),
        "bids": levels("bid"),
        "asks": levels("ask"),
        "depth_limit": _LEVELS,
    }


def _trade(row: dict[str, str]) -> dict[str, Any]:
    return {
        "event_type": "last_trade_price",
        "market": row.get("condition_id"),
        "asset_id": row.get("token_id"),
        "timestamp": row.get("timestamp_ms"),
        "price": row.get("price"),
        "size": row.get("size"),
        "side": row.get("side"),
        "transaction_hash": row.get("trade_id") or None,
    }
