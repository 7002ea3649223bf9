"""Operational settings (not run parameters): a value given, else an environment
variable, else the spec's default, e.g. the archive's per-call timeout and
``max_in_flight``."""

from __future__ import annotations

import os

__all__ = ["positive_setting"]


def positive_setting(value: int | None, *, env: str, default: int, name: str) -> int:
    """``value``, else the whole number in ``$env``, else ``default``; it must be at least 1.

    >>> positive_setting(None, env="BACKTESTER_DOCTEST_UNSET", default=5, name="max_in_flight")
    5
    >>> positive_setting(0, env="BACKTESTER_DOCTEST_UNSET", default=5, name="max_in_flight")
    Traceback (most recent call last):
    ...
    ValueError: max_in_flight must be at least 1, got 0
    """
    if value is None:
        text = os.environ.get(env)
        try:
            value = int(text) if text else default
        except ValueError:
            msg = f"${env} ({name}) must be a whole number, got {text!r}"
            raise ValueError(msg) from None
    if value < 1:
        msg = f"{name} must be at least 1, got {value}"
        raise ValueError(msg)
    return value
