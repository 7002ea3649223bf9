"""The run registry: one row per run, keyed by ``replay_run_id``, and the kill switch.

Spec sections 14, 20 and 21: at most ``max_in_flight`` (5) runs in flight, new launches
refused beyond it (``BACKTESTER_RUN_QUEUE_FULL``) or while the kill switch is on
(``KILL_SWITCH_ACTIVE``); ``replay_run_id`` is the idempotency key (a primary key, so a
second row for one id cannot exist); a run left ``running`` by a process that is gone
becomes ``interrupted`` and never resumes by itself.

**Backends.** The same SQL on two databases, through their DB-API drivers:

* **SQLite** (the embedded default, stdlib ``sqlite3``): a file in WAL mode, so readers
  never wait for the writer; at ``$BACKTESTER_REGISTRY``, else
  ``$XDG_STATE_HOME/backtester/registry.sqlite3`` (``~/.local/state/...``). A plain path
  or a ``sqlite:///path`` URL.
* **PostgreSQL** (shared by a desk: several analysts and the promotion gate on one
  registry), a ``postgresql://`` URL, through psycopg 3.

**Every write is one short transaction holding the registry's write lock**
(``BEGIN IMMEDIATE`` on SQLite; ``pg_advisory_xact_lock`` on PostgreSQL), so admission,
which counts the runs in flight, checks the kill switch and inserts the new row, is
atomic: six launches at the same moment admit exactly five. Reads take no lock.

**Liveness.** A running run heartbeats (see :mod:`backtester.governance.launch`). Any
command that reads the registry first marks ``interrupted`` every ``running`` row whose
heartbeat is older than the lease (:data:`LEASE_MS`, 30 s), or whose process is gone
on this host (the pid is checked together with the process's start time, so a reused
pid is not mistaken for the run).

Statuses: ``running``, then one of ``complete``, ``aborted`` (stopped on request, or
the archive failed it), ``failed`` (an error ended it: a bug, memory, an evidence
template that failed), ``interrupted`` (its process died or stopped heartbeating);
``refused`` (never started: governance suppressed the launch). Every change is also an
event in the run's history.
"""

from __future__ import annotations

import getpass
import json
import os
import platform
import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

from backtester.config.settings import positive_setting
from backtester.config.window import format_ms
from backtester.errors import (
    ReasonCode,
    RegistryUnavailable,
    RunIdTaken,
    RunNotRunning,
    RunRefused,
    UnknownRun,
)

__all__ = [
    "LEASE_MS",
    "MAX_IN_FLIGHT",
    "MAX_IN_FLIGHT_ENV",
    "REGISTRY_ENV",
    "STATUSES",
    "KillSwitch",
    "LaunchRequest",
    "Registry",
    "RunRecord",
    "Who",
    "default_registry_location",
    "max_in_flight",
    "process_alive",
]

REGISTRY_ENV = "BACKTESTER_REGISTRY"
"""Environment variable naming the registry (a path, ``sqlite:///path`` or ``postgresql://...``)."""
MAX_IN_FLIGHT_ENV = "BACKTESTER_MAX_IN_FLIGHT"
"""Environment variable overriding the spec's ``max_in_flight``."""
MAX_IN_FLIGHT = 5
"""The spec's ``max_in_flight`` (section 21)."""
LEASE_MS = 30_000
"""A ``running`` row whose heartbeat is older than this is interrupted."""
STATUSES = ("running", "complete", "aborted", "failed", "interrupted", "refused")
SCHEMA_VERSION = "2"
"""2 added ``events_replayed`` (a registry of version 1 is upgraded in place on first use)."""

_LOCK_KEY = 0x6274_7265_6769  # "btregi": the PostgreSQL advisory lock of registry writes

_RUN_COLUMNS = (
    "replay_run_id", "kind", "strategy", "variants", "config_sha256", "status", "reason_code", "reason",
    "launched_by", "host", "pid", "pid_identity", "started_ms", "heartbeat_ms", "ended_ms", "out_path",
    "archive", "abort_requested_ms", "abort_by", "abort_reason", "ticks_replayed", "ticks_skipped",
    "simulated_fills", "simulated_volume_pusd", "simulated_pnl_pusd", "simulated_net_fees_pusd",
    "aggregate_report_id", "variant_results", "events_replayed",
)  # fmt: skip
_COUNT_COLUMNS = _RUN_COLUMNS[20:]

