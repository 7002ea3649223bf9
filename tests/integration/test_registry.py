"""The run registry (spec sections 14, 20, 21) on both backends: SQLite (the embedded
default) and a real PostgreSQL server (tests/conftest.py starts one on a Unix socket).
Every test runs on both, through the same code."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import time
from pathlib import Path

import pytest

from backtester.errors import (
    ReasonCode,
    RegistryUnavailable,
    RunIdTaken,
    RunNotRunning,
    RunRefused,
    UnknownRun,
)
from backtester.governance import LEASE_MS, LaunchRequest, Registry, Who
from backtester.governance.registry import process_alive

ME = Who.me()


def request(run_id: str, **overrides: object) -> LaunchRequest:
    fields = {"replay_run_id": run_id, "kind": "run", "strategy": "sum_to_one_arb", "variants": 1,
              "config_sha256": "ab" * 32}  # fmt: skip
    return LaunchRequest(**{**fields, **overrides})  # type: ignore[arg-type]


class Clock:
    """A settable registry clock (epoch ms)."""

    def __init__(self, ms: int = 1_780_000_000_000) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


class TestAdmission:
    def test_an_admitted_run_is_running_with_who_and_what(self, registry_location: str) -> None:
        """A launch becomes one running row: the config hash, strategy, variants, who
        launched it (user, host, pid), start and heartbeat; its history starts there."""
        with Registry(registry_location) as registry:
            record = registry.admit(request("replay_A", variants=3, out_path="/runs"), who=ME, limit=5)
            assert (record.status, record.strategy, record.variants, record.config_sha256) == (
                "running", "sum_to_one_arb", 3, "ab" * 32,
            )  # fmt: skip
            assert (record.launched_by, record.host, record.pid) == (ME.user, ME.host, os.getpid())
            assert record.heartbeat_ms == record.started_ms
            assert record.out_path == "/runs"
            assert [e["status"] for e in record.history] == ["running"]
            assert record.history[0]["detail"] == "admitted (1 of 5 in flight)"
            assert [r.replay_run_id for r in registry.runs()] == ["replay_A"]

    def test_an_explicit_id_is_registered_once(self, registry_location: str) -> None:
        """replay_run_id is the idempotency key: a second launch with the same id is
        refused, says who holds it, and makes no second row."""
        with Registry(registry_location) as registry:
            registry.admit(request("replay_A"), who=ME, limit=5)
            with pytest.raises(RunIdTaken, match=r"replay_A is already registered: running, launched by"):
                registry.admit(request("replay_A"), who=ME, limit=5)
            registry.finish("replay_A", "complete")
            with pytest.raises(RunIdTaken, match="already registered: complete"):
                registry.admit(request("replay_A"), who=ME, limit=5)
            assert len(registry.runs()) == 1

    def test_the_queue_holds_at_most_max_in_flight(self, registry_location: str) -> None:
        """Beyond max_in_flight running runs a launch is refused with
        BACKTESTER_RUN_QUEUE_FULL and recorded as refused; once one ends, a launch is admitted."""
        with Registry(registry_location) as registry:
            registry.admit(request("replay_A"), who=ME, limit=2)
            registry.admit(request("replay_B"), who=ME, limit=2)
            with pytest.raises(RunRefused) as refused:
                registry.admit(request("replay_C"), who=ME, limit=2)
            assert refused.value.code is ReasonCode.BACKTESTER_RUN_QUEUE_FULL
            assert str(refused.value) == (
                "BACKTESTER_RUN_QUEUE_FULL: 2 runs in flight, at most 2: replay_A, replay_B"
            )
            row = registry.run("replay_C")
            assert row is not None
            assert (row.status, row.reason_code, row.ended_ms is not None) == (
                "refused", "BACKTESTER_RUN_QUEUE_FULL", True,
            )  # fmt: skip
            registry.finish("replay_A", "complete")
            assert registry.admit(request("replay_D"), who=ME, limit=2).status == "running"

    def test_a_refused_id_may_launch_again_on_the_same_row(self, registry_location: str) -> None:
        """A refused launch never ran, so its id may be resubmitted (the spec's recovery:
        'deactivate the kill switch; resubmit'); the row is the same, its history says both."""
        with Registry(registry_location) as registry:
            registry.set_kill_switch(True, who=ME, reason="incident 42")
            with pytest.raises(RunRefused):
                registry.admit(request("replay_A"), who=ME, limit=5)
            registry.set_kill_switch(False, who=ME)
            assert registry.admit(request("replay_A"), who=ME, limit=5).status == "running"
            record = registry.run("replay_A")
            assert record is not None
            assert [e["status"] for e in record.history] == ["refused", "running"]
            assert len(registry.runs()) == 1


class TestKillSwitch:
    def test_on_suppresses_launches_and_says_who_and_why(self, registry_location: str) -> None:
        """While the kill switch is on, a launch is refused with KILL_SWITCH_ACTIVE (a
        refused row is kept); runs already in flight are not touched; off lets launches in."""
        clock = Clock()
        with Registry(registry_location, clock=clock) as registry:
            assert not registry.kill_switch().active
            registry.admit(request("replay_busy"), who=ME, limit=5)
            switch = registry.set_kill_switch(True, who=ME, reason="exchange incident")
            assert (switch.active, switch.by, switch.reason, switch.at_ms) == (
                True, str(ME), "exchange incident", clock.ms,
            )  # fmt: skip
            with pytest.raises(
                RunRefused, match="KILL_SWITCH_ACTIVE: The kill switch is ON since"
            ) as refused:
                registry.admit(request("replay_new"), who=ME, limit=5)
            assert refused.value.code is ReasonCode.KILL_SWITCH_ACTIVE
            assert "exchange incident" in refused.value.message
            busy = registry.run("replay_busy")
            assert busy is not None
            assert busy.status == "running"
            clock.ms += 1_000
            registry.set_kill_switch(False, who=ME, reason="resolved")
            assert registry.admit(request("replay_later"), who=ME, limit=5).status == "running"
            assert [(s.active, s.reason) for s in registry.kill_switch_history()] == [
                (True, "exchange incident"), (False, "resolved"),
            ]  # fmt: skip


class TestLiveness:
    def test_a_lapsed_heartbeat_interrupts_the_run(self, registry_location: str) -> None:
        """A running row whose heartbeat is older than the lease becomes interrupted at the
        next command that reads the registry; it never resumes, and its heartbeat is refused."""
        clock = Clock()
        other = Who("ops", "another-host", 4242, None)  # no pid check for other hosts
        with Registry(registry_location, clock=clock) as registry:
            registry.admit(request("replay_A"), who=other, limit=5)
            clock.ms += LEASE_MS
            assert registry.reap() == []  # exactly at the lease: still alive
            clock.ms += 1
            assert registry.reap() == ["replay_A"]
            record = registry.run("replay_A")
            assert record is not None
            assert record.status == "interrupted"
            assert record.reason.startswith("no heartbeat since ")
            assert not registry.heartbeat("replay_A")

    def test_a_gone_process_interrupts_its_run(self, registry_location: str) -> None:
        """A running row of this host whose process has exited is interrupted, lease or not."""
        child = subprocess.Popen(["sleep", "30"])
        gone = Who(ME.user, ME.host, child.pid, _identity_of(child.pid))
        with Registry(registry_location) as registry:
            registry.admit(request("replay_A"), who=gone, limit=5)
            assert registry.reap() == []
            child.kill()
            child.wait()
            assert registry.reap() == ["replay_A"]
            record = registry.run("replay_A")
            assert record is not None
            assert record.reason == f"its process {child.pid} on {ME.host} is gone"

    def test_a_reused_pid_is_not_mistaken_for_the_run(self) -> None:
        """A live process with the run's pid but another start time is not the run."""
        assert process_alive(os.getpid(), ME.pid_identity)
        assert not process_alive(os.getpid(), "another-boot:1")

    def test_admission_counts_only_live_runs(self, registry_location: str) -> None:
        """A dead run does not hold a queue slot: admission reaps first, in the same transaction."""
        clock = Clock()
        other = Who("ops", "another-host", 4242, None)
        with Registry(registry_location, clock=clock) as registry:
            registry.admit(request("replay_A"), who=other, limit=1)
            clock.ms += LEASE_MS + 1
            assert registry.admit(request("replay_B"), who=ME, limit=1).status == "running"

    def test_a_late_end_does_not_resurrect_an_interrupted_run(self, registry_location: str) -> None:
        """A run that finishes after the registry marked it interrupted stays interrupted;
        its history records the late end."""
        clock = Clock()
        with Registry(registry_location, clock=clock) as registry:
            registry.admit(request("replay_A"), who=Who("ops", "elsewhere", 1, None), limit=5)
            clock.ms += LEASE_MS + 1
            registry.reap()
            assert not registry.finish("replay_A", "complete")
            record = registry.run("replay_A")
            assert record is not None
            assert record.status == "interrupted"
            assert record.history[-1]["status"] == "late_end"
            assert record.history[-1]["detail"].startswith("ended complete after the registry had marked it")


