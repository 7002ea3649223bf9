"""Input files: transparent gzip, content hashing, and the unit of import.

A :class:`Conversion` is one file's worth of contract records: a contract JSON Lines
file read as is, or the output of an adapter for one recorder file. The importer
imports each conversion in one transaction, and identifies it by the sha256 of the
bytes it was made from, so re-importing the same content is recognised whatever the
file is called or whether it is gzipped.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

__all__ = ["Conversion", "contract_conversion", "open_bytes", "sha256_of"]

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


def open_bytes(path: Path) -> IO[bytes]:
    """Open a file for binary reading, decompressing it if it is gzip (by content)."""
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == _GZIP_MAGIC:
        return gzip.open(path, "rb")
    return path.open("rb")


def sha256_of(paths: tuple[Path, ...]) -> str:
    """sha256 of the decompressed content of the files, in the order given."""
    total = hashlib.sha256()
    for path in paths:
        with open_bytes(path) as handle:
            digest = hashlib.sha256()
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        total.update(digest.digest())
    return total.hexdigest() if len(paths) > 1 else digest.hexdigest()


@dataclass(frozen=True)
class Conversion:
    """One importable unit.

    ``records()`` yields ``(line, value)``: ``value`` is a raw line (bytes) for contract
    files, parsed by the importer so that bad JSON is reported by line, or a decoded
    record from an adapter. ``line`` is the physical line (JSON Lines, CSV) or the
    1-based record number (JSON arrays, Parquet) of the source file.
    """

    path: Path
    source_format: str
    inputs: tuple[Path, ...]
    records: Callable[[], Iterator[tuple[int, Any]]]
    raw_lines: bool = False

    @property
    def name(self) -> str:
        return self.path.name


def contract_conversion(path: Path) -> Conversion:
    """A contract JSON Lines file (plain or gzip), read line by line without loading it."""

    def records() -> Iterator[tuple[int, bytes]]:
        with open_bytes(path) as handle:
            for number, raw in enumerate(handle, start=1):
                line = raw[3:] if number == 1 and raw.startswith(b"\xef\xbb\xbf") else raw
                if line.strip():
                    yield number, line.rstrip(b"\r\n")

    return Conversion(path=path, source_format="contract", inputs=(path,), records=records, raw_lines=True)
