"""The CLI contract of the foundation issue: exit codes, stderr format, JSON on stdout."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from backtester.archive import ARCHIVE_ENV
from backtester.cli import main
from tests.conftest import T0, book, market_record


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv(ARCHIVE_ENV, raising=False)
    return CliRunner()


def invoke(runner: CliRunner, *args: str):
    return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


class TestImport:
    def test_success_and_info(self, runner: CliRunner, tmp_path: Path, write_jsonl) -> None:
        """import exits 0; archive info --json reports counts, spans and the content hash."""
        db = tmp_path / "a.duckdb"
        path = write_jsonl("ok.jsonl", [market_record(), book(), book(ts=T0 + 1000)])
        result = invoke(runner, "import", path, "--archive", db)
        assert result.exit_code == 0, result.output
        info = json.loads(invoke(runner, "archive", "info", "--archive", db, "--json").stdout)
        assert info["counts"]["book"] == 2
        [market] = info["markets"]
        assert (market["first_ts"], market["last_ts"]) == (
            "2024-10-13T06:03:38.260Z",
            "2024-10-13T06:03:39.260Z",
        )
        assert len(info["content_sha256"]) == 64

    def test_rejection_exit_2_and_stderr(self, runner: CliRunner, tmp_path: Path, write_jsonl) -> None:
        """A rejected file exits 2 with file:line: field: message on stderr."""
        path = write_jsonl("bad.jsonl", [book(asks=[("1.5", "1")])])
        result = invoke(runner, "import", path, "--archive", tmp_path / "a.duckdb")
        assert result.exit_code == 2
        assert result.stderr.strip() == f"{path}:1: asks[0].price: price 1.5 is outside (0, 1)"

    def test_env_var_chooses_the_archive(
        self, runner: CliRunner, tmp_path: Path, write_jsonl, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--archive defaults to $BACKTESTER_ARCHIVE."""
        db = tmp_path / "env.duckdb"
        monkeypatch.setenv(ARCHIVE_ENV, str(db))
        assert invoke(runner, "import", write_jsonl("ok.jsonl", [market_record()])).exit_code == 0
        assert json.loads(invoke(runner, "archive", "info", "--json").stdout)["archive"] == str(db)

    def test_bundled_sample_is_not_written(self, runner: CliRunner, write_jsonl) -> None:
        """Without --archive or the env var, import refuses to write into the bundled sample."""
        result = invoke(runner, "import", write_jsonl("ok.jsonl", [market_record()]))
        assert result.exit_code == 2
        assert "read-only" in result.stderr

    def test_adapter_format(self, runner: CliRunner, tmp_path: Path, real_data: Path) -> None:
        """--from picks a recorder adapter."""
        files = sorted((real_data / "caio_updown_l2_2025-12-11").glob("15m_sol_*"))
        result = invoke(
            runner, "import", *files, "--archive", tmp_path / "a.duckdb", "--from", "caio", "--json"
        )
        assert result.exit_code == 0
        assert len(json.loads(result.stdout)["imported"]) == 4