_DDL = (
    """CREATE TABLE IF NOT EXISTS backtester_registry_meta (
        key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS backtester_runs (
        replay_run_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        strategy TEXT,
        variants INTEGER,
        config_sha256 TEXT,
        status TEXT NOT NULL CHECK (status IN ({", ".join(f"'{s}'" for s in STATUSES)})),
        reason_code TEXT,
        reason TEXT,
        launched_by TEXT,
        host TEXT,
        pid INTEGER,
        pid_identity TEXT,
        started_ms BIGINT NOT NULL,
        heartbeat_ms BIGINT,
        ended_ms BIGINT,
        out_path TEXT,
        archive TEXT,
        abort_requested_ms BIGINT,
        abort_by TEXT,
        abort_reason TEXT,
        ticks_replayed BIGINT,
        ticks_skipped BIGINT,
        simulated_fills BIGINT,
        simulated_volume_pusd TEXT,
        simulated_pnl_pusd TEXT,
        simulated_net_fees_pusd TEXT,
        aggregate_report_id TEXT,
        variant_results TEXT,
        events_replayed BIGINT)""",
    "CREATE INDEX IF NOT EXISTS backtester_runs_status ON backtester_runs (status)",
    """CREATE TABLE IF NOT EXISTS backtester_run_events (
        replay_run_id TEXT NOT NULL, seq INTEGER NOT NULL, at_ms BIGINT NOT NULL, status TEXT NOT NULL,
        by_who TEXT, detail TEXT, PRIMARY KEY (replay_run_id, seq))""",
    """CREATE TABLE IF NOT EXISTS backtester_kill_switch (
        seq INTEGER PRIMARY KEY, active INTEGER NOT NULL, at_ms BIGINT NOT NULL, by_who TEXT NOT NULL,
        reason TEXT)""",
)


def default_registry_location() -> str:
    """``$BACKTESTER_REGISTRY``, else ``$XDG_STATE_HOME/backtester/registry.sqlite3``
    (``~/.local/state`` when ``XDG_STATE_HOME`` is not set)."""
    env = os.environ.get(REGISTRY_ENV)
    if env:
        return env
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return str(Path(state) / "backtester" / "registry.sqlite3")


def max_in_flight(value: int | None = None) -> int:
    """``value``, else ``$BACKTESTER_MAX_IN_FLIGHT``, else the spec's 5.

    >>> max_in_flight(), max_in_flight(2)
    (5, 2)
    """
    return positive_setting(value, env=MAX_IN_FLIGHT_ENV, default=MAX_IN_FLIGHT, name="max_in_flight")


