"""Import throughput and memory: prints rows/s and peak RSS; asserts nothing.

    python benchmarks/bench_import.py              # the real Tickscope stream, two ways
    python benchmarks/bench_import.py --scale 40   # plus a ~1 GB contract file (see below)

1. ``tickscope``: the two real Parquet files through the Tickscope adapter (pairing pass
   plus import), as ``backtester import --from tickscope`` does.
2. ``contract``: the same real rows written once as contract JSON Lines (gzip), then
   imported as ``backtester import`` does.
3. ``--scale N``: a GENERATED input for the memory check only: the contract file
   repeated N times, each copy shifted one day later, written to a temp dir and imported
   into a throwaway archive. It is never part of a real archive. Each import runs in a
   fresh process so that its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, peak_rss_mb  # noqa: E402

from backtester.archive import Archive  # noqa: E402
from backtester.archive.adapters import conversions_for  # noqa: E402
from backtester.sample import REAL_DATA  # noqa: E402
from backtester.units import format_micros  # noqa: E402

TICKSCOPE = sorted((REAL_DATA / "tickscope_nhl_stanley_cup_g4_2026-06-07").glob("*.parquet"))
DAY_MS = 86_400_000


def timed_import(source_format: str, paths: list[Path], db: Path) -> tuple[int, float]:
    start = time.perf_counter()
    with Archive.open(db) as archive:
        outcome = archive.import_conversions(conversions_for(source_format, paths))
        if not outcome.ok:
            raise SystemExit("\n".join(str(e) for _, e in outcome.rejected))
        rows = sum(sum(r.rows.values()) for r in outcome.results)
    return rows, time.perf_counter() - start


def write_contract(db: Path, out: Path, copies: int) -> int:
    """The archive's Tickscope rows as contract lines; copy k is shifted k days."""
    lines = 0
    with Archive.open(db, read_only=True) as archive, gzip.open(out, "wt", compresslevel=1) as fh:
        markets = archive.con.execute(
            "SELECT condition_id, yes_token_id, yes_outcome, no_token_id, no_outcome, tick_size FROM markets"
        ).fetchall()
        for cid, yes, yes_out, no, no_out, tick in markets:
            fh.write(json.dumps({"kind": "market", "condition_id": cid, "tick_size": str(tick / 1e6),
                                 "tokens": [{"token_id": yes, "outcome": yes_out},
                                            {"token_id": no, "outcome": no_out}]}) + "\n")  # fmt: skip
        rows = archive.con.execute(
            """SELECT 'L', market, asset_id, ts_ms, side, price, size, best_bid, best_ask FROM md_level
               UNION ALL SELECT 'T', market, asset_id, ts_ms, side, price, size, NULL, NULL FROM md_trade
               ORDER BY 4"""
        ).fetchall()
        for copy in range(copies):
            for kind, market, asset, ts, side, price, size, bid, ask in rows:
                ts_text = str(ts + copy * DAY_MS)
                if kind == "L":
                    entry = {"asset_id": asset, "price": _d(price), "size": _d(size), "side": side,
                             "best_bid": _d(bid), "best_ask": _d(ask)}  # fmt: skip
                    msg = {"event_type": "price_change", "market": market, "timestamp": ts_text,
                           "price_changes": [entry]}  # fmt: skip
                else:
                    msg = {"event_type": "last_trade_price", "market": market, "asset_id": asset,
                           "timestamp": ts_text, "price": _d(price), "size": _d(size),
                           "side": side}  # fmt: skip
                fh.write(json.dumps(msg) + "\n")
                lines += 1
    return lines


def check_same_rows(first: Path, second: Path) -> None:
    """The two imports hold the same market data (else MISMATCH: no figure is printed)."""
    sums = []
    for db in (first, second):
        with Archive.open(db, read_only=True) as archive:
            digest = "count(*) || ':' || sum(hash(asset_id, ts_ms, side, price, size))"
            sums.append(archive.con.execute(
                f"SELECT (SELECT {digest} FROM md_level), (SELECT {digest} FROM md_trade)"
            ).fetchall())  # fmt: skip
    if sums[0] != sums[1]:
        raise SystemExit(f"MISMATCH: the contract import differs from the adapter's: {sums}")
    print("checked: the contract import holds the adapter import's rows")


def _d(micros: int | None) -> str | None:
    return None if micros is None else format_micros(micros)


def child(source_format: str, path: Path, db: Path) -> None:
    rows, seconds = timed_import(source_format, [path], db)
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mb": peak_rss_mb()}))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=int, default=0, help="also import a generated N-copy contract file")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return
    print(machine())
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        work = Path(tmp)
        rows, seconds = timed_import("tickscope", TICKSCOPE, work / "t.duckdb")
        print(f"tickscope adapter : {rows:>10,} rows in {seconds:6.2f} s = {rows / seconds:>9,.0f} rows/s")
        jsonl = work / "tickscope.jsonl.gz"
        write_contract(work / "t.duckdb", jsonl, 1)
        out = _run_child("contract", jsonl, work / "c.duckdb")
        check_same_rows(work / "t.duckdb", work / "c.duckdb")
        rate, rss = out["rows"] / out["seconds"], out["peak_rss_mb"]
        print(f"contract JSONL    : {out['rows']:>10,} rows in {out['seconds']:6.2f} s = "
              f"{rate:>9,.0f} rows/s, peak RSS {rss:.0f} MB")  # fmt: skip
        if args.scale:
            big = work / f"tickscope_x{args.scale}.jsonl.gz"
            lines = write_contract(work / "t.duckdb", big, args.scale)
            raw = _gunzipped_size(big)
            out = _run_child("contract", big, work / "big.duckdb")
            rate, rss = out["rows"] / out["seconds"], out["peak_rss_mb"]
            print(f"GENERATED x{args.scale:<4}  : {out['rows']:>10,} rows ({lines:,} lines, "
                  f"{raw / 1e9:.2f} GB uncompressed) in {out['seconds']:6.1f} s = "
                  f"{rate:>9,.0f} rows/s, peak RSS {rss:.0f} MB")  # fmt: skip


def _run_child(source_format: str, path: Path, db: Path) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", source_format, str(path), str(db)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(result.stdout)


def _gunzipped_size(path: Path) -> int:
    size = 0
    with gzip.open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            size += len(chunk)
    return size


if __name__ == "__main__":
    main()
