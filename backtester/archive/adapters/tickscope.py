"""Polymarket-Tickscope (SobhiSandakli/Polymarket-Tickscope): the decoded market channel
as Parquet, one row per ``price_change`` entry or ``last_trade_price``.

What the source lacks, and what the adapter does about it:

* no condition id (``market``): the two tokens of each market are found from the
  stream itself. Polymarket sends every level change once per token, mirrored (a BUY at
  p on one token and a SELL at 1 - p of the same size, at the same millisecond, on the
  other); the adapter counts those mirrored pairs and pairs each token with the one it
  mirrors most, requiring the match to be mutual. The condition id is derived from the
  pair, and the tokens are listed in id order: which of them is "Yes" is not recorded;
* no ``book`` snapshots: the stream gives *partial* books (contract section 2);
* no tick size or fees: tick inferred from the prices, fees ``{"model": "unknown"}``;
* prices and sizes are float64 columns: each is read back as the shortest decimal that
  round-trips (``repr``), which is the decimal the harvester parsed, and never used as a
  float;
* no ``seq`` and no receive time.

Each row becomes one message whose line number is the row number (1-based). Pass all
files of one recording in one call so that the pairing and the ticks see all of it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from backtester.archive.adapters.common import derived_condition_id, tick_text
from backtester.archive.sources import Conversion
from backtester.errors import ImportRejected
from backtester.units import MICRO, UnitError, parse_micros

__all__ = ["convert", "pair_tokens"]

_COLUMNS = ["timestamp", "price", "size", "best_bid", "best_ask", "side", "event_type", "asset_id"]
_SIDE = {"BID": "BUY", "ASK": "SELL"}
_WINDOW_MS = 5_000  # mirrored entries share a millisecond; keep a few seconds of slack


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows as dicts with the timestamp in epoch ms; numbered from 1."""
    try:
        handle = pq.ParquetFile(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise ImportRejected.single(str(path), 0, "(file)", f"not a Parquet file: {exc}") from None
    missing = [c for c in _COLUMNS if c not in handle.schema_arrow.names]
    if missing:
        raise ImportRejected.single(str(path), 0, "(columns)", f"missing column(s) {', '.join(missing)}")
    number = 0
    for batch in handle.iter_batches(batch_size=65_536, columns=_COLUMNS):
        columns = {name: batch.column(name) for name in _COLUMNS}
        columns["timestamp"] = columns["timestamp"].cast(pa.int64())
        values = {name: col.to_pylist() for name, col in columns.items()}
        for i in range(batch.num_rows):
            number += 1
            yield number, {name: values[name][i] for name in _COLUMNS}


def _micros(value: Any) -> int | None:
    try:
        return parse_micros(repr(value)) if isinstance(value, float) else None
    except UnitError:
        return None


def pair_tokens(paths: list[Path]) -> tuple[dict[str, str], dict[str, set[int]]]:
    """Pair each token with its complement; also collect every token's prices.

    Returns ``(partner, prices)``. Raises :class:`ImportRejected` when a token has no
    clear, mutual partner.
    """
    mirrors: Counter[tuple[str, str]] = Counter()
    prices: dict[str, set[int]] = defaultdict(set)
    for path in paths:
        pending: dict[tuple[int, int, int], list[tuple[str, str]]] = {}
        horizon = 0
        for _, row in _rows(path):
            asset, price, size = row["asset_id"], _micros(row["price"]), _micros(row["size"])
            if asset is None or price is None or size is None:
                continue
            if row["event_type"] == "LAST_TRADE" or size > 0:
                prices[asset].add(price)
            if row["event_type"] != "PRICE_CHANGE" or row["side"] not in _SIDE:
                continue
            ts = row["timestamp"]
            bid_price = price if row["side"] == "BID" else MICRO - price
            key = (ts, size, bid_price)
            for other, other_side in pending.get(key, ()):
                if other != asset and other_side != row["side"]:
                    mirrors[(asset, other)] += 1
                    mirrors[(other, asset)] += 1
            pending.setdefault(key, []).append((asset, row["side"]))
            if ts - horizon > 2 * _WINDOW_MS:
                pending = {k: v for k, v in pending.items() if k[0] >= ts - _WINDOW_MS}
                horizon = ts
    best: dict[str, str] = {}
    for asset in sorted(prices):
        ranked = sorted(((n, other) for (a, other), n in mirrors.items() if a == asset), reverse=True)
        if ranked and (len(ranked) == 1 or ranked[0][0] >= 4 * ranked[1][0]):
            best[asset] = ranked[0][1]
    partner = {a: b for a, b in best.items() if best.get(b) == a}
    unpaired = sorted(set(prices) - set(partner))
    if unpaired:
        raise ImportRejected.single(
            str(paths[0]), 0, "asset_id",
            f"cannot find the complementary token of {', '.join(unpaired)} from mirrored "
            "updates; import all files of the recording together",
        )  # fmt: skip
    return partner, prices


def convert(paths: list[Path]) -> list[Conversion]:
    """One conversion per Parquet file; markets derived from all files together."""
    partner, prices = pair_tokens(paths)
    markets: dict[str, dict[str, Any]] = {}
    for asset, other in partner.items():
        first, second = sorted((asset, other), key=lambda t: (len(t), t))
        if first in markets:
            continue
        record = {
            "kind": "market",
            "condition_id": derived_condition_id(f"tickscope:{first}:{second}"),
            "question": f"Tickscope market of tokens {first[:8]}… and {second[:8]}…",
            "neg_risk": False,
            "tick_size": tick_text(prices[first] | prices[second]),
            "fees": {"model": "unknown"},
            "tokens": [
                {"token_id": first, "outcome": "first token (outcome not recorded)"},
                {"token_id": second, "outcome": "second token (outcome not recorded)"},
            ],
            "provenance": (
                "tickscope: condition id derived from the token pair found by mirrored updates; "
                "outcome labels, tick size and fees not recorded (tick inferred from prices)"
            ),
        }
        markets[first] = markets[second] = record
    return [_conversion(path, markets) for path in paths]


def _conversion(path: Path, markets: dict[str, dict[str, Any]]) -> Conversion:
    def records() -> Iterator[tuple[int, Any]]:
        emitted: set[str] = set()
        for record in sorted({id(m): m for m in markets.values()}.values(), key=lambda m: m["condition_id"]):
            if record["condition_id"] not in emitted:
                emitted.add(record["condition_id"])
                yield 0, record
        for number, row in _rows(path):
            yield number, _message(row, markets)

    return Conversion(path=path, source_format="tickscope", inputs=(path,), records=records)


def _message(row: dict[str, Any], markets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    asset = row["asset_id"]
    market = markets.get(asset, {}).get("condition_id")
    price, size = _text(row["price"]), _text(row["size"])
    side = _SIDE.get(row["side"], row["side"])
    if row["event_type"] == "LAST_TRADE":
        return {
            "event_type": "last_trade_price", "market": market, "asset_id": asset,
            "timestamp": row["timestamp"], "price": price, "size": size, "side": side,
        }  # fmt: skip
    if row["event_type"] != "PRICE_CHANGE":
        return {"event_type": row["event_type"], "market": market, "timestamp": row["timestamp"]}
    entry = {
        "asset_id": asset, "price": price, "size": size, "side": side,
        "best_bid": _text(row["best_bid"]), "best_ask": _text(row["best_ask"]),
    }  # fmt: skip
    return {
        "event_type": "price_change",
        "market": market,
        "timestamp": row["timestamp"],
        "price_changes": [entry],
    }


def _text(value: Any) -> Any:
    """A float column value as the shortest decimal text that reads back as it (``repr``),
    which the contract parser then reads exactly; anything else unchanged (refused later)."""
    return repr(value) if isinstance(value, float) else value