@dataclass(frozen=True)
class Who:
    """Who acts: the user, the host and the process (with the process's identity)."""

    user: str
    host: str
    pid: int
    pid_identity: str | None

    @classmethod
    def me(cls) -> Who:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no name for this uid (a container's)
            user = str(os.getuid())
        return cls(user, platform.node(), os.getpid(), _identity(os.getpid()))

    def __str__(self) -> str:
        return f"{self.user}@{self.host}"


def _identity(pid: int) -> str | None:
    """The boot and start time of process ``pid`` (Linux), which a reused pid does not share."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as boot:
            boot_id = boot.read().strip()
    except (OSError, IndexError):
        return None
    if fields[0] in {"Z", "X"}:  # a zombie or a dead process: it has ended
        return None
    return f"{boot_id}:{fields[19]}"


def process_alive(pid: int, identity: str | None) -> bool:
    """Whether process ``pid`` of this host is still the one that registered (same
    identity); without ``/proc``, whether a process of that pid exists."""
    if identity is not None and Path("/proc/self/stat").exists():
        return _identity(pid) == identity
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


@dataclass(frozen=True)
class LaunchRequest:
    """What a launch registers."""

    replay_run_id: str
    kind: str
    """``run`` (a single run or a sweep, from ``backtester run`` or ``backtester.run``) or ``evidence``."""
    strategy: str
    variants: int
    config_sha256: str
    out_path: str | None = None
    archive: str | None = None


@dataclass(frozen=True)
class KillSwitch:
    """The kill switch: on or off, since when, set by whom, and why."""

    active: bool
    at_ms: int | None = None
    by: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "active": self.active, "since": format_ms(self.at_ms) if self.at_ms is not None else None,
            "by": self.by, "reason": self.reason,
        }  # fmt: skip

    def __str__(self) -> str:
        if self.at_ms is None:
            return "off (never set)"
        state = "ON" if self.active else "off"
        why = f": {self.reason}" if self.reason else ""
        return f"{state} since {format_ms(self.at_ms)}, set by {self.by}{why}"


@dataclass(frozen=True)
class RunRecord:
    """One run as the registry holds it (times in epoch ms UTC), with its history."""

    replay_run_id: str
    kind: str
    strategy: str | None
    variants: int | None
    config_sha256: str | None
    status: str
    reason_code: str | None
    reason: str | None
    launched_by: str | None
    host: str | None
    pid: int | None
    pid_identity: str | None
    started_ms: int
    heartbeat_ms: int | None
    ended_ms: int | None
    out_path: str | None
    archive: str | None
    abort_requested_ms: int | None
    abort_by: str | None
    abort_reason: str | None
    ticks_replayed: int | None
    ticks_skipped: int | None
    simulated_fills: int | None
    simulated_volume_pusd: str | None
    simulated_pnl_pusd: str | None
    simulated_net_fees_pusd: str | None
    aggregate_report_id: str | None
    variant_results: str | None
    events_replayed: int | None = None
    history: tuple[dict[str, Any], ...] = field(default=())

    @property
    def duration_ms(self) -> int | None:
        return self.ended_ms - self.started_ms if self.ended_ms is not None else None

    @property
    def events_per_s(self) -> int | None:
        """Events replayed per second of the run's whole duration (launch to end)."""
        if not self.events_replayed or not self.duration_ms:
            return None
        return round(self.events_replayed * 1000 / self.duration_ms)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: times as ISO 8601 UTC, the per-variant results parsed."""
        out = asdict(self)
        for name in ("started_ms", "heartbeat_ms", "ended_ms", "abort_requested_ms"):
            value = out.pop(name)
            out[name.removesuffix("_ms")] = format_ms(value) if value is not None else None
        out["duration_ms"] = self.duration_ms
        out["events_per_s"] = self.events_per_s
        out["variant_results"] = json.loads(self.variant_results) if self.variant_results else None
        out["history"] = [
            {**event, "at": format_ms(event["at_ms"])} for event in self.history
        ]  # fmt: skip
        for event in out["history"]:
            event.pop("at_ms")
        return out


class _Backend(ABC):
    """What differs between SQLite and PostgreSQL: connecting, the write lock, placeholders."""

    name = ""

    @abstractmethod
    def connect(self) -> Any:
        """A new connection, in autocommit mode (transactions are explicit)."""

    @abstractmethod
    def begin(self, con: Any) -> None:
        """Begin a write transaction holding the registry's write lock."""

    def now(self, con: Any) -> int:
        """The registry's clock, epoch ms."""
        return time.time_ns() // 1_000_000

    def sql(self, text: str) -> str:
        return text


class _SQLite(_Backend):
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path

    def connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # autocommit (isolation_level=None): every transaction is an explicit BEGIN IMMEDIATE
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        con.execute("PRAGMA busy_timeout = 30000")
        con.execute("PRAGMA journal_mode = WAL")
        return con

    def begin(self, con: sqlite3.Connection) -> None:
        con.execute("BEGIN IMMEDIATE")  # the write lock, or wait for it (busy_timeout)


class _PostgreSQL(_Backend):
    name = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url

    def connect(self) -> Any:
        import psycopg  # noqa: PLC0415 - only a PostgreSQL registry needs the driver

        # No statement waits forever (a client stopped while holding the lock, a hung server).
        options = "-c lock_timeout=30s -c statement_timeout=30s"
        return psycopg.connect(self.url, autocommit=True, connect_timeout=10, options=options)

    def begin(self, con: Any) -> None:
        con.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
        con.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])  # released at COMMIT/ROLLBACK

    def now(self, con: Any) -> int:
        row = con.execute("SELECT CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT)").fetchone()
        return int(row[0])

    def sql(self, text: str) -> str:
        return text.replace("?", "%s")


