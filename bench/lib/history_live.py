"""The live path of a labelled history, for ``bench.history``'s references: the first rows of
the file through ``paystream import transactions``, the stream workers and the risk agent of
an isolated world at default settings, and the offline features of the same rows to compare
with what the agent logged."""

from __future__ import annotations

import asyncio
import csv
import itertools
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from harness.worlds import StreamWorld, create_world
from ingest.simulator.foreign_csv import mapping_path
from ingest.transactions.importer import ImportPlan, ImportSummary, run_import
from lakehouse.features.parity import ParityReport, feature_parity
from paystream.contracts.history import HistoryPaths
from paystream.datasets.transactions import load_mapping
from paystream.settings import Settings

PAYSTREAM = str(Path(sys.executable).parent / "paystream")


def head(path: Path, rows: int, target: Path) -> Path:
    """The first ``rows`` rows of a CSV history (and its mapping) as a file of their own."""
    with path.open(newline="") as source, target.open("w", newline="") as out:
        reader = csv.reader(source)
        csv.writer(out).writerows(itertools.islice(reader, rows + 1))
    mapping_path(target).write_text(mapping_path(path).read_text())
    return target


@dataclass
class LiveRun:
    """One copy of a history through the live platform."""

    prefix: str
    summary: ImportSummary
    seconds: float  # import start → every consumer group caught up


def import_live(world: StreamWorld, path: Path, prefix: str, rate: float | None) -> LiveRun:
    """Import ``path`` under ``prefix`` and wait until the workers and the agent are done."""
    settings = world.settings
    plan = ImportPlan(load_mapping(mapping_path(path), {"id_prefix": prefix}))
    started = time.monotonic()
    summary = asyncio.run(
        run_import(settings.kafka, path, plan, settings.risk.require_card_key(), rate=rate)
    )
    world.wait_all_caught_up(3600)
    return LiveRun(prefix, summary, time.monotonic() - started)


def offline_parity(world: StreamWorld, path: Path, prefix: str) -> ParityReport:
    """Build the offline features of ``path`` under ``prefix`` (as the CLI does, in its own
    process) and compare them with the vectors the world's agent logged."""
    settings = world.settings
    namespace = f"{world.settings.streams.namespace}-{prefix.strip('-')}"
    command = [PAYSTREAM, "features", "build", "--history", str(path)]
    command += ["--id-prefix", prefix, "--namespace", namespace]
    subprocess.run(command, check=True, env=world.env, capture_output=True)
    paths = HistoryPaths.of(settings.lakehouse.root, namespace)
    return feature_parity(paths.features, settings.mysql, prefix)


def live_world(settings: Settings, logs: Path) -> StreamWorld:
    """An isolated world with the demo's workers: one stream worker and one risk agent."""
    world = create_world(settings, logs)
    world.start_worker()
    world.start_worker(kind="risk")
    return world
