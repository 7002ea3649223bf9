"""Archive calls with a deadline: the spec's per-call timeout (section 21, 300 000 ms).

A read of the archive that has not answered in time means the archive has stalled
(a hung network filesystem, a storage device that stopped answering, a file that
blocks on open): the run must abort with ``BACKTESTER_ARCHIVE_UNAVAILABLE`` instead of
hanging. :func:`call_with_deadline` runs the call in a helper thread and waits for it
in slices, so the caller can also give up early when its run is asked to stop. On
timeout it interrupts the DuckDB query (``interrupt``) and raises
:class:`~backtester.errors.ArchiveUnavailable` saying the archive stalled; a call
blocked in the operating system (an ``open`` that never returns) cannot be
interrupted, so its thread is left behind (a daemon thread: it never keeps the process
alive).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from backtester.config.settings import positive_setting
from backtester.errors import ArchiveUnavailable

__all__ = ["ARCHIVE_TIMEOUT_ENV", "DEFAULT_ARCHIVE_TIMEOUT_MS", "archive_timeout_ms", "call_with_deadline"]

DEFAULT_ARCHIVE_TIMEOUT_MS = 300_000
"""The spec's per-call timeout (section 21)."""
ARCHIVE_TIMEOUT_ENV = "BACKTESTER_ARCHIVE_TIMEOUT_MS"
"""Environment variable that overrides the per-call timeout (milliseconds)."""

_SLICE_S = 0.2  # how often the caller's `check` runs while a call is in flight
_GRACE_S = 1.0  # how long an interrupted call may take to give up

T = TypeVar("T")


def archive_timeout_ms(value: int | None = None) -> int:
    """The per-call timeout: ``value``, else ``$BACKTESTER_ARCHIVE_TIMEOUT_MS``, else the
    spec's 300 000 ms.

    >>> archive_timeout_ms(), archive_timeout_ms(2_000)
    (300000, 2000)
    """
    return positive_setting(value, env=ARCHIVE_TIMEOUT_ENV, default=DEFAULT_ARCHIVE_TIMEOUT_MS,
                            name="the archive timeout (ms)")  # fmt: skip


def call_with_deadline(
    what: str,
    call: Callable[[], T],
    *,
    timeout_ms: int,
    interrupt: Callable[[], Any] | None = None,
    check: Callable[[], None] | None = None,
    discard: Callable[[T], Any] | None = None,
) -> T:
    """Return ``call()``, or raise ``ArchiveUnavailable("stalled: ...")`` if it has not
    answered within ``timeout_ms``. ``check`` runs every fraction of a second while the
    call is in flight; whatever it raises (a stop request) cancels the call and is
    raised. ``discard`` disposes of what a call given up on returns after all (an open
    archive is closed, so that it holds no lock). ``what`` names the call in the error
    ("reading the feed").

    >>> call_with_deadline("a quick read", lambda: 42, timeout_ms=1_000)
    42
    >>> call_with_deadline("a stuck read", lambda: time.sleep(5), timeout_ms=50)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    backtester.errors.ArchiveUnavailable: BACKTESTER_ARCHIVE_UNAVAILABLE: stalled: a stuck read did not ...
    """
    outcome: dict[str, Any] = {}
    handing = threading.Lock()  # the result goes either to the caller or to `discard`

    def target() -> None:
        try:
            value = call()
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc
            return
        with handing:
            if "abandoned" not in outcome:
                outcome["value"] = value
                return
        if discard is not None:
            discard(value)

    def give_up() -> None:
        _cancel(worker, interrupt)
        with handing:
            outcome["abandoned"] = True
            late = outcome.pop("value", None)
        if late is not None and discard is not None:
            discard(late)

    worker = threading.Thread(target=target, name=f"archive: {what}", daemon=True)
    worker.start()
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        worker.join(max(0.0, min(_SLICE_S, deadline - time.monotonic())))
        if not worker.is_alive():
            break
        if check is not None:
            try:
                check()
            except BaseException:
                give_up()
                raise
        if time.monotonic() >= deadline:
            give_up()
            msg = f"stalled: {what} did not answer within {timeout_ms} ms"
            raise ArchiveUnavailable(msg)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _cancel(worker: threading.Thread, interrupt: Callable[[], Any] | None) -> None:
    if interrupt is not None:
        try:
            interrupt()
        except Exception:  # the connection may be gone already: nothing left to interrupt
            return
        worker.join(_GRACE_S)