class TestAbortAndFinish:
    def test_abort_requests_are_seen_by_the_run(self, registry_location: str) -> None:
        """An abort of a running run is recorded (who, when, why) and visible to its watcher."""
        with Registry(registry_location) as registry:
            registry.admit(request("replay_A"), who=ME, limit=5)
            assert registry.watch("replay_A") == ("running", None)
            record = registry.request_abort("replay_A", who=ME, reason="stuck")
            assert (record.abort_by, record.abort_reason) == (str(ME), "stuck")
            assert registry.watch("replay_A") == ("running", f"aborted by {ME}: stuck")

    def test_nothing_to_abort(self, registry_location: str) -> None:
        """Aborting an unknown or a finished run says so."""
        with Registry(registry_location) as registry:
            with pytest.raises(UnknownRun, match="no run replay_X"):
                registry.request_abort("replay_X", who=ME)
            registry.admit(request("replay_A"), who=ME, limit=5)
            registry.finish("replay_A", "complete")
            with pytest.raises(
                RunNotRunning, match=r"run replay_A is complete at .*: there is nothing to abort"
            ):
                registry.request_abort("replay_A", who=ME)

    def test_finish_keeps_the_aggregate_counts(self, registry_location: str) -> None:
        """A finished run keeps its status, reason and the counts of its aggregate report,
        money as exact decimal strings."""
        counts = {"ticks_replayed": 19_517, "ticks_skipped": 0, "simulated_fills": 534,
                  "simulated_volume_pusd": "22643.6919", "simulated_pnl_pusd": "-1854.53795",
                  "simulated_net_fees_pusd": "0", "aggregate_report_id": "ops_x_complete",
                  "variant_results": json.dumps([{"variant_id": 0}]), "events_replayed": 48_241}  # fmt: skip
        clock = Clock()
        with Registry(registry_location, clock=clock) as registry:
            registry.admit(request("replay_A"), who=ME, limit=5)
            clock.ms += 1_234
            assert registry.finish("replay_A", "complete", counts=counts, out_path="/runs/replay_A")
            record = registry.run("replay_A")
            assert record is not None
            assert (record.status, record.duration_ms, record.out_path) == (
                "complete",
                1_234,
                "/runs/replay_A",
            )
            assert (record.simulated_fills, record.simulated_pnl_pusd) == (534, "-1854.53795")
            shown = record.as_dict()
            assert shown["variant_results"] == [{"variant_id": 0}]
            # the run's cost: 48 241 events in 1.234 s
            assert (record.events_replayed, shown["duration_ms"], shown["events_per_s"]) == (
                48_241,
                1_234,
                39_093,
            )
            assert [e["status"] for e in shown["history"]] == ["running", "complete"]
            assert [r.replay_run_id for r in registry.runs(status="complete")] == ["replay_A"]
            assert registry.runs(status="running") == []


