"""Jupyter kernels that talk over Unix sockets instead of TCP.

The kernel's five channels (shell, iopub, stdin, control, heartbeat) become socket
files in a folder of the caller's, so executing a notebook opens no network port for
its channels, and a test suite that blocks network sockets (pytest-socket, with Unix
sockets allowed) can still execute notebooks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager, KernelManager
from traitlets import default

__all__ = ["local_kernel_manager"]


def local_kernel_manager(
    folder: Path, *, asynchronous: bool = True, env: Mapping[str, str] | None = None
) -> type:
    """A kernel manager class whose kernels use Unix sockets in ``folder`` (keep its
    path short: a Unix socket path holds at most 107 bytes); ``env`` is added to the
    kernel's environment (asynchronous managers, as papermill's)."""
    base = AsyncKernelManager if asynchronous else KernelManager
    extra = dict(env or {})

    class LocalKernelManager(base):  # type: ignore[misc, valid-type]
        async def _async_pre_start_kernel(self, **kw: Any) -> Any:
            if extra:
                kw["env"] = {**os.environ, **kw.get("env", {}), **extra}
            return await super()._async_pre_start_kernel(**kw)

        @default("transport")
        def _transport(self) -> str:
            return "ipc"

        @default("ip")
        def _ip(self) -> str:
            return str(folder / "kernel")

        @default("cache_ports")
        def _cache_ports(self) -> bool:
            return False  # ports are socket-file suffixes here: no TCP port is probed

    return LocalKernelManager
