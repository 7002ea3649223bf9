"""Stopping a replay from outside (an operator's abort) and an archive that stalls (the
spec's per-call timeout): both end the run ``aborted`` with its one OperationsReport,
never a result that looks complete. Runs use the bundled sample (real books)."""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backtester.archive.deadline import call_with_deadline
from backtester.errors import ArchiveUnavailable, ReasonCode
from backtester.runs import replay
from backtester.runs.control import RunStopped, StopSignal
from backtester.sample import SAMPLE_ARCHIVE
from tests.processes import unblock_fifo

NOW = datetime(2026, 11, 25, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
SWEEP = ROOT / "data" / "sample-sweep.json"
ABORTED = str(ReasonCode.BACKTESTER_RUN_ABORTED)


def _stop_after(stop: StopSignal, seconds: float, reason: str = "aborted by ops@desk: test") -> None:
    timer = threading.Timer(seconds, stop.request, (ReasonCode.BACKTESTER_RUN_ABORTED, reason))
    timer.daemon = True
    timer.start()


class TestStopSignal:
    def test_a_fork_sees_the_request(self) -> None:
        """The signal is shared memory: a request made after a fork reaches the child."""
        stop = StopSignal()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child waits for the request, then reports what it saw
            os.close(read)
            deadline = time.monotonic() + 10
            while not stop.requested and time.monotonic() < deadline:
                time.sleep(0.01)
            os.write(write, repr(stop.reason).encode())
            os._exit(0)
        os.close(write)
        stop.request(ReasonCode.BACKTESTER_RUN_ABORTED, "from the parent")
        seen = os.read(read, 4096).decode()
        os.waitpid(pid, 0)
        os.close(read)
        assert seen == "(<ReasonCode.BACKTESTER_RUN_ABORTED: 'BACKTESTER_RUN_ABORTED'>, 'from the parent')"

    def test_the_first_request_wins(self) -> None:
        """A second request (the lease lapsing after an abort) does not rewrite the reason."""
        stop = StopSignal()
        stop.request(ReasonCode.BACKTESTER_RUN_ABORTED, "first")
        stop.request(ReasonCode.BACKTESTER_RUN_ABORTED, "second")
        assert stop.reason == (ReasonCode.BACKTESTER_RUN_ABORTED, "first")
        with pytest.raises(RunStopped, match="first"):
            stop.check()


class TestAbortedReplay:
    def test_a_stop_before_the_run_aborts_it_at_once(self) -> None:
        """A stop already requested aborts the run while the archive is read: one
        OperationsReport, status aborted, the operator's reason code and reason."""
        stop = StopSignal()
        stop.request(ReasonCode.BACKTESTER_RUN_ABORTED, "aborted by ops@desk: wrong window")
        result = replay(SWEEP, now=NOW, archive=SAMPLE_ARCHIVE, stop=stop, workers=1)
        assert result.status == "aborted"
        [report] = result.reports
        assert (report["event_type"], report["status"], report["severity"], report["mode"]) == (
            ABORTED, "aborted", "WARN", "replay",
        )  # fmt: skip
        assert report["reason"] == "aborted by ops@desk: wrong window"
        assert result.variants == []
        assert result.aggregate is None

    @pytest.mark.parametrize("workers", [1, 2])
    def test_a_stop_mid_sweep_ends_it_at_a_tick_boundary(self, workers: int) -> None:
        """A stop requested while the variants replay ends the run at the next tick
        boundary, in this process or in the workers, well before the sweep would finish;
        the report says at which tick and how far the variant had got."""
        stop = StopSignal()
        _stop_after(stop, 0.8)  # the whole sweep takes several seconds
        result = replay(SWEEP, now=NOW, archive=SAMPLE_ARCHIVE, stop=stop, workers=workers)
        assert result.status == "aborted", "the sweep finished before the stop"
        [report] = result.reports
        assert report["event_type"] == ABORTED
        assert report["stopped_in_variant"] in range(6)
        assert result.run.start_ms <= report["stopped_at_tick_ts_ms"] <= result.run.end_ms
        assert report["ticks_replayed_before_stop"] >= 0

    def test_an_aborted_run_is_written_as_aborted(self, tmp_path: Path) -> None:
        """The run directory of an aborted run says aborted; nothing in it looks complete."""
        from backtester.runs import write_run  # noqa: PLC0415

        stop = StopSignal()
        stop.request(ReasonCode.BACKTESTER_RUN_ABORTED, "aborted by ops@desk")
        result = replay(SWEEP, now=NOW, archive=SAMPLE_ARCHIVE, stop=stop)
        folder = write_run(result, tmp_path)
        assert '"status": "aborted"' in (folder / "status.json").read_text()


class TestStalledArchive:
    def test_an_archive_that_never_answers_aborts_the_run(self, tmp_path: Path) -> None:
        """An archive whose open blocks (a FIFO nobody writes: storage that stopped
        answering) aborts the run with BACKTESTER_ARCHIVE_UNAVAILABLE ("stalled") once the
        per-call timeout passes, instead of hanging."""
        fifo = tmp_path / "stalled.duckdb"
        os.mkfifo(fifo)
        try:
            started = time.monotonic()
            result = replay(SWEEP, now=NOW, archive=fifo, archive_timeout_ms=400)
            took = time.monotonic() - started
        finally:
            unblock_fifo(fifo)
        assert result.status == "aborted"
        [report] = result.reports
        assert report["event_type"] == "BACKTESTER_ARCHIVE_UNAVAILABLE"
        assert report["reason"] == "stalled: opening the archive did not answer within 400 ms"
        assert 0.4 <= took < 3

    def test_a_stalled_query_is_interrupted(self) -> None:
        """A DuckDB query that runs past the deadline is interrupted and reported as stalled."""
        import duckdb  # noqa: PLC0415

        con = duckdb.connect()
        slow = "SELECT count(*) FROM range(10000000000) a, range(10) b WHERE a.range % 7 = b.range"
        started = time.monotonic()
        with pytest.raises(ArchiveUnavailable, match="stalled: counting did not answer within 300 ms"):
            call_with_deadline(
                "counting", lambda: con.execute(slow).fetchall(), timeout_ms=300, interrupt=con.interrupt
            )
        assert time.monotonic() - started < 3
        assert con.execute("SELECT 1").fetchall() == [(1,)]  # the connection is still usable
        con.close()

    def test_what_a_given_up_call_returns_late_is_discarded(self) -> None:
        """A call given up on that returns after all (an archive opened once its lock was
        released) has its result disposed of, so it holds nothing open."""
        discarded: list[str] = []
        release = threading.Event()

        def late() -> str:
            release.wait(5)
            return "an open archive"

        with pytest.raises(ArchiveUnavailable, match="stalled"):
            call_with_deadline("opening", late, timeout_ms=100, discard=discarded.append)
        release.set()
        deadline = time.monotonic() + 5
        while not discarded and time.monotonic() < deadline:
            time.sleep(0.01)
        assert discarded == ["an open archive"]

    def test_a_stop_cancels_a_stalled_read(self, tmp_path: Path) -> None:
        """An abort reaches a run stuck reading the archive: it does not wait for the timeout."""
        fifo = tmp_path / "stalled.duckdb"
        os.mkfifo(fifo)
        stop = StopSignal()
        _stop_after(stop, 0.3, "aborted by ops@desk: archive hung")
        try:
            started = time.monotonic()
            result = replay(SWEEP, now=NOW, archive=fifo, stop=stop)  # the timeout is 300 s
            took = time.monotonic() - started
        finally:
            unblock_fifo(fifo)
        assert result.reports[0]["event_type"] == ABORTED
        assert took < 3
