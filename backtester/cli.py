"""The ``backtester`` command: a thin driver over :mod:`backtester.api`.

Exit codes: :data:`EXIT_CODES`, the table ``--help`` prints at its end.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import click

from backtester import api
from backtester.archive.adapters import FORMATS
from backtester.archive.deadline import archive_timeout_ms as archive_timeout
from backtester.config import format_ms
from backtester.errors import (
    ArchiveError,
    ArchiveUnavailable,
    ConfigError,
    EvidenceError,
    GovernanceError,
    ImportRejected,
    ReasonCode,
    RegistryUnavailable,
    RunRefused,
    user_message,
)
from backtester.governance import STATUSES, Registry, RunRecord, Who, stop_all
from backtester.governance.registry import max_in_flight as in_flight_limit
from backtester.ops.logs import LOG_FORMAT_ENV, log_code
from backtester.ops.logs import configure as configure_logs
from backtester.runs import check_run_id
from backtester.runs.tables import FORMATS as TABLE_FORMATS
from backtester.sample import LIVE_TRAIL, REAL_DATA, SAMPLE_ARCHIVE, build_sample

__all__ = ["main"]

EXIT_REJECTED = 2
EXIT_ABORTED = 3
EXIT_FAILED = 4
EXIT_TEMPFAIL = 75  # EX_TEMPFAIL (sysexits.h): refused for now, try again later

EXIT_CODES = """\b
Exit codes:
  0   success
  1   anything unexpected (and abort --wait while the run still runs)
  2   rejected input: a config (with its reason code), an import file
      (file:line: field: message), a run id already registered, an abort of a
      run that is not running; a bundle that does not verify; a folder that is
      not a run (export-results)
  3   the run aborted: BACKTESTER_ARCHIVE_UNAVAILABLE (also any command that
      cannot read the archive) or BACKTESTER_RUN_ABORTED by an operator
      (evidence still writes a complete bundle that says so)
  4   an evidence template failed or was interrupted (its bundle is marked failed)
  75  refused for now (EX_TEMPFAIL, try again later): KILL_SWITCH_ACTIVE,
      BACKTESTER_RUN_QUEUE_FULL, or a registry that cannot be reached
