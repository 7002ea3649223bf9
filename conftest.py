"""Root conftest: notebooks collected by nbval (templates/, notebooks/) run their kernel
over Unix sockets, so the suite keeps network sockets blocked (pytest-socket) for
everything, notebooks included."""

from __future__ import annotations

import tempfile
from pathlib import Path

import nbval.kernel

from backtester.evidence.kernels import local_kernel_manager

_SOCKETS = Path(tempfile.mkdtemp(prefix="bt-nbval-"))
nbval.kernel.KernelManager = local_kernel_manager(_SOCKETS, asynchronous=False)
