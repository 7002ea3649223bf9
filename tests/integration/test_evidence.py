"""Audit evidence bundles: papermill executes a template headless; the bundle verifies,
tampering is detected, a failing template is marked failed, reruns are identical but
for ids and wall clock, and the HTML report renders in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import papermill
import pytest
from click.testing import CliRunner
from plotly.offline import get_plotlyjs

from backtester.cli import main
from backtester.errors import ConfigError, EvidenceError, ReasonCode
from backtester.evidence import bundle as bundle_module
from backtester.evidence import check_parameters, make_evidence, verify
from backtester.evidence.bundle import TEMPLATES
from backtester.evidence.kernels import local_kernel_manager
from backtester.runs.tables import TABLES as TABLE_NAMES
from backtester.sample import SAMPLE_ARCHIVE
from tests.factories import file_text, normalised

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 25, tzinfo=UTC)
CONFIG = "data/sample-fair-value.json"  # two variants over the Caio window: quick
NOTEBOOKS = ("notebook.ipynb", "notebook.html")
NORMALISED = ("reports.jsonl.gz", "summary.json", "comparison.jsonl.gz", "report.html")
TABLES = tuple(f"tables/{name}.parquet" for name in TABLE_NAMES)
ARTIFACTS = (*NOTEBOOKS, *NORMALISED, *TABLES, "plotly.min.js")
REPORT_FIGURES = {"sweep", "equity", "drawdown", "fills-1", "fills-2", "fills-3", "attribution", "votes"}
"""The report's figures over the two-variant sample: a fills chart for each of the three markets
with fills; no tick skipped, so no data-quality figure."""


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory):
    """The same sweep evidence made twice."""
    out = tmp_path_factory.mktemp("evidence")
    return [make_evidence(CONFIG, now=NOW, out=out, template="sweep") for _ in range(2)]


def test_bundle_is_complete_and_verifies(bundles) -> None:
    bundle = bundles[0]
    assert bundle.status == "complete"
    assert bundle.path.name == bundle.replay_run_id
    files = sorted(str(p.relative_to(bundle.path)) for p in bundle.path.rglob("*") if p.is_file())
    assert files == sorted(["manifest.json", *ARTIFACTS])
    assert verify(bundle.path) == []
    assert not list(bundle.path.parent.glob(".*.partial"))


def test_manifest(bundles) -> None:
    """The manifest records what an auditor needs to reproduce and trust the bundle."""
    bundle = bundles[0]
    manifest = json.loads((bundle.path / "manifest.json").read_text())
    assert (manifest["status"], manifest["error"], manifest["replay_run_id"]) == (
        "complete", None, bundle.replay_run_id,
    )  # fmt: skip
    assert set(manifest["artifacts"]) == set(ARTIFACTS)
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["archive"]["content_sha256"])
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["config_sha256"])
    assert manifest["config"]["strategy"] == "fair_value_taker"
    assert manifest["template"]["name"] == "sweep.ipynb"
    versions = manifest["versions"]
    for name in ("backtester", "python", "papermill", "nbclient", "ipykernel", "plotly", "pandas", "duckdb"):
        assert versions[name], name
    assert "git_commit" in versions
    assert manifest["kernel"]["name"] == "python3"
    started, finished = (datetime.fromisoformat(manifest[k]) for k in ("started_at", "finished_at"))
    assert started <= finished


def test_every_changed_byte_is_detected(bundles, tmp_path: Path) -> None:
    """One byte changed in any artifact, a file removed or one added: verify says which."""
    for name in ARTIFACTS:
        copy = tmp_path / name.replace("/", "_")
        shutil.copytree(bundles[0].path, copy)
        target = copy / name
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))
        problems = verify(copy)
        assert len(problems) == 1, problems
        assert problems[0].startswith(f"{name}: sha256")
    gone = tmp_path / "gone"
    shutil.copytree(bundles[0].path, gone)
    (gone / "summary.json").unlink()
    (gone / "extra.txt").write_text("x")
    assert verify(gone) == ["extra.txt: not in the manifest", "summary.json: missing"]


def test_reruns_are_identical_but_for_ids(bundles) -> None:
    """The same config, archive and clock: the reports and the report's figures are the
    same bytes once the run id is normalised (see the bundle module for what differs)."""
    first, second = bundles
    assert first.replay_run_id != second.replay_run_id
    for name in (*NORMALISED, *TABLES):
        a = normalised(file_text(first.path / name), first.replay_run_id)
        b = normalised(file_text(second.path / name), second.replay_run_id)
        assert a == b, name
    for name in ("reports.jsonl.gz", "comparison.jsonl.gz"):  # deterministic bytes: no name, mtime 0
        assert (first.path / name).read_bytes()[4:10] == b"\x00\x00\x00\x00\x02\xff", name
    report = normalised((first.path / "report.html").read_text(), first.replay_run_id)
    figures = re.findall(r'Plotly\.newPlot\(\s*"figure-([\w-]+)",\s*(\[.*?\]),\s*\{', report, flags=re.S)
    assert {name for name, _ in figures} == REPORT_FIGURES


def test_report_loads_plotly_once_from_the_bundle(bundles) -> None:
    """plotly.js once per bundle, in plotly.min.js, which the report loads by relative
    path; nothing loaded from the web; the verdict, then the spec's texts."""
    html = (bundles[0].report).read_text()
    assert (bundles[0].path / "plotly.min.js").read_text() == get_plotlyjs()
    assert get_plotlyjs()[:2000] not in html
    assert re.findall(r"<script[^>]* src=\"([^\"]+)\"", html) == ["plotly.min.js"]
    assert not re.search(r"(src|href)=[\"']?https?://", html)
    assert html.count("Plotly.newPlot(") == len(REPORT_FIGURES)
    verdict, assumptions = html.index("Verdict"), html.index("Assumptions that qualify these figures")
    assert verdict < assumptions < html.index("What this is")
    assert "Multiple parameter variants were tested over the same historical data." in html
    assert "The backtest finished. Results are available in the governance audit report." in html
    assert html.index("What this is") < html.index("figure-equity")


