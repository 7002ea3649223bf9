"""Project rules: the README's two commands are what CI runs, the public API is pinned,
stage imports point one way."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import backtester

ROOT = Path(__file__).resolve().parents[2]
STAGES = ["units", "errors", "fees", "config", "archive", "book", "strategies", "guards", "venue", "ledger",
          "reports", "runs", "sample", "governance", "evidence", "ops", "api", "cli"]  # fmt: skip


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```(?:sh|bash)\n(.+?)\n```", text, flags=re.S)[:2]


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run runs the README's second command verbatim."""
    _, test_command = readme_commands()
    ci_lines = [
        ln for ln in (ROOT / ".ci/run").read_text().splitlines() if ln and not ln.startswith(("#", "set "))
    ]
    assert ci_lines == [test_command]


def test_first_command_runs_the_sample() -> None:
    """The README's first command sets up and runs the main job on the bundled sample:
    a sweep evidence bundle; the second sets up through the project's own script."""
    first, second = readme_commands()
    assert first.startswith("python3.11 -m venv .venv")
    assert "backtester evidence --config data/sample-sweep.json" in first
    assert second.startswith("sh scripts/setup-tests.sh && ")
    setup = (ROOT / "scripts/setup-tests.sh").read_text()
    assert "python3.11 -m venv .venv" in setup
    assert ".venv/bin/pip install -e '.[test,ray]'" in setup


def test_environment_matches_pyproject() -> None:
    """environment.yml lists the same dependency ranges as pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = set(project["dependencies"]) | set(extras["test"]) | set(extras["ray"])
    env = (ROOT / "environment.yml").read_text()
    listed = set(re.findall(r'^\s+- "?([a-z][^"\n]*?)"?$', env.split("pip:", 1)[1], flags=re.M))
    assert {w.replace(" ", "") for w in wanted} == {x.replace(" ", "") for x in listed if x != "-e ."}


def test_public_api_is_pinned() -> None:
    """backtester.__all__ is sorted and is exactly the public surface."""
    assert backtester.__all__ == sorted(backtester.__all__)
    assert set(backtester.__all__) == {
        "Archive", "ArchiveError", "ArchiveUnavailable", "BacktesterError", "ConfigError", "ImportOutcome",
        "ImportRejected", "Notice", "ReasonCode", "ResolvedRun", "RunConfig", "Severity", "StrategyRegistry",
        "StrategySpec", "Variant", "archive_info", "default_registry", "export_archive", "import_files",
        "ReplayResult", "resolve_now", "run", "runs", "validate_config", "make_evidence", "verify_evidence",
        "config_from_json", "reports_frame", "export_results",
    }  # fmt: skip
    assert callable(backtester.runs)  # the registry as a DataFrame ...
    assert backtester.runs.engine.run_variant  # ... and still the runs stage


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "backtester" else None


def test_imports_point_one_way() -> None:
    """No stage imports a later one (config -> archive -> book -> ... -> api -> cli)."""
    rank = {name: i for i, name in enumerate(STAGES)}
    bad = []
    for path in (ROOT / "backtester").rglob("*.py"):
        own = _stage(".".join(path.relative_to(ROOT).with_suffix("").parts))
        if own is None or own == "__init__":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                target = _stage(node.module)
                if target and rank[target] > rank[own]:
                    bad.append(f"{path.relative_to(ROOT)} imports {node.module}")
    assert bad == []


def test_no_network_in_replay_code() -> None:
    """The package never imports a network client (replay never touches the network).
    The one connection it may open is the run registry's to a shared PostgreSQL server,
    and only backtester/governance/registry.py imports its driver; the one socket it
    listens on is ``backtester serve``'s, and only backtester/ops/server.py imports the
    HTTP server (and ``urllib.parse`` for its query strings)."""
    forbidden = {
        "socket",
        "http",
        "urllib",
        "requests",
        "httpx",
        "aiohttp",
        "websockets",
        "psycopg",
        "waitress",
    }
    allowed_in = {
        ROOT / "backtester" / "governance" / "registry.py": {"psycopg"},
        ROOT / "backtester" / "ops" / "server.py": {"waitress", "urllib"},
    }
    for path in (ROOT / "backtester").rglob("*.py"):
        allowed = allowed_in.get(path, set())
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not {n.split(".")[0] for n in names} & (forbidden - allowed), path


def test_lint() -> None:
    """ruff finds nothing and has nothing to reformat (the rule set is in pyproject.toml),
    in every source file of the project: git-ignored paths are not skipped, and no cache
    can hide a change."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py", "*.ipynb"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    ).stdout.split()  # fmt: skip
    if not files:  # not a git checkout: every Python file and notebook of the tree
        files = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.suffix in (".py", ".ipynb")
                 and ".venv" not in p.parts]  # fmt: skip
    for command in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--no-cache", "--no-respect-gitignore", *files],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
