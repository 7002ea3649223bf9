"""Run configuration: the spec's parameters, defaults, locks and reason codes."""

from backtester.config.model import (
    SWEEP_HARD_LIMIT,
    SWEEP_WARN_LIMIT,
    ResolvedRun,
    RunConfig,
    StrategyCatalog,
    Variant,
    config_from_json,
    config_sha256,
    load_config,
    read_config_text,
    resolve_config,
)
from backtester.config.replay import CurveFees, FlatFees, RiskConfig, SimulationConfig
from backtester.config.window import TimeExpr, format_ms, parse_time_expr, to_ms

__all__ = [
    "CurveFees",
    "FlatFees",
    "RiskConfig",
    "SWEEP_HARD_LIMIT",
    "SWEEP_WARN_LIMIT",
    "SimulationConfig",
    "ResolvedRun",
    "RunConfig",
    "StrategyCatalog",
    "TimeExpr",
    "Variant",
    "config_from_json",
    "config_sha256",
    "format_ms",
    "load_config",
    "parse_time_expr",
    "read_config_text",
    "resolve_config",
    "to_ms",
]
