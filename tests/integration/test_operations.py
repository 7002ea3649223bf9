"""Operations: the six metrics, the health check, ``backtester serve``, the JSON logs and
the alert rules (spec sections 14, 15, 27)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from backtester import api
from backtester.governance import Registry, RunRecord
from backtester.ops.health import health
from backtester.ops.metrics import CONTRACT, DURATION_BUCKETS_MS, families
from backtester.reports.messages import USER_MESSAGES
from backtester.sample import SAMPLE_ARCHIVE
from tests.processes import NOW, ROOT, env_with

RULES = ROOT / "ops" / "prometheus"
_COLUMNS = RunRecord.__dataclass_fields__


def record(run_id: str, status: str, **fields: Any) -> RunRecord:
    """A registry row with only what a test names (the rest empty)."""
    values: dict[str, Any] = dict.fromkeys(_COLUMNS)
    values.update(replay_run_id=run_id, kind="run", strategy="sum_to_one_arb", variants=1, status=status,
                  started_ms=0, history=())  # fmt: skip
    values.update(fields)
    return RunRecord(**values)


def samples(fams: list[Any], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value for f in fams for s in f.samples if s.name == name
    }  # fmt: skip


# ------------------------------------------------------------------ the metrics, by hand


def test_metrics_are_computed_from_registry_rows() -> None:
    """Golden case. Rows: A complete (100 ticks, 2 skipped, 5 fills, P&L -3.25, 2 s),
    B complete later (50 ticks, 0 skipped, 1 fill, P&L 1.5, 400 s), C aborted, D
    running, E refused, F a complete 2-variant sweep (10 ticks, 4 fills, 1 s).
    runs_total: complete 3 (A, B, F), aborted 1, refused not counted, running not counted.
    ticks_processed: A 100, B 50, C 0, D 0 (running: the series exists at 0), F 10; E none.
    fills 5 + 1 + 4 = 10; skipped 2 + 0 + 0 = 2.
    P&L gauge: B (the latest complete single-variant run; F is a sweep): 1.5.
    Durations 2 000, 400 000, 1 000 ms: le=1000 -> 1, le=2500 -> 2, le=300000 -> 2,
    le=480000 -> 3; sum 403 000."""
    rows = [
        record("replay_A", "complete", ticks_replayed=100, ticks_skipped=2, simulated_fills=5,
               simulated_pnl_pusd="-3.25", started_ms=1_000, ended_ms=3_000),
        record("replay_B", "complete", ticks_replayed=50, ticks_skipped=0, simulated_fills=1,
               simulated_pnl_pusd="1.5", started_ms=10_000, ended_ms=410_000),
        record("replay_C", "aborted", started_ms=20_000, ended_ms=21_000),
        record("replay_D", "running", started_ms=30_000),
        record("replay_E", "refused", started_ms=40_000, ended_ms=40_000),
        record("replay_F", "complete", variants=2, ticks_replayed=10, ticks_skipped=0, simulated_fills=4,
               simulated_pnl_pusd="99", started_ms=500_000, ended_ms=501_000),
    ]  # fmt: skip
    fams = families(rows, strategies=["fair_value_taker"])
    assert [f.name for f in fams] == [
        "polytraders_gov_backtester_runs", "polytraders_gov_backtester_ticks_processed",
        "polytraders_gov_backtester_simulated_fills", "polytraders_gov_backtester_simulated_pnl_pusd",
        "polytraders_gov_backtester_ticks_skipped", "polytraders_gov_backtester_run_duration_ms",
    ]  # fmt: skip
    runs = samples(fams, "polytraders_gov_backtester_runs_total")
    arb = (("status", "complete"), ("strategy", "sum_to_one_arb"))
    assert runs[arb] == 3
    assert runs[(("status", "aborted"), ("strategy", "sum_to_one_arb"))] == 1
    assert (
        runs[(("status", "complete"), ("strategy", "fair_value_taker"))] == 0
    )  # a zero series from the start
    assert sum(runs.values()) == 4
    processed = samples(fams, "polytraders_gov_backtester_ticks_processed_total")
    assert {dict(k)["replay_run_id"]: v for k, v in processed.items()} == {
        "replay_A": 100, "replay_B": 50, "replay_C": 0, "replay_D": 0, "replay_F": 10,
    }  # fmt: skip
    assert (
        samples(fams, "polytraders_gov_backtester_simulated_fills_total")[(("strategy", "sum_to_one_arb"),)]
        == 10
    )
    assert (
        samples(fams, "polytraders_gov_backtester_ticks_skipped_total")[(("strategy", "sum_to_one_arb"),)]
        == 2
    )
    assert samples(fams, "polytraders_gov_backtester_simulated_pnl_pusd") == {
        (("replay_run_id", "replay_B"), ("strategy", "sum_to_one_arb")): 1.5
    }
    buckets = {
        dict(k)["le"]: v
        for k, v in samples(fams, "polytraders_gov_backtester_run_duration_ms_bucket").items()
        if dict(k)["strategy"] == "sum_to_one_arb"
    }
    assert (buckets["1000.0"], buckets["2500.0"], buckets["300000.0"], buckets["480000.0"]) == (1, 2, 2, 3)
    assert buckets["+Inf"] == 3
    assert len(buckets) == len(DURATION_BUCKETS_MS) + 1
    assert samples(fams, "polytraders_gov_backtester_run_duration_ms_sum")[
        (("strategy", "sum_to_one_arb"),)
    ] == (403_000)


# ------------------------------------------------------------------ the health check, by hand


def _registry_with(tmp_path: Path, rows: list[RunRecord]) -> str:
    """A SQLite registry holding exactly ``rows`` (written with SQL: the states a test needs)."""
    location = str(tmp_path / "registry.sqlite3")
    with Registry(location) as store:
        store.runs()  # creates the schema
    import sqlite3  # noqa: PLC0415

    con = sqlite3.connect(location)
    names = [n for n in _COLUMNS if n != "history"]
    for row in rows:
        con.execute(
            f"INSERT INTO backtester_runs ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            [getattr(row, n) for n in names],
        )
    con.commit()
    con.close()
    return location


def verdicts(checked: Any) -> dict[str, str]:
    return {c.name: c.verdict for c in checked.checks}


def test_health_turns_red_when_the_queue_stays_saturated_and_when_every_recent_run_aborts(
    tmp_path: Path,
) -> None:
    now = 10 * 3_600_000
    # Five runs in flight (the limit), the fifth started 4 minutes ago: amber (full, < 5 min).
    # Not this host (no pid check), and heartbeats fresh at both times checked below.
    alive = {"host": "elsewhere", "heartbeat_ms": now + 120_000}
    running = [
        record(f"replay_R{i}", "running", started_ms=now - 600_000 + i * 1_000, **alive) for i in range(4)
    ]
    fifth = record("replay_R4", "running", started_ms=now - 240_000, **alive)
    done = record("replay_OK", "complete", started_ms=now - 9_000_000, ended_ms=now - 8_000_000,
                  ticks_replayed=1000, ticks_skipped=20)  # fmt: skip
    location = _registry_with(tmp_path, [*running, fifth, done])
    checked = health(location, archive=SAMPLE_ARCHIVE, now_ms=now)
    assert verdicts(checked)["max_in_flight"] == "amber"
    assert verdicts(checked)["skip_rate"] == "amber"  # 20 / 1000 = 0.02 >= 0.01
    assert checked.status == "amber"
    assert checked.http_status == 200
    # Six minutes after it filled, still full: red, 503.
    later = health(location, archive=SAMPLE_ARCHIVE, now_ms=now - 240_000 + 360_000)
    assert verdicts(later)["max_in_flight"] == "red"
    assert later.http_status == 503
    assert later.as_dict()["checks"]["max_in_flight"]["value"]["saturated_ms"] == 360_000

    aborts = [
        record(f"replay_X{i}", "aborted", started_ms=now - 60_000 * (i + 2), ended_ms=now - 60_000 * (i + 1),
               reason_code="BACKTESTER_ARCHIVE_UNAVAILABLE", reason="no archive")
        for i in range(5)
    ]  # fmt: skip
    other = tmp_path / "other"
    other.mkdir()
    location = _registry_with(other, [done, *aborts])
    checked = health(location, archive=SAMPLE_ARCHIVE, now_ms=now)
    assert verdicts(checked)["recent_runs"] == "red"  # the complete run is not among the 5 latest
    assert "BACKTESTER_ARCHIVE_UNAVAILABLE" in checked.as_dict()["checks"]["recent_runs"]["detail"]
    # A day later nothing ended recently and the last completion is stale: amber, not red.
    stale = health(location, archive=SAMPLE_ARCHIVE, now_ms=now + 2 * 86_400_000)
    assert (verdicts(stale)["recent_runs"], verdicts(stale)["last_complete"], stale.status) == (
        "green", "amber", "amber",
    )  # fmt: skip


# ------------------------------------------------------------------ the server, for real


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


class Server:
    """``backtester serve --port 0`` in its own process; the port it bound."""

    def __init__(self, registry: str, archive: Path) -> None:
        command = [sys.executable, "-c", "from backtester.cli import main; main()", "serve", "--port", "0",
                   "--registry", registry, "--archive", str(archive)]  # fmt: skip
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env_with(registry))
        assert self.process.stderr is not None
        line = self.process.stderr.readline()  # "serving http://127.0.0.1:PORT/metrics and ..."
        assert line.startswith("serving http://127.0.0.1:"), line
        self.url = line.split()[1].removesuffix("/metrics")

    def get(self, path: str) -> tuple[int, str, str]:
        return _get(self.url + path)

    def stop(self) -> None:
        self.process.terminate()
        self.process.communicate(timeout=10)  # waits, and closes the stderr pipe


@pytest.mark.allow_hosts(["127.0.0.1"])
def test_serve_after_a_real_run_metrics_health_red_and_green_again(tmp_path: Path) -> None:
    registry = str(tmp_path / "registry.sqlite3")
    archive = tmp_path / "archive"
    shutil.copytree(SAMPLE_ARCHIVE, archive)
    first = api.run(ROOT / "data" / "sample-arb.json", archive=archive, now=NOW, registry=registry,
                    out=tmp_path / "out")  # fmt: skip
    server = Server(registry, archive)
    try:
        status, kind, text = server.get("/metrics")
        assert status == 200
        assert kind.startswith("text/plain")
        exported = {f.name: f for f in text_string_to_metric_families(text)}
        for name, (typ, labels) in CONTRACT.items():
            family = exported[name.removesuffix("_total")]
            assert family.type == typ, name
            for sample in family.samples:
                assert set(sample.labels) - {"le"} == set(labels), (name, sample)
        processed = {s.labels["replay_run_id"]: s.value for s in exported[
            "polytraders_gov_backtester_ticks_processed"].samples}  # fmt: skip
        assert processed == {first.replay_run_id: first.variants[0].ticks_replayed}
        # OpenMetrics when asked for it, ending with # EOF and with the units declared.
        request = urllib.request.Request(
            server.url + "/metrics", headers={"Accept": "application/openmetrics-text"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            om = response.read().decode()
            assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        assert om.endswith("# EOF\n")
        assert "# UNIT polytraders_gov_backtester_run_duration_ms ms" in om

        status, _, body = server.get("/internal/health/backtester")
        assert (status, json.loads(body)["status"]) == (200, "green"), body

        archive.rename(tmp_path / "moved-away")
        status, _, body = server.get("/internal/health/backtester")
        answer = json.loads(body)
        assert (status, answer["status"]) == (503, "red")
        assert [n for n, c in answer["checks"].items() if c["verdict"] == "red"] == ["archive"]
        assert "no archive at" in answer["checks"]["archive"]["detail"]

        (tmp_path / "moved-away").rename(archive)
        second = api.run(ROOT / "data" / "sample-arb.json", archive=archive, now=NOW, registry=registry)
        status, _, body = server.get("/internal/health/backtester")
        assert (status, json.loads(body)["status"]) == (200, "green")
        assert json.loads(body)["checks"]["last_complete"]["value"]["replay_run_id"] == second.replay_run_id

        status, _, body = server.get(f"/runs/{first.replay_run_id}")
        assert status == 200
        assert json.loads(body)["ticks_replayed"] == first.variants[0].ticks_replayed
        status, _, body = server.get("/runs?status=complete")
        assert [r["replay_run_id"] for r in json.loads(body)] == [second.replay_run_id, first.replay_run_id]
        assert server.get("/runs/replay_unknown")[0] == 404
    finally:
        server.stop()
    # A restarted server reports the same counters (they come from the registry), never less.
    again = Server(registry, archive)
    try:
        text = again.get("/metrics")[2]
    finally:
        again.stop()
    runs = {
        s.labels["status"]: s.value
        for f in text_string_to_metric_families(text) if f.name == "polytraders_gov_backtester_runs"
        for s in f.samples if s.labels["strategy"] == "sum_to_one_arb"
    }  # fmt: skip
    assert runs["complete"] == 2
    # The run's own figures beside its reports, in OpenMetrics, with this run's id.
    own = (first.run_dir / "metrics.prom").read_text()
    assert own.endswith("# EOF\n")
    assert f'replay_run_id="{first.replay_run_id}"' in own


# ------------------------------------------------------------------ the JSON logs


def test_json_log_lines_parse_and_carry_the_spec_messages(tmp_path: Path) -> None:
    registry = str(tmp_path / "registry.sqlite3")
    base = [sys.executable, "-c", "from backtester.cli import main; main()", "--log-format", "json"]
    done = subprocess.run(
        [*base, "run", "--config", str(ROOT / "data" / "sample-run.json"), "--now", NOW],
        capture_output=True, text=True, env=env_with(registry), timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    coded = [line for line in lines if line["code"]]
    assert coded, done.stderr
    for line in coded:
        assert set(line) >= {"timestamp", "severity", "code", "replay_run_id", "message", "context"}
    complete = [line for line in coded if line["code"] == "BACKTESTER_REPLAY_COMPLETE"]
    assert complete[-1]["message"] == (
        "The backtest finished. Results are available in the governance audit report."
    )
    assert complete[-1]["severity"] == "INFO"
    assert {line["replay_run_id"] for line in coded} == {json.loads(done.stdout)["replay_run_id"]}
    processed = [line for line in coded if line["code"] == "BACKTESTER_TICK_PROCESSED"]
    assert processed
    assert {"market", "tick"} <= set(processed[0]["context"])

    # A rejected config: one JSON line with its code, severity and the spec's message.
    bad = tmp_path / "bad.json"
    config = json.loads((ROOT / "data" / "sample-arb.json").read_text())
    config["start_ts"], config["end_ts"] = config["end_ts"], config["start_ts"]
    bad.write_text(json.dumps(config))
    refused = subprocess.run(
        [*base, "run", "--config", str(bad), "--now", NOW],
        capture_output=True, text=True, env=env_with(registry), timeout=120, check=False,
    )  # fmt: skip
    assert refused.returncode == 2
    (line,) = [json.loads(x) for x in refused.stderr.splitlines()]
    assert (line["code"], line["severity"]) == ("BACKTESTER_INVALID_WINDOW", "HARD_REJECT")
    assert line["message"] == "The backtest start date must be before the end date."
    assert USER_MESSAGES  # the table the messages come from


# ------------------------------------------------------------------ the alert rules, with promtool


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: scripts/setup-tests.sh installs Debian's prometheus package"
    return subprocess.run(
        [promtool, *args], cwd=RULES, capture_output=True, text=True, timeout=120, check=False
    )


def test_alert_rules_pass_promtool_check_and_their_unit_tests() -> None:
    checked = _promtool("check", "rules", "backtester-rules.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 4 rules found" in checked.stdout
    tested = _promtool("test", "rules", "backtester-rules.test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    print(checked.stdout + tested.stdout)


def test_each_alert_has_a_firing_and_a_quiet_unit_test_and_uses_exported_metrics() -> None:
    import yaml  # noqa: PLC0415 - PyYAML comes with the notebook stack (jupyter_events)

    rules = yaml.safe_load((RULES / "backtester-rules.yml").read_text())["groups"][0]["rules"]
    tests = yaml.safe_load((RULES / "backtester-rules.test.yml").read_text())["tests"]
    spec = {"BacktesterArchiveUnavailable": "page", "BacktesterHighTickSkipRate": "warn",
            "BacktesterNoRunsIn24h": "warn", "BacktesterRunDurationHigh": "warn"}  # fmt: skip
    assert {r["alert"]: r["labels"]["severity"] for r in rules} == spec
    for name in spec:
        cases = [c for t in tests for c in t["alert_rule_test"] if c["alertname"] == name]
        assert any(c["exp_alerts"] for c in cases), name
        assert any(not c["exp_alerts"] for c in cases), name
    exported = set(CONTRACT) | {"polytraders_gov_backtester_run_duration_ms_bucket"}
    for rule in rules:
        used = {w for w in _words(rule["expr"]) if w.startswith("polytraders_")}
        assert used, rule["alert"]
        assert used <= exported, (rule["alert"], used - exported)


def _words(text: str) -> list[str]:
    import re  # noqa: PLC0415

    return re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text)


# ------------------------------------------------------------------ the Grafana dashboards

DASHBOARDS = ROOT / "ops" / "grafana"


def _exported_sample_names() -> set[str]:
    """Every sample name the code really exposes (from the families it builds)."""
    done = record("replay_A", "complete", ticks_replayed=1, ticks_skipped=0, simulated_fills=1,
                  simulated_pnl_pusd="1", started_ms=0, ended_ms=1)  # fmt: skip
    return {s.name for f in families([done], strategies=["sum_to_one_arb"]) for s in f.samples}


def _wsgi_get(application: Any, path: str) -> tuple[str, Any]:
    """One GET through the WSGI app in this process (no socket)."""
    route, _, query = path.partition("?")
    answer: dict[str, str] = {}
    body = b"".join(
        application(
            {"REQUEST_METHOD": "GET", "PATH_INFO": route, "QUERY_STRING": query},
            lambda status, headers: answer.update(status=status),
        )
    )
    return answer["status"], json.loads(body)


def test_the_run_history_dashboard_queries_only_metrics_the_code_exports() -> None:
    board = json.loads((DASHBOARDS / "backtester-run-history.json").read_text())
    assert board["title"] == "Governance / Backtester run history and simulated P&L by strategy"
    exported = _exported_sample_names()
    queried = set()
    for panel in board["panels"]:
        for target in panel["targets"]:
            names = {w for w in _words(target["expr"]) if w.startswith("polytraders_")}
            assert names, panel["title"]
            assert names <= exported, (panel["title"], names - exported)
            queried |= names
    # Every one of the six metrics is on the board.
    for name in CONTRACT:
        assert any(q == name or q.startswith(name + "_") for q in queried), name


def test_the_sweep_dashboard_reads_fields_the_runs_endpoint_serves(tmp_path: Path) -> None:
    from backtester.governance import aggregate_counts  # noqa: PLC0415
    from backtester.ops.server import app  # noqa: PLC0415

    counts = aggregate_counts(
        {"report_id": "ops_backtester_replay_S_complete", "ticks_replayed": 10, "ticks_skipped": 0,
         "variants": [{"variant_id": i, "params": {"min_edge_bps": 10 * i}, "simulated_fills": i,
                       "simulated_volume_pusd": "1", "simulated_pnl_pusd": str(i),
                       "simulated_net_fees_pusd": "0", "realised_pnl_pusd": "0", "unrealised_pnl_pusd": "0",
                       "vs_original_pnl_delta_pusd": "0"} for i in range(2)]}
    )  # fmt: skip
    sweep = record(
        "replay_S", "complete", variants=2, started_ms=1, ended_ms=2, config_sha256="abc", **counts
    )
    application = app(_registry_with(tmp_path, [sweep]))
    board = json.loads((DASHBOARDS / "backtester-sweep-comparison.json").read_text())
    assert board["title"] == "Governance / Parameter sweep results comparison"
    for panel in board["panels"]:
        (target,) = panel["targets"]
        path = target["url"].replace("${base}", "").replace("${run}", "replay_S")
        status, served = _wsgi_get(application, path)
        assert status.startswith("200"), (panel["title"], status)
        rows = served[target["root_selector"]] if "root_selector" in target else served
        assert rows, panel["title"]
        for column in target["columns"]:
            assert all(column["selector"] in row for row in rows), (panel["title"], column["selector"])


# ------------------------------------------------------------------ the topic and its retention


def _topic_file(out: Path, epoch: str, run_id: str, retained: str, n: int) -> Path:
    """A GENERATED topic file: ``n`` placeholder reports of ``run_id`` in partition ``epoch``."""
    import datetime as dt  # noqa: PLC0415

    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    from backtester.runs.output import operations_schema  # noqa: PLC0415

    folder = out / "operations" / "bot_slug=backtester" / f"epoch={epoch}"
    folder.mkdir(parents=True, exist_ok=True)
    rows = {
        "report_id": [f"ops_{run_id}_{i}" for i in range(n)], "replay_run_id": [run_id] * n,
        "event_type": ["BACKTESTER_TICK_PROCESSED"] * n, "report_kind": ["OperationsReport"] * n,
        "partition": [f"backtester+{epoch}T00:00Z"] * n, "ts_ms": [0] * n,
        "retained_until": [dt.date.fromisoformat(retained)] * n, "mode": ["replay"] * n, "report": ["{}"] * n,
    }  # fmt: skip
    path = folder / f"{run_id}.parquet"
    pq.write_table(pa.table(rows, schema=operations_schema()), path, compression="zstd")
    return path


def test_retention_drops_exactly_the_expired_partitions_and_never_a_running_runs(tmp_path: Path) -> None:
    import datetime as dt  # noqa: PLC0415

    from backtester.ops.retention import apply_retention, query  # noqa: PLC0415

    out = tmp_path / "out"
    old = _topic_file(out, "2025-01-01", "replay_OLD", "2026-01-01", 3)  # expired
    edge = _topic_file(out, "2025-05-31", "replay_EDGE", "2026-06-01", 2)  # kept through its day
    new = _topic_file(out, "2025-12-01", "replay_NEW", "2026-12-01", 4)  # kept
    live = _topic_file(out, "2025-02-01", "replay_LIVE", "2026-01-15", 5)  # expired, but still running
    shared = _topic_file(out, "2025-12-01", "replay_OLD2", "2026-02-01", 1)  # expired, beside a kept file
    registry = _registry_with(
        tmp_path, [record("replay_LIVE", "running", host="elsewhere", heartbeat_ms=2**62)]
    )
    now = dt.date(2026, 6, 1)

    dry = apply_retention(out, now=now, dry_run=True, registry=registry)
    assert all(p.exists() for p in (old, edge, new, live, shared))
    assert dry.as_dict()["partitions"] == {
        "bot_slug=backtester/epoch=2025-01-01": {"files": 1, "reports": 3},
        "bot_slug=backtester/epoch=2025-12-01": {"files": 1, "reports": 1},
    }

    done = apply_retention(out, now=now, registry=registry)
    assert done.as_dict()["partitions"] == dry.as_dict()["partitions"]
    assert (done.reports_dropped, done.held) == (
        4,
        ["bot_slug=backtester/epoch=2025-02-01/replay_LIVE.parquet"],
    )
    assert done.removed_partitions == ["bot_slug=backtester/epoch=2025-01-01"]
    assert not old.exists()
    assert not shared.exists()
    assert edge.exists()
    assert new.exists()
    assert live.exists()
    left = query(out, "SELECT replay_run_id, count(*) AS n FROM reports GROUP BY ALL ORDER BY 1")
    assert left.to_dict("records") == [
        {"replay_run_id": "replay_EDGE", "n": 2}, {"replay_run_id": "replay_LIVE", "n": 5},
        {"replay_run_id": "replay_NEW", "n": 4},
    ]  # fmt: skip
    # Nothing more to drop: a second pass is a no-op.
    assert apply_retention(out, now=now, registry=registry).reports_dropped == 0
