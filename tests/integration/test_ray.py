"""Sweeps on Ray: the same sweep as Ray tasks (a local Ray cluster of 2 CPUs, over the
archive exported to Parquet) gives the local executor's results, byte for byte.

Ray talks to its own local processes over TCP on this machine, so this module lets the
test open sockets (the rest of the suite runs with them blocked); nothing leaves it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import ray

from backtester.api import export_archive
from backtester.runs import ReplayResult, replay
from backtester.sample import SAMPLE_ARCHIVE
from tests.factories import normalised

NOW = datetime(2026, 11, 25, tzinfo=UTC)
RUN = "replay_ray_equality"
pytestmark = pytest.mark.enable_socket


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def files(result: ReplayResult) -> str:
    return normalised(json.dumps(result.reports, sort_keys=True, default=str), result.replay_run_id)


def test_ray_equals_local(cluster: None, tmp_path: Path) -> None:
    """The sample's 6-variant fair_value_taker sweep (it trades) in 2 Ray tasks equals it
    in this process; so does a sum_to_one_arb sweep (compiled, with its trigger) over a
    Parquet archive read in place."""
    local = replay("data/sample-sweep.json", now=NOW, archive=SAMPLE_ARCHIVE, run_id=RUN, workers=1)
    on_ray = replay("data/sample-sweep.json", now=NOW, archive=SAMPLE_ARCHIVE, run_id=RUN, executor="ray")
    assert on_ray.status == local.status == "complete"
    assert files(on_ray) == files(local)
    assert sum(len(v.fills) for v in on_ray.variants) > 0
    assert [v.variant_id for v in on_ray.variants] == list(range(6))

    parquet = export_archive(tmp_path / "parquet", archive=SAMPLE_ARCHIVE)
    arb = json.loads(Path("data/sample-arb.json").read_text()) | {
        "parameter_sweep": [{"min_edge_bps": e} for e in (0, 12, 50)]
    }
    local = replay(arb, now=NOW, archive=SAMPLE_ARCHIVE, run_id=RUN, workers=1)
    on_ray = replay(arb, now=NOW, archive=parquet, run_id=RUN, executor="ray", ray_tasks=3)
    assert files(on_ray) == files(local)
