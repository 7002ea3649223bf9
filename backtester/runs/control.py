"""Stopping a run from outside: an operator's abort, or the registry's word that the run
is no longer in flight.

A :class:`StopSignal` is one page of anonymous shared memory: whoever watches the run
(the governance thread of the process that launched it) writes the request into it, and
the tick loop reads one byte of it at its tick boundaries. A sweep's worker processes are
forked after the signal is made, so they see the same page: one request stops every
variant, with no database connection, pipe or lock in the workers.

The tick loop raises :class:`RunStopped` at a tick boundary soon after the request (it
reads the signal every :data:`CHECK_EVERY` instants);
the run then ends ``aborted`` with the request's reason code and reason (see
:func:`backtester.runs.replay.replay`).
"""

from __future__ import annotations

import json
import mmap
import threading

from backtester.errors import ReasonCode

__all__ = ["CHECK_EVERY", "RunStopped", "StopSignal"]

CHECK_EVERY = 256
"""The tick loop reads the signal once every this many instants (a few milliseconds of
replay at most): often enough to stop within a second, rarely enough to cost nothing
measurable per event."""

_PAGE = 4096


class StopSignal:
    """A stop request shared with forked workers.

    >>> stop = StopSignal()
    >>> stop.requested
    False
    >>> stop.request(ReasonCode.BACKTESTER_RUN_ABORTED, "aborted by ops@desk: stuck")
    >>> stop.requested, stop.reason
    (True, (<ReasonCode.BACKTESTER_RUN_ABORTED: 'BACKTESTER_RUN_ABORTED'>, 'aborted by ops@desk: stuck'))
    """

    def __init__(self) -> None:
        self.page = mmap.mmap(-1, _PAGE)  # anonymous and shared: a fork sees the same page
        self._writing = threading.Lock()  # the watcher thread and a signal handler may both ask

    @property
    def requested(self) -> bool:
        return self.page[0] == 1

    def request(self, code: ReasonCode, reason: str) -> None:
        """Ask the run to stop (the first request wins; later ones change nothing)."""
        with self._writing:
            if self.requested:
                return
            text = json.dumps([str(code), reason]).encode()[: _PAGE - 2]
            self.page[1 : 1 + len(text)] = text
            self.page[1 + len(text)] = 0
            self.page[0] = 1  # the flag last: a reader never sees a half-written reason

    @property
    def reason(self) -> tuple[ReasonCode, str] | None:
        if not self.requested:
            return None
        raw = bytes(self.page[1:]).split(b"\0", 1)[0]
        try:
            code, reason = json.loads(raw)
        except ValueError:  # cut at the page's end
            return ReasonCode.BACKTESTER_RUN_ABORTED, raw.decode(errors="replace")
        return ReasonCode(code), reason

    def check(self, *, at_ms: int | None = None, variant_id: int | None = None, ticks: int = 0) -> None:
        """Raise :class:`RunStopped` if a stop was requested."""
        why = self.reason
        if why is not None:
            raise RunStopped(str(why[0]), why[1], at_ms, variant_id, ticks)


class RunStopped(Exception):
    """The run stopped on request: ``code`` and ``reason`` say why, ``at_ms`` is the tick
    (decision clock) it stopped at, ``ticks`` how many ticks the variant had replayed.
    Picklable, so a sweep's worker can hand it to the parent."""

    def __init__(
        self, code: str, reason: str, at_ms: int | None = None, variant_id: int | None = None, ticks: int = 0
    ) -> None:
        super().__init__(code, reason, at_ms, variant_id, ticks)
        self.code, self.reason = code, reason
        self.at_ms, self.variant_id, self.ticks = at_ms, variant_id, ticks

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"
