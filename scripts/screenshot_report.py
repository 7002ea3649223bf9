"""Regenerate the README's screenshot of the report: docs/report.png.

    .venv/bin/python scripts/screenshot_report.py

Replays the bundled sample sweep (data/sample-sweep.json, the README's first command's
job) with a fixed run id and clock, writes its report as a bundle does (report.html
loading plotly.min.js beside it) into a temporary folder, and has headless Chromium
(installed by scripts/setup-tests.sh) draw the top of the page: the verdict, the
assumptions, the ranked variants, the sweep heatmap and the P&L chart. Offline, like
every test: the page loads nothing from the web.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backtester import api  # noqa: E402
from backtester.evidence import write_artifacts  # noqa: E402

OUT = ROOT / "docs" / "report.png"
WIDTH, HEIGHT = 1280, 2900


def main() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("chromium is not installed: run scripts/setup-tests.sh")
    with tempfile.TemporaryDirectory(prefix="bt-screenshot-") as folder:
        result = api.run(
            ROOT / "data" / "sample-sweep.json", now="2026-11-25T00:00:00Z", run_id="replay_sample_sweep",
            progress=False, registry=Path(folder) / "registry.sqlite3",  # its own: the fixed id is taken once
        )  # fmt: skip
        report = write_artifacts(result, folder)
        command = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            "--disable-background-networking", "--force-device-scale-factor=1",
            f"--user-data-dir={folder}/profile",
            f"--window-size={WIDTH},{HEIGHT}", "--virtual-time-budget=15000", f"--screenshot={OUT}",
            report.as_uri(),
        ]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True, timeout=120)
    print(f"{OUT.relative_to(ROOT)}: {OUT.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
