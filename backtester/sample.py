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
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from backtester.archive import Archive
from backtester.archive.adapters import conversions_for
from backtester.errors import ArchiveError

__all__ = ["REAL_DATA", "SAMPLE_ARCHIVE", "build_sample"]

_REPO = Path(__file__).resolve().parents[1]
REAL_DATA = _REPO / "data" / "polymarket-real"
SAMPLE_ARCHIVE = _REPO / "data" / "sample-archive"

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


def build_sample(sources: Path = REAL_DATA, out: Path = SAMPLE_ARCHIVE) -> Path:
    """Rebuild the sample archive at ``out`` (replacing it) from the real recordings."""
    with tempfile.TemporaryDirectory(prefix="backtester-sample-") as work:
        db = Path(work) / "sample.duckdb"
        with Archive.open(db) as archive:
            for source_format, names in _SOURCES:
                outcome = archive.import_conversions(
                    conversions_for(source_format, [sources / n for n in names])
                )
                if outcome.rejected:
                    msg = "\n".join(str(exc) for _, exc in outcome.rejected)
                    raise ArchiveError(f"the sample sources did not import:\n{msg}")
            con = archive.con
            keep = f"SELECT condition_id FROM markets WHERE {_KEEP}"
            for table, column in (("md_book", "market"), ("md_level", "market"), ("md_trade", "market"),
                                  ("md_tick", "market"), ("reports", "market_id")):  # fmt: skip
                con.execute(f"DELETE FROM {table} WHERE {column} NOT IN ({keep})")
            con.execute(f"DELETE FROM markets WHERE condition_id NOT IN ({keep})")
            staged = Path(work) / "export"
            archive.export_parquet(staged)
        if out.exists():
            shutil.rmtree(out)
        shutil.move(str(staged), out)
    return out
