"""A governed launch: admission, a watcher that heartbeats and listens for an abort, and
the run's end recorded in the registry.

:func:`govern` admits a run (raising :class:`~backtester.errors.RunRefused` with
``KILL_SWITCH_ACTIVE`` or ``BACKTESTER_RUN_QUEUE_FULL``, recorded as ``refused``, when
governance says no) and returns a :class:`Launch`. Inside ``with launch:`` a daemon
thread, with a registry connection of its own:

* heartbeats every :data:`HEARTBEAT_MS` (5 s, well inside the 30 s lease);
* reads the run's row every :data:`POLL_MS` (1 s): an abort request, or the row no longer
  ``running`` (the registry marked it interrupted while it was out of touch), becomes a
  request on the launch's :class:`~backtester.runs.control.StopSignal`, which the tick
  loop sees at its next tick boundary.

The replay itself never touches the registry: a sweep's forked workers read only the
shared stop signal. The process that launched the run records its end
(:meth:`Launch.finish_run`); if it dies first, the run is reaped as ``interrupted``.

**Attached runs.** ``backtester evidence`` admits the run itself and executes the
template in a Jupyter kernel, where ``backtester.run`` is called with the same run id.
The launcher passes ``BACKTESTER_ADMITTED_RUN=<id>`` (and the registry's location) in
the kernel's environment, and there :func:`govern` attaches to the admitted run instead
of admitting it again: it watches for an abort, and leaves heartbeats and the end to
the launcher.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from types import TracebackType
from typing import Any, ClassVar

from backtester.config import ResolvedRun
from backtester.errors import ReasonCode, RegistryUnavailable
from backtester.governance.registry import (
    LEASE_MS,
    LaunchRequest,
    Registry,
    Who,
    default_registry_location,
    max_in_flight,
)
from backtester.reports.summary import MONEY_FIELDS, RUN_COST
from backtester.runs.control import StopSignal
from backtester.units import format_micros, parse_micros

__all__ = ["ADMITTED_ENV", "HEARTBEAT_MS", "POLL_MS", "Launch", "aggregate_counts", "govern", "stop_all"]

ADMITTED_ENV = "BACKTESTER_ADMITTED_RUN"
"""Set by a launcher for the process it starts to run an admitted run (a notebook kernel)."""
HEARTBEAT_MS = 5_000
POLL_MS = 1_000


class Launch:
    """An admitted (or attached) run: its stop signal, its watcher, and its end."""

    _active: ClassVar[set[Launch]] = set()

    def __init__(
        self, location: str, run_id: str, *, owner: bool, heartbeat_ms: int = HEARTBEAT_MS,
        poll_ms: int = POLL_MS, lease_ms: int = LEASE_MS,
    ) -> None:  # fmt: skip
        self.location = location
        self.replay_run_id = run_id
        self.owner = owner
        self.stop = StopSignal()
        self.heartbeat_ms, self.poll_ms, self.lease_ms = heartbeat_ms, poll_ms, lease_ms
        self.ended = not owner  # an attached run's end is its launcher's to record
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Launch:
        self._thread = threading.Thread(
            target=self._watch, name=f"governance: {self.replay_run_id}", daemon=True
        )
        self._thread.start()
        Launch._active.add(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        Launch._active.discard(self)
        self._done.set()
        if self._thread is not None:
            self._thread.join(10)
        if not self.ended:  # the run raised before it could record its end
            status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            reason = f"{type(exc).__name__}: {exc}" if exc is not None else "ended without a result"
            self.finish(status, reason=reason)

    def finish(self, status: str, **fields: Any) -> bool:
        """Record the run's end (see :meth:`Registry.finish`); nothing for an attached run.
        A registry that cannot be reached now does not lose the run's result: it is said
        on stderr, and the row is later reaped as ``interrupted``."""
        if not self.owner:
            return False
        self.ended = True  # attempted: the end is recorded once, whatever happens next
        try:
            with Registry(self.location, lease_ms=self.lease_ms) as registry:
                return registry.finish(self.replay_run_id, status, **fields)
        except RegistryUnavailable as exc:
            print(
                f"warning: run {self.replay_run_id} ended {status}, but the registry could not record it "
                f"({exc}); it will be marked interrupted",
                file=sys.stderr,
            )
            return False

    def finish_run(
        self,
        aggregate: dict[str, Any] | None,
        *,
        abort: dict[str, Any] | None = None,
        out_path: str | None = None,
    ) -> bool:
        """Record the end of a replay: ``aborted`` with its abort report's reason code and
        reason, else ``complete`` with the counts of its aggregate report."""
        if abort is not None:
            return self.finish(
                "aborted", reason_code=abort.get("event_type"), reason=abort.get("reason"), out_path=out_path
            )
        return self.finish("complete", counts=aggregate_counts(aggregate), out_path=out_path)

    def _watch(self) -> None:
        registry: Registry | None = None
        beat = time.monotonic() + self.heartbeat_ms / 1000
        complained = False
        while not self._done.wait(self.poll_ms / 1000):
            try:
                if registry is None:
                    registry = Registry(self.location, lease_ms=self.lease_ms)
                if self.owner and time.monotonic() >= beat:
                    registry.heartbeat(self.replay_run_id)
                    beat = time.monotonic() + self.heartbeat_ms / 1000
                status, abort = registry.watch(self.replay_run_id)
                complained = False
            except Exception as exc:  # the registry is out of reach: keep running, try again
                if not complained:
                    print(f"warning: run {self.replay_run_id}: {exc}", file=sys.stderr)
                    complained = True
                if registry is not None:
                    registry.close()
                registry = None
                continue
            if abort is not None:
                self.stop.request(ReasonCode.BACKTESTER_RUN_ABORTED, abort)
            elif status not in {None, "running"}:
                self.stop.request(
                    ReasonCode.BACKTESTER_RUN_ABORTED, f"the registry marked the run {status} while it ran"
                )
        if registry is not None:
            registry.close()


def govern(
    run: ResolvedRun,
    run_id: str,
    *,
    kind: str,
    registry: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    out_path: str | None = None,
    archive: str | None = None,
) -> Launch:
    """Admit a launch of ``run`` as ``run_id`` (or attach to it, when this process was
    started to run it: ``$BACKTESTER_ADMITTED_RUN``); use the result as a context manager.

    Raises :class:`~backtester.errors.RunRefused` (kill switch, full queue; recorded as
    ``refused``), :class:`~backtester.errors.RunIdTaken`, or
    :class:`~backtester.errors.RegistryUnavailable`.
    """
    location = str(registry) if registry is not None else default_registry_location()
    if os.environ.get(ADMITTED_ENV) == run_id:
        return Launch(location, run_id, owner=False)
    request = LaunchRequest(
        run_id, kind, run.strategy, len(run.variants), run.sha256, out_path=out_path, archive=archive
    )
    with Registry(location) as store:
        store.admit(request, who=Who.me(), limit=max_in_flight(limit))
        lease = store.lease_ms
    return Launch(location, run_id, owner=True, lease_ms=lease)


def stop_all(reason: str) -> int:
    """Ask every run governed by this process to stop (a SIGTERM handler's job); how many."""
    for launch in list(Launch._active):
        launch.stop.request(ReasonCode.BACKTESTER_RUN_ABORTED, reason)
    return len(Launch._active)


def aggregate_counts(aggregate: dict[str, Any] | None) -> dict[str, Any]:
    """What the registry keeps of a run's aggregate ``BACKTESTER_REPLAY_COMPLETE``: ticks
    replayed and skipped, and fills, volume, P&L and fees summed over the variants
    (exactly, in micro-units), with each variant's own figures.

    >>> counts = aggregate_counts({"report_id": "ops_r_complete", "ticks_replayed": 10, "ticks_skipped": 1,
    ...     "variants": [{"variant_id": 0, "params": {}, "simulated_fills": 2, "simulated_volume_pusd": "0.1",
    ...                   "simulated_pnl_pusd": "0.2", "simulated_net_fees_pusd": "0"},
    ...                  {"variant_id": 1, "params": {}, "simulated_fills": 1, "simulated_volume_pusd": "0.2",
    ...                   "simulated_pnl_pusd": "-0.3", "simulated_net_fees_pusd": "0.01"}]})
    >>> counts["simulated_fills"], counts["simulated_volume_pusd"], counts["simulated_pnl_pusd"]
    (3, '0.3', '-0.1')
    """
    if not aggregate:
        return {}
    variants = aggregate.get("variants") or [{"variant_id": aggregate.get("variant_id", 0), **aggregate}]
    money = ("simulated_volume_pusd", "simulated_pnl_pusd", "simulated_net_fees_pusd")
    keep = ("variant_id", "params", "simulated_fills", *MONEY_FIELDS, "vs_original_pnl_delta_pusd")
    return {
        "ticks_replayed": aggregate.get("ticks_replayed"),
        "ticks_skipped": aggregate.get("ticks_skipped"),
        "simulated_fills": sum(int(v.get("simulated_fills", 0)) for v in variants),
        **{name: format_micros(sum(parse_micros(v.get(name, "0")) for v in variants)) for name in money},
        "aggregate_report_id": aggregate.get("report_id"),
        "events_replayed": (aggregate.get(RUN_COST) or {}).get("events"),
        "variant_results": json.dumps(
            [{k: v[k] for k in keep if k in v} for v in variants], sort_keys=True, default=str
        ),
    }