class TestConcurrentAdmission:
    def test_six_processes_at_once_admit_exactly_five(self, registry_location: str) -> None:
        """Six processes admitted behind one barrier, at the same moment: exactly five run
        and one is refused with BACKTESTER_RUN_QUEUE_FULL (admission is one transaction
        under the registry's write lock); six rows, intact."""
        Registry(registry_location).close()  # the schema exists before the race
        context = multiprocessing.get_context("fork")
        barrier = context.Barrier(6)
        results = context.Queue()
        workers = [
            context.Process(target=_admit, args=(registry_location, i, barrier, results)) for i in range(6)
        ]
        for worker in workers:
            worker.start()
        outcomes = sorted(results.get(timeout=60) for _ in workers)
        for worker in workers:
            worker.join(10)
        assert [o[1] for o in outcomes].count("running") == 5
        assert [o[1] for o in outcomes].count(str(ReasonCode.BACKTESTER_RUN_QUEUE_FULL)) == 1
        with Registry(registry_location) as registry:
            rows = registry.runs()
            assert sorted(r.status for r in rows) == ["refused"] + ["running"] * 5
            assert all(len(registry.run(r.replay_run_id).history) == 1 for r in rows)  # type: ignore[union-attr]

    def test_admission_stays_atomic_whatever_the_servers_isolation(self, postgres_url: str) -> None:
        """A PostgreSQL database whose default isolation is SERIALIZABLE (or REPEATABLE
        READ) would take a transaction's snapshot before the write lock is granted; the
        registry's writes run at READ COMMITTED, so eight admissions at once still admit
        exactly five, and concurrent kill-switch settings all land."""
        import psycopg  # noqa: PLC0415

        database = postgres_url.split("@/", 1)[1].split("?", 1)[0]
        with psycopg.connect(postgres_url, autocommit=True) as con:
            con.execute(f"ALTER DATABASE {database} SET default_transaction_isolation = 'serializable'")
        Registry(postgres_url).close()
        context = multiprocessing.get_context("fork")
        barrier = context.Barrier(8)
        results = context.Queue()
        workers = [context.Process(target=_admit, args=(postgres_url, i, barrier, results)) for i in range(8)]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=60)[1] for _ in workers]
        for worker in workers:
            worker.join(10)
        assert outcomes.count("running") == 5
        assert outcomes.count(str(ReasonCode.BACKTESTER_RUN_QUEUE_FULL)) == 3
        switches = [context.Process(target=_switch, args=(postgres_url, i)) for i in range(6)]
        for process in switches:
            process.start()
        for process in switches:
            process.join(30)
        assert [process.exitcode for process in switches] == [0] * 6
        with Registry(postgres_url) as registry:
            assert len(registry.kill_switch_history()) == 6


