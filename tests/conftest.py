"""Shared fixtures. Records written by these helpers are GENERATED test fixtures (made
up books around real Polymarket ids); real recorded data is read from
``data/polymarket-real`` only."""

from __future__ import annotations

import glob
import itertools
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from backtester.archive import Archive
from backtester.sample import REAL_DATA

# Real ids: the "Trump wins 2024" market (nautilus_captured_messages, statground).
TRUMP_MARKET = "0xdd22472e552920b8438158ea7238bfadfa4f736aa4cee91a6b86c39ead110917"
TRUMP_YES = "21742633143463906290569050155826241533067272736897614950488156847949938836455"
TRUMP_NO = "48331043336612883890938759509493159234755048973500640148014422747788308965732"
TRUMP_NEG_RISK_ID = "0xe3b1bc389210504ebcb9cffe4b0ed06ccac50561e0f24abb6379984cec030f00"
NOW = datetime(2026, 5, 8, tzinfo=UTC)
T0 = 1_728_799_418_260  # 2024-10-13T06:03:38.260Z, the real WS book's timestamp


@pytest.fixture
def real_data() -> Path:
    return REAL_DATA


def market_record(**overrides: Any) -> dict[str, Any]:
    record = {
        "kind": "market",
        "condition_id": TRUMP_MARKET,
        "question": "Will Donald Trump win the 2024 US Presidential Election?",
        "neg_risk": True,
        "neg_risk_market_id": TRUMP_NEG_RISK_ID,
        "tick_size": "0.01",
        "min_order_size": "5",
        "fees": {"model": "flat_bps", "fee_rate_bps": 0},
        "end_date": "2024-11-05T12:00:00Z",
        "tokens": [{"token_id": TRUMP_YES, "outcome": "Yes"}, {"token_id": TRUMP_NO, "outcome": "No"}],
    }
    record.update(overrides)
    return record


def book(asset: str = TRUMP_YES, ts: int = T0, bids: Iterable = (("0.48", "100"),),
         asks: Iterable = (("0.52", "50"),), **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {
        "event_type": "book",
        "market": TRUMP_MARKET,
        "asset_id": asset,
        "timestamp": str(ts),
        "bids": [{"price": p, "size": s} for p, s in bids],
        "asks": [{"price": p, "size": s} for p, s in asks],
        **extra,
    }


def report(report_id: str = "exec_1", **payload: Any) -> dict[str, Any]:
    body = {
        "market_id": TRUMP_MARKET,
        "asset_id": TRUMP_YES,
        "side": "BUY",
        "price": "0.52",
        "size": "10",
        "size_pusd": "5.2",
        "fee_pusd": "0",
        "status": "FILLED",
    }
    body.update(payload)
    return {
        "kind": "report",
        "report_kind": "ExecutionReport",
        "report_id": report_id,
        "trace_id": "tr_1",
        "bot_id": "exec.router",
        "ts_ms": T0 + 100,
        "mode": "live",
        "schema_version": 2,
        "payload": body,
    }


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    """Write records (dicts/lists, or raw strings) as a JSON Lines file."""

    def write(name: str, records: Iterable[Any]) -> Path:
        path = tmp_path / name
        lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write


@pytest.fixture
def archive(tmp_path: Path) -> Iterable[Archive]:
    with Archive.open(tmp_path / "archive.duckdb") as store:
        yield store


def snapshot(store: Archive) -> tuple[str, dict[str, int], int]:
    """Content hash, counts and number of imported files: what 'unchanged' means."""
    info = store.info()
    files = sum(info["files_imported"].values())
    return info["content_sha256"], info["counts"], files


# ------------------------------------------------------------------ PostgreSQL

_PG_SKIP = "PostgreSQL is not installed here (scripts/setup-tests.sh installs Debian's postgresql)"


def _pg_bindir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


@pytest.fixture(scope="session")
def postgres_server() -> Iterable[str]:
    """A throwaway PostgreSQL server for the session, listening only on a Unix socket in
    a temp folder (no TCP port); its URL, to which a test adds a database name. Skipped
    only where PostgreSQL is not installed; a server that is installed but will not start
    fails the tests that need it, with its log."""
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip(_PG_SKIP)
    root = Path(tempfile.mkdtemp(prefix="bt-pg-"))  # short: a socket path holds 107 bytes
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as its own user
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data = root / "data"

    def pg(*args: str | Path) -> None:
        done = subprocess.run([*as_user, *map(str, args)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
            pytest.fail(f"PostgreSQL: {' '.join(map(str, args))} failed:\n{done.stdout}{done.stderr}{log}")

    pg(bindir / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
    options = f"-k {root} -c listen_addresses='' -c fsync=off -c max_connections=200"
    pg(bindir / "pg_ctl", "-D", data, "-w", "-t", "60", "-l", root / "server.log", "-o", options, "start")
    try:
        yield f"postgresql://postgres@/postgres?host={root}"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, check=False)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


_DATABASES = itertools.count(1)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A new, empty database on the session's PostgreSQL server."""
    import psycopg  # noqa: PLC0415

    name = f"bt_{os.getpid()}_{next(_DATABASES)}"
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    return postgres_server.replace("/postgres?", f"/{name}?")


@pytest.fixture(params=["sqlite", "postgresql"])
def registry_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty run registry on each backend: a SQLite file, a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "registry.sqlite3")
    return request.getfixturevalue("postgres_url")
