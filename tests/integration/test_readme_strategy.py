"""The README's worked strategy example runs as written, over the sample archive."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

from backtester import api
from backtester.sample import SAMPLE_ARCHIVE
from backtester.strategies.registry import BUILTINS, StrategyRegistry

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_strategy() -> ModuleType:
    """The first python block of the README's "Adding a strategy" section, as a module."""
    section = README.read_text().split("## Adding a strategy", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)
    module = ModuleType("readme_strategy")
    exec(compile(code, str(README), "exec"), module.__dict__)  # our own README's example
    return module


def test_the_worked_example_trades_the_sample(tmp_path: Path) -> None:
    spec = readme_strategy().SPEC
    config = {
        "bot_id": "gov.backtester", "mode": "replay", "strategy": "cheap_yes",
        "start_ts": "2025-12-11T00:00:00Z", "end_ts": "2026-06-08T00:00:00Z",
        "parameter_sweep": [{"max_price_bps": 3000}, {"max_price_bps": 4500}],
        "fee_assumption": {"model": "flat_bps", "fee_rate_bps": 0},
        "simulation": {"restore_live_footprint": False},
    }  # fmt: skip
    result = api.run(
        config, archive=SAMPLE_ARCHIVE, now="2026-11-25T00:00:00Z", registry=tmp_path / "registry.sqlite",
        strategies=StrategyRegistry([*BUILTINS, spec]),
    )  # fmt: skip
    assert result.status == "complete"
    fills = result.exact.fills
    assert len(fills[fills["shares"] > 0]) > 0  # it traded: the example is not vacuous
    assert (fills["price"][fills["shares"] > 0] <= 0.45).all()
    assert all(d.intent.legs[0].shares == 10_000_000 for v in result.variants for d in v.decisions)
    assert list(result.stats["param.max_price_bps"]) == [3000, 4500]
