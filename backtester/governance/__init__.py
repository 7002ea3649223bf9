"""Run governance: the run registry, admission, the kill switch, abort and liveness."""

from backtester.governance.registry import (
    LEASE_MS,
    MAX_IN_FLIGHT,
    REGISTRY_ENV,
    KillSwitch,
    LaunchRequest,
    Registry,
    RunRecord,
    Who,
    default_registry_location,
)

__all__ = [
    "LEASE_MS",
    "MAX_IN_FLIGHT",
    "REGISTRY_ENV",
    "KillSwitch",
    "LaunchRequest",
    "Registry",
    "RunRecord",
    "Who",
    "default_registry_location",
]
