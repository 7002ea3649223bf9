"""Caio's recorder (Caiooooo/polymarket-l2-collector): full-depth WS ``book`` snapshots
and ``last_trade_price`` trades, one JSON array per token and kind.

What the source lacks, and what the adapter does about it:

* no condition ids and no token ids: the market is known from the file name
  (interval, coin, window start) and the token from its ``up``/``down`` suffix, so both
  ids are derived from those (:func:`derived_condition_id`), stable across runs;
* no tick size: inferred as the coarsest Polymarket tick every recorded price sits on;
* no fee schedule: the market record says ``{"model": "unknown"}``;
* no ``price_change`` messages and no ``seq``: the books are snapshots only, so nothing
  is reconstructed between them;
* ``asset_price`` (the recorder's Binance mid of the underlying at receive time) becomes
  an ``ObservationReport`` signal stamped with the receive time, the earliest moment a
  live bot could have known it.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from backtester.archive.adapters.common import (
    derived_condition_id,
    derived_token_id,
    price_micros,
    tick_text,
)
from backtester.archive.sources import Conversion, open_bytes
from backtester.config.window import format_ms
from backtester.errors import ImportRejected

__all__ = ["convert"]

_FLAT = re.compile(
    r"(?P<interval>\d+[mhd])_(?P<coin>[a-z0-9]+)_(?P<kind>orderbooks|trades)_"
    r"(?P<start>\d{10})(?P<side>up|down)\.json(?:\.gz)?\Z"
)
_LEAF = re.compile(r"(?P<start>\d{10})(?P<side>up|down)\.json(?:\.gz)?\Z")
_SECONDS = {"m": 60, "h": 3600, "d": 86_400}


@dataclass(frozen=True)
class _File:
    path: Path
    interval: str
    coin: str
    kind: str
    start: int
    side: str

    @property
    def market_key(self) -> str:
        return f"caio:{self.interval}:{self.coin}:{self.start}"

    @property
    def end(self) -> int:
        return self.start + int(self.interval[:-1]) * _SECONDS[self.interval[-1]]


def _identify(path: Path) -> _File:
    match = _FLAT.match(path.name)
    if match:
        g = match.groupdict()
        return _File(path, g["interval"], g["coin"], g["kind"], int(g["start"]), g["side"])
    leaf = _LEAF.match(path.name)
    parts = path.parts
    if leaf and len(parts) >= 4 and parts[-2] in ("orderbooks", "trades"):
        return _File(path, parts[-4], parts[-3], parts[-2], int(leaf["start"]), leaf["side"])
    raise ImportRejected.single(
        str(path), 0, "(file name)",
        "not a Caio file name: expected <interval>_<coin>_<orderbooks|trades>_<start><up|down>.json[.gz] "
        "or .../<interval>/<coin>/<orderbooks|trades>/<start><up|down>.json",
    )  # fmt: skip


def _load(path: Path) -> list[Any]:
    try:
        with open_bytes(path) as handle:
            data = json.load(handle, parse_float=Decimal)
    except ValueError as exc:
        raise ImportRejected.single(str(path), 1, "(json)", f"not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise ImportRejected.single(str(path), 1, "(file)", "a Caio file is one JSON array of messages")
    return data


def _prices(messages: list[Any]) -> Iterator[int]:
    for message in messages:
        if not isinstance(message, dict):
            continue
        levels = [*(message.get("bids") or []), *(message.get("asks") or [])]
        if "price" in message:
            levels.append(message)
        for level in levels:
            micros = price_micros(level.get("price")) if isinstance(level, dict) else None
            if micros is not None:
                yield micros


def convert(paths: list[Path]) -> list[Conversion]:
    """One conversion per Caio file; the market records are derived from all of them."""
    files = [_identify(p) for p in paths]
    prices: dict[str, set[int]] = defaultdict(set)
    for f in files:
        prices[f.market_key].update(_prices(_load(f.path)))
    return [_conversion(f, _market_record(f, prices[f.market_key])) for f in files]


def _market_record(f: _File, prices: set[int]) -> dict[str, Any]:
    return {
        "kind": "market",
        "condition_id": derived_condition_id(f.market_key),
        "question": (
            f"{f.coin.upper()} Up or Down, {f.interval} window {format_ms(f.start * 1000)} to "
            f"{format_ms(f.end * 1000)}"
        ),
        "neg_risk": False,
        "tick_size": tick_text(prices),
        "fees": {"model": "unknown"},
        "end_date": format_ms(f.end * 1000),
        "tokens": [
            {"token_id": derived_token_id(f"{f.market_key}:up"), "outcome": "Up"},
            {"token_id": derived_token_id(f"{f.market_key}:down"), "outcome": "Down"},
        ],
        "provenance": (
            "caio: condition and token ids derived from the file name (the recorder kept none); "
            "tick size inferred from recorded prices; fee schedule not recorded"
        ),
    }


def _conversion(f: _File, market: dict[str, Any]) -> Conversion:
    condition_id = market["condition_id"]
    token_id = market["tokens"][0 if f.side == "up" else 1]["token_id"]

    def records() -> Iterator[tuple[int, Any]]:
        yield 0, market
        for number, message in enumerate(_load(f.path), start=1):
            if not isinstance(message, dict):
                yield number, message
                continue
            out = {k: v for k, v in message.items() if k not in ("local_timestamp", "asset_price")}
            out.update(market=condition_id, asset_id=token_id, recv_ts_ms=message.get("local_timestamp"))
            if f.kind == "orderbooks":
                out["event_type"] = "book"
            else:
                out["event_type"] = "last_trade_price"
                if isinstance(out.get("side"), str):
                    out["side"] = out["side"].upper()
            yield number, out
            observation = _observation(f, condition_id, message)
            if observation is not None:
                yield number, observation

    return Conversion(path=f.path, source_format="caio", inputs=(f.path,), records=records)


def _observation(f: _File, condition_id: str, message: dict[str, Any]) -> dict[str, Any] | None:
    value, received = message.get("asset_price"), message.get("local_timestamp")
    if value is None or received is None:
        return None
    return {
        "kind": "report",
        "report_kind": "ObservationReport",
        "report_id": f"obs-caio-{f.coin}-{f.interval}-{f.start}-{received}-{value}",
        "trace_id": None,
        "bot_id": "recorder.caio",
        "ts_ms": received,
        "mode": "live",
        "schema_version": 2,
        "payload": {"market_id": condition_id, "signals": {"asset_price": value}},
    }