def _backend(location: str) -> tuple[_Backend, str]:
    """The backend for a location, and how to show the location (no password)."""
    if location.startswith(("postgresql://", "postgres://")):
        try:
            from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415

            parts = conninfo_to_dict(location)
        except Exception as exc:
            msg = f"registry {location.rsplit('@', maxsplit=1)[-1]!r}: not a PostgreSQL URL ({exc})"
            raise RegistryUnavailable(msg) from None
        where = parts.get("host") or "localhost"
        user, port, dbname = parts.get("user", ""), parts.get("port", 5432), parts.get("dbname", "")
        shown = f"postgresql://{user}@{where}:{port}/{dbname}"
        return _PostgreSQL(location), shown
    path = Path(location.removeprefix("sqlite://")).expanduser()
    if location.startswith(("http://", "https://", "mysql://")):
        msg = f"registry {location!r}: a path, sqlite:///path or postgresql://... is expected"
        raise RegistryUnavailable(msg)
    return _SQLite(path), str(path)


class _Tx:
    """A write transaction: ``tx(sql, params)`` returns the rows, ``tx.changed(sql,
    params)`` how many rows changed; ``tx.now`` is the registry's clock (epoch ms) when
    the write lock was taken. A database error is a :class:`RegistryUnavailable`."""

    def __init__(self, registry: Registry, con: Any) -> None:
        self.registry, self.con = registry, con
        clock = registry.clock
        self.now = clock() if clock is not None else registry.backend.now(con)

    def _run(self, text: str, params: Sequence[Any]) -> Any:
        try:
            return self.con.execute(self.registry.backend.sql(text), list(params))
        except Exception as exc:
            msg = f"registry {self.registry.shown}: {type(exc).__name__}: {exc}"
            raise RegistryUnavailable(msg) from None

    def __call__(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self._run(text, params)
        return cursor.fetchall() if cursor.description else []

    def changed(self, text: str, params: Sequence[Any] = ()) -> int:
        return int(self._run(text, params).rowcount)


class Registry:
    """A connection to the run registry. Use as a context manager, or call :meth:`close`.

    >>> import tempfile
    >>> with Registry(Path(tempfile.mkdtemp()) / "registry.sqlite3") as registry:
    ...     registry.kill_switch().active, registry.runs()
    (False, [])
    """

    def __init__(
        self,
        location: str | Path | None = None,
        *,
        lease_ms: int = LEASE_MS,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.location = str(location) if location is not None else default_registry_location()
        self.backend, self.shown = _backend(self.location)
        self.lease_ms = lease_ms
        self.clock = clock
        """An injected clock (epoch ms), for tests; else this host's clock on SQLite and
        the database server's on PostgreSQL, so hosts sharing a registry judge leases by
        one clock."""
        self._con: Any = None
        self._prepare()

    def __repr__(self) -> str:
        return f"Registry({self.backend.name}: {self.shown})"

    # ------------------------------------------------------------ connection

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def __enter__(self) -> Registry:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _connection(self) -> Any:
        if self._con is None:
            try:
                self._con = self.backend.connect()
            except Exception as exc:  # sqlite3.Error, OSError, psycopg.Error
                msg = f"registry {self.shown} cannot be opened: {exc}".strip()
                raise RegistryUnavailable(msg) from None
        return self._con

    @contextmanager
    def _write(self) -> Iterator[_Tx]:
        """One write transaction under the registry's write lock, at READ COMMITTED (so
        that, once the lock is held, every read sees what the previous holder committed,
        whatever the server's default isolation); any database error is a
        :class:`RegistryUnavailable`, and the transaction is rolled back."""
        con = self._connection()
        try:
            self.backend.begin(con)
            tx = _Tx(self, con)
        except Exception as exc:
            self._discard()
            msg = f"registry {self.shown} cannot be written: {exc}"
            raise RegistryUnavailable(msg) from None
        try:
            yield tx
        except BaseException:
            try:
                con.execute("ROLLBACK")
            except Exception:  # the connection is gone: the server rolls back
                self._discard()
            raise
        try:
            con.execute("COMMIT")
        except Exception as exc:
            self._discard()
            msg = f"registry {self.shown}: the write did not commit: {exc}"
            raise RegistryUnavailable(msg) from None

    def _discard(self) -> None:
        """Drop a connection that failed (the next call opens a new one)."""
        try:
            self.close()
        except Exception:  # closing a broken connection may fail too
            self._con = None

    def _read(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        con = self._connection()
        try:
            return con.execute(self.backend.sql(text), list(params)).fetchall()
        except Exception as exc:
            self._discard()
            msg = f"registry {self.shown} cannot be read: {exc}"
            raise RegistryUnavailable(msg) from None

    def _prepare(self) -> None:
        """Create the tables on first use (under the write lock, so concurrent first uses
        do not race), and check the schema version. A registry already made is only read."""
        try:
            found = self._version()
            if found is None:
                with self._write() as execute:
                    for statement in _DDL:
                        execute(statement)
                    if not execute(_VERSION_SQL):
                        execute("INSERT INTO backtester_registry_meta VALUES ('schema_version', ?)",
                                [SCHEMA_VERSION])  # fmt: skip
                found = self._version()
            if found == "1":  # version 2 added a column: add it, in place
                with self._write() as execute:
                    execute("ALTER TABLE backtester_runs ADD COLUMN events_replayed BIGINT")
                    execute("UPDATE backtester_registry_meta SET value = ? WHERE key = 'schema_version'",
                            [SCHEMA_VERSION])  # fmt: skip
                found = self._version()
            if found != SCHEMA_VERSION:
                msg = (
                    f"registry {self.shown} has schema version {found}; this backtester uses {SCHEMA_VERSION}"
                )
                raise RegistryUnavailable(msg)
        except RegistryUnavailable:
            self.close()
            raise
        except Exception as exc:  # a file that is not a database, a server error
            self.close()
            msg = f"registry {self.shown} cannot be used: {exc}"
            raise RegistryUnavailable(msg) from None

    def _version(self) -> str | None:
        """The schema version, or None where the registry has no tables yet."""
        con = self._connection()
        try:
            rows = con.execute(_VERSION_SQL).fetchall()
        except Exception:  # no such table yet (autocommit: nothing to roll back)
            return None
        return str(rows[0][0]) if rows else None

    # ------------------------------------------------------------ runs

    def admit(self, request: LaunchRequest, *, who: Who, limit: int) -> RunRecord:
        """Register a launch as ``running``, atomically with the checks that may refuse it:
        the id must be new (a ``refused`` id may launch again: it never ran), the kill
        switch off, fewer than ``limit`` runs in flight. A refusal is recorded as a
        ``refused`` row and raised as :class:`RunRefused`; a taken id raises
        :class:`RunIdTaken` and records nothing."""
        run_id = request.replay_run_id
        refusal: tuple[ReasonCode, str] | None = None
        with self._write() as execute:
            now = execute.now
            self._reap(execute, now)
            existing = self._get(execute, run_id)
            if existing is not None and existing.status != "refused":
                msg = (
                    f"replay_run_id {run_id} is already registered: {existing.status}, launched by "
                    f"{existing.launched_by}@{existing.host} at {format_ms(existing.started_ms)}"
                )
                raise RunIdTaken(msg)
            switch = self._kill_switch(execute)
            in_flight = [r[0] for r in execute(
                "SELECT replay_run_id FROM backtester_runs WHERE status = 'running' ORDER BY started_ms"
            )]  # fmt: skip
            if switch.active:
                refusal = (ReasonCode.KILL_SWITCH_ACTIVE, f"The kill switch is {switch}")
            elif len(in_flight) >= limit:
                refusal = (
                    ReasonCode.BACKTESTER_RUN_QUEUE_FULL,
                    f"{len(in_flight)} runs in flight, at most {limit}: {', '.join(in_flight)}",
                )
            status = "refused" if refusal else "running"
            row = {
                "replay_run_id": run_id, "kind": request.kind, "strategy": request.strategy,
                "variants": request.variants, "config_sha256": request.config_sha256, "status": status,
                "reason_code": str(refusal[0]) if refusal else None,
                "reason": refusal[1] if refusal else None,
                "launched_by": who.user, "host": who.host, "pid": who.pid, "pid_identity": who.pid_identity,
                "started_ms": now, "heartbeat_ms": now, "ended_ms": now if refusal else None,
                "out_path": request.out_path, "archive": request.archive,
            }  # fmt: skip
            if existing is not None:
                execute("DELETE FROM backtester_runs WHERE replay_run_id = ?", [run_id])
            columns = ", ".join(row)
            execute(
                f"INSERT INTO backtester_runs ({columns}) VALUES ({', '.join('?' * len(row))})",
                list(row.values()),
            )
            detail = (
                f"{refusal[0]}: {refusal[1]}"
                if refusal
                else f"admitted ({len(in_flight) + 1} of {limit} in flight)"
            )
            self._event(execute, run_id, now, status, by=str(who), detail=detail)
        if refusal:
            raise RunRefused(refusal[0], refusal[1], replay_run_id=run_id)
        record = self.run(run_id)
        assert record is not None
        return record

    def heartbeat(self, run_id: str) -> bool:
        """Record that the run is alive; False when the row is no longer ``running``."""
        with self._write() as execute:
            done = execute.changed(
                "UPDATE backtester_runs SET heartbeat_ms = ? WHERE replay_run_id = ? AND status = 'running'",
                [execute.now, run_id],
            )
        return bool(done)

    def watch(self, run_id: str) -> tuple[str | None, str | None]:
        """The run's status and, if an abort was requested, who asked and why."""
        rows = self._read(
            "SELECT status, abort_requested_ms, abort_by, abort_reason FROM backtester_runs "
            "WHERE replay_run_id = ?",
            [run_id],
        )
        if not rows:
            return None, None
        status, requested, by, reason = rows[0]
        return status, (f"aborted by {by}" + (f": {reason}" if reason else "")) if requested else None

    def request_abort(self, run_id: str, *, who: Who, reason: str | None = None) -> RunRecord:
        """Ask a running run to stop (it sees the request at its next tick boundary).
        Raises :class:`UnknownRun`, or :class:`RunNotRunning` for a run that has ended."""
        with self._write() as execute:
            now = execute.now
            self._reap(execute, now)
            record = self._get(execute, run_id)
            if record is None:
                msg = f"no run {run_id} in the registry {self.shown}"
                raise UnknownRun(msg)
            if record.status != "running":
                ended = f" at {format_ms(record.ended_ms)}" if record.ended_ms is not None else ""
                msg = f"run {run_id} is {record.status}{ended}: there is nothing to abort"
                raise RunNotRunning(msg)
            execute(
                "UPDATE backtester_runs SET abort_requested_ms = ?, abort_by = ?, abort_reason = ? "
                "WHERE replay_run_id = ?",
                [now, str(who), reason, run_id],
            )
            self._event(execute, run_id, now, "abort_requested", by=str(who), detail=reason)
        found = self.run(run_id)
        assert found is not None
        return found

    def finish(
        self,
        run_id: str,
        status: str,
        *,
        reason_code: str | None = None,
        reason: str | None = None,
        counts: dict[str, Any] | None = None,
        out_path: str | None = None,
    ) -> bool:
        """End a running run with ``status`` (and the counts of its aggregate report).
        False, and only an event in its history, if the row had already left ``running``
        (the registry marked it interrupted while it was out of touch)."""
        assert status in STATUSES[1:5], status
        counts = counts or {}
        with self._write() as execute:
            now = execute.now
            sets = ["status = ?", "reason_code = ?", "reason = ?", "ended_ms = ?", "heartbeat_ms = ?"]
            values: list[Any] = [status, reason_code, reason, now, now]
            for name in _COUNT_COLUMNS:
                if name in counts:
                    sets.append(f"{name} = ?")
                    values.append(counts[name])
            if out_path is not None:
                sets.append("out_path = ?")
                values.append(out_path)
            done = execute.changed(
                f"UPDATE backtester_runs SET {', '.join(sets)} "
                "WHERE replay_run_id = ? AND status = 'running'",
                [*values, run_id],
            )
            current = self._get(execute, run_id)
            detail = f"{reason_code}: {reason}" if reason_code else reason
            if not done and current is not None:
                detail = f"ended {status} after the registry had marked it {current.status}" + (
                    f" ({detail})" if detail else ""
                )
            self._event(execute, run_id, now, status if done else "late_end", by=None, detail=detail)
        return bool(done)

    def reap(self) -> list[str]:
        """Mark ``interrupted`` every running row whose heartbeat lapsed or whose
        process is gone; the ids marked."""
        with self._write() as execute:
            return self._reap(execute, execute.now)

    def _reap(self, execute: _Tx, now: int) -> list[str]:
        host = platform.node()
        rows = execute(
            "SELECT replay_run_id, host, pid, pid_identity, heartbeat_ms FROM backtester_runs "
            "WHERE status = 'running' ORDER BY replay_run_id"
        )
        marked = []
        for run_id, run_host, pid, identity, beat in rows:
            if beat is not None and now - beat > self.lease_ms:
                why = f"no heartbeat since {format_ms(beat)} (lease {self.lease_ms} ms)"
            elif run_host == host and pid is not None and not process_alive(pid, identity):
                why = f"its process {pid} on {host} is gone"
            else:
                continue
            execute(
                "UPDATE backtester_runs SET status = 'interrupted', reason = ?, ended_ms = ? "
                "WHERE replay_run_id = ?",
                [why, now, run_id],
            )
            self._event(execute, run_id, now, "interrupted", by=None, detail=why)
            marked.append(run_id)
        return marked

    def _event(
        self, execute: _Tx, run_id: str, now: int, status: str, *,
        by: str | None, detail: str | None,
    ) -> None:  # fmt: skip
        execute(
            "INSERT INTO backtester_run_events (replay_run_id, seq, at_ms, status, by_who, detail) "
            "SELECT ?, coalesce(max(seq), 0) + 1, ?, ?, ?, ? FROM backtester_run_events "
            "WHERE replay_run_id = ?",
            [run_id, now, status, by, detail, run_id],
        )

    def _get(self, query: Callable[..., list[tuple[Any, ...]]], run_id: str) -> RunRecord | None:
        """The run's row, without its history, through ``query`` (a transaction or a read)."""
        rows = query(
            f"SELECT {', '.join(_RUN_COLUMNS)} FROM backtester_runs WHERE replay_run_id = ?", [run_id]
        )
        return RunRecord(*rows[0]) if rows else None

    def run(self, run_id: str) -> RunRecord | None:
        """One run, with its history (None if unknown)."""
        record = self._get(self._read, run_id)
        if record is None:
            return None
        events = self._read(
            "SELECT seq, at_ms, status, by_who, detail FROM backtester_run_events WHERE replay_run_id = ? "
            "ORDER BY seq",
            [run_id],
        )
        history = tuple(
            {"seq": seq, "at_ms": at, "status": status, "by": by, "detail": detail}
            for seq, at, status, by, detail in events
        )
        return replace(record, history=history)

    def runs(self, *, status: str | None = None, limit: int | None = None) -> list[RunRecord]:
        """Runs, newest first (by start, then id), optionally of one status."""
        if status is not None and status not in STATUSES:
            msg = f"status must be one of {', '.join(STATUSES)}, got {status!r}"
            raise ValueError(msg)
        where = "WHERE status = ?" if status else ""
        tail = f"LIMIT {int(limit)}" if limit else ""
        rows = self._read(
            f"SELECT {', '.join(_RUN_COLUMNS)} FROM backtester_runs {where} "
            f"ORDER BY started_ms DESC, replay_run_id DESC {tail}",
            [status] if status else [],
        )
        return [RunRecord(*row) for row in rows]

    # ------------------------------------------------------------ the kill switch

    def kill_switch(self) -> KillSwitch:
        """The kill switch as last set (off if never set)."""
        return _switch(self._read(_SWITCH_SQL))

    def _kill_switch(self, execute: _Tx) -> KillSwitch:
        return _switch(execute(_SWITCH_SQL))

    def set_kill_switch(self, active: bool, *, who: Who, reason: str | None = None) -> KillSwitch:
        """Turn the kill switch on or off, recording who, when and why."""
        with self._write() as execute:
            execute(
                "INSERT INTO backtester_kill_switch (seq, active, at_ms, by_who, reason) "
                "SELECT coalesce(max(seq), 0) + 1, ?, ?, ?, ? FROM backtester_kill_switch",
                [int(active), execute.now, str(who), reason],
            )
            return self._kill_switch(execute)

    def kill_switch_history(self) -> list[KillSwitch]:
        """Every setting of the kill switch, oldest first."""
        rows = self._read("SELECT active, at_ms, by_who, reason FROM backtester_kill_switch ORDER BY seq")
        return [KillSwitch(bool(a), at, by, reason) for a, at, by, reason in rows]


_RUN_SQL = f"SELECT {', '.join(_RUN_COLUMNS)} FROM backtester_runs WHERE replay_run_id = ?"
_VERSION_SQL = "SELECT value FROM backtester_registry_meta WHERE key = 'schema_version'"
_SWITCH_SQL = "SELECT active, at_ms, by_who, reason FROM backtester_kill_switch ORDER BY seq DESC LIMIT 1"


def _switch(rows: list[tuple[Any, ...]]) -> KillSwitch:
    if not rows:
        return KillSwitch(False)
    active, at, by, reason = rows[0]
    return KillSwitch(bool(active), at, by, reason)
