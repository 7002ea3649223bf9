"""Adapters: real recorder formats converted to the archive contract.

Each adapter turns the files it is given into :class:`~backtester.archive.Conversion`
units that go through the same validating importer as contract files. An adapter that
cannot make sense of its input raises :class:`~backtester.errors.ImportRejected`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from backtester.archive.adapters import caio, gamma, selcukguler, tickscope
from backtester.archive.sources import Conversion, contract_conversion

__all__ = ["FORMATS", "conversions_for"]

_JSON = (".json", ".json.gz", ".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz")

# format -> (adapter, file suffixes a directory argument expands to)
_ADAPTERS: dict[str, tuple[Callable[[list[Path]], list[Conversion]], tuple[str, ...]]] = {
    "contract": (lambda paths: [contract_conversion(p) for p in paths], _JSON),
    "caio": (caio.convert, (".json", ".json.gz")),
    "gamma": (gamma.convert, _JSON),
    "selcukguler": (selcukguler.convert, (".csv", ".csv.gz")),
    "tickscope": (tickscope.convert, (".parquet",)),
}

FORMATS = tuple(_ADAPTERS)
"""Input formats ``backtester import --from`` accepts (``contract`` is the default)."""


def conversions_for(source_format: str, paths: list[Path]) -> list[Conversion]:
    """The import units for ``paths`` read as ``source_format``.

    A directory stands for its files with the format's suffixes, in name order.
    """
    try:
        adapter, suffixes = _ADAPTERS[source_format]
    except KeyError:
        msg = f"unknown input format {source_format!r}; choose one of {', '.join(FORMATS)}"
        raise ValueError(msg) from None
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.name.endswith(suffixes))
        else:
            files.append(path)
    return adapter(files)