"""
"""The exit codes, as ``--help`` shows them (the module docstring says the same)."""

_ARCHIVE = click.option(
    "--archive",
    type=click.Path(path_type=Path),
    default=None,
    help="Archive: a DuckDB file or a Parquet directory [default: $BACKTESTER_ARCHIVE, "
    "else the bundled sample].",
)


def _emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


_LOG = {"format": "text"}


def _fail(message: str, code: int, *, exc: BaseException | None = None) -> NoReturn:
    """Exit ``code``, saying why on stderr: the text, or with ``--log-format json`` one
    JSON line (the reason code's, when the error carries one)."""
    if _LOG["format"] == "json":
        reason = getattr(exc, "code", None)
        if isinstance(reason, ReasonCode):
            log_code(reason, replay_run_id=getattr(exc, "replay_run_id", None), detail=message)
        else:
            logging.getLogger("backtester.cli").error(message, extra={"severity": "ERROR", "exit_code": code})
    else:
        click.echo(message, err=True)
    sys.exit(code)


def _say(message: str) -> None:
    """A line for the operator on stderr (as JSON with ``--log-format json``)."""
    if _LOG["format"] == "json":
        logging.getLogger("backtester.cli").info(message, extra={"severity": "INFO"})
    else:
        click.echo(message, err=True)


def _notices(run_id: str | None, notices: list[dict[str, Any]]) -> None:
    for notice in notices:
        if _LOG["format"] == "json":
            log_code(notice["code"], replay_run_id=run_id, detail=notice["detail"])
        else:
            click.echo(f"{notice['severity']} {notice['code']}: {notice['detail']}", err=True)


@contextmanager
def _exit_codes(*, launching: bool = False) -> Iterator[None]:
    """Turn the backtester's rejections into the documented exit codes and stderr text
    (``launching``: a run or a bundle, which a registry out of reach does not start)."""
    try:
        yield
    except (ConfigError, ImportRejected, EvidenceError) as exc:
        _fail(str(exc), EXIT_REJECTED, exc=exc)
    except RunRefused as exc:
        _fail(_refusal(exc), EXIT_TEMPFAIL, exc=exc)
    except RegistryUnavailable as exc:
        _fail(f"{exc}{'; nothing was launched' if launching else ''}", EXIT_TEMPFAIL, exc=exc)
    except GovernanceError as exc:
        _fail(str(exc), EXIT_REJECTED, exc=exc)
    except ArchiveUnavailable as exc:
        _fail(str(exc), EXIT_ABORTED, exc=exc)
    except ArchiveError as exc:
        _fail(str(exc), EXIT_REJECTED, exc=exc)


def _refusal(exc: RunRefused) -> str:
    """The code, its severity and user-facing message (spec section 14), and why."""
    message = user_message(exc.code)
    told = f" {message}" if message else ""
    return (
        f"{exc.code} ({exc.code.severity}):{told} {exc.message} (run {exc.replay_run_id} recorded as refused)"
    )


_REGISTRY = click.option(
    "--registry",
    default=None,
    help="The run registry: a SQLite file, sqlite:///PATH or postgresql://... "
    "[default: $BACKTESTER_REGISTRY, else $XDG_STATE_HOME/backtester/registry.sqlite3].",
)


def _governed(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every governed launch (run, evidence) takes."""
    for option in reversed(
        (
            _REGISTRY,
            click.option("--replay-run-id", "run_id", default=None,
                         help="The run's id, the idempotency key [default: a new replay_<ULID>]."),
            click.option("--max-in-flight", type=click.IntRange(min=1), default=None,
                         help="Runs in flight beyond which a launch is refused "
                         "[default: $BACKTESTER_MAX_IN_FLIGHT, else 5]."),
            click.option("--archive-timeout-ms", type=click.IntRange(min=1), default=None,
                         help="Per-call archive timeout; a read that does not answer aborts the run "
                         "as stalled [default: $BACKTESTER_ARCHIVE_TIMEOUT_MS, else 300000]."),
        )
    ):  # fmt: skip
        command = option(command)
    return command


def _launch_options(
    now: str | None, run_id: str | None, max_in_flight: int | None, archive_timeout_ms: int | None
) -> datetime:
    """Check a launch's own options (and the settings they default to) before anything is
    launched: exit 2 with the reason. Returns the clock."""
    try:
        clock = api.resolve_now(now)
    except ValueError as exc:
        _fail(f"--now: {exc}", EXIT_REJECTED)
    try:
        if run_id is not None:
            check_run_id(run_id)
        in_flight_limit(max_in_flight)
        archive_timeout(archive_timeout_ms)
    except ValueError as exc:
        _fail(str(exc), EXIT_REJECTED)
    return clock


@contextmanager
def _sigterm_stops() -> Iterator[None]:
    """The first SIGTERM asks the run to stop at its next tick boundary (it ends aborted,
    its report written); a second one ends the process at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum: int, _frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if not stop_all(f"terminated by signal {signum} (SIGTERM)"):
            os.kill(os.getpid(), signal.SIGTERM)  # no run in flight yet: end now, as by default

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.group(epilog=EXIT_CODES)
@click.version_option(package_name="backtester")
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None,
              help="stderr as the usual text, or one JSON line per reason code and message "
              "[default: $BACKTESTER_LOG_FORMAT, else text].")  # fmt: skip
def main(log_format: str | None) -> None:
    """Governance backtester for Polymarket strategies (replay only; never trades)."""
    try:
        _LOG["format"] = configure_logs(log_format)
    except ValueError as exc:
        _fail(f"{LOG_FORMAT_ENV}: {exc}", EXIT_REJECTED)


@main.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@_ARCHIVE
@click.option("--from", "source_format", type=click.Choice(FORMATS), default="contract",
              show_default=True, help="Input format: the archive contract or a recorder's.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def import_cmd(paths: tuple[Path, ...], archive: Path | None, source_format: str, as_json: bool) -> None:
    """Import PATHS into the archive, each file all or nothing."""
    with _exit_codes():
        outcome = api.import_files(paths, archive=archive, source_format=source_format)
    if as_json:
        _emit(
            {
                "imported": [r.as_dict() for r in outcome.results],
                "rejected": [
                    {"path": p, "problems": [str(x) for x in e.problems]} for p, e in outcome.rejected
                ],
            }
        )
    else:
        for result in outcome.results:
            rows = ", ".join(f"{n} {t}" for t, n in result.rows.items()) or "no new rows"
            status = "already imported" if result.skipped else rows
            click.echo(f"{result.path}: {status}")
    for _, exc in outcome.rejected:
        click.echo(str(exc), err=True)
    if outcome.rejected:
        sys.exit(EXIT_REJECTED)


@main.group()
def archive() -> None:
    """Inspect or export an archive."""


@archive.command("info")
@_ARCHIVE
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
def archive_info(archive: Path | None, as_json: bool) -> None:
    """What the archive holds: counts by kind and by market, spans, content hash."""
    with _exit_codes():
        info = api.archive_info(archive)
    if as_json:
        _emit(info)
        return
    click.echo(f"archive         {info['archive']} ({info['storage']})")
    click.echo(f"content sha256  {info['content_sha256']}")
    click.echo("records         " + ", ".join(f"{k} {v}" for k, v in info["counts"].items()))
    if info["reports_by_kind"]:
        click.echo("reports         " + ", ".join(f"{k} {v}" for k, v in info["reports_by_kind"].items()))
    click.echo(f"markets         {len(info['markets'])}")
    for m in info["markets"]:
        span = f"{m['first_ts']} .. {m['last_ts']}" if m["first_ts"] else "no data"
        counts = ", ".join(f"{k} {v}" for k, v in m["counts"].items())
        click.echo(f"  {m['condition_id']}  {span}  {counts}")
        if m["question"]:
            click.echo(f"    {m['question']}")


@archive.command("export")
@_ARCHIVE
@click.option("--out", type=click.Path(path_type=Path), required=True, help="New directory to write.")
def archive_export(archive: Path | None, out: Path) -> None:
    """Export the archive as Parquet (hive layout by date and market)."""
    with _exit_codes():
        path = api.export_archive(out, archive=archive)
    click.echo(str(path))


@main.command("run", epilog=EXIT_CODES)
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@_ARCHIVE
@click.option("--now", default=None, help="The clock, ISO 8601 UTC [default: the wall clock].")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write the run to OUT/<replay_run_id>/ and the topic OUT/operations/.")  # fmt: skip
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes for a sweep's variants [default: one per core].")  # fmt: skip
@click.option("--progress/--no-progress", default=None, help="A progress bar [default: on a terminal].")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Variants here (processes) or as Ray tasks (needs the [ray] extra).")  # fmt: skip
@click.option("--ray-address", default=None,
              help="The Ray cluster (HEAD:6379) [default: one on this machine].")  # fmt: skip
@click.option("--ray-storage", type=click.Path(path_type=Path), default=None,
              help="Where every Ray node reads the archive as Parquet [default: a temp folder].")  # fmt: skip
@_governed
def run_cmd(  # noqa: PLR0917 - click passes every option by position
    config_path: Path, archive: Path | None, now: str | None, out: Path | None, workers: int | None,
    progress: bool | None, executor: str, ray_address: str | None, ray_storage: Path | None,
    registry: str | None, run_id: str | None, max_in_flight: int | None, archive_timeout_ms: int | None,
) -> None:  # fmt: skip
    """Replay the run config over the archive and print the run's summary as JSON: its
    BACKTESTER_REPLAY_COMPLETE report, the live bot's outcome and how the decisions compare.

    The run is governed: admitted in the run registry (refused, exit 75, while the kill
    switch is on or 5 runs are in flight), abortable with `backtester abort`, and
    stopped at its next tick boundary by a first SIGTERM."""
    clock = _launch_options(now, run_id, max_in_flight, archive_timeout_ms)
    with _exit_codes(launching=True), _sigterm_stops():
        result = api.run(
            config_path, archive=archive, now=clock, out=out, workers=workers, progress=progress,
            run_id=run_id, registry=registry, max_in_flight=max_in_flight,
            archive_timeout_ms=archive_timeout_ms, executor=executor, ray_address=ray_address,
            ray_storage=ray_storage,
        )  # fmt: skip
    summary = result.summary()
    _notices(result.replay_run_id, summary["notices"])
    _emit(summary)
    if result.run_dir is not None:
        _say(f"run written to {result.run_dir}")
    if result.abort_report is not None:
        abort = result.abort_report
        _fail(f"{abort['event_type']}: {abort['reason']}", EXIT_ABORTED)


@main.group("evidence", invoke_without_command=True, epilog=EXIT_CODES)
@click.option("--config", "config_path", type=click.Path(exists=True, path_type=Path), default=None)
@click.option("--template", default="sweep", show_default=True,
              help="'single', 'sweep', or the path of a template notebook.")  # fmt: skip
@_ARCHIVE
@click.option("--now", default=None, help="The clock, ISO 8601 UTC [default: the wall clock].")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Bundles go to OUT/<run id>/.")
@click.option("--timeout", "timeout_s", type=click.IntRange(min=1), default=900, show_default=True,
              help="Seconds one template cell may run before the bundle fails (a hung kernel).")  # fmt: skip
@click.option(
    "--progress/--no-progress", default=None, help="Say each step on stderr [default: on a terminal]."
)
@_governed
@click.pass_context
def evidence_cmd(  # noqa: PLR0917 - click passes every option by position
    ctx: click.Context, config_path: Path | None, template: str, archive: Path | None, now: str | None,
    out: Path | None, timeout_s: int, progress: bool | None, registry: str | None, run_id: str | None,
    max_in_flight: int | None, archive_timeout_ms: int | None,
) -> None:  # fmt: skip
    """Make an audit evidence bundle: the template notebook executed headless on the run
    config, its HTML report, the run's reports and a manifest; prints the report's path.

    `backtester evidence verify DIR` re-hashes a bundle."""
    if ctx.invoked_subcommand is not None:
        return
    if config_path is None or out is None:
        _fail("evidence needs --config FILE and --out DIR (or: evidence verify DIR)", EXIT_REJECTED)
    clock = _launch_options(now, run_id, max_in_flight, archive_timeout_ms)
    try:
        with _exit_codes(launching=True):
            bundle = api.make_evidence(
                config_path, out=out, template=template, archive=archive, now=clock, timeout_s=timeout_s,
                run_id=run_id, registry=registry, max_in_flight=max_in_flight,
                archive_timeout_ms=archive_timeout_ms, progress=progress,
            )  # fmt: skip
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: the bundle is sealed as failed
        where = getattr(exc, "bundle_path", None)
        sealed = f"; evidence bundle {where} sealed as failed" if where else ""
        _fail(f"interrupted ({exc or 'Ctrl-C'}){sealed}", EXIT_FAILED)
    _notices(None, bundle.notices)
    if bundle.status != "complete":
        _fail(f"evidence bundle {bundle.path} FAILED: {bundle.error}", EXIT_FAILED)
    click.echo(f"bundle {bundle.path} complete", err=True)
    click.echo(str(bundle.report))
    if bundle.run_status == "aborted":
        abort = bundle.abort or {}
        _fail(f"the run aborted: {abort.get('event_type')}: {abort.get('reason')}", EXIT_ABORTED)


@evidence_cmd.command("verify")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--require-run-complete", is_flag=True,
              help="Also fail (exit 2) a bundle whose run aborted (intact, nothing replayed).")  # fmt: skip
def evidence_verify(path: Path, require_run_complete: bool) -> None:
    """Re-hash every file of a bundle against its manifest; exit 2 and list the problems
    if any. The last line is the verdict: "verified" or "NOT VERIFIED: N problems".
    Prints the run's own status: a bundle can be intact evidence of an aborted run."""
    problems = api.verify_evidence(path)
    manifest = {} if problems else json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    run_status = manifest.get("run_status")
    if not problems and require_run_complete and run_status != "complete":
        problems = [f"the run did not complete: {run_status}"]
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        plural = "s" if len(problems) > 1 else ""
        click.echo(f"NOT VERIFIED: {len(problems)} problem{plural} in {path}", err=True)
        sys.exit(EXIT_REJECTED)
    files = len(manifest.get("artifacts") or {}) + 1
    click.echo(f"{path}: {files} files match the manifest (the run: {run_status})")
    click.echo("verified")


@main.command("export-results")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("out", metavar="DIR", type=click.Path(path_type=Path))
@click.option("--to", "to", type=click.Choice(TABLE_FORMATS), default="parquet", show_default=True,
              help="Parquet (the run's own bytes) or CSV.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the files written as JSON.")
def export_results_cmd(run_dir: Path, out: Path, to: str, as_json: bool) -> None:
    """Export the tables of RUN_DIR (a run directory or an evidence bundle) to DIR as
    <name>.parquet or <name>.csv: fills, equity, stats, market_stats, trades, comparison,
    reports, each checked against the sha256 the run recorded. Prints each file written.
    Exit 2 for a folder that is not a complete run or bundle (a .partial one is refused)."""
    try:
        paths = api.export_results(run_dir, to=to, out=out)
    except ValueError as exc:
        _fail(str(exc), EXIT_REJECTED, exc=exc)
    if as_json:
        _emit({"run_dir": str(run_dir), "to": to, "files": [str(p) for p in paths]})
        return
    for path in paths:
        click.echo(str(path))


@main.command("killswitch")
@click.argument("action", type=click.Choice(["on", "off", "status"]))
@click.option("--reason", default=None, help="Why (recorded with who and when).")
@_REGISTRY
@click.option("--json", "as_json", is_flag=True, help="Print the kill switch as JSON.")
def killswitch_cmd(action: str, reason: str | None, registry: str | None, as_json: bool) -> None:
    """Turn the kill switch on or off, or show it. While it is on, every new launch (run,
    sweep, evidence) is refused with KILL_SWITCH_ACTIVE (exit 75); runs already in
    progress continue to completion."""
    with _exit_codes(), Registry(registry) as store:
        store.reap()
        if action == "status":
            switch = store.kill_switch()
        else:
            switch = store.set_kill_switch(action == "on", who=Who.me(), reason=reason)
        running = len(store.runs(status="running"))
    if as_json:
        _emit({**switch.as_dict(), "runs_in_flight": running, "registry": store.shown})
        return
    click.echo(f"kill switch {switch} ({running} run(s) in flight; registry {store.shown})")


@main.command("abort")
@click.option("--replay-run-id", "run_id", required=True, help="The run to stop.")
@click.option("--reason", default=None, help="Why (recorded with who and when).")
@_REGISTRY
@click.option("--wait", "wait_s", type=click.FloatRange(min=0), default=30, show_default=True,
              help="Seconds to wait for the run to end (0: only record the request).")  # fmt: skip
def abort_cmd(run_id: str, reason: str | None, registry: str | None, wait_s: float) -> None:
    """Abort a running replay (the spec runbook's manual override): it stops at a tick
    boundary within about a second and ends aborted, with its aborted OperationsReport written. Exit 2 for
    an unknown or finished run; 1 if it is still running after --wait."""
    with _exit_codes(), Registry(registry) as store:
        store.request_abort(run_id, who=Who.me(), reason=reason)
        click.echo(f"abort of {run_id} requested; the run stops at its next tick boundary", err=True)
        asked = time.monotonic()
        record = store.run(run_id)
        while record is not None and record.status == "running" and time.monotonic() - asked < wait_s:
            time.sleep(0.1)
            store.reap()
            record = store.run(run_id)
    if record is not None and record.status == "running":
        if wait_s:
            _fail(f"{run_id} is still running after {wait_s:g} s; the request stands", 1)
        return
    assert record is not None
    took = time.monotonic() - asked
    click.echo(f"{run_id} ended {record.status} {took:.2f} s after the request: {record.reason}")


@main.group("runs")
def runs_group() -> None:
    """The run registry: what ran, what runs, what was refused."""


@runs_group.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only runs of this status.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many (newest first).")
@_REGISTRY
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
def runs_list(status: str | None, limit: int | None, registry: str | None, as_json: bool) -> None:
    """List runs, newest first (runs whose process is gone are marked interrupted first)."""
    with _exit_codes(), Registry(registry) as store:
        store.reap()
        records = store.runs(status=status, limit=limit)
    if as_json:
        _emit([record.as_dict() for record in records])
        return
    header = f"{'replay_run_id':<34} {'status':<11} {'kind':<8} {'strategy':<17} {'var':>3} {'started':<24} "
    click.echo(header + f"{'took':>9}  {'launched by':<24} why")
    for r in records:
        took = f"{r.duration_ms / 1000:.1f} s" if r.duration_ms is not None else "-"
        why = f"{r.reason_code}: {r.reason}" if r.reason_code else (r.reason or "")
        click.echo(
            f"{r.replay_run_id:<34} {r.status:<11} {r.kind:<8} {r.strategy or '-':<17} {r.variants or 0:>3} "
            f"{format_ms(r.started_ms):<24} {took:>9}  {f'{r.launched_by}@{r.host}':<24} {why[:80]}"
        )


@runs_group.command("show")
@click.argument("run_id")
@_REGISTRY
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
def runs_show(run_id: str, registry: str | None, as_json: bool) -> None:
    """One run: config hash, who and where, its status history, the counts of its
    aggregate report, and where its output lives."""
    with _exit_codes(), Registry(registry) as store:
        store.reap()
        record = store.run(run_id)
    if record is None:
        _fail(f"no run {run_id} in the registry {store.shown}", EXIT_REJECTED)
    if as_json:
        _emit(record.as_dict())
        return
    _show(record)


def _show(record: RunRecord) -> None:
    shown = record.as_dict()
    history = shown.pop("history")
    variants = shown.pop("variant_results")
    for key, value in shown.items():
        if value is not None:
            click.echo(f"{key:<24} {value}")
    for variant in variants or []:
        click.echo(f"{'variant':<24} {json.dumps(variant, sort_keys=True)}")
    click.echo("history")
    for event in history:
        by = f" by {event['by']}" if event["by"] else ""
        detail = f": {event['detail']}" if event["detail"] else ""
        click.echo(f"  {event['at']}  {event['status']}{by}{detail}")


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=9464, show_default=True,
              help="Port to bind (0: one the operating system picks).")  # fmt: skip
