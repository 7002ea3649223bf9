"""Root conftest: notebooks collected by nbval (templates/, notebooks/) run their kernel
over Unix sockets, so the suite keeps network sockets blocked (pytest-socket) for
everything, notebooks included.

Every run the suite launches (in this process, in CLI subprocesses, in notebook
kernels) is registered in a run registry of the session's own, never in the user's
(``$XDG_STATE_HOME/backtester/``): ``BACKTESTER_REGISTRY`` is set here, before anything
reads it; tests that need a registry of their own pass one explicitly."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import nbval.kernel

from backtester.evidence.kernels import local_kernel_manager

_SOCKETS = Path(tempfile.mkdtemp(prefix="bt-nbval-"))
nbval.kernel.KernelManager = local_kernel_manager(_SOCKETS, asynchronous=False)
os.environ["BACKTESTER_REGISTRY"] = str(Path(tempfile.mkdtemp(prefix="bt-registry-")) / "registry.sqlite3")
