"""The run config (spec sections 6 to 8) and its resolution into a concrete run plan.

A :class:`RunConfig` is what a user writes (the spec's wire example); ``resolve``
checks it against the clock and the strategy catalog, in the spec's order, and returns
a :class:`ResolvedRun`: absolute window, validated variants and the warnings that stay
on the run's record. Every rejection is a :class:`~backtester.errors.ConfigError`.

The strategy catalog is passed in rather than imported: strategies are a later stage
than config, and the seam keeps the import direction one way.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from backtester.config.replay import FeeAssumption, RiskConfig, SimulationConfig
from backtester.config.window import TimeExpr, format_ms, parse_time_expr, to_ms
from backtester.errors import ConfigError, Notice, ReasonCode

__all__ = [
    "config_from_json",
    "config_sha256",
    "read_config_text",
    "SWEEP_HARD_LIMIT",
    "SWEEP_WARN_LIMIT",
    "ResolvedRun",
    "RunConfig",
    "StrategyCatalog",
    "Variant",
    "load_config",
    "resolve_config",
]

SWEEP_WARN_LIMIT = 50
"""More variants than this run with ``BACKTESTER_LARGE_SWEEP`` and a throttle (spec 7)."""
SWEEP_HARD_LIMIT = 200
"""More variants than this are rejected with ``PARAMETER_CHANGE_REQUIRES_APPROVAL``."""

BOT_ID = "gov.backtester"
LOCKED_MODE = "replay"
_LOCKED = {"bot_id": BOT_ID, "mode": LOCKED_MODE}
_CONDITION_ID = re.compile(r"0x[0-9a-fA-F]{64}\Z")


class StrategyCatalog(Protocol):
    """What config validation needs from the strategy registry."""

    def __contains__(self, slug: object) -> bool: ...

    def params_model(self, slug: str) -> type[BaseModel]: ...

    def slugs(self) -> Sequence[str]: ...


class RunConfig(BaseModel):
    """A backtest run as the user asks for it; defaults are the spec's section 8.

    >>> RunConfig().strategy
    'sum_to_one_arb'
    >>> RunConfig.model_validate({"mode": "live"})
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for RunConfig
    mode
      Value error, mode is locked to 'replay' (spec section 8); got 'live' ...
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    bot_id: str = BOT_ID
    version: Literal["2.0.0"] | None = None
    mode: str = LOCKED_MODE
    strategy: str = "sum_to_one_arb"
    start_ts: str | datetime = "now()-7d"
    end_ts: str | datetime = "now()"
    parameter_sweep: list[dict[str, Any]] = []
    markets: list[str] | None = None
    """Condition ids to replay; None replays every market with market data in the window."""
    decision_clock: Literal["exchange", "receive"] = "exchange"
    """``receive``: a message counts from the archiver's ``recv_ts_ms`` where it has one."""
    fee_assumption: FeeAssumption | None = None
    """Fee model for markets whose schedule the archive does not know; None skips them."""
    risk: RiskConfig = RiskConfig()
    simulation: SimulationConfig = SimulationConfig()

    @field_validator("bot_id", "mode")
    @classmethod
    def _locked(cls, value: str, info: ValidationInfo) -> str:
        expected = _LOCKED[str(info.field_name)]
        if value != expected:
            msg = f"{info.field_name} is locked to {expected!r} (spec section 8); got {value!r}"
            raise ValueError(msg)
        return value

    @field_validator("markets")
    @classmethod
    def _condition_ids(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        bad = [m for m in value if not _CONDITION_ID.match(m)]
        if bad:
            msg = f"{bad[0]!r} is not a condition id (0x and 64 hex digits)"
            raise ValueError(msg)
        return sorted({m.lower() for m in value})

    @field_validator("start_ts", "end_ts", mode="before")
    @classmethod
    def _window_bound(cls, value: object) -> object:
        # Checked before pydantic's coercion, which would read a bare number as epoch
        # seconds: a window bound is text (or a datetime from Python), never a number.
        parse_time_expr(value)
        return value


@dataclass(frozen=True)
class Variant:
    """One parameter variant: its index in the sweep, overrides and full parameters."""

    variant_id: int
    overrides: dict[str, Any]
    params: BaseModel

    def params_dict(self) -> dict[str, Any]:
        return self.params.model_dump(mode="json")


@dataclass(frozen=True)
class ResolvedRun:
    """A validated run: absolute window in epoch ms, variants, and warnings."""

    config: RunConfig
    now_ms: int
    start_ms: int
    end_ms: int
    requested_end_ms: int
    variants: tuple[Variant, ...]
    notices: tuple[Notice, ...] = field(default=())

    @property
    def strategy(self) -> str:
        return self.config.strategy

    @property
    def is_sweep(self) -> bool:
        return bool(self.config.parameter_sweep)

    @property
    def sha256(self) -> str:
        """The sha256 of the resolved config (:func:`config_sha256` of :meth:`as_dict`): what
        the run registry and an evidence manifest record as the run's config hash."""
        return config_sha256(self.as_dict())

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view, for the run record and the CLI."""
        return {
            "bot_id": self.config.bot_id,
            "mode": self.config.mode,
            "strategy": self.strategy,
            "start_ts": format_ms(self.start_ms),
            "end_ts": format_ms(self.end_ms),
            "requested": {
                "start_ts": _text(self.config.start_ts),
                "end_ts": _text(self.config.end_ts),
            },
            "now": format_ms(self.now_ms),
            "parameter_variants": [
                {"variant_id": v.variant_id, "params": v.params_dict()} for v in self.variants
            ],
            "markets": self.config.markets,
            "decision_clock": self.config.decision_clock,
            "fee_assumption": (
                self.config.fee_assumption.model_dump(mode="json") if self.config.fee_assumption else None
            ),
            "risk": self.config.risk.model_dump(mode="json"),
            "simulation": self.config.simulation.model_dump(mode="json"),
            "notices": [n.as_dict() for n in self.notices],
        }


def config_sha256(config: Any) -> str:
    """sha256 of a config's canonical JSON (sorted keys).

    >>> config_sha256({"b": 1, "a": "x"}) == config_sha256({"a": "x", "b": 1})
    True
    """
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def _text(value: str | datetime) -> str:
    return value if isinstance(value, str) else value.isoformat()


def load_config(source: str | Path | Mapping[str, Any] | RunConfig) -> RunConfig:
    """Read a run config from a JSON file path, a mapping or a ``RunConfig``.

    JSON numbers are read as ``Decimal`` so money never passes through a float.
    Schema violations raise ``ConfigError(BACKTESTER_INVALID_CONFIG)`` naming the key.
    """
    if isinstance(source, RunConfig):
        return source
    if isinstance(source, str | Path):
        source = _parse_json(read_config_text(source), str(source))
    if not isinstance(source, Mapping):
        raise ConfigError(
            ReasonCode.BACKTESTER_INVALID_CONFIG,
            f"a run config is a JSON object, got {type(source).__name__}",
        )
    try:
        return RunConfig.model_validate(dict(source))
    except ValidationError as exc:
        raise _config_error(exc) from None


def read_config_text(path: str | Path) -> str:
    """A config file's text; a file that cannot be read is ``BACKTESTER_INVALID_CONFIG``."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            ReasonCode.BACKTESTER_INVALID_CONFIG, f"cannot read {path}: {exc.strerror}"
        ) from None


