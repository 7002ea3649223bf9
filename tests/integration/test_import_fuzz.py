"""Importer fuzzing (Hypothesis): a valid contract file (GENERATED records around real
ids, see tests/conftest.py) mutated one line at a time, the way upstream exports break:
truncated JSON, wrong types, NaN and Infinity, negative, 20-decimal and huge numbers,
off-grid prices, unknown kinds, invalid UTF-8, a BOM, seconds instead of milliseconds,
and empty or corrupted gzip. Whatever the mutation, the file is either imported as the
contract allows or rejected with every problem naming file, line and field; never a
traceback, never a partial import (the archive's content hash and file count are
unchanged by a rejected file). Then: two `backtester import` processes into one archive
at the same time: the second waits for the first, and the archive holds both, intact."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backtester.archive import Archive, contract_conversion
from backtester.errors import ArchiveUnavailable
from backtester.sample import REAL_DATA
from tests.conftest import T0, TRUMP_MARKET, TRUMP_YES, book, market_record, report, snapshot
from tests.processes import ROOT

CHANGE = {
    "event_type": "price_change", "market": TRUMP_MARKET, "timestamp": str(T0 + 10),
    "price_changes": [{"asset_id": TRUMP_YES, "price": "0.49", "size": "20", "side": "BUY",
                       "best_bid": "0.49", "best_ask": "0.52"}],
}  # fmt: skip
TRADE = {"event_type": "last_trade_price", "market": TRUMP_MARKET, "asset_id": TRUMP_YES, "price": "0.52",
         "size": "5", "side": "BUY", "fee_rate_bps": "0", "timestamp": str(T0 + 20)}  # fmt: skip
BASE = [market_record(), book(), CHANGE, TRADE, report("exec_fuzz")]
"""The valid file: line 1 a market, 2 a book, 3 a level update, 4 a trade, 5 a report."""

# Where each line keeps its numbers: (key path) -> what a value there means.
NUMBERS = {
    2: [("bids", 0, "price"), ("bids", 0, "size"), ("asks", 0, "price"), ("timestamp",)],
    3: [("price_changes", 0, "price"), ("price_changes", 0, "size"), ("timestamp",)],
    4: [("price",), ("size",), ("timestamp",)],
    5: [("payload", "price"), ("payload", "size"), ("payload", "size_pusd"), ("ts_ms",)],
}
NESTED = {
    1: [
        ("tokens", 0),
        ("tokens", 0, "token_id"),
        ("tokens", 1, "outcome"),
        ("fees", "model"),
        ("fees", "fee_rate_bps"),
    ],
    2: [("bids", 0), ("asks", 0, "size")] + NUMBERS[2],
    3: [("price_changes", 0), ("price_changes", 0, "side"), ("price_changes", 0, "best_bid")] + NUMBERS[3],
    4: NUMBERS[4],
    5: [("payload",), ("payload", "side"), ("payload", "status")] + NUMBERS[5],
}
"""Nested places a wrong type may land (besides every top-level key)."""
WRONG_TYPES = [None, True, [], {}, 1.5, "abc", -1, 10**30, [1, 2], {"x": 1}]


def _set(record: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(record))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return copy


def _lines(records: list[Any]) -> list[bytes]:
    return [(r if isinstance(r, bytes) else json.dumps(r).encode()) for r in records]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes, int | None, bool]:
    """(what was done, the file's bytes, the line mutated, whether the contract forbids it)."""
    kind = draw(st.sampled_from(KINDS))
    lines = _lines(BASE)
    if kind == "truncated JSON":
        line = draw(st.integers(1, len(lines)))
        cut = draw(st.integers(1, len(lines[line - 1]) - 1))
        lines[line - 1] = lines[line - 1][:cut]
        return kind, b"\n".join(lines) + b"\n", line, True
    if kind == "wrong type":
        line = draw(st.integers(1, len(lines)))
        record = BASE[line - 1]
        path = draw(st.sampled_from([(key,) for key in sorted(record)] + NESTED.get(line, [])))
        value = draw(st.sampled_from(WRONG_TYPES))
        lines[line - 1] = json.dumps(_set(record, path, value)).encode()
        return f"{kind} {'.'.join(map(str, path))}={value!r}", b"\n".join(lines) + b"\n", line, False
    if kind in NUMBER_MUTATIONS:
        line = draw(st.sampled_from(sorted(NUMBERS)))
        path = draw(st.sampled_from(NUMBERS[line]))
        text, forbidden = NUMBER_MUTATIONS[kind](path)
        placeholder = "__FUZZ__"
        raw = json.dumps(_set(BASE[line - 1], path, placeholder))
        lines[line - 1] = raw.replace(f'"{placeholder}"', text).encode()
        return f"{kind} at {'.'.join(map(str, path))}", b"\n".join(lines) + b"\n", line, forbidden
    if kind == "unknown kind":
        line = draw(st.integers(1, len(lines)))
        key = "kind" if "kind" in BASE[line - 1] else "event_type"
        lines[line - 1] = json.dumps(
            {**BASE[line - 1], key: draw(st.sampled_from(["trade", "snapshot", ""]))}
        ).encode()
        return kind, b"\n".join(lines) + b"\n", line, True
    if kind == "invalid UTF-8":
        line = draw(st.integers(1, len(lines)))
        at = draw(st.integers(1, len(lines[line - 1]) - 2))
        bad = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"]))
        lines[line - 1] = lines[line - 1][:at] + bad + lines[line - 1][at:]
        return kind, b"\n".join(lines) + b"\n", line, True
    if kind == "BOM":
        return kind, b"\xef\xbb\xbf" + b"\n".join(lines) + b"\n", None, False
    if kind == "seconds, not milliseconds":
        line = draw(st.sampled_from([2, 3, 4, 5]))
        key = "ts_ms" if line == 5 else "timestamp"
        lines[line - 1] = json.dumps({**BASE[line - 1], key: (T0 + 20) // 1000}).encode()
        return kind, b"\n".join(lines) + b"\n", line, True
    if kind == "empty gzip":
        return kind, gzip.compress(b""), None, False
    # a corrupted gzip: a valid one cut short, or with its bytes flipped
    packed = gzip.compress(b"\n".join(lines) + b"\n")
    if draw(st.booleans()):
        packed = packed[: draw(st.integers(10, len(packed) - 1))]
    else:
        at = draw(st.integers(10, len(packed) - 9))
        packed = packed[:at] + bytes([packed[at] ^ 0xFF]) + packed[at + 1 :]
    return "corrupted gzip", packed, None, True


NUMBER_MUTATIONS: dict[str, Callable[[tuple[Any, ...]], tuple[str, bool]]] = {
    "NaN": lambda _path: ("NaN", True),
    "Infinity": lambda _path: ("Infinity", True),
    "-Infinity": lambda _path: ("-Infinity", True),
    "negative": lambda _path: ('"-5"', True),
    "20 decimals": lambda _path: ('"0.12345678901234567890"', True),
    "huge integer": lambda _path: (str(10**40), True),
    "off-grid price": lambda path: ('"0.485"', path[-1] == "price"),  # a size of 0.485 is allowed
}
KINDS = ["truncated JSON", "wrong type", *NUMBER_MUTATIONS, "unknown kind", "invalid UTF-8", "BOM",
         "seconds, not milliseconds", "empty gzip", "corrupted gzip"]  # fmt: skip


@pytest.fixture(scope="module")
def fuzz_archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    """An archive holding the valid file already, so mutations meet cross-file checks."""
    folder = tmp_path_factory.mktemp("fuzz")
    base = folder / "base.jsonl"
    base.write_bytes(b"\n".join(_lines(BASE)) + b"\n")
    store = Archive.open(folder / "archive.duckdb")
    assert store.import_conversions([contract_conversion(base)]).ok
    yield store
    store.close()


COUNTER = iter(range(10**9))


def _state(store: Archive) -> tuple[str, int]:
    """What 'unchanged' means here: the content hash and the number of imported files."""
    files = store.con.execute("SELECT count(*) FROM import_files").fetchone()
    return store.content_hash(), files[0] if files else 0


_KNOWN: dict[int, tuple[str, int]] = {}
"""The fuzzed archive's state, hashed again only when a file was imported into it."""


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=mutated())
def test_a_mutated_file_is_imported_or_rejected_whole(
    case: tuple[str, bytes, int | None, bool], fuzz_archive: Archive, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Any mutated file is imported as the contract allows or rejected with each problem
    naming file:line:field; never a traceback, never part of a file; what the contract
    forbids is always rejected, at the line that breaks it."""
    what, content, line, forbidden = case
    folder = tmp_path_factory.getbasetemp() / "fuzz-files"
    folder.mkdir(exist_ok=True)
    path = folder / f"case-{next(COUNTER)}.jsonl{'.gz' if 'gzip' in what else ''}"
    path.write_bytes(content)
    before = _KNOWN.setdefault(id(fuzz_archive), _state(fuzz_archive))
    outcome = fuzz_archive.import_conversions([contract_conversion(path)])  # anything raised fails the test
    if outcome.rejected:
        [(rejected_path, error)] = outcome.rejected
        assert rejected_path == str(path)
        assert error.problems, what
        for problem in error.problems:
            assert problem.path == str(path)
            assert problem.line >= 0
            assert problem.field, (what, str(problem))
            assert str(problem).startswith(f"{path}:{problem.line}: {problem.field}: ")
        if line is not None and forbidden:
            assert error.first.line == line, (what, str(error))
        assert _state(fuzz_archive) == before, f"{what}: a rejected file changed the archive"
    else:
        assert not forbidden, f"{what}: the contract forbids it, but it was imported"
        after = _KNOWN[id(fuzz_archive)] = _state(fuzz_archive)
        again = fuzz_archive.import_conversions([contract_conversion(path)])
        assert again.ok
        assert again.results[0].skipped  # the same content, once
        assert _state(fuzz_archive) == after


def test_two_imports_at_once_wait_for_each_other(tmp_path: Path) -> None:
    """Two `backtester import` processes into one new archive at the same moment: DuckDB
    lets one process write, so the second waits for the first to finish (saying so)
    instead of failing; both succeed, and the archive is what importing the two files
    one after the other gives."""
    caio = sorted((REAL_DATA / "caio_updown_l2_2025-12-11").glob("15m_sol_orderbooks_*"))
    db = tmp_path / "shared.duckdb"
    cli = [sys.executable, "-c", "from backtester.cli import main; main()", "import", "--from", "caio"]
    processes = [
        subprocess.Popen(
            [*cli, str(path), "--archive", str(db)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in caio
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    with Archive.open(db, read_only=True) as together:
        shared = snapshot(together)
    alone = tmp_path / "alone.duckdb"
    for path in caio:
        subprocess.run([*cli, str(path), "--archive", str(alone)], cwd=ROOT, check=True, capture_output=True)
    with Archive.open(alone, read_only=True) as one_by_one:
        assert snapshot(one_by_one) == shared
    assert shared[1]["book"] == 496


def test_a_writer_that_does_not_finish_in_time_is_a_clear_error(tmp_path: Path) -> None:
    """A writer that holds the archive past the wait gives a clear error naming the
    archive and the process holding it, not DuckDB's lock exception."""
    db = tmp_path / "held.duckdb"
    Archive.open(db).close()
    hold = (
        "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(30)"
    )
    holder = subprocess.Popen([sys.executable, "-c", hold, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(
            ArchiveUnavailable, match=rf"{db} is locked by another process \(PID {holder.pid}\)"
        ):
            Archive.open(db, lock_wait_s=0.5)
    finally:
        holder.kill()
        holder.communicate()