@_REGISTRY
@_ARCHIVE
def serve_cmd(host: str, port: int, registry: str | None, archive: Path | None) -> None:
    """Serve /metrics (the spec's six metrics, from the run registry),
    /internal/health/backtester (the health check: 200, or 503 when red), and read-only
    /runs and /runs/{replay_run_id} (JSON). Stops on SIGTERM or Ctrl-C."""
    from backtester.ops.server import make_server  # noqa: PLC0415 - only the server needs waitress

    with _exit_codes(), Registry(registry) as store:
        store.kill_switch()  # a registry out of reach: exit 75 now, not a 503 per request
    server = make_server(registry, host=host, port=port, archive=archive)
    bound = f"http://{server.effective_host}:{server.effective_port}"
    click.echo(f"serving {bound}/metrics and {bound}/internal/health/backtester", err=True)
    signal.signal(signal.SIGTERM, lambda *_: server.close())
    try:
        server.run()
    except (KeyboardInterrupt, OSError, ValueError):  # closed by a signal while waiting
        pass
    finally:
        server.close()


@main.group("reports")
def reports_group() -> None:
    """The operations topic (polytraders.reports.operations) under a run's --out."""


@reports_group.command("query")
@click.argument("sql")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The --out of the runs.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON (else CSV).")
def reports_query(sql: str, out: Path, as_json: bool) -> None:
    """Run SQL over the topic in place (DuckDB); the view `reports` holds every report,
    e.g. "SELECT event_type, count(*) FROM reports GROUP BY ALL"."""
    import duckdb  # noqa: PLC0415

    try:
        frame = api.reports_frame(out, sql)
    except duckdb.Error as exc:
        _fail(f"query failed: {exc}", EXIT_REJECTED)
    if as_json:
        click.echo(frame.to_json(orient="records", date_format="iso", indent=2))
    else:
        click.echo(frame.to_csv(index=False), nl=False)