def test_executed_notebook_holds_the_run(bundles) -> None:
    nb = nbformat.read(bundles[0].path / "notebook.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "Results (pUSD, exact):" in text
    assert "Verdict: best of 2 variants by total P&L" in text
    assert bundles[0].replay_run_id in json.dumps(nb.cells[2].source)  # the injected parameters
    assert "widgets" not in nb.metadata  # a template without widgets keeps no widget state
    assert get_plotlyjs()[:2000] not in (bundles[0].path / "notebook.ipynb").read_text()  # plotly.js once


def test_failing_template_gives_a_failed_bundle(tmp_path: Path) -> None:
    """A template whose cell raises: the bundle exists, is marked failed, holds the
    executed notebook with the error, and does not verify."""
    broken = nbformat.read(TEMPLATES["single"], as_version=4)
    broken.cells.insert(4, nbformat.v4.new_code_cell('raise RuntimeError("boom in the template")'))
    template = tmp_path / "broken.ipynb"
    nbformat.write(broken, template)
    bundle = make_evidence("data/sample-run.json", now=NOW, out=tmp_path / "out", template=template)
    assert bundle.status == "failed"
    manifest = json.loads((bundle.path / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert "boom in the template" in manifest["error"]
    assert not (bundle.path / "report.html").exists()
    assert "boom in the template" in (bundle.path / "notebook.ipynb").read_text()
    assert "boom in the template" in (bundle.path / "notebook.html").read_text()  # for reviewers
    assert verify(bundle.path)[0].startswith("status is 'failed'")
    assert not list((tmp_path / "out").glob(".*.partial"))


def test_rejected_config_makes_no_bundle(tmp_path: Path) -> None:
    """A config the spec rejects raises with its reason code before any work."""
    with pytest.raises(ConfigError) as info:
        make_evidence({"start_ts": "2026-05-09T00:00:00Z", "end_ts": "2026-05-01T00:00:00Z"}, now=NOW,
                      out=tmp_path / "out")  # fmt: skip
    assert info.value.code is ReasonCode.BACKTESTER_INVALID_WINDOW
    assert not (tmp_path / "out").exists()


def test_unknown_template_parameter_fails(tmp_path: Path) -> None:
    """papermill only warns about a parameter the template does not declare; the
    template fails on it."""
    unknown = pytest.raises(papermill.PapermillExecutionError, match="unknown notebook parameter")
    with tempfile.TemporaryDirectory(prefix="bt-k-") as sockets, unknown:
        papermill.execute_notebook(
            str(TEMPLATES["single"]),
            str(tmp_path / "out.ipynb"),
            parameters={"bogus": 1},
            kernel_name="python3",
            progress_bar=False,
            kernel_manager_class=local_kernel_manager(Path(sockets)),
        )


def test_cli(bundles, tmp_path: Path) -> None:
    """evidence prints the report's path, and with --progress says each step on stderr
    as it starts; evidence verify checks a bundle (exit 2 if not)."""
    runner = CliRunner()
    made = runner.invoke(main, ["evidence", "--config", CONFIG, "--template", "single", "--now",
                                "2026-11-25T00:00:00Z", "--out", str(tmp_path), "--progress"])  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "WARN BACKTESTER_FEE_ASSUMED: fee schedule not recorded" in made.stderr  # as `run` prints it
    steps = [line.split(": ", 1)[1] for line in made.stderr.splitlines() if line.startswith("evidence: ")]
    assert [step.split(" ")[0] for step in steps] == [
        f"{made.stdout.split('/')[-2]}:",
        "running",
        "exporting",
        f"{made.stdout.split('/')[-2]}:",
    ]
    assert "hashing the archive" in steps[0]
    assert "sealing the bundle (complete)" in steps[-1]
    assert "Executing" in made.stderr  # papermill's bar over the template's cells
    report = Path(made.stdout.strip())
    assert report.name == "report.html"
    assert report.parent.parent == tmp_path
    assert runner.invoke(main, ["evidence", "verify", str(report.parent)]).exit_code == 0
    (report.parent / "summary.json").write_text("{}")
    bad = runner.invoke(main, ["evidence", "verify", str(report.parent)])
    assert bad.exit_code == 2
    assert "summary.json: sha256" in bad.stderr


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _rendered(page: Path, profile: Path) -> str:
    """The DOM of ``page`` after its scripts ran, in headless Chromium, offline."""
    assert CHROMIUM, "chromium is not installed: run scripts/setup-tests.sh"
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--virtual-time-budget=15000", "--dump-dom", page.as_uri(),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout


def test_report_renders_in_headless_chromium(bundles, tmp_path: Path) -> None:
    """Every figure is drawn (an SVG per Plotly figure) and no script error is caught,
    in Debian's Chromium (installed by scripts/setup-tests.sh), offline."""
    dom = _rendered(bundles[0].report, tmp_path / "profile")
    assert '<div id="script-errors"></div>' in dom
    for name in REPORT_FIGURES:
        block = dom[dom.index(f'data-figure="{name}"') :]
        block = block[: block.index("</div></div>")] if "</div></div>" in block else block
        assert 'class="main-svg"' in block, name


def test_notebook_html_is_offline_and_draws_its_figures(bundles, tmp_path: Path) -> None:
    """nbconvert's export of the executed notebook: inputs hidden, nothing from a CDN, no
    plotly.js of its own (it loads the bundle's plotly.min.js), and every figure the
    notebook holds (once each, as Plotly JSON) drawn."""
    page = bundles[0].path / "notebook.html"
    text = page.read_text()
    assert get_plotlyjs()[:2000] not in text
    assert re.findall(r"<script[^>]* src=\"([^\"]+)\"", text) == ["plotly.min.js"]
    assert not re.search(r"(src|href)=[\"']?https?://", text)
    assert "evidence.check_parameters(globals())" not in text  # input cells hidden
    assert "Results (pUSD, exact):" in text
    nb = nbformat.read(bundles[0].path / "notebook.ipynb", as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "data" in o]
    held = [o for o in outputs if "application/vnd.plotly.v1+json" in o["data"]]
    assert len(held) == 6
    assert not any("text/html" in o["data"] for o in held)  # each figure once in the notebook
    figures = _rendered(page, tmp_path / "profile").split('class="plotly-graph-div')[1:]
    assert len(figures) == len(held)
    assert all('class="main-svg"' in figure for figure in figures)


def _tampered(bundles, tmp_path: Path, name: str) -> Path:
    copy = tmp_path / name
    shutil.copytree(bundles[0].path, copy)
    return copy


def _edit_manifest(folder: Path, edit) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))


def test_verify_catches_a_rewritten_manifest(bundles, tmp_path: Path) -> None:
    """Tampering that also edits the manifest, where it can be caught: artifacts dropped
    from a complete bundle along with their entries, or an edited config."""
    emptied = _tampered(bundles, tmp_path, "emptied")
    for name in ARTIFACTS:
        (emptied / name).unlink()
    (emptied / "tables").rmdir()
    _edit_manifest(emptied, lambda m: m.update(artifacts={}))
    problems = verify(emptied)
    expected = {f"{name}: missing from a complete bundle" for name in bundle_module.REQUIRED}
    assert set(problems) == expected

    no_report = _tampered(bundles, tmp_path, "no-report")
    (no_report / "report.html").unlink()
    _edit_manifest(no_report, lambda m: m["artifacts"].pop("report.html"))
    assert verify(no_report) == ["report.html: missing from a complete bundle"]

    config = _tampered(bundles, tmp_path, "config")
    _edit_manifest(config, lambda m: m["config"].update(max_size_pusd="1000000"))
    assert verify(config) == ["manifest: the recorded config does not hash to its config_sha256"]

    for index, broken in enumerate(("[]", "{}", "not json")):
        odd = _tampered(bundles, tmp_path, f"odd-{index}")
        (odd / "manifest.json").write_text(broken)
        assert len(verify(odd)) == 1


def test_verify_lists_nested_files_and_links(bundles, tmp_path: Path) -> None:
    """Files in subfolders (even one named manifest.json) and links are reported."""
    nested = _tampered(bundles, tmp_path, "nested")
    (nested / "x").mkdir()
    (nested / "x" / "manifest.json").write_text("{}")
    assert verify(nested) == ["x/manifest.json: not in the manifest"]
    (nested / "empty").mkdir()
    assert verify(nested) == ["empty/: not a regular file", "x/manifest.json: not in the manifest"]

    linked = _tampered(bundles, tmp_path, "linked")
    (linked / "report.html").rename(tmp_path / "elsewhere.html")
    (linked / "report.html").symlink_to(tmp_path / "elsewhere.html")
    assert verify(linked) == ["report.html: not a regular file", "report.html: missing"]


def test_relative_paths_from_another_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--config, --archive and --out relative to the caller's folder, not the
    repository's (the kernel runs in the repository)."""
    shutil.copy(CONFIG, tmp_path / "config.json")
    shutil.copytree(SAMPLE_ARCHIVE, tmp_path / "archive")
    monkeypatch.chdir(tmp_path)
    args = ["evidence", "--config", "config.json", "--template", "single", "--archive", "archive",
            "--now", "2026-11-25T00:00:00Z", "--out", "out"]  # fmt: skip
    made = CliRunner().invoke(main, args)
    assert made.exit_code == 0, made.output
    report = Path(made.stdout.strip())
    assert report.is_relative_to(tmp_path / "out")
    assert verify(report.parent) == []
    manifest = json.loads((report.parent / "manifest.json").read_text())
    assert manifest["archive"]["location"] == str(tmp_path / "archive")
    assert manifest["run_status"] == "complete"


def test_aborted_run_gives_a_complete_bundle_that_says_so(tmp_path: Path, monkeypatch) -> None:
    """The archive is missing: the template still renders (a bundle that verifies, whose
    report explains the abort), and the command exits 3 like `backtester run`."""
    monkeypatch.chdir(tmp_path)
    made = CliRunner().invoke(main, ["evidence", "--config", str(Path(ROOT, CONFIG)), "--archive", "missing",
                                     "--now", "2026-11-25T00:00:00Z", "--out", "out"])  # fmt: skip
    assert made.exit_code == 3, made.output
    assert "BACKTESTER_ARCHIVE_UNAVAILABLE" in made.stderr
    report = Path(made.stdout.strip())
    assert verify(report.parent) == []
    manifest = json.loads((report.parent / "manifest.json").read_text())
    assert (manifest["status"], manifest["run_status"]) == ("complete", "aborted")
    assert manifest["archive"]["content_sha256"] is None  # the run read no archive
    html = report.read_text()
    assert "<h2>Verdict: aborted</h2>" in html
    assert f"no archive at {tmp_path / 'missing'}" in html
    assert "The backtest stopped before replaying the window" in html
    assert "Results include simulated trades" not in html


def test_interrupted_evidence_leaves_a_failed_bundle(tmp_path: Path, monkeypatch) -> None:
    """Ctrl-C during the template: the bundle is sealed as failed, then the interrupt
    goes on; nothing is left looking complete or half-written."""

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(papermill, "execute_notebook", interrupted)
    with pytest.raises(KeyboardInterrupt):
        make_evidence("data/sample-run.json", now=NOW, out=tmp_path, template="single")
    (bundle,) = list(tmp_path.iterdir())
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["error"].startswith("interrupted: KeyboardInterrupt")
    assert verify(bundle)[0].startswith("status is 'failed'")


def test_a_run_id_is_written_once(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(bundle_module, "new_run_id", lambda: "replay_TAKEN")
    (tmp_path / "replay_TAKEN").mkdir()
    with pytest.raises(EvidenceError, match="already exists"):
        make_evidence("data/sample-run.json", now=NOW, out=tmp_path, template="single")
    assert [p.name for p in tmp_path.iterdir()] == ["replay_TAKEN"]


def test_check_parameters_lets_a_template_rerun() -> None:
    """Re-running a template in the same kernel: its own names (objects, modules) are not
    parameters; an injected literal the template does not declare is."""
    namespace = dict.fromkeys(("config_json", "archive", "now", "out_dir", "run_id"), "")
    check_parameters({**namespace, "json": json, "result": object(), "comparison": Path(), "_": 1, "In": []})
    for literal in ("x", 1, 1.5, True, None, [1], {"a": 1}):
        with pytest.raises(ValueError, match="unknown notebook parameter"):
            check_parameters({**namespace, "bogus": literal})


def test_late_failure_leaves_no_report_that_looks_complete(tmp_path: Path) -> None:
    """The template fails after writing the report: the bundle is failed, and its report
    is renamed report.incomplete.html with a banner, so it cannot pass for evidence."""
    broken = nbformat.read(TEMPLATES["single"], as_version=4)
    broken.cells.append(nbformat.v4.new_code_cell('raise RuntimeError("boom at the end")'))
    template = tmp_path / "late.ipynb"
    nbformat.write(broken, template)
    bundle = make_evidence(CONFIG, now=NOW, out=tmp_path / "out", template=template)
    assert bundle.status == "failed"
    assert not (bundle.path / "report.html").exists()
    incomplete = (bundle.path / "report.incomplete.html").read_text()
    assert "THIS EVIDENCE BUNDLE FAILED: PapermillExecutionError" in incomplete
    assert "boom at the end" in incomplete
    manifest = json.loads((bundle.path / "manifest.json").read_text())
    assert "report.incomplete.html" in manifest["artifacts"]
    assert "THIS EVIDENCE BUNDLE FAILED" in (bundle.path / "notebook.html").read_text()


def test_changed_archive_fails_the_bundle(tmp_path: Path, monkeypatch) -> None:
    """The content hash taken when the bundle began must be the one of the archive the
    run read (taken by the run itself); otherwise the bundle is failed."""
    monkeypatch.setattr(bundle_module, "_archive_hash", lambda _location, _timeout_ms: "0" * 64)
    bundle = make_evidence(CONFIG, now=NOW, out=tmp_path, template="single")
    assert bundle.status == "failed"
    manifest = json.loads((bundle.path / "manifest.json").read_text())
    assert manifest["error"].startswith("the archive changed: " + "0" * 64)
    read = json.loads((bundle.path / "summary.json").read_text())["archive_content_sha256"]
    assert manifest["archive"]["content_sha256"] == read != "0" * 64
    assert manifest["archive"]["content_sha256_when_the_bundle_began"] == "0" * 64
    for page in ("notebook.html", "report.incomplete.html"):  # the run was fine; the bundle is not
        assert "THIS EVIDENCE BUNDLE FAILED: the archive changed" in (bundle.path / page).read_text()


def test_evidence_takes_money_exactly(tmp_path: Path) -> None:
    """A size with more than 6 decimals is rejected as by `backtester run`, not rounded
    through a float into a complete bundle."""
    config = json.loads(Path(CONFIG).read_text())
    config["parameter_sweep"][0]["max_size_pusd"] = "SIZE"
    text = json.dumps(config).replace('"SIZE"', "50.00000000000000001")  # a float would read 50.0
    (tmp_path / "precise.json").write_text(text)
    with pytest.raises(ConfigError, match="decimal"):
        make_evidence(tmp_path / "precise.json", now=NOW, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--config", "bad.json"], "BACKTESTER_INVALID_CONFIG: bad.json:1: not valid JSON"),
        (["--config", CONFIG, "--template", "nosuch"], "no template 'nosuch'"),
        (["--config", CONFIG, "--template", str(ROOT / "README.md")], "not a template notebook"),
    ],
)
def test_cli_rejections_exit_2_with_one_line(
    tmp_path: Path, monkeypatch, args: list[str], message: str
) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "data").mkdir()
    shutil.copy(CONFIG, tmp_path / CONFIG)
    monkeypatch.chdir(tmp_path)
    made = CliRunner().invoke(main, ["evidence", *args, "--now", "2026-11-25T00:00:00Z", "--out", "out"])
    assert made.exit_code == 2, made.output
    assert message in made.stderr
    assert "Traceback" not in made.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("out", "message"), [("file", "is a file, not a folder"),
                                             ("file/sub", "cannot make the bundle's folder")])  # fmt: skip