def config_from_json(text: str, *, name: str = "config_json") -> RunConfig:
    """A run config from its JSON text, numbers read as ``Decimal`` (money never passes
    through a float; a value with more than 6 decimals is rejected, not rounded).
    ``name`` is what error messages call the text.

    >>> config_from_json('{"parameter_sweep": [{"max_size_pusd": 50.00000000000000001}]}').parameter_sweep
    [{'max_size_pusd': Decimal('50.00000000000000001')}]
    """
    return load_config(_parse_json(text, name))


def _parse_json(text: str, name: str) -> Any:
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            ReasonCode.BACKTESTER_INVALID_CONFIG, f"{name}:{exc.lineno}: not valid JSON: {exc.msg}"
        ) from None


def _config_error(exc: ValidationError, prefix: str = "") -> ConfigError:
    first = exc.errors(include_url=False)[0]
    where = prefix + _loc(first["loc"])
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "missing":
        message = "required key is missing"
    else:
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] != "value_error" and "input" in first:
            message += f" (got {first['input']!r})"
    return ConfigError(ReasonCode.BACKTESTER_INVALID_CONFIG, message, field=where)


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def resolve_config(
    source: str | Path | Mapping[str, Any] | RunConfig,
    *,
    now: datetime,
    strategies: StrategyCatalog,
) -> ResolvedRun:
    """Validate a config against the clock and the strategy catalog (spec section 9).

    The checks run in the spec's order: the window, then the strategy, then the sweep
    size and each variant's parameters; finally ``end_ts`` is clamped to ``now``
    (``BACKTESTER_WINDOW_CLAMPED``) and the window is checked again, since clamping can
    empty it.
    """
    config = load_config(source)
    now_ms = to_ms(now)
    start_ms = parse_time_expr(config.start_ts).resolve(now)
    end_expr: TimeExpr = parse_time_expr(config.end_ts)
    requested_end_ms = end_expr.resolve(now)
    if start_ms >= requested_end_ms:
        raise ConfigError(
            ReasonCode.BACKTESTER_INVALID_WINDOW,
            f"start_ts {format_ms(start_ms)} is not before end_ts {format_ms(requested_end_ms)}",
            field="start_ts",
        )
    if config.strategy not in strategies:
        known = ", ".join(sorted(strategies.slugs()))
        raise ConfigError(
            ReasonCode.BACKTESTER_UNKNOWN_STRATEGY,
            f"{config.strategy!r} is not in the strategy registry (registered: {known})",
            field="strategy",
        )
    variants, notices = _variants(config, strategies)
    end_ms = requested_end_ms
    if requested_end_ms > now_ms:
        end_ms = now_ms
        notices.insert(
            0,
            Notice(
                ReasonCode.BACKTESTER_WINDOW_CLAMPED,
                f"end_ts {format_ms(requested_end_ms)} is after now; clamped to {format_ms(now_ms)}",
            ),
        )
        if start_ms >= end_ms:
            raise ConfigError(
                ReasonCode.BACKTESTER_INVALID_WINDOW,
                f"start_ts {format_ms(start_ms)} is not before end_ts once end_ts is "
                f"clamped to now ({format_ms(now_ms)})",
                field="start_ts",
            )
    return ResolvedRun(
        config=config,
        now_ms=now_ms,
        start_ms=start_ms,
        end_ms=end_ms,
        requested_end_ms=requested_end_ms,
        variants=variants,
        notices=tuple(notices),
    )


