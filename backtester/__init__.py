"""backtester: the governance backtester of an automated Polymarket trading desk.

Replays archived Polymarket market data and bot reports through a strategy under test,
in replay mode only; it never signs an order or touches the live CLOB.
"""

from backtester.api import (
    archive_info,
    export_archive,
    import_files,
    make_evidence,
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
    "import_files",
    "make_evidence",
    "resolve_now",
    "run",
    "validate_config",
    "verify_evidence",
]
