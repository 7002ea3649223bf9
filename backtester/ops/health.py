"""The health check of spec section 27 (``/internal/health/backtester``).

Each check has a value and a verdict (``green``, ``amber``, ``red``); the service is
``red`` (HTTP 503) if any check is red, else ``amber`` if any is amber (HTTP 200: it
works, but something wants a look), else ``green`` (HTTP 200).

==================  ==========================================================  =====================
check               green                                                       otherwise
==================  ==========================================================  =====================
``registry``        the run registry answers                                    red
``archive``         the archive opens and a row of its book table can be read   red (unreachable)
``last_complete``   a run completed less than 24 h ago                          amber
``max_in_flight``   fewer runs in flight than ``max_in_flight``                 amber; red if full
                                                                                for more than 5 min
``skip_rate``       ticks skipped / ticks replayed by the runs completed in     amber (the spec's
                    the last 24 h is below 0.01                                 BacktesterHighTickSkipRate)
``recent_runs``     of the runs that ended in the last 24 h (at most the 5      red when none of them
                    latest), at least one completed                             completed
``kill_switch``     off                                                         amber (launches are
                                                                                suppressed)
==================  ==========================================================  =====================

The spec's green list names the first five; its red list "archive unreachable; all
runs aborting; run queue saturated for > 5 minutes". Where the spec is silent (a
stale last run, a high skip rate, a queue full for less than 5 minutes, the kill
switch on) the verdict is amber: not a page, but visible.

"Saturated for more than 5 minutes" is measured from the registry: the queue has
been full at least since the moment its current runs filled it (the start of the
``max_in_flight``-th oldest run in flight), a lower bound that needs no history kept
outside the registry.

The archive is the one given (``backtester serve --archive``), else the archive of
the most recent run that recorded one, else ``$BACKTESTER_ARCHIVE`` or the sample.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from backtester.archive.deadline import call_with_deadline
from backtester.archive.store import Archive, default_archive_location
from backtester.config.window import format_ms
from backtester.errors import ArchiveUnavailable, RegistryUnavailable
from backtester.governance import Registry, RunRecord
from backtester.governance.registry import max_in_flight
from backtester.ops.metrics import ENDED

__all__ = ["DAY_MS", "RECENT_RUNS", "SATURATED_MS", "SKIP_RATE_LIMIT", "Check", "Health", "health"]

DAY_MS = 86_400_000
SATURATED_MS = 300_000
"""The spec's "run queue saturated for > 5 minutes"."""
SKIP_RATE_LIMIT = 0.01
"""The spec's ``ticks_skipped_rate < 0.01``."""
RECENT_RUNS = 5
"""How many of the latest ended runs "all runs aborting" looks at."""
ARCHIVE_PROBE_MS = 5_000
"""How long the archive may take to open and answer before it counts as unreachable."""

_RANK = {"green": 0, "amber": 1, "red": 2}
_FAILED = tuple(s for s in ENDED if s != "complete")  # ended without completing


@dataclass(frozen=True)
class Check:
    """One check: what was measured, the verdict, and why in words."""

    name: str
    verdict: str
    value: Any
    detail: str


@dataclass(frozen=True)
class Health:
    """The checks and the overall verdict; ``http_status`` 200 unless red (503)."""

    status: str
    checked_at: str
    checks: list[Check] = field(default_factory=list)

    @property
    def http_status(self) -> int:
        return 503 if self.status == "red" else 200

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": "gov.backtester",
            "status": self.status,
            "checked_at": self.checked_at,
            "checks": {c.name: {k: v for k, v in asdict(c).items() if k != "name"} for c in self.checks},
        }


def health(
    registry: str | os.PathLike[str] | None = None,
    *,
    archive: str | os.PathLike[str] | None = None,
    now_ms: int | None = None,
    limit: int | None = None,
) -> Health:
    """Run every check against the run registry and the archive (see the module docstring).

    >>> import tempfile
    >>> from pathlib import Path
    >>> h = health(Path(tempfile.mkdtemp()) / "r.sqlite3", archive="data/sample-archive", now_ms=0)
    >>> h.status, h.http_status, [(c.name, c.verdict) for c in h.checks][:3]
    ('amber', 200, [('registry', 'green'), ('archive', 'green'), ('last_complete', 'amber')])
    """
    now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    checks: list[Check] = []
    try:
        with Registry(registry, clock=(lambda: now) if now_ms is not None else None) as store:
            store.reap()
            records = store.runs()
            switch = store.kill_switch()
            shown = store.shown
    except RegistryUnavailable as exc:
        checks.append(Check("registry", "red", None, str(exc)))
        checks.append(_archive(archive, []))
        return _verdict(now, checks)
    checks.append(Check("registry", "green", shown, f"{len(records)} run(s) recorded"))
    checks.append(_archive(archive, records))
    checks.append(_last_complete(records, now))
    checks.append(_in_flight(records, now, max_in_flight(limit)))
    checks.append(_skip_rate(records, now))
    checks.append(_recent(records, now))
    checks.append(
        Check("kill_switch", "amber", True, f"on: new launches are refused ({switch})")
        if switch.active
        else Check("kill_switch", "green", False, "off")
    )
    return _verdict(now, checks)