def _variants(config: RunConfig, strategies: StrategyCatalog) -> tuple[tuple[Variant, ...], list[Notice]]:
    sweep = config.parameter_sweep
    notices: list[Notice] = []
    if len(sweep) > SWEEP_HARD_LIMIT:
        raise ConfigError(
            ReasonCode.PARAMETER_CHANGE_REQUIRES_APPROVAL,
            f"{len(sweep)} variants exceed the hard limit of {SWEEP_HARD_LIMIT}; "
            "reduce the sweep or request approval",
            field="parameter_sweep",
        )
    if len(sweep) > SWEEP_WARN_LIMIT:
        notices.append(
            Notice(
                ReasonCode.BACKTESTER_LARGE_SWEEP,
                f"{len(sweep)} variants (more than {SWEEP_WARN_LIMIT}): "
                "the sweep runs with a resource throttle",
            )
        )
    model = strategies.params_model(config.strategy)
    overrides_list = sweep or [{}]
    variants = []
    for index, overrides in enumerate(overrides_list):
        try:
            params = model.model_validate(overrides)
        except ValidationError as exc:
            raise _config_error(exc, prefix=f"parameter_sweep[{index}].") from None
        variants.append(Variant(variant_id=index, overrides=dict(overrides), params=params))
    return tuple(variants), notices
