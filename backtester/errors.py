"""Reason codes (spec section 14) and the exceptions that carry them.

The codes are a public contract: their spelling is the spec's. Every rejection the
backtester makes is one of these exceptions::

    BacktesterError
    ├── ConfigError                    a run config is rejected; carries .code and .field
    │     BACKTESTER_INVALID_WINDOW           start_ts >= end_ts (also after the clamp)
    │     BACKTESTER_UNKNOWN_STRATEGY         strategy not in the registry
    │     PARAMETER_CHANGE_REQUIRES_APPROVAL  more than 200 sweep variants
    │     BACKTESTER_INVALID_CONFIG           anything else the schema forbids (ours, see below)
    ├── ArchiveError
    │     ├── ArchiveUnavailable       BACKTESTER_ARCHIVE_UNAVAILABLE: cannot be read at all
    │     └── ImportRejected           one input file broke the contract; nothing of it imported
    └── GovernanceError                the run registry says no (backtester.governance)
          ├── RunRefused               a launch was suppressed: carries .code
          │     KILL_SWITCH_ACTIVE            the kill switch is on
          │     BACKTESTER_RUN_QUEUE_FULL     max_in_flight runs are already running
          ├── RunIdTaken               an explicit replay_run_id is already registered
          ├── UnknownRun / RunNotRunning   nothing to abort
          └── RegistryUnavailable      the registry cannot be opened or written

Warnings are not exceptions; they stay on the run's record as :class:`Notice` values
(``BACKTESTER_WINDOW_CLAMPED``, ``BACKTESTER_LARGE_SWEEP``, and ours below).

Four codes are ours, for situations the spec does not name; reusing one of its codes
for them would mislabel what happened:

* ``BACKTESTER_INVALID_CONFIG`` (HARD_REJECT): a malformed config (an unknown key,
  ``mode`` other than the locked ``replay``, a timestamp that does not parse, a sweep
  variant with a bad parameter);
* ``BACKTESTER_FEE_ASSUMED`` (WARN): the run applied the config's ``fee_assumption`` to
  markets whose fee schedule the archive does not know;
* ``BACKTESTER_MARKET_SKIPPED`` (WARN): a market has data in the window but cannot be
  replayed (no market record, so its two tokens are not known);
* ``BACKTESTER_RUN_ABORTED`` (WARN): the run was stopped on request before its end (an
  operator's ``backtester abort``, the spec runbook's manual override, or the registry
  marking the run interrupted); its OperationsReport has ``status="aborted"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "ArchiveError",
    "ArchiveUnavailable",
    "BacktesterError",
    "ConfigError",
    "EvidenceError",
    "GovernanceError",
    "ImportRejected",
    "Notice",
    "Problem",
    "ReasonCode",
    "RegistryUnavailable",
    "RunIdTaken",
    "RunNotRunning",
    "RunRefused",
    "Severity",
    "UnknownRun",
    "user_message",
]


class Severity(StrEnum):
    """Severity of a reason code, as in spec section 14."""

    INFO = "INFO"
    WARN = "WARN"
    HARD_REJECT = "HARD_REJECT"


class ReasonCode(StrEnum):
    """Every reason code the backtester emits (spec sections 7, 10, 14, 21)."""

    BACKTESTER_REPLAY_COMPLETE = "BACKTESTER_REPLAY_COMPLETE"
    BACKTESTER_TICK_PROCESSED = "BACKTESTER_TICK_PROCESSED"
    BACKTESTER_INVALID_WINDOW = "BACKTESTER_INVALID_WINDOW"
    BACKTESTER_UNKNOWN_STRATEGY = "BACKTESTER_UNKNOWN_STRATEGY"
    BACKTESTER_WINDOW_CLAMPED = "BACKTESTER_WINDOW_CLAMPED"
    BACKTESTER_TICK_SKIPPED = "BACKTESTER_TICK_SKIPPED"
    BACKTESTER_ARCHIVE_UNAVAILABLE = "BACKTESTER_ARCHIVE_UNAVAILABLE"
    BACKTESTER_LARGE_SWEEP = "BACKTESTER_LARGE_SWEEP"
    KILL_SWITCH_ACTIVE = "KILL_SWITCH_ACTIVE"
    PARAMETER_CHANGE_REQUIRES_APPROVAL = "PARAMETER_CHANGE_REQUIRES_APPROVAL"
    BACKTESTER_INTENT_REJECTED = "BACKTESTER_INTENT_REJECTED"
    BACKTESTER_RUN_QUEUE_FULL = "BACKTESTER_RUN_QUEUE_FULL"
    BACKTESTER_INVALID_CONFIG = "BACKTESTER_INVALID_CONFIG"
    BACKTESTER_FEE_ASSUMED = "BACKTESTER_FEE_ASSUMED"
    BACKTESTER_MARKET_SKIPPED = "BACKTESTER_MARKET_SKIPPED"
    BACKTESTER_RUN_ABORTED = "BACKTESTER_RUN_ABORTED"

    @property
    def severity(self) -> Severity:
        return _SEVERITY[self]


_SEVERITY = {
    ReasonCode.BACKTESTER_REPLAY_COMPLETE: Severity.INFO,
    ReasonCode.BACKTESTER_TICK_PROCESSED: Severity.INFO,
    ReasonCode.BACKTESTER_INVALID_WINDOW: Severity.HARD_REJECT,
    ReasonCode.BACKTESTER_UNKNOWN_STRATEGY: Severity.HARD_REJECT,
    ReasonCode.BACKTESTER_WINDOW_CLAMPED: Severity.WARN,
    ReasonCode.BACKTESTER_TICK_SKIPPED: Severity.WARN,
    ReasonCode.BACKTESTER_ARCHIVE_UNAVAILABLE: Severity.HARD_REJECT,
    ReasonCode.BACKTESTER_LARGE_SWEEP: Severity.WARN,
    ReasonCode.KILL_SWITCH_ACTIVE: Severity.WARN,
    ReasonCode.PARAMETER_CHANGE_REQUIRES_APPROVAL: Severity.HARD_REJECT,
    ReasonCode.BACKTESTER_INTENT_REJECTED: Severity.INFO,
    ReasonCode.BACKTESTER_RUN_QUEUE_FULL: Severity.WARN,
    ReasonCode.BACKTESTER_INVALID_CONFIG: Severity.HARD_REJECT,
    ReasonCode.BACKTESTER_FEE_ASSUMED: Severity.WARN,
    ReasonCode.BACKTESTER_MARKET_SKIPPED: Severity.WARN,
    ReasonCode.BACKTESTER_RUN_ABORTED: Severity.WARN,
}

_USER_MESSAGES = {
    ReasonCode.BACKTESTER_REPLAY_COMPLETE: (
        "The backtest finished. Results are available in the governance audit report."
    ),
    ReasonCode.BACKTESTER_INVALID_WINDOW: "The backtest start date must be before the end date.",
    ReasonCode.BACKTESTER_UNKNOWN_STRATEGY: ("The requested strategy is not available for backtesting."),
    ReasonCode.BACKTESTER_WINDOW_CLAMPED: (
        "The backtest end date was set to the most recent available data."
    ),
    ReasonCode.KILL_SWITCH_ACTIVE: ("New backtests are paused while the system kill switch is active."),
    ReasonCode.PARAMETER_CHANGE_REQUIRES_APPROVAL: (
        "A sweep of more than 200 variants needs explicit approval."
    ),
    ReasonCode.BACKTESTER_INVALID_CONFIG: "The backtest configuration is not valid.",
}


def user_message(code: ReasonCode) -> str:
    """The spec's user-facing English for a code ("" where the spec gives none)."""
    return _USER_MESSAGES.get(code, "")


