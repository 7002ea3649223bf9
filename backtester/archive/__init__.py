"""The archive: what upstream recorded, imported under the contract into DuckDB or Parquet."""

from backtester.archive.importer import FileResult
from backtester.archive.sources import Conversion, contract_conversion
from backtester.archive.store import (
    ARCHIVE_ENV,
    Archive,
    ImportOutcome,
    default_archive_location,
)

__all__ = [
    "ARCHIVE_ENV",
    "Archive",
    "Conversion",
    "FileResult",
    "ImportOutcome",
    "contract_conversion",
    "default_archive_location",
]