def _switch(location: str, index: int) -> None:
    with Registry(location) as registry:
        registry.set_kill_switch(index % 2 == 0, who=Who.me(), reason=f"setting {index}")


def _admit(location: str, index: int, barrier: object, results: object) -> None:
    """In a forked process: wait at the barrier, then try to be admitted; hold the slot."""
    outcome = "error"
    try:
        with Registry(location) as registry:
            barrier.wait(30)  # type: ignore[attr-defined]
            try:
                registry.admit(request(f"replay_{index}"), who=Who.me(), limit=5)
                outcome = "running"
            except RunRefused as exc:
                outcome = str(exc.code)
    finally:
        results.put((index, outcome))  # type: ignore[attr-defined]
    time.sleep(0.5)  # alive while the others are admitted (a gone process is reaped)


class TestOutOfReach:
    def test_a_run_whose_end_cannot_be_recorded_keeps_its_result(self, tmp_path: Path, capsys) -> None:
        """If the registry is out of reach when a run ends, the run's result is not lost:
        the end is reported on stderr and the row will be reaped as interrupted."""
        from backtester.governance import Launch  # noqa: PLC0415

        launch = Launch(f"postgresql://gate@/registry?host={tmp_path}", "replay_A", owner=True)
        assert launch.finish("complete") is False
        assert "run replay_A ended complete, but the registry could not record it" in capsys.readouterr().err

    def test_the_watcher_outlives_a_registry_error(self, tmp_path: Path, monkeypatch) -> None:
        """An error reading the registry (a dropped connection, a full disk) does not end
        the watcher: it says so once, tries again, and still hears an abort."""
        from backtester.governance import Launch  # noqa: PLC0415

        location = str(tmp_path / "registry.sqlite3")
        with Registry(location) as registry:
            registry.admit(request("replay_A"), who=ME, limit=5)
        real = Registry.watch
        failures = iter([RuntimeError("database disk image is malformed")])

        def flaky(self: Registry, run_id: str) -> tuple[str | None, str | None]:
            for failure in failures:
                raise failure
            return real(self, run_id)

        monkeypatch.setattr(Registry, "watch", flaky)
        with Launch(location, "replay_A", owner=True, poll_ms=50) as launch:
            with Registry(location) as registry:
                registry.request_abort("replay_A", who=ME, reason="stuck")
            deadline = time.monotonic() + 5
            while not launch.stop.requested and time.monotonic() < deadline:
                time.sleep(0.02)
            assert launch.stop.reason is not None
            assert launch.stop.reason[1] == f"aborted by {ME}: stuck"
            launch.finish("aborted", reason_code="BACKTESTER_RUN_ABORTED", reason="stuck")