def test_cli_unusable_out(tmp_path: Path, out: str, message: str) -> None:
    (tmp_path / "file").write_text("")
    made = CliRunner().invoke(main, ["evidence", "--config", CONFIG, "--now", "2026-11-25T00:00:00Z",
                                     "--out", str(tmp_path / out)])  # fmt: skip
    assert made.exit_code == 2, made.output
    assert message in made.stderr
    assert "Traceback" not in made.output


def test_single_variant_report_does_not_claim_a_sweep(bundles, tmp_path: Path) -> None:
    """sample-run.json is a one-entry parameter_sweep: one variant is not 'multiple'."""
    bundle = make_evidence("data/sample-run.json", now=NOW, out=tmp_path, template="single",
                           archive=SAMPLE_ARCHIVE)  # fmt: skip
    html = bundle.report.read_text()
    assert "The strategy was replayed over the selected historical period." in html
    assert "Multiple parameter variants" not in html
    assert "Multiple parameter variants" in bundles[0].report.read_text()  # the two-variant sweep


def test_verify_says_the_run_aborted(tmp_path: Path) -> None:
    """An aborted run's bundle is intact, and verify says what it holds; with
    --require-run-complete it fails."""
    bundle = make_evidence(CONFIG, now=NOW, out=tmp_path, template="single", archive=tmp_path / "none")
    assert (bundle.status, bundle.run_status) == ("complete", "aborted")
    runner = CliRunner()
    plain = runner.invoke(main, ["evidence", "verify", str(bundle.path)])
    assert plain.exit_code == 0
    assert "match the manifest (the run: aborted)" in plain.stdout
    assert plain.stdout.splitlines()[-1] == "verified"
    strict = runner.invoke(main, ["evidence", "verify", "--require-run-complete", str(bundle.path)])
    assert strict.exit_code == 2
    assert "the run did not complete: aborted" in strict.stderr
    assert strict.stderr.splitlines()[-1] == f"NOT VERIFIED: 1 problem in {bundle.path}"


