"""Real ``backtester`` processes for the governance tests: launched alone, or several
held behind a barrier and released at the same moment."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NOW = "2026-11-25T00:00:00Z"

# Imports everything first, says it is ready, waits for the go file, then runs the CLI:
# the launches race only for the registry, not for Python's start-up.
_GATED = """
import pathlib, sys, time
from backtester.cli import main
ready, go = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
ready.touch()
while not go.exists():
    time.sleep(0.002)
sys.argv = ["backtester", *sys.argv[3:]]
main()
"""


def env_with(registry: str, **extra: str) -> dict[str, str]:
    """The environment of a launched process: this one's, with the registry named."""
    return {**os.environ, "BACKTESTER_REGISTRY": registry, **extra}


def start(args: Sequence[str | Path], *, env: dict[str, str]) -> subprocess.Popen[str]:
    """``backtester ARGS`` in a new process (stdout and stderr captured)."""
    command = [sys.executable, "-c", "from backtester.cli import main; main()", *map(str, args)]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def start_together(
    launches: Sequence[Sequence[str | Path]], *, env: dict[str, str], folder: Path
) -> tuple[list[subprocess.Popen[str]], float, float]:
    """Start every launch, wait until all are ready, release them at once; the processes,
    and the time of the release (monotonic, and wall clock in epoch ms)."""
    go = folder / "go"
    processes = []
    for index, args in enumerate(launches):
        ready = folder / f"ready-{index}"
        command = [sys.executable, "-c", _GATED, str(ready), str(go), *map(str, args)]
        processes.append(
            subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    wait_until(lambda: all((folder / f"ready-{i}").exists() for i in range(len(launches))), 120)
    released, wall_ms = time.monotonic(), time.time() * 1000
    go.touch()
    return processes, released, wall_ms


def wait_until(condition: Callable[[], Any], timeout_s: float, *, every_s: float = 0.02) -> Any:
    """Poll ``condition`` until it is truthy (returned) or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every_s)
    msg = f"condition not met within {timeout_s} s"
    raise AssertionError(msg)


def long_sweep(folder: Path, variants: int) -> Path:
    """The sample sweep (real books) with ``variants`` variants of it: a launch that
    stays in flight for a few seconds."""
    config = json.loads((ROOT / "data" / "sample-sweep.json").read_text())
    base = config["parameter_sweep"][0]
    config["parameter_sweep"] = [{**base, "min_edge_bps": 100 + 10 * i} for i in range(variants)]
    path = folder / f"sweep-{variants}.json"
    path.write_text(json.dumps(config))
    return path


def unblock_fifo(fifo: Path) -> None:
    """Open a FIFO for writing once, so a reader left blocked on it (a stalled archive's
    open) gets end-of-file and its thread ends; nothing to do when no reader is left."""
    with contextlib.suppress(OSError):  # ENXIO: no reader
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