def _verdict(now: int, checks: list[Check]) -> Health:
    worst = max((c.verdict for c in checks), key=_RANK.__getitem__)
    return Health(worst, format_ms(now), checks)


def _archive(given: str | os.PathLike[str] | None, records: list[RunRecord]) -> Check:
    location = Path(given) if given is not None else _latest_archive(records)

    def probe() -> Archive:
        opened = Archive.open(location, read_only=True, lock_wait_s=2)
        try:
            opened.con.execute("SELECT count(*) FROM (SELECT 1 FROM md_book LIMIT 1)").fetchall()
        except Exception as exc:
            opened.close()
            msg = f"{location} cannot be read: {exc}"
            raise ArchiveUnavailable(msg) from None
        return opened

    try:
        call_with_deadline(
            f"opening {location}", probe, timeout_ms=ARCHIVE_PROBE_MS, discard=lambda a: a.close()
        ).close()
    except ArchiveUnavailable as exc:
        return Check("archive", "red", str(location), f"unreachable: {exc.message}")
    return Check("archive", "green", str(location), "reachable")


def _latest_archive(records: list[RunRecord]) -> Path:
    for record in records:  # newest first
        if record.archive:
            return Path(record.archive)
    return default_archive_location()


def _last_complete(records: list[RunRecord], now: int) -> Check:
    done = [r for r in records if r.status == "complete" and r.ended_ms is not None]
    if not done:
        return Check("last_complete", "amber", None, "no run has completed yet")
    last = max(done, key=lambda r: (r.ended_ms, r.replay_run_id))
    age = now - (last.ended_ms or 0)
    verdict = "green" if age < DAY_MS else "amber"
    when = f"{last.replay_run_id} completed at {format_ms(last.ended_ms)}, {age / 3_600_000:.1f} h ago"
    return Check("last_complete", verdict, {"replay_run_id": last.replay_run_id, "age_ms": age}, when)


def _in_flight(records: list[RunRecord], now: int, limit: int) -> Check:
    running = sorted(r.started_ms for r in records if r.status == "running")
    value: dict[str, Any] = {"in_flight": len(running), "max_in_flight": limit}
    if len(running) < limit:
        return Check("max_in_flight", "green", value, f"{len(running)} of {limit} in flight")
    since = running[limit - 1]
    value["saturated_ms"] = now - since
    verdict = "red" if now - since > SATURATED_MS else "amber"
    return Check(
        "max_in_flight", verdict, value,
        f"saturated: {len(running)} of {limit} in flight since {format_ms(since)} (new launches are refused)",
    )  # fmt: skip


def _skip_rate(records: list[RunRecord], now: int) -> Check:
    recent = [r for r in records if r.status == "complete" and (r.ended_ms or 0) > now - DAY_MS]
    replayed = sum(r.ticks_replayed or 0 for r in recent)
    skipped = sum(r.ticks_skipped or 0 for r in recent)
    if not replayed:
        return Check("skip_rate", "green", None, "no ticks replayed in the last 24 h")
    rate = skipped / replayed
    verdict = "green" if rate < SKIP_RATE_LIMIT else "amber"
    detail = f"{skipped} of {replayed} ticks skipped by {len(recent)} run(s) completed in the last 24 h"
    return Check("skip_rate", verdict, round(rate, 6), detail)


def _recent(records: list[RunRecord], now: int) -> Check:
    ended = [
        r for r in records
        if r.status in ENDED and r.ended_ms is not None and r.ended_ms > now - DAY_MS
    ]  # fmt: skip
    ended.sort(key=lambda r: (r.ended_ms, r.replay_run_id), reverse=True)
    latest = ended[:RECENT_RUNS]
    counts = {s: sum(1 for r in latest if r.status == s) for s in ENDED}
    if not latest:
        return Check("recent_runs", "green", counts, "no run ended in the last 24 h")
    if counts["complete"]:
        return Check(
            "recent_runs", "green", counts, f"{counts['complete']} of the last {len(latest)} completed"
        )
    why = "; ".join(f"{r.replay_run_id} {r.status}: {r.reason_code or ''} {r.reason or ''}".strip()
                    for r in latest[:3])  # fmt: skip
    return Check("recent_runs", "red", counts, f"none of the last {len(latest)} run(s) completed ({why})")
