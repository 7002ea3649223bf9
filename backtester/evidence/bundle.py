"""Audit evidence bundles: a template notebook executed headless by papermill.

``make_evidence`` validates the config (a rejected one raises before any work), then
executes the template into ``<out>/.<replay_run_id>.partial/``, writes
``manifest.json`` last, and renames the folder to ``<out>/<replay_run_id>/``. A bundle
holds:

* ``notebook.ipynb``: the executed template (inputs and outputs, each figure once as
  Plotly JSON; on failure, the error);
* ``notebook.html``: the same, as offline HTML with the input cells hidden
  (:mod:`backtester.evidence.notebook_html`), for a reviewer without Python;
* ``report.html``: the report (:mod:`backtester.evidence.html`);
* ``plotly.min.js``: plotly.js, once, which both HTML pages load by relative path (so
  they open offline from the bundle's folder);
* ``reports.jsonl.gz``, ``summary.json``, ``comparison.jsonl.gz`` and ``tables/*.parquet``:
  the run's reports and tables, as :func:`backtester.runs.output.write_run` writes them;
* ``manifest.json``: ``status`` (``complete`` or ``failed``) and the run's own status
  (``complete`` or ``aborted``), the sha256 of every other file, the content hash of
  the archive the run read (taken by the run from the same open archive as its feed,
  and checked against the hash taken when the bundle began), the resolved config and
  its sha256, the config's notices, the template's sha256, the package version and git
  commit, papermill, kernel and library versions, the run id, and the wall-clock start
  and end.

A template that fails, or is interrupted (Ctrl-C, SIGTERM), still becomes a bundle,
marked ``failed`` in its manifest, with the error in the executed notebook; it never
looks complete: a report the template wrote before failing is renamed
``report.incomplete.html`` and carries a banner. ``verify`` re-hashes a bundle and lists
what does not match its manifest.

**Identical reruns.** Two bundles of the same config, archive and clock have identical
``reports.jsonl.gz`` and ``comparison.jsonl.gz`` (uncompressed), ``summary.json`` and
``report.html`` once the run id is normalised (the run id is in report ids and in the report's header) and the
aggregate's ``run_cost`` (its wall-clock duration and events/s). What differs: the run
id, the ``run_cost``, ``manifest.json``'s ``started_at``/``finished_at`` and artifact
hashes, and, in ``notebook.ipynb`` and ``notebook.html``, papermill's metadata (per-cell
start/end times and durations, the injected cell's id) and kernel session ids.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import ModuleType
from typing import Any

from plotly.offline import get_plotlyjs

from backtester.archive import Archive
from backtester.archive.deadline import ARCHIVE_TIMEOUT_ENV, call_with_deadline
from backtester.archive.deadline import archive_timeout_ms as archive_timeout
from backtester.archive.store import default_archive_location
from backtester.config import RunConfig, config_from_json, config_sha256, read_config_text, resolve_config
from backtester.errors import ArchiveUnavailable, EvidenceError
from backtester.evidence.html import PLOTLY_JS, write_report
from backtester.evidence.kernels import local_kernel_manager
from backtester.evidence.notebook_html import export_notebook_html
from backtester.governance import ADMITTED_ENV, REGISTRY_ENV, Launch, govern
from backtester.runs.output import RUN_FILES, run_files
from backtester.runs.replay import check_run_id, new_run_id
from backtester.strategies.registry import default_registry

__all__ = [
    "PARAMETERS",
    "TEMPLATES",
    "Bundle",
    "check_parameters",
    "make_evidence",
    "verify",
    "write_artifacts",
]

_REPO = Path(__file__).resolve().parents[2]
TEMPLATES = {"single": _REPO / "templates" / "single_run.ipynb", "sweep": _REPO / "templates" / "sweep.ipynb"}
PARAMETERS = ("config_json", "archive", "now", "out_dir", "run_id")
"""What every template's ``parameters`` cell declares."""
KERNEL = "python3"
_LIBRARIES = (
    "papermill", "nbclient", "nbformat", "ipykernel", "jupyter_client", "plotly", "pandas", "numpy", "duckdb",
    "pydantic", "pyarrow", "tqdm",
)  # fmt: skip


@dataclass(frozen=True)
class Bundle:
    """An evidence bundle on disk."""

    path: Path
    status: str
    """``complete`` (the template ran to its end) or ``failed``."""
    replay_run_id: str
    run_status: str | None = None
    """The run's own status (``complete`` or ``aborted``; None when no summary was written)."""
    error: str | None = None
    """Why the bundle failed (None when complete)."""
    notices: tuple[dict[str, str], ...] = ()
    """The run's notices as its summary lists them (the config's when the run wrote no
    summary): what ``backtester run`` prints."""
    abort: dict[str, Any] | None = None
    """The run's abort report, when it aborted."""

    @property
    def report(self) -> Path:
        return self.path / "report.html"


