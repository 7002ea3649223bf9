"""Governance under concurrency, with real ``backtester`` processes against one registry,
on both backends (SQLite, and a real PostgreSQL server): six launches at the same
moment admit five; a SIGKILLed run becomes interrupted; an abort stops a running sweep
within a second or two; a SIGTERM does too; an evidence bundle is abortable. Runs replay
the bundled sample (real books)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backtester.governance import Registry, Who
from backtester.runs.output import read_operations, read_reports
from tests.processes import NOW, env_with, long_sweep, start, start_together, wait_until

RUN = "data/sample-arb.json"
CLI = [sys.executable, "-c", "from backtester.cli import main; main()"]


def _running(registry: str, run_id: str) -> bool:
    with Registry(registry) as store:
        record = store.run(run_id)
    return record is not None and record.status == "running"


def test_six_launches_at_once_five_run_one_is_refused(registry_location: str, tmp_path: Path) -> None:
    """Six `backtester run` processes released together behind a barrier, into one
    registry and one --out: exactly five run to completion and one exits 75 with
    BACKTESTER_RUN_QUEUE_FULL; the registry holds five complete rows and one refused;
    the operations topic holds every report of the five (each run writes its own files)."""
    out = tmp_path / "out"
    ids = [f"replay_race_{i}" for i in range(6)]
    launches = [
        ["run", "--config", RUN, "--now", NOW, "--out", out, "--workers", "1", "--replay-run-id", run_id]
        for run_id in ids
    ]
    processes, released, released_ms = start_together(
        launches, env=env_with(registry_location), folder=tmp_path
    )
    ended: dict[int, float] = {}
    while len(ended) < len(processes):
        for index, process in enumerate(processes):
            if index not in ended and process.poll() is not None:
                ended[index] = time.monotonic() - released
        time.sleep(0.01)
    outputs = [process.communicate() for process in processes]
    codes = [process.returncode for process in processes]
    assert sorted(codes) == [0] * 5 + [75], [err[-2000:] for _, err in outputs]
    refused = codes.index(75)
    assert "BACKTESTER_RUN_QUEUE_FULL (WARN): 5 runs in flight, at most 5" in outputs[refused][1]
    with Registry(registry_location) as store:
        admitted = {r.replay_run_id: r.started_ms - released_ms for r in store.runs()}
    print(  # the figures the closing note quotes: launch-to-refusal latency
        f"\n[{_backend(registry_location)}] admissions {min(admitted.values()):.0f} to "
        f"{max(admitted.values()):.0f} ms after the release, the refusal recorded at "
        f"{admitted[ids[refused]]:.0f} ms, its process ended at {ended[refused] * 1000:.0f} ms; "
        f"the runs took {min(t for i, t in ended.items() if i != refused):.1f} to {max(ended.values()):.1f} s"
    )
    with Registry(registry_location) as store:
        rows = {r.replay_run_id: r for r in store.runs()}
    assert sorted(r.status for r in rows.values()) == ["complete"] * 5 + ["refused"]
    assert rows[ids[refused]].reason_code == "BACKTESTER_RUN_QUEUE_FULL"
    assert not (out / ids[refused]).exists()
    topic = read_operations(out)
    for index, run_id in enumerate(ids):
        if index == refused:
            continue
        reports = [json.dumps(r) for r in read_reports(out / run_id)]
        published = [r for r, who in zip(topic["report_id"].to_pylist(), topic["replay_run_id"].to_pylist(),
                                         strict=True) if who == run_id]  # fmt: skip
        assert sorted(published) == sorted(json.loads(line)["report_id"] for line in reports)
        assert rows[run_id].simulated_fills == sum(
            v["simulated_fills"] for v in json.loads((out / run_id / "summary.json").read_text())["variants"]
        )


def test_a_sigkilled_run_becomes_interrupted(registry_location: str, tmp_path: Path) -> None:
    """kill -9 of a running sweep (and of its workers, which die with it): the next
    `backtester runs list` shows it interrupted, and its output never looks complete."""
    out = tmp_path / "out"
    run = start(["run", "--config", long_sweep(tmp_path, 40), "--now", NOW, "--out", out, "--workers", "2",
                 "--replay-run-id", "replay_killed"], env=env_with(registry_location))  # fmt: skip
    wait_until(lambda: _running(registry_location, "replay_killed"), 60)
    time.sleep(1.5)  # replaying by now
    run.send_signal(signal.SIGKILL)
    run.communicate()
    listed = subprocess.run(
        [*CLI, "runs", "list", "--json"], env=env_with(registry_location), capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    [record] = json.loads(listed.stdout)
    assert (record["replay_run_id"], record["status"]) == ("replay_killed", "interrupted")
    assert record["reason"] == f"its process {run.pid} on {record['host']} is gone"
    assert not (out / "replay_killed").exists()  # at most a .partial folder, never a complete one


def test_abort_stops_a_running_sweep_within_seconds(registry_location: str, tmp_path: Path) -> None:
    """`backtester abort` on a sweep replaying in two worker processes: the run sees the
    request at its next tick boundary (the watcher polls every second), ends aborted
    (exit 3) with its aborted OperationsReport written, and the registry says aborted."""
    out = tmp_path / "out"
    run = start(["run", "--config", long_sweep(tmp_path, 40), "--now", NOW, "--out", out, "--workers", "2",
                 "--replay-run-id", "replay_stuck"], env=env_with(registry_location))  # fmt: skip
    wait_until(lambda: _running(registry_location, "replay_stuck"), 60)
    time.sleep(1.5)
    asked = time.monotonic()
    abort = subprocess.run(
        [*CLI, "abort", "--replay-run-id", "replay_stuck", "--reason", "blocking the queue"],
        env=env_with(registry_location), capture_output=True, text=True, check=False,
    )  # fmt: skip
    _, err = run.communicate(timeout=60)
    took = time.monotonic() - asked
    assert abort.returncode == 0, abort.stderr
    assert "replay_stuck ended aborted" in abort.stdout
    assert run.returncode == 3, err
    assert "BACKTESTER_RUN_ABORTED: aborted by " in err
    status = json.loads((out / "replay_stuck" / "status.json").read_text())
    [report] = read_reports(out / "replay_stuck")
    assert (status["status"], report["status"], report["event_type"]) == (
        "aborted", "aborted", "BACKTESTER_RUN_ABORTED",
    )  # fmt: skip
    assert report["reason"].endswith(": blocking the queue")
    with Registry(registry_location) as store:
        record = store.run("replay_stuck")
    assert record is not None
    assert (record.status, record.reason_code) == ("aborted", "BACKTESTER_RUN_ABORTED")
    assert [e["status"] for e in record.history] == ["running", "abort_requested", "aborted"]
    assert record.ended_ms - record.abort_requested_ms < 2_500  # type: ignore[operator]
    print(
        f"\n[{_backend(registry_location)}] abort: the run ended "
        f"{record.ended_ms - record.abort_requested_ms} ms "
        f"after the request was recorded ({took:.2f} s after the abort command started)"
    )


def test_sigterm_ends_a_run_aborted(tmp_path: Path) -> None:
    """A first SIGTERM asks the run to stop at its next tick boundary: it ends aborted
    (exit 3), its report written, instead of dying half-way."""
    registry = str(tmp_path / "registry.sqlite3")
    out = tmp_path / "out"
    run = start(["run", "--config", long_sweep(tmp_path, 40), "--now", NOW, "--out", out, "--workers", "2",
                 "--replay-run-id", "replay_term"], env=env_with(registry))  # fmt: skip
    wait_until(lambda: _running(registry, "replay_term"), 60)
    time.sleep(1.5)
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 3, err
    assert "BACKTESTER_RUN_ABORTED: terminated by signal 15 (SIGTERM)" in err
    with Registry(registry) as store:
        record = store.run("replay_term")
    assert record is not None
    assert record.status == "aborted"


@pytest.mark.slow
def test_an_evidence_bundle_is_abortable(tmp_path: Path) -> None:
    """An evidence bundle is one governed run: the launcher admits it and heartbeats, the
    replay in the notebook kernel attaches to it; an abort reaches the kernel's replay,
    the bundle is sealed (the template renders the aborted run), the command exits 3 and
    the registry says aborted."""
    registry = str(tmp_path / "registry.sqlite3")
    bundle = start(["evidence", "--config", long_sweep(tmp_path, 40), "--now", NOW, "--out", tmp_path / "ev",
                    "--replay-run-id", "replay_ev"], env=env_with(registry))  # fmt: skip
    wait_until(lambda: _running(registry, "replay_ev"), 60)
    with Registry(registry) as store:
        store.request_abort("replay_ev", who=Who.me(), reason="wrong parameters")
    _, err = bundle.communicate(timeout=300)
    assert bundle.returncode == 3, err
    manifest = json.loads((tmp_path / "ev" / "replay_ev" / "manifest.json").read_text())
    assert (manifest["status"], manifest["run_status"]) == ("complete", "aborted")
    with Registry(registry) as store:
        record = store.run("replay_ev")
    assert record is not None
    assert (record.status, record.kind, record.reason_code) == (
        "aborted",
        "evidence",
        "BACKTESTER_RUN_ABORTED",
    )
    assert record.reason.endswith(": wrong parameters")


def _backend(location: str) -> str:
    return "postgresql" if location.startswith("postgresql") else "sqlite"
