"""The lakehouse on a real Spark standalone cluster: the same gold as the in-process build."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable

from compose.local.stack import LocalStack
from lakehouse.sql import table_locations

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(stack, settings):
    """A master and a worker, as `paystream stack up --with spark-cluster` starts them."""
    local = LocalStack(settings)
    started = local.up(lambda line: None, ["spark-master", "spark-worker"])
    try:
        yield f"spark://127.0.0.1:{settings.stack.spark_master_port}"
    finally:
        # Only what this fixture started: a cluster the developer left running stays.
        if started:
            local.down(lambda line: None, started)


def _rows(location: str) -> list[tuple[object, ...]]:
    table = DeltaTable(location).to_pyarrow_table()
    return sorted(tuple(row.values()) for row in table.to_pylist())


def test_gold_built_on_the_cluster_equals_the_local_build(cluster, lake, tmp_path):
    root = tmp_path / "cluster-root"
    env = {**lake.world.env, "PAYSTREAM_LAKEHOUSE__ROOT": str(root)}
    paystream = Path(sys.executable).parent / "paystream"
    done = subprocess.run(
        [str(paystream), "lakehouse", "build", "--master", cluster],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    local = {n: p for n, p in table_locations(lake.root).items() if "/gold/" in p}
    remote = {n: p for n, p in table_locations(root).items() if "/gold/" in p}
    assert set(remote) == set(local) and local
    differing = [name for name in local if _rows(local[name]) != _rows(remote[name])]
    assert not differing
    # The jobs did run on the cluster: the master lists the build as a finished application.
    from compose.local.spark_cluster import master_state

    state = master_state(lake.settings.stack.spark_master_ui_port) or {}
    names = [app["name"] for app in state.get("completedapps", [])]
    assert "paystream-lakehouse" in names
