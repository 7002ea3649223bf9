"""backtester: the governance backtester of an automated Polymarket trading desk.

Replays archived Polymarket market data and bot reports through a strategy under test,
in replay mode only; it never signs an order or touches the live CLOB.

``backtester.runs`` is both the ``runs`` stage (``backtester.runs.engine``, ...) and,
called, the run registry as a DataFrame (``backtester.runs(status="running")``, see
:func:`backtester.api.runs`): the module is made callable below, so neither hides the
other.
"""

import sys as _sys
import types as _types

from backtester.api import (
    archive_info,
    export_archive,
    export_results,
    import_files,
    make_evidence,
    reports_frame,
    resolve_now,
    run,
    validate_config,
    verify_evidence,
)
from backtester.archive import Archive, ImportOutcome
from backtester.config import ResolvedRun, RunConfig, Variant, config_from_json
from backtester.errors import (
    ArchiveError,
    ArchiveUnavailable,
    BacktesterError,
    ConfigError,
    ImportRejected,
    Notice,
    ReasonCode,
    Severity,
)
from backtester.runs import ReplayResult
from backtester.strategies import StrategyRegistry, StrategySpec, default_registry

__all__ = [
    "Archive",
    "ArchiveError",
    "ArchiveUnavailable",
    "BacktesterError",
    "ConfigError",
    "ImportOutcome",
    "ImportRejected",
    "Notice",
    "ReasonCode",
    "ReplayResult",
    "ResolvedRun",
    "RunConfig",
    "Severity",
    "StrategyRegistry",
    "StrategySpec",
    "Variant",
    "archive_info",
    "config_from_json",
    "default_registry",
    "export_archive",
    "export_results",
    "import_files",
    "make_evidence",
    "reports_frame",
    "resolve_now",
    "run",
    "runs",
    "validate_config",
    "verify_evidence",
]


class _CallableRuns(_types.ModuleType):
    """The ``backtester.runs`` stage, which called lists the run registry."""

    def __call__(self, **options):  # type: ignore[no-untyped-def]
        return _sys.modules["backtester.api"].runs(**options)


_sys.modules["backtester.runs"].__class__ = _CallableRuns
globals()["runs"] = _sys.modules["backtester.runs"]