class TestLocations:
    def test_a_version_1_registry_is_upgraded_in_place(self, tmp_path: Path) -> None:
        """A registry made before events_replayed existed gets the column, and keeps its rows."""
        import sqlite3  # noqa: PLC0415

        path = tmp_path / "registry.sqlite3"
        with Registry(path) as registry:
            registry.admit(request("replay_old"), who=ME, limit=5)
        con = sqlite3.connect(path)
        con.execute("ALTER TABLE backtester_runs DROP COLUMN events_replayed")
        con.execute("UPDATE backtester_registry_meta SET value = '1' WHERE key = 'schema_version'")
        con.commit()
        con.close()
        with Registry(path) as registry:
            record = registry.run("replay_old")
            assert record is not None
            assert record.events_replayed is None
            assert registry.finish("replay_old", "complete", counts={"events_replayed": 7})
            assert registry.run("replay_old").events_replayed == 7  # type: ignore[union-attr]

    def test_a_file_that_is_not_a_registry(self, tmp_path: Path) -> None:
        """A file that is not a SQLite database is refused with a clear message."""
        junk = tmp_path / "registry.sqlite3"
        junk.write_text("not a database\n" * 100)
        with pytest.raises(RegistryUnavailable, match=f"registry {junk} cannot be"):
            Registry(junk)

    def test_sqlite_urls_and_paths_are_the_same_file(self, tmp_path: Path) -> None:
        """sqlite:///path and the plain path name the same registry."""
        path = tmp_path / "r.sqlite3"
        with Registry(f"sqlite://{path}") as registry:
            registry.admit(request("replay_A"), who=ME, limit=5)
        with Registry(path) as registry:
            assert [r.replay_run_id for r in registry.runs()] == ["replay_A"]
            assert registry.backend.name == "sqlite"

    def test_a_postgresql_server_that_does_not_answer(self, tmp_path: Path) -> None:
        """A PostgreSQL registry that cannot be reached is refused with its location (no
        password shown), not a traceback."""
        url = f"postgresql://gate:secret@/registry?host={tmp_path}"  # no server on this socket folder
        with pytest.raises(RegistryUnavailable, match="registry postgresql://gate@") as failed:
            Registry(url)
        assert "secret" not in str(failed.value)


def _identity_of(pid: int) -> str | None:
    from backtester.governance.registry import _identity  # noqa: PLC0415

    return _identity(pid)
