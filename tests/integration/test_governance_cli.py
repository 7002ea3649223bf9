"""The governance commands (killswitch, abort, runs list/show), the governed options of
`run`, their exit codes, and `backtester.runs()` for notebooks. Runs replay the bundled
sample (real books) into a registry of the test's own."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

import backtester
from backtester.cli import main
from backtester.errors import RunIdTaken
from backtester.governance import Registry, Who
from tests.processes import NOW

ARB = "data/sample-arb.json"


@pytest.fixture
def registry(tmp_path: Path) -> str:
    return str(tmp_path / "registry.sqlite3")


def cli(*args: object) -> Any:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_killswitch_on_refuses_off_runs_and_both_are_listed(registry: str) -> None:
    """`killswitch on` -> `run` exits 75 with KILL_SWITCH_ACTIVE; `killswitch off` -> it
    runs; `runs list` shows both rows, the refused one with its reason."""
    assert cli("killswitch", "on", "--reason", "desk incident", "--registry", registry).exit_code == 0
    status = json.loads(cli("killswitch", "status", "--json", "--registry", registry).stdout)
    assert (status["active"], status["by"], status["reason"]) == (True, str(Who.me()), "desk incident")
    refused = cli("run", "--config", ARB, "--now", NOW, "--registry", registry)
    assert refused.exit_code == 75
    assert "KILL_SWITCH_ACTIVE (WARN): New backtests are paused while the system kill switch is active." in (
        refused.stderr
    )
    assert cli("killswitch", "off", "--registry", registry).exit_code == 0
    ran = cli("run", "--config", ARB, "--now", NOW, "--registry", registry)
    assert ran.exit_code == 0, ran.output
    listed = cli("runs", "list", "--registry", registry)
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:3] == ["replay_run_id", "status", "kind"]
    assert [line.split()[1] for line in lines[1:]] == ["complete", "refused"]  # newest first
    assert "KILL_SWITCH_ACTIVE: The kill switch is ON since" in lines[2]
    as_json = json.loads(cli("runs", "list", "--status", "refused", "--json", "--registry", registry).stdout)
    assert [r["reason_code"] for r in as_json] == ["KILL_SWITCH_ACTIVE"]


def test_runs_show_says_everything_the_registry_knows(registry: str, tmp_path: Path) -> None:
    """`runs show ID` gives the config hash, who and where, the counts of the aggregate
    report, where the output lives, and the status history; --json the same as data."""
    ran = cli("run", "--config", ARB, "--now", NOW, "--registry", registry, "--out", tmp_path / "out",
              "--replay-run-id", "replay_shown")  # fmt: skip
    assert ran.exit_code == 0, ran.output
    summary = json.loads(ran.stdout)
    shown = json.loads(cli("runs", "show", "replay_shown", "--json", "--registry", registry).stdout)
    resolved = backtester.validate_config(ARB, now=NOW)
    assert shown["config_sha256"] == resolved.sha256
    assert (shown["status"], shown["strategy"], shown["variants"], shown["kind"]) == (
        "complete", "sum_to_one_arb", 1, "run",
    )  # fmt: skip
    assert shown["out_path"] == str((tmp_path / "out" / "replay_shown").resolve())
    assert shown["ticks_replayed"] == summary["aggregate_report"]["ticks_replayed"] == 19_517
    assert shown["simulated_fills"] == 0
    assert shown["aggregate_report_id"] == "ops_backtester_replay_shown_v0_complete"
    assert [e["status"] for e in shown["history"]] == ["running", "complete"]
    text = cli("runs", "show", "replay_shown", "--registry", registry).stdout
    assert "config_sha256            " + resolved.sha256 in text
    assert "history" in text
    missing = cli("runs", "show", "replay_nope", "--registry", registry)
    assert missing.exit_code == 2
    assert missing.stderr.startswith("no run replay_nope in the registry")


def test_an_explicit_run_id_is_used_once(registry: str) -> None:
    """--replay-run-id is the idempotency key: a second launch with it exits 2 and names
    the run that holds it; an id that cannot name a folder is rejected (exit 2)."""
    assert (
        cli(
            "run", "--config", ARB, "--now", NOW, "--registry", registry, "--replay-run-id", "gate_1"
        ).exit_code
        == 0
    )
    again = cli("run", "--config", ARB, "--now", NOW, "--registry", registry, "--replay-run-id", "gate_1")
    assert again.exit_code == 2
    assert again.stderr.startswith("replay_run_id gate_1 is already registered: complete, launched by ")
    with pytest.raises(RunIdTaken):
        backtester.run(ARB, now=NOW, registry=registry, run_id="gate_1")
    bad = cli("run", "--config", ARB, "--now", NOW, "--registry", registry, "--replay-run-id", "../x")
    assert bad.exit_code == 2
    assert "replay_run_id '../x' must be 1 to 128 letters" in bad.stderr
    with Registry(registry) as store:
        assert len(store.runs()) == 1


def test_abort_of_nothing_running_exits_2(registry: str) -> None:
    """Aborting an unknown or a finished run says so and exits 2."""
    unknown = cli("abort", "--replay-run-id", "replay_nope", "--registry", registry)
    assert unknown.exit_code == 2
    assert unknown.stderr.startswith("no run replay_nope in the registry")
    cli("run", "--config", ARB, "--now", NOW, "--registry", registry, "--replay-run-id", "replay_done")
    done = cli("abort", "--replay-run-id", "replay_done", "--registry", registry)
    assert done.exit_code == 2
    assert "run replay_done is complete at " in done.stderr


def test_an_unreachable_registry_launches_nothing(tmp_path: Path) -> None:
    """A registry that cannot be reached refuses the launch (exit 75): no run goes
    ungoverned, nothing is written."""
    url = f"postgresql://gate@/registry?host={tmp_path}"  # no server listens there
    result = cli("run", "--config", ARB, "--now", NOW, "--registry", url, "--out", tmp_path / "out")
    assert result.exit_code == 75
    assert result.stderr.startswith("registry postgresql://gate@")
    assert "nothing was launched" in result.stderr
    assert not (tmp_path / "out").exists()


def test_max_in_flight_is_configurable(registry: str) -> None:
    """--max-in-flight (or $BACKTESTER_MAX_IN_FLIGHT) replaces the spec's 5."""
    with Registry(registry) as store:
        store.admit(
            backtester.governance.LaunchRequest("replay_elsewhere", "run", "sum_to_one_arb", 1, "0" * 64),
            who=Who("ops", "another-host", 1, None), limit=5,
        )  # fmt: skip
    refused = cli("run", "--config", ARB, "--now", NOW, "--registry", registry, "--max-in-flight", 1)
    assert refused.exit_code == 75
    assert "BACKTESTER_RUN_QUEUE_FULL (WARN): 1 runs in flight, at most 1: replay_elsewhere" in refused.stderr


def test_runs_as_a_dataframe_for_notebooks(registry: str) -> None:
    """backtester.runs() is the registry as a DataFrame: UTC timestamps, exact money,
    nullable counts; filtered by status."""
    result = backtester.run("data/sample-run.json", now=NOW, registry=registry)
    frame = backtester.runs(registry=registry)
    assert list(frame["replay_run_id"]) == [result.replay_run_id]
    row = frame.iloc[0]
    assert row["status"] == "complete"
    assert isinstance(row["started"], pd.Timestamp)
    assert str(row["started"].tz) == "UTC"
    assert row["simulated_pnl_pusd"] == Decimal("-1854.53795")  # exact, as the report says
    assert row["simulated_fills"] == 534
    assert backtester.runs(registry=registry, status="running").empty