def test_sigterm_seals_a_failed_bundle(tmp_path: Path) -> None:
    """SIGTERM while the template runs: the kernel is shut down and the bundle sealed as
    failed; no staging folder is left, nothing looks complete."""
    script = (
        "import sys; from backtester.cli import main; "
        f"sys.argv = ['backtester', 'evidence', '--config', {CONFIG!r}, '--now', '2026-11-25T00:00:00Z', "
        f"'--out', {str(tmp_path)!r}]; main()"
    )
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the kernel has run a cell of the template
        written = list(tmp_path.glob(".*.partial/notebook.ipynb"))
        if written and '"execution_count": 2' in written[0].read_text():
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    (bundle,) = list(tmp_path.iterdir())
    assert process.returncode == 4
    # One line from the command, last (the kernel, stopped mid-cell, may log its own error above it).
    lines = stderr.decode().strip().splitlines()
    assert lines[-1] == f"interrupted (signal 15 (SIGTERM)); evidence bundle {bundle} sealed as failed"
    assert "raise _Terminated" not in stderr.decode()  # no traceback of the command's own
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["error"].startswith("interrupted: _Terminated: signal 15")
    assert "THIS EVIDENCE BUNDLE FAILED: interrupted" in (bundle / "notebook.html").read_text()


def test_a_hung_cell_fails_the_bundle(tmp_path: Path) -> None:
    """--timeout: a cell that runs too long fails the bundle instead of hanging it."""
    slow = nbformat.read(TEMPLATES["single"], as_version=4)
    slow.cells.insert(4, nbformat.v4.new_code_cell("import time\ntime.sleep(60)"))
    template = tmp_path / "slow.ipynb"
    nbformat.write(slow, template)
    started = time.monotonic()
    args = ["evidence", "--config", CONFIG, "--template", str(template), "--timeout", "2",
            "--now", "2026-11-25T00:00:00Z", "--out", str(tmp_path / "out")]  # fmt: skip
    made = CliRunner().invoke(main, args)
    assert time.monotonic() - started < 45
    assert made.exit_code == 4, made.output
    assert "FAILED" in made.stderr
    assert "timed out" in made.stderr.lower()
