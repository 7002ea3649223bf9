"""Structured logs: every reason code the backtester raises, one JSON line each.

Each line (``python-json-logger``'s formatter on the stdlib ``logging``) carries
``timestamp`` (UTC, ISO 8601), ``severity`` (the spec's, section 14: ``INFO``,
``WARN``, ``HARD_REJECT``), ``code``, ``replay_run_id``, ``message`` (the spec's
user-facing message, or ours where it has none, :mod:`backtester.reports.messages`),
``detail`` (what happened, in this run's words) and ``context`` (``market``, ``tick``
(epoch ms), ``variant`` where they apply).

The records go to the ``backtester.codes`` logger. The CLI writes them, and every other
``backtester.*`` logger's, to stderr as JSON with ``--log-format json`` or
``BACKTESTER_LOG_FORMAT=json``; otherwise its stderr is
the human-readable text it always printed, and nothing is logged there (the logger has
a ``NullHandler``, as a library's should; a notebook that configures logging sees the
records as usual).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from backtester.errors import ReasonCode, Severity, user_message
from backtester.reports.messages import USER_MESSAGES

__all__ = ["LOG_FORMAT_ENV", "LOGGER", "configure", "log_code", "log_reports", "message_for"]

LOG_FORMAT_ENV = "BACKTESTER_LOG_FORMAT"
LOGGER = logging.getLogger("backtester.codes")
LOGGER.addHandler(logging.NullHandler())
_PACKAGE = logging.getLogger("backtester")

_LEVEL = {Severity.INFO: logging.INFO, Severity.WARN: logging.WARNING, Severity.HARD_REJECT: logging.ERROR}
_CODES = frozenset(ReasonCode)


def message_for(code: ReasonCode) -> str:
    """The user-facing message of ``code``: the spec's, else ours, else ""."""
    return USER_MESSAGES.get(code) or user_message(code)


def log_code(
    code: ReasonCode | str, *, replay_run_id: str | None = None, detail: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> None:  # fmt: skip
    """Log one occurrence of ``code`` (see the module docstring)."""
    code = ReasonCode(code)
    level = _LEVEL[code.severity]
    if not LOGGER.isEnabledFor(level):
        return
    LOGGER.log(
        level,
        message_for(code),
        extra={
            "severity": str(code.severity), "code": str(code), "replay_run_id": replay_run_id,
            "detail": detail, "context": {k: v for k, v in (context or {}).items() if v is not None},
        },
    )  # fmt: skip


def log_reports(reports: Iterable[Mapping[str, Any]]) -> None:
    """Log the reason code of every report that carries one, in the run's order."""
    for report in reports:
        code = report.get("event_type")
        if code not in _CODES:
            continue
        log_code(
            code,
            replay_run_id=report.get("replay_run_id"),
            detail=report.get("reason") or report.get("detail"),
            context={
                "market": report.get("market_id"),
                "tick": report.get("tick_ts_ms", report.get("ts_ms")),
                "variant": report.get("variant_id"),
                "report_id": report.get("report_id"),
            },
        )


def configure(fmt: str | None = None) -> str:
    """Send the records to stderr as JSON when ``fmt`` (else ``$BACKTESTER_LOG_FORMAT``) is
    ``json``; the format in force (``text`` or ``json``)."""
    chosen = (fmt or os.environ.get(LOG_FORMAT_ENV) or "text").lower()
    if chosen not in {"text", "json"}:
        msg = f"log format must be text or json, got {chosen!r}"
        raise ValueError(msg)
    for handler in [h for h in _PACKAGE.handlers if getattr(h, "_backtester", False)]:
        _PACKAGE.removeHandler(handler)
    if chosen == "json":
        from pythonjsonlogger.json import JsonFormatter  # noqa: PLC0415 - only the JSON format needs it

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            JsonFormatter(
                "{message}{severity}{code}{replay_run_id}{detail}{context}", style="{",
                timestamp=True, json_ensure_ascii=False,
            )
        )  # fmt: skip
        handler._backtester = True  # type: ignore[attr-defined]
        _PACKAGE.addHandler(handler)  # every backtester.* logger: the codes, the CLI's lines
        _PACKAGE.setLevel(logging.INFO)
        _PACKAGE.propagate = False
    return chosen