@dataclass(frozen=True)
class Notice:
    """A warning that stays on a run's record (e.g. ``BACKTESTER_WINDOW_CLAMPED``)."""

    code: ReasonCode
    detail: str

    @property
    def severity(self) -> Severity:
        return self.code.severity

    def as_dict(self) -> dict[str, str]:
        return {"code": str(self.code), "severity": str(self.severity), "detail": self.detail}


class BacktesterError(Exception):
    """Base class of every error the backtester raises on purpose."""


class ConfigError(BacktesterError):
    """A run config was rejected; ``code`` is the reason code, ``field`` where it failed."""

    def __init__(self, code: ReasonCode, message: str, *, field: str | None = None) -> None:
        self.code = code
        self.field = field
        self.message = message
        where = f"{field}: " if field else ""
        super().__init__(f"{code}: {where}{message}")


class EvidenceError(BacktesterError):
    """An evidence bundle cannot be made as asked (no such template, a template that
    does not declare the expected parameters, an output folder that cannot be used)."""


class ArchiveError(BacktesterError):
    """The archive could not be read or written as asked."""


class ArchiveUnavailable(ArchiveError):
    """The archive cannot be opened or read at all (``BACKTESTER_ARCHIVE_UNAVAILABLE``)."""

    code = ReasonCode.BACKTESTER_ARCHIVE_UNAVAILABLE

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(f"{self.code}: {message}")


@dataclass(frozen=True)
class Problem:
    """One contract violation: where it is and what is wrong."""

    path: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.message}"


class ImportRejected(ArchiveError):
    """An input file broke the archive contract; nothing of that file was imported.

    ``problems`` lists each violation as ``file:line: field: message``, in file order
    (at most the first 20; ``more`` counts the rest). ``grid_only`` is true when every
    problem is a price off the tick grid in force: a ``tick_size_change`` or market
    record imported later may put it on the grid, so the importer retries such a file
    after the other files of the same import.
    """

    def __init__(self, problems: list[Problem], more: int = 0, *, grid_only: bool = False) -> None:
        self.problems = problems
        self.more = more
        self.grid_only = grid_only
        text = "\n".join(str(p) for p in problems)
        if more:
            text += f"\n... and {more} more problem(s) in the same file"
        super().__init__(text)

    @property
    def first(self) -> Problem:
        return self.problems[0]

    @classmethod
    def single(cls, path: str, line: int, field: str, message: str) -> ImportRejected:
        return cls([Problem(path, line, field, message)])


class GovernanceError(BacktesterError):
    """The run registry refused or could not do what was asked."""


class RunRefused(GovernanceError):
    """A launch was suppressed by governance (the kill switch, or a full run queue);
    ``code`` is the reason code, and the refusal is on the registry as a ``refused`` row."""

    def __init__(self, code: ReasonCode, message: str, *, replay_run_id: str) -> None:
        self.code = code
        self.message = message
        self.replay_run_id = replay_run_id
        super().__init__(f"{code}: {message}")


class RunIdTaken(GovernanceError):
    """An explicit ``replay_run_id`` (the idempotency key) is already registered."""


class UnknownRun(GovernanceError):
    """No run of that ``replay_run_id`` is registered."""


class RunNotRunning(GovernanceError):
    """The run is registered but not running (finished, aborted, interrupted, refused)."""


class RegistryUnavailable(GovernanceError):
    """The run registry cannot be opened, read or written (a bad location, a database
    server that does not answer): no run is launched without it."""
