"""Helpers shared by the recorder adapters: derived ids, tick inference, source reading.

Adapters convert; they never validate (the contract parser does that for every
source alike) and never invent a price or a size. Where a source lacks an identifier
the contract needs, :func:`derived_condition_id` and :func:`derived_token_id` make a
stable one from what the source does say, and the market record's ``provenance``
says so.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backtester.archive.sources import open_bytes
from backtester.config.window import to_ms
from backtester.errors import ImportRejected
from backtester.units import TICK_SIZES, format_micros, parse_micros

__all__ = [
    "derived_condition_id",
    "derived_token_id",
    "infer_tick",
    "iso_to_ms",
    "price_micros",
    "read_csv",
    "tick_text",
]

_NAMESPACE = "backtester-derived-id:"


def derived_condition_id(key: str) -> str:
    """A stable condition id for a market whose source names none.

    >>> derived_condition_id("caio:15m:sol:1765450800")[:10]
    '0x2b8b8d09'
    """
    return "0x" + hashlib.sha256((_NAMESPACE + key).encode()).hexdigest()


def derived_token_id(key: str) -> str:
    """A stable token id (a 77 or 78 digit decimal, like Polymarket's) for a token."""
    number = int.from_bytes(hashlib.sha256((_NAMESPACE + key).encode()).digest(), "big")
    if number < 10**70:  # keep the contract's 70-78 digits (probability ~1e-7)
        number += 10**76
    return str(number)


def infer_tick(prices: Iterable[int]) -> int:
    """The coarsest Polymarket tick size that every observed price (micro-units) sits on.

    >>> infer_tick([480_000, 500_000, 990_000])
    10000
    >>> infer_tick([480_000, 995_000])
    1000
    """
    remaining = list(TICK_SIZES)
    for price in prices:
        remaining = [tick for tick in remaining if price % tick == 0]
        if len(remaining) == 1:
            break
    return remaining[0] if remaining else TICK_SIZES[-1]


def tick_text(prices: Iterable[int]) -> str:
    return format_micros(infer_tick(prices))


def read_csv(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows of a CSV file (plain or gzip) as ``(physical line, row)``; the header is line 1."""
    with open_bytes(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.DictReader(text)
        start = 2
        try:
            for row in reader:
                yield start, row
                start = reader.line_num + 1
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ImportRejected.single(str(path), start, "(csv)", f"not readable CSV: {exc}") from None


def price_micros(text: Any) -> int | None:
    """Micro-units of a price cell, or None when it is empty or not a decimal."""
    if text in (None, ""):
        return None
    try:
        return parse_micros(text)
    except ValueError:
        return None


def iso_to_ms(text: Any) -> Any:
    """Epoch ms of an ISO 8601 time as Gamma writes it (``2025-01-03 23:22:33+00``).

    Anything unreadable is returned as it is, for the contract parser to reject by field.

    >>> iso_to_ms("2025-01-03 23:22:33+00")
    1735946553000
    """
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return text
    return to_ms(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
