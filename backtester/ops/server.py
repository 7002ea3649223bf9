"""``backtester serve``: the operations endpoints over HTTP, served by waitress.

Routes (``GET`` and ``HEAD`` only; the server never changes anything):

* ``/metrics``: the spec's six metrics from the run registry
  (:mod:`backtester.ops.metrics`), in the Prometheus text format, or OpenMetrics when
  the scraper asks for it (``Accept: application/openmetrics-text``);
* ``/internal/health/backtester``: the health check (:mod:`backtester.ops.health`),
  JSON, 200 unless red (503);
* ``/runs`` (``?status=S&limit=N``) and ``/runs/{replay_run_id}``: the registry's rows
  as JSON, as ``backtester runs list|show --json`` prints them.

waitress is a production WSGI server (pure Python, no C build, maintained by the
Pylons project), not the stdlib development server; it is bound to loopback unless
told otherwise.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs  # query strings only: no client

from prometheus_client import make_wsgi_app
from waitress.server import create_server

from backtester.governance import STATUSES, Registry
from backtester.ops.health import health
from backtester.ops.metrics import metrics_registry

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "HEALTH_PATH", "app", "make_server"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9464
HEALTH_PATH = "/internal/health/backtester"

StartResponse = Callable[..., Any]


def app(
    registry: str | os.PathLike[str] | None = None, *, archive: str | os.PathLike[str] | None = None
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI application over the run registry at ``registry``."""
    location = str(registry) if registry is not None else None
    metrics = make_wsgi_app(metrics_registry(location), disable_compression=False)

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        if method not in {"GET", "HEAD"}:
            return _json(start_response, 405, {"error": f"{method} is not allowed: the server is read-only"},
                         extra=[("Allow", "GET, HEAD")])  # fmt: skip
        try:
            if path == "/metrics":
                return metrics(environ, start_response)
            if path == HEALTH_PATH:
                checked = health(location, archive=archive)
                return _json(start_response, checked.http_status, checked.as_dict())
            if path == "/runs":
                return _runs(location, environ, start_response)
            if path.startswith("/runs/") and path.count("/") == 2:
                return _run(location, path.removeprefix("/runs/"), start_response)
        except Exception as exc:  # the registry is out of reach: say so, as JSON
            return _json(start_response, 503, {"error": f"{type(exc).__name__}: {exc}"})
        return _json(start_response, 404, {"error": f"no such path: {path}", "paths": _PATHS})

    return application


_PATHS = ["/metrics", HEALTH_PATH, "/runs", "/runs/{replay_run_id}"]


def _runs(location: str | None, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    query = parse_qs(environ.get("QUERY_STRING", ""))
    status = query.get("status", [None])[0]
    limit = query.get("limit", [None])[0]
    if status is not None and status not in STATUSES:
        return _json(start_response, 400, {"error": f"status must be one of {', '.join(STATUSES)}"})
    if limit is not None and not (limit.isdigit() and int(limit) > 0):
        return _json(start_response, 400, {"error": "limit must be a positive integer"})
    with Registry(location) as store:
        store.reap()
        records = store.runs(status=status, limit=int(limit) if limit else None)
    return _json(start_response, 200, [r.as_dict() for r in records])


def _run(location: str | None, run_id: str, start_response: StartResponse) -> Iterable[bytes]:
    with Registry(location) as store:
        store.reap()
        record = store.run(run_id)
    if record is None:
        return _json(start_response, 404, {"error": f"no run {run_id} in the registry"})
    return _json(start_response, 200, record.as_dict())


def _json(
    start_response: StartResponse, status: int, body: Any, *, extra: list[tuple[str, str]] | None = None
) -> Iterable[bytes]:
    data = (json.dumps(body, indent=2, sort_keys=False, default=str) + "\n").encode()
    reasons = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
               503: "Service Unavailable"}  # fmt: skip
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
               ("Cache-Control", "no-store"), *(extra or [])]  # fmt: skip
    start_response(f"{status} {reasons[status]}", headers)
    return [data]


def make_server(
    registry: str | os.PathLike[str] | None = None,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    archive: str | os.PathLike[str] | None = None,
    threads: int = 4,
) -> Any:
    """A waitress server (call ``.run()``; ``.close()`` to stop) on ``host:port`` (port 0:
    one the operating system picks; the bound port is ``server.effective_port``)."""
    return create_server(
        app(registry, archive=archive), host=host, port=port, threads=threads, ident="backtester",
        clear_untrusted_proxy_headers=True,
    )  # fmt: skip