@main.group("retention")
def retention_group() -> None:
    """Retention of the operations topic (1 year, spec section 9)."""


@retention_group.command("apply")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The --out of the runs.")
@click.option("--now", default=None, help="The clock, ISO 8601 UTC [default: the wall clock].")
@click.option("--dry-run", is_flag=True, help="Say what would be dropped; drop nothing.")
@_REGISTRY
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def retention_apply(out: Path, now: str | None, dry_run: bool, registry: str | None, as_json: bool) -> None:
    """Drop the reports past their retained_until, partition by partition; never those of a
    run the registry still holds running."""
    from backtester.ops.retention import apply_retention  # noqa: PLC0415

    try:
        clock = api.resolve_now(now)
    except ValueError as exc:
        _fail(f"--now: {exc}", EXIT_REJECTED)
    with _exit_codes():
        outcome = apply_retention(out, now=clock.date(), dry_run=dry_run, registry=registry)
    if as_json:
        _emit(outcome.as_dict())
        return
    verb = "would drop" if dry_run else "dropped"
    for partition, counts in outcome.dropped.items():
        click.echo(f"{verb} {counts['reports']} report(s) in {counts['files']} file(s) from {partition}")
    for held in outcome.held:
        click.echo(f"kept {held}: its run is still running")
    total = sum(c["files"] for c in outcome.dropped.values())
    click.echo(
        f"{verb} {outcome.reports_dropped} report(s) in {total} file(s) from {len(outcome.dropped)} "
        f"partition(s) expired before {outcome.now}; {outcome.kept_files} file(s) kept"
    )


@main.group()
def sample() -> None:
    """The bundled sample archive."""


@sample.command("build")
@click.option("--sources", type=click.Path(exists=True, path_type=Path), default=REAL_DATA, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=SAMPLE_ARCHIVE, show_default=True)
@click.option("--trail", type=click.Path(path_type=Path), default=LIVE_TRAIL, show_default=True,
              help="Where to write the generated live trail (see data/README.md).")  # fmt: skip
def sample_build(sources: Path, out: Path, trail: Path) -> None:
    """Rebuild the sample archive from the real recordings, with its generated live trail."""
    click.echo(str(build_sample(sources, out, trail)))
