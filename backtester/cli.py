"""The ``backtester`` command: a thin driver over :mod:`backtester.api`.

Exit codes: 0 success; 2 rejected input (a config with its reason code, or an import
file with ``file:line: field: message``), or a bundle that does not verify; 3 archive
unavailable (``BACKTESTER_ARCHIVE_UNAVAILABLE``; ``evidence`` still writes a complete
bundle whose report says the run aborted, and prints its path); 4 an evidence template
failed or was interrupted (its bundle is marked failed); 1 anything unexpected.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from backtester import api
from backtester.archive.adapters import FORMATS
from backtester.errors import ArchiveError, ArchiveUnavailable, ConfigError, EvidenceError, ImportRejected
from backtester.sample import LIVE_TRAIL, REAL_DATA, SAMPLE_ARCHIVE, build_sample

__all__ = ["main"]

EXIT_REJECTED = 2
EXIT_ARCHIVE_UNAVAILABLE = 3
EXIT_FAILED = 4

_ARCHIVE = click.option(
    "--archive",
    type=click.Path(path_type=Path),
    default=None,
    help="Archive: a DuckDB file or a Parquet directory [default: $BACKTESTER_ARCHIVE, "
    "else the bundled sample].",
)


def _emit(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


def _fail(message: str, code: int) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


@contextmanager
def _exit_codes() -> Iterator[None]:
    """Turn the backtester's rejections into the documented exit codes and stderr text."""
    try:
        yield
    except (ConfigError, ImportRejected, EvidenceError) as exc:
        _fail(str(exc), EXIT_REJECTED)
    except ArchiveUnavailable as exc:
        _fail(str(exc), EXIT_ARCHIVE_UNAVAILABLE)
    except ArchiveError as exc:
        _fail(str(exc), EXIT_REJECTED)


@click.group()
@click.version_option(package_name="backtester")
def main() -> None:
    """Governance backtester for Polymarket strategies (replay only; never trades)."""


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


@main.command("run")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@_ARCHIVE
@click.option("--now", default=None, help="The clock, ISO 8601 UTC [default: the wall clock].")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Write the run to OUT/<replay_run_id>/ and the topic OUT/operations/.")  # fmt: skip
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes for a sweep's variants [default: one per core].")  # fmt: skip
@click.option("--progress/--no-progress", default=None, help="A progress bar [default: on a terminal].")
def run_cmd(  # noqa: PLR0917 - click passes every option by position
    config_path: Path, archive: Path | None, now: str | None, out: Path | None, workers: int | None,
    progress: bool | None,
) -> None:  # fmt: skip
    """Replay the run config over the archive and print the run's summary as JSON: its
    BACKTESTER_REPLAY_COMPLETE report, the live bot's outcome and how the decisions compare."""
    try:
        clock = api.resolve_now(now)
    except ValueError as exc:
        _fail(f"--now: {exc}", EXIT_REJECTED)
    with _exit_codes():
        result = api.run(config_path, archive=archive, now=clock, out=out, workers=workers, progress=progress)
    summary = result.summary()
    for notice in summary["notices"]:
        click.echo(f"{notice['severity']} {notice['code']}: {notice['detail']}", err=True)
    _emit(summary)
    if result.run_dir is not None:
        click.echo(f"run written to {result.run_dir}", err=True)
    if result.abort_report is not None:
        abort = result.abort_report
        _fail(f"{abort['event_type']}: {abort['reason']}", EXIT_ARCHIVE_UNAVAILABLE)


@main.group("evidence", invoke_without_command=True)
@click.option("--config", "config_path", type=click.Path(exists=True, path_type=Path), default=None)
@click.option("--template", default="sweep", show_default=True,
              help="'single', 'sweep', or the path of a template notebook.")  # fmt: skip
@_ARCHIVE
@click.option("--now", default=None, help="The clock, ISO 8601 UTC [default: the wall clock].")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Bundles go to OUT/<run id>/.")
@click.option("--timeout", "timeout_s", type=click.IntRange(min=1), default=900, show_default=True,
              help="Seconds one template cell may run before the bundle fails (a hung kernel).")  # fmt: skip
@click.pass_context
def evidence_cmd(  # noqa: PLR0917 - click passes every option by position
    ctx: click.Context, config_path: Path | None, template: str, archive: Path | None, now: str | None,
    out: Path | None, timeout_s: int,
) -> None:  # fmt: skip
    """Make an audit evidence bundle: the template notebook executed headless on the run
    config, its HTML report, the run's reports and a manifest; prints the report's path.

    `backtester evidence verify DIR` re-hashes a bundle."""
    if ctx.invoked_subcommand is not None:
        return
    if config_path is None or out is None:
        _fail("evidence needs --config FILE and --out DIR (or: evidence verify DIR)", EXIT_REJECTED)
    try:
        clock = api.resolve_now(now)
    except ValueError as exc:
        _fail(f"--now: {exc}", EXIT_REJECTED)
    try:
        with _exit_codes():
            bundle = api.make_evidence(
                config_path, out=out, template=template, archive=archive, now=clock, timeout_s=timeout_s
            )
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: the bundle is sealed as failed
        where = getattr(exc, "bundle_path", None)
        sealed = f"; evidence bundle {where} sealed as failed" if where else ""
        _fail(f"interrupted ({exc or 'Ctrl-C'}){sealed}", EXIT_FAILED)
    for notice in bundle.notices:
        click.echo(f"{notice['severity']} {notice['code']}: {notice['detail']}", err=True)
    if bundle.status != "complete":
        _fail(f"evidence bundle {bundle.path} FAILED: {bundle.error}", EXIT_FAILED)
    click.echo(f"bundle {bundle.path} complete", err=True)
    click.echo(str(bundle.report))
    if bundle.run_status == "aborted":
        abort = bundle.abort or {}
        _fail(f"the run aborted: {abort.get('event_type')}: {abort.get('reason')}", EXIT_ARCHIVE_UNAVAILABLE)


@evidence_cmd.command("verify")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--require-run-complete", is_flag=True,
              help="Also fail (exit 2) a bundle whose run aborted (intact, nothing replayed).")  # fmt: skip
def evidence_verify(path: Path, require_run_complete: bool) -> None:
    """Re-hash a bundle against its manifest; exit 2 and list the problems if any.
    Prints the run's own status: a bundle can be intact evidence of an aborted run."""
    problems = api.verify_evidence(path)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        sys.exit(EXIT_REJECTED)
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    run_status = manifest.get("run_status")
    click.echo(f"{path}: verified (the run: {run_status})")
    if require_run_complete and run_status != "complete":
        _fail(f"the run did not complete: {run_status}", EXIT_REJECTED)


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
