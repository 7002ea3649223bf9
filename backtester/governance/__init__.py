"""Run governance (spec sections 14, 19 to 21, 27): the run registry, admission with at
most ``max_in_flight`` runs in flight, the kill switch, an operator's abort, and
liveness (a run whose process is gone becomes ``interrupted``)."""

from backtester.governance.frames import runs_frame
from backtester.governance.launch import ADMITTED_ENV, Launch, aggregate_counts, govern, stop_all
from backtester.governance.registry import (
    LEASE_MS,
    MAX_IN_FLIGHT,
    MAX_IN_FLIGHT_ENV,
    REGISTRY_ENV,
    STATUSES,
    KillSwitch,
    LaunchRequest,
    Registry,
    RunRecord,
    Who,
    default_registry_location,
)

__all__ = [
    "ADMITTED_ENV",
    "LEASE_MS",
    "MAX_IN_FLIGHT",
    "MAX_IN_FLIGHT_ENV",
    "REGISTRY_ENV",
    "STATUSES",
    "KillSwitch",
    "Launch",
    "LaunchRequest",
    "Registry",
    "RunRecord",
    "Who",
    "aggregate_counts",
    "default_registry_location",
    "govern",
    "runs_frame",
    "stop_all",
]