class TestRun:
    def test_sample_run(self, runner: CliRunner) -> None:
        """run replays the bundled sample and prints the run's summary as JSON."""
        result = invoke(runner, "run", "--config", "data/sample-run.json", "--now", "2026-11-25T00:00:00Z")
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert (summary["status"], summary["mode"], summary["window_start"]) == (
            "complete", "replay", "2025-12-11T00:00:00Z",
        )  # fmt: skip
        assert len(summary["markets"]) == 5
        assert summary["variants"][0]["ticks_skipped"] == 0
        assert "BACKTESTER_FEE_ASSUMED" in result.stderr
        aggregate = summary["aggregate_report"]
        assert aggregate["event_type"] == "BACKTESTER_REPLAY_COMPLETE"
        assert aggregate["variants"][0]["simulated_fills"] > 0
        assert summary["original_outcome"]["fills"] > 0
        assert summary["comparison"][0]["by_cause"]["latency"] > 0

    def test_run_out_writes_the_run(self, runner: CliRunner, tmp_path: Path) -> None:
        """--out writes <out>/<run id>/ (status complete) and the operations topic."""
        result = invoke(runner, "run", "--config", "data/sample-fair-value.json", "--now",
                        "2026-11-25T00:00:00Z", "--out", tmp_path)  # fmt: skip
        assert result.exit_code == 0, result.output
        run_id = json.loads(result.stdout)["replay_run_id"]
        status = json.loads((tmp_path / run_id / "status.json").read_text())
        assert status["status"] == "complete"
        assert (
            tmp_path / "operations" / "bot_slug=backtester" / "epoch=2025-12-11" / f"{run_id}.parquet"
        ).is_file()
        assert f"run written to {tmp_path / run_id}" in result.stderr

    def test_rejected_config_exit_2(self, runner: CliRunner, tmp_path: Path) -> None:
        """A rejected config exits 2 and prints its reason code on stderr."""
        config = tmp_path / "c.json"
        config.write_text(json.dumps({"start_ts": "2026-05-09", "end_ts": "2026-05-01"}))
        result = invoke(runner, "run", "--config", config)
        assert result.exit_code == 2
        assert result.stderr.startswith("BACKTESTER_INVALID_WINDOW")

    def test_clamp_warning_on_stderr(self, runner: CliRunner, tmp_path: Path) -> None:
        """The clamp warning is printed and the run goes on."""
        config = tmp_path / "c.json"
        config.write_text(json.dumps({"start_ts": "2025-12-11T11:00:00Z", "end_ts": "2030-01-01T00:00:00Z"}))
        result = invoke(runner, "run", "--config", config, "--now", "2026-01-01T00:00:00Z")
        assert result.exit_code == 0
        assert "BACKTESTER_WINDOW_CLAMPED" in result.stderr
        assert json.loads(result.stdout)["window_end"] == "2026-01-01T00:00:00Z"

    def test_bad_clock(self, runner: CliRunner) -> None:
        """--now must be an absolute UTC time."""
        result = invoke(runner, "run", "--config", "data/sample-run.json", "--now", "now()-1d")
        assert result.exit_code == 2
        assert result.stderr.startswith("--now:")

    def test_unavailable_archive_exit_3(self, runner: CliRunner, tmp_path: Path) -> None:
        """An archive that cannot be read is BACKTESTER_ARCHIVE_UNAVAILABLE, exit 3."""
        result = invoke(
            runner, "run", "--config", "data/sample-run.json", "--archive", tmp_path / "none.duckdb"
        )
        assert result.exit_code == 3
        assert result.stderr.startswith("BACKTESTER_ARCHIVE_UNAVAILABLE")

    def test_not_an_archive(self, runner: CliRunner, tmp_path: Path) -> None:
        """A DuckDB file that is not an archive is unavailable, not silently used."""
        other = tmp_path / "other.duckdb"
        duckdb.connect(str(other)).execute("CREATE TABLE t (x INT)").close()
        result = invoke(runner, "archive", "info", "--archive", other)
        assert result.exit_code == 3
        assert "not a backtester archive" in result.stderr


def test_export(runner: CliRunner, tmp_path: Path, write_jsonl) -> None:
    """archive export writes a Parquet archive that info reads with the same hash."""
    db = tmp_path / "a.duckdb"
    invoke(runner, "import", write_jsonl("ok.jsonl", [market_record(), book()]), "--archive", db)
    out = tmp_path / "pq"
    assert invoke(runner, "archive", "export", "--archive", db, "--out", out).exit_code == 0
    a = json.loads(invoke(runner, "archive", "info", "--archive", db, "--json").stdout)
    b = json.loads(invoke(runner, "archive", "info", "--archive", out, "--json").stdout)
    assert (a["content_sha256"], b["storage"]) == (b["content_sha256"], "parquet")


@pytest.mark.parametrize("command", [[], ["run"], ["evidence"]])
def test_help_ends_with_the_exit_codes(runner: CliRunner, command: list[str]) -> None:
    """--help lists every exit code the command can end with, each with what it means."""
    text = invoke(runner, *command, "--help").output
    table = text[text.index("Exit codes:") :]
    codes = [
        line.split()[0]
        for line in table.splitlines()[1:]
        if line.startswith("    ") and line.split()[0].isdigit()
    ]
    assert codes == ["0", "1", "2", "3", "4", "75"]
    assert "BACKTESTER_ARCHIVE_UNAVAILABLE" in table
    assert "KILL_SWITCH_ACTIVE" in table
