"""Re-execute the committed notebooks and store the outputs nbval compares.

    .venv/bin/python scripts/refresh_notebook_outputs.py

Each notebook in templates/ and notebooks/ is executed as committed (its parameters
cell's defaults: the bundled sample, a fixed clock), over Unix-socket kernel channels.
Only cells marked ``# NBVAL_CHECK_OUTPUT`` keep their outputs (plain text the test
suite compares with a fresh run); every other output is cleared, so no Plotly JSON or
DataFrame HTML is stored. Run it after changing what a checked cell prints.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backtester.evidence.kernels import local_kernel_manager  # noqa: E402

CHECK = "# NBVAL_CHECK_OUTPUT"


def refresh(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="bt-nb-") as sockets:
        client = NotebookClient(
            nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
            kernel_manager_class=local_kernel_manager(Path(sockets)),
        )  # fmt: skip
        client.execute()
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        count += 1  # counted in order, so the stored notebook is the same on every refresh
        cell.execution_count = count
        if not cell.source.startswith(CHECK):
            cell.outputs = []
        for output in cell.outputs:
            if "execution_count" in output:
                output["execution_count"] = count
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)
    print(f"{path.relative_to(ROOT)}: refreshed")


def main() -> None:
    for folder in ("templates", "notebooks"):
        for path in sorted((ROOT / folder).glob("*.ipynb")):
            refresh(path)


if __name__ == "__main__":
    main()