def check_parameters(namespace: Mapping[str, Any], declared: tuple[str, ...] = PARAMETERS) -> None:
    """Fail on any parameter papermill injected that the template does not declare:
    papermill only warns about an unknown parameter and injects it anyway. Call it in
    the cell right after the parameters.

    An injected parameter is a plain literal (str, int, float, bool, None, list, dict),
    so only names holding one are checked: the template's own names (a run config, a
    result, a DataFrame, modules) are not, and re-running a template in the same kernel
    does not trip it. A template must therefore not bind a plain literal to a global.
    """
    ipython = {"In", "Out", "get_ipython", "exit", "quit", "open"}
    unknown = sorted(
        name
        for name, value in namespace.items()
        if not name.startswith("_") and name not in ipython and name not in declared
        and isinstance(value, _LITERALS)
    )  # fmt: skip
    if unknown:
        msg = (
            f"unknown notebook parameter(s): {', '.join(unknown)}; this template takes {', '.join(declared)}"
        )
        raise ValueError(msg)


_LITERALS = (str, int, float, bool, type(None), list, dict)


def write_artifacts(result: Any, out_dir: str | Path) -> Path:
    """Write the run's reports and tables, plotly.js (once, for both HTML pages) and the
    HTML report into ``out_dir`` (a bundle's folder)."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in run_files(result).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    (folder / PLOTLY_JS).write_text(get_plotlyjs(), encoding="utf-8")
    return write_report(result, folder / "report.html", plotly="file")


def make_evidence(
    config: str | Path | Mapping[str, Any] | RunConfig,
    *,
    now: datetime,
    out: str | Path,
    template: str | Path = "sweep",
    archive: str | Path | None = None,
    timeout_s: int = 900,
    run_id: str | None = None,
    registry: str | Path | None = None,
    max_in_flight: int | None = None,
    archive_timeout_ms: int | None = None,
    progress: bool | None = None,
) -> Bundle:
    """Execute ``template`` (``"single"``, ``"sweep"`` or a notebook path) on ``config``
    into a bundle under ``out`` (see the module docstring).

    With ``progress`` (default: when stderr is a terminal), each step is said on stderr
    as it starts (hashing the archive, the template's cells with papermill's bar: the
    replay, the figures, the report; the notebook's HTML; sealing), instead of silence.

    The bundle is a governed launch (:func:`backtester.governance.govern`, kind
    ``evidence``): admitted before any work (a refusal raises
    :class:`~backtester.errors.RunRefused` and writes nothing), heartbeating while the
    template runs, abortable (the run in the kernel attaches to the admitted run and
    stops at its next tick boundary), and ended in the registry as the bundle ends:
    ``complete`` or ``aborted`` as the run did, ``failed`` when the template failed,
    ``interrupted`` on Ctrl-C or SIGTERM."""
    import papermill  # noqa: PLC0415 - imports a kernel client stack; only evidence needs it

    started = _now()
    raw = _config_text(config)
    name = str(config) if isinstance(config, str | Path) else "config"
    run = resolve_config(
        config_from_json(raw, name=name), now=now, strategies=default_registry()
    )  # rejected: raises
    notebook = (TEMPLATES.get(str(template)) or Path(template)).resolve()
    if not notebook.is_file():
        msg = f"no template {template!r} (expected 'single', 'sweep' or a notebook path)"
        raise EvidenceError(msg)
    try:
        declared = tuple(papermill.inspect_notebook(str(notebook)))
    except Exception as exc:  # not a notebook papermill can read
        msg = f"{notebook}: not a template notebook ({type(exc).__name__}: {exc})"
        raise EvidenceError(msg) from None
    if set(declared) != set(PARAMETERS):
        msg = (
            f"{notebook} declares parameters {', '.join(declared)}; templates declare {', '.join(PARAMETERS)}"
        )
        raise EvidenceError(msg)
    # Absolute paths: the kernel runs in the repository, not in the caller's folder.
    location = (Path(archive) if archive is not None else default_archive_location()).resolve()
    timeout = archive_timeout(archive_timeout_ms)
    run_id = check_run_id(run_id) if run_id else new_run_id()
    root = Path(out).resolve()
    final = root / run_id
    if root.exists() and not root.is_dir():
        msg = f"--out {root} is a file, not a folder"
        raise EvidenceError(msg)
    if final.exists():
        msg = f"{final} already exists: a run id is written once"
        raise EvidenceError(msg)
    launch = govern(
        run, run_id, kind="evidence", registry=registry, limit=max_in_flight, out_path=str(final),
        archive=str(location),
    )  # fmt: skip
    show = sys.stderr.isatty() if progress is None else progress
    with launch:
        return _make(
            papermill, launch, run=run, notebook=notebook, location=location, root=root, now=now,
            timeout=timeout, timeout_s=timeout_s, raw=raw, started=started, show=show,
        )  # fmt: skip


def _say(show: bool, step: str) -> None:
    """One step of the bundle, on stderr (when progress is shown)."""
    if show:
        print(f"evidence: {step}", file=sys.stderr, flush=True)


def _make(
    papermill: ModuleType, launch: Launch, *, run: Any, notebook: Path, location: Path, root: Path,
    now: datetime, timeout: int, timeout_s: int, raw: str, started: str, show: bool = False,
) -> Bundle:  # fmt: skip
    """Make the bundle of an admitted run, and record its end in the registry."""
    run_id = launch.replay_run_id
    final = root / run_id
    _say(show, f"{run_id}: hashing the archive {location}")
    archive_sha256 = _archive_hash(location, timeout)
    staging = root / f".{run_id}.partial"
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
    except OSError as exc:
        msg = f"cannot make the bundle's folder under {root}: {exc.strerror}"
        raise EvidenceError(msg) from None
    parameters = {
        "config_json": raw, "archive": str(location), "now": _iso(now), "out_dir": str(staging),
        "run_id": run_id,
    }  # fmt: skip
    facts = _Facts(run, run_id, notebook, location, archive_sha256, staging, parameters, started)
    env = {REGISTRY_ENV: launch.location, ADMITTED_ENV: run_id, ARCHIVE_TIMEOUT_ENV: str(timeout)}
    with _sigterm_raises():
        try:
            status, error = _execute(papermill, notebook, staging, parameters, timeout_s, env=env, show=show)
            _say(show, f"{run_id}: sealing the bundle ({status})")
            summary = _summary(staging)
            read = summary.get("archive_content_sha256")
            if status == "complete" and read is not None and read != archive_sha256:
                error = f"the archive changed: {archive_sha256} when the bundle began, {read} when read"
                status = "failed"
            _seal(staging, final, _manifest(facts, summary, status=status, error=error))
        except BaseException as exc:  # interrupted: still a bundle, marked failed, then re-raised
            if staging.exists():
                reason = f"interrupted: {type(exc).__name__}: {exc}"
                _seal(staging, final, _manifest(facts, _summary(staging), status="failed", error=reason))
            exc.bundle_path = final  # type: ignore[attr-defined]  # for the CLI's message
            raise
    if status != "complete":
        launch.finish("failed", reason=error, out_path=str(final))
    else:
        launch.finish_run(summary.get("aggregate_report"), abort=summary.get("abort"), out_path=str(final))
    notices = tuple(summary.get("notices") or (n.as_dict() for n in run.notices))
    return Bundle(final, status, run_id, summary.get("status"), error, notices, summary.get("abort"))


def _execute(
    papermill: ModuleType, notebook: Path, staging: Path, parameters: dict[str, str], timeout_s: int, *,
    env: dict[str, str], show: bool = False,
) -> tuple[str, str | None]:  # fmt: skip
    """Run the template into ``staging`` and export it as HTML: (status, error)."""
    status, error = "complete", None
    _say(
        show,
        f"running the template {notebook.name}: the replay, the figures, the report (one bar step a cell)",
    )
    with tempfile.TemporaryDirectory(prefix="bt-kernel-") as sockets:
        try:
            papermill.execute_notebook(
                str(notebook), str(staging / "notebook.ipynb"), parameters=parameters, kernel_name=KERNEL,
                progress_bar=show, log_output=False, execution_timeout=timeout_s, cwd=str(_REPO),
                kernel_manager_class=local_kernel_manager(Path(sockets), env=env),
            )  # fmt: skip
        except Exception as exc:  # any failure of the template makes a failed bundle
            status, error = "failed", f"{type(exc).__name__}: {exc}"
    if (staging / "notebook.ipynb").is_file():
        _say(show, "exporting the executed notebook as notebook.html")
        try:  # the executed notebook as HTML: for a failed bundle, the one view of the error
            export_notebook_html(staging / "notebook.ipynb", staging / "notebook.html")
        except Exception as exc:
            if status == "complete":
                status, error = "failed", f"exporting notebook.html: {type(exc).__name__}: {exc}"
    missing = [name for name in REQUIRED if not (staging / name).is_file()]
    if status == "complete" and missing:
        status, error = "failed", f"the template finished without writing {', '.join(missing)}"
    return status, error


class _Terminated(KeyboardInterrupt):
    """SIGTERM arrived while a bundle was being made: an interrupt, like Ctrl-C (not an
    Exception: it ends the bundle, it is not a failure of the template)."""


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into an interrupt while the bundle is made (in the main thread), so
    the kernel is shut down and the bundle sealed as failed instead of left half-written
    (the handler stays in place until the bundle is sealed)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    raised = False

    def terminated(signum: int, _frame: object) -> None:
        nonlocal raised
        if not raised:  # once: a second SIGTERM must not cut the sealing of the failed bundle
            raised = True
            raise _Terminated(f"signal {signum} (SIGTERM)")

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


REQUIRED = (
    "notebook.ipynb", "notebook.html", "report.html", PLOTLY_JS, *RUN_FILES, "tables/reports.parquet",
)  # fmt: skip
"""What a complete bundle holds besides its manifest (and the other tables of a run that
did not abort)."""


@dataclass(frozen=True)
class _Facts:
    """What the manifest records about a bundle, besides its outcome."""

    run: Any
    run_id: str
    notebook: Path
    location: Path
    archive_sha256: str | None
    staging: Path
    parameters: dict[str, str]
    started: str


def _summary(staging: Path) -> dict[str, Any]:
    """The run's summary.json as written by the template ({} if none or unreadable)."""
    try:
        summary = json.loads((staging / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return summary if isinstance(summary, dict) else {}


def _manifest(facts: _Facts, summary: dict[str, Any], *, status: str, error: str | None) -> dict[str, Any]:
    run, staging, notebook, parameters = facts.run, facts.staging, facts.notebook, facts.parameters
    if status != "complete":
        _mark_failed(staging, error)
    return {
        "bundle_format": 1,
        "status": status,
        "error": error,
        "run_status": summary.get("status"),
        "replay_run_id": facts.run_id,
        "template": {"name": notebook.name, "sha256": _sha256(notebook.read_bytes())},
        "config": run.as_dict(),
        "config_sha256": run.sha256,
        "archive": {
            "location": str(facts.location),
            "content_sha256": summary.get("archive_content_sha256"),  # None: the run read none
            "content_sha256_when_the_bundle_began": facts.archive_sha256,
        },
        "notices": [n.as_dict() for n in run.notices],
        "parameters": {k: v for k, v in parameters.items() if k != "out_dir"},
        "artifacts": _hashes(staging),
        "versions": _versions(),
        "kernel": {"name": KERNEL, "python": platform.python_version()},
        "started_at": facts.started,
        "finished_at": _now(),
        "normalised_for_identical_reruns": [
            "replay_run_id (in report ids and the report header)", "manifest started_at/finished_at",
            "the aggregate report's run_cost (wall-clock duration and events/s)",
            "artifacts' sha256 (they contain the run id)",
            "notebook.ipynb and notebook.html: papermill's cell metadata and injected cell id, kernel ids",
        ],
    }  # fmt: skip


def _mark_failed(staging: Path, error: str | None) -> None:
    """A failed bundle must not look complete: a report the template wrote before it
    failed becomes ``report.incomplete.html``, and it and ``notebook.html`` (exported now
    if the failure came first) open with a banner saying the bundle failed."""
    banner = (
        '<div style="background:#b00020;color:#fff;padding:12px;font:bold 16px sans-serif">'
        f"THIS EVIDENCE BUNDLE FAILED: {html.escape(error or 'unknown error')}. "
        "Nothing here is evidence of a complete run.</div>"
    )
    report = staging / "report.html"
    if report.is_file():
        (staging / "report.incomplete.html").write_text(_with_banner(report, banner), encoding="utf-8")
        report.unlink()
    page = staging / "notebook.html"
    if not page.is_file() and (staging / "notebook.ipynb").is_file():
        try:
            export_notebook_html(staging / "notebook.ipynb", page)
        except Exception:  # best effort: the manifest says failed either way
            return
    if page.is_file():
        page.write_text(_with_banner(page, banner), encoding="utf-8")


def _with_banner(page: Path, banner: str) -> str:
    text = page.read_text(encoding="utf-8")
    return re.sub(r"<body[^>]*>", lambda m: m.group(0) + banner, text, count=1)


def _seal(staging: Path, final: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest last, then move the folder into place (once: a bundle already
    in place is left as it is)."""
    if final.exists() or not staging.exists():
        return
    text = json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n"
    (staging / "manifest.json").write_text(text, encoding="utf-8")
    staging.rename(final)


def verify(path: str | Path) -> list[str]:
    """Problems found re-hashing a bundle against its manifest (empty: it verifies).

    Checks that the manifest is well formed and says ``complete``; that every file the
    manifest lists is there with its sha256, and nothing else is (only regular files:
    a link or anything else is reported); that a complete bundle holds every artifact
    of :data:`REQUIRED`; and that the recorded config still hashes to ``config_sha256``.
    The manifest is not signed: someone who rewrites it consistently is not caught.
    """
    folder = Path(path)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file() or manifest_path.is_symlink():
        return [f"{folder}: no manifest.json (not a bundle, or an unfinished one)"]
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{manifest_path}: unreadable ({exc})"]
    recorded = manifest.get("artifacts") if isinstance(manifest, dict) else None
    if not isinstance(recorded, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in recorded.items()
    ):
        return [f"{manifest_path}: not a bundle manifest (no artifacts table)"]
    problems = []
    if manifest.get("status") != "complete":
        problems.append(f"status is {manifest.get('status')!r}: {manifest.get('error')}")
    else:
        problems += [f"{name}: missing from a complete bundle" for name in REQUIRED if name not in recorded]
    if manifest.get("config_sha256") != config_sha256(manifest.get("config")):
        problems.append("manifest: the recorded config does not hash to its config_sha256")
    actual, odd = _files(folder)
    problems += [f"{name}: not a regular file" for name in odd]
    for name in sorted(set(recorded) | set(actual)):
        if name not in actual:
            problems.append(f"{name}: missing")
        elif name not in recorded:
            problems.append(f"{name}: not in the manifest")
        elif actual[name] != recorded[name]:
            problems.append(f"{name}: sha256 {actual[name]} does not match the manifest's {recorded[name]}")
    return problems


def _config_text(config: str | Path | Mapping[str, Any] | RunConfig) -> str:
    if isinstance(config, RunConfig):
        return json.dumps(config.model_dump(mode="json", exclude_unset=True), sort_keys=True)
    if isinstance(config, Mapping):
        return json.dumps(config, sort_keys=True, default=str)
    return read_config_text(config)


def _archive_hash(location: Path, timeout_ms: int) -> str | None:
    """The archive's content hash when the bundle begins, each read bounded by the
    per-call timeout; None if it cannot be read (the run itself will abort and say why)."""

    def content() -> str:
        with Archive.open(location, read_only=True) as store:
            return store.content_hash()

    try:
        return call_with_deadline("hashing the archive", content, timeout_ms=timeout_ms)
    except ArchiveUnavailable:
        return None


def _hashes(folder: Path) -> dict[str, str]:
    return _files(folder)[0]


def _files(folder: Path) -> tuple[dict[str, str], list[str]]:
    """sha256 of every regular file under ``folder`` (links not followed) but its
    top-level manifest.json, and the names of anything that is not a regular file."""
    hashes: dict[str, str] = {}
    odd: list[str] = []
    for base, dirs, files in os.walk(folder, followlinks=False):
        here = Path(base)
        if here != folder and not dirs and not files:
            odd.append(f"{here.relative_to(folder)}/")  # an empty folder: nothing a bundle makes
        odd.extend(
            str((here / name).relative_to(folder)) for name in sorted(dirs) if (here / name).is_symlink()
        )
        for name in sorted(files):
            entry = here / name
            relative = str(entry.relative_to(folder))
            if relative == "manifest.json":
                continue
            if entry.is_symlink() or not entry.is_file():
                odd.append(relative)
            else:
                hashes[relative] = _sha256(entry.read_bytes())
    return dict(sorted(hashes.items())), sorted(odd)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _versions() -> dict[str, str | bool | None]:
    out: dict[str, str | bool | None] = {
        "backtester": version("backtester"),
        "python": sys.version.split()[0],
    }
    for name in _LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    out["git_commit"], out["git_dirty"] = _git()
    return out


def _git() -> tuple[str | None, bool | None]:
    git = shutil.which("git")
    if git is None or not (_REPO / ".git").exists():
        return None, None
    try:
        commit = subprocess.run(
            [git, "-C", str(_REPO), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            [git, "-C", str(_REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, bool(dirty)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
