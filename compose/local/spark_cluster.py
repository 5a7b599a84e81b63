"""An optional Spark standalone cluster for the local stack (``stack up --with spark-cluster``).

A master and one worker, started with the launcher that ships in pyspark (``bin/spark-class``)
and the same Spark version as the driver. ``paystream lakehouse build --master
spark://127.0.0.1:7077`` then runs the jobs on the worker's executors instead of in-process.
Both bind to loopback only.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

from compose.local.services import Service

#: ``stack up --with spark-cluster`` starts both.
CLUSTER = ("spark-master", "spark-worker")


def _spark_class() -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / "spark-class")


def master_state(ui_port: int) -> dict[str, Any] | None:
    """The master's JSON status page, or None while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json", timeout=2) as response:
            return dict(json.load(response))
    except (OSError, ValueError):
        return None


class _SparkService(Service):
    optional = True
    tools = ("java",)
    start_timeout_s = 120.0

    def env(self) -> dict[str, str]:
        # Loopback only: the hostname here resolves to a loopback address anyway, and
        # nothing outside this machine should reach the cluster.
        return {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(self.data_dir)}


class SparkMaster(_SparkService):
    """The standalone master: schedules applications on the workers."""

    name = "spark-master"

    @property
    def port(self) -> int:
        return self.settings.stack.spark_master_port

    def argv(self) -> list[str]:
        ui = str(self.settings.stack.spark_master_ui_port)
        return [
            _spark_class(),
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--webui-port",
            ui,
        ]

    def healthy(self) -> bool:
        state = master_state(self.settings.stack.spark_master_ui_port)
        return state is not None and state.get("status") == "ALIVE"


class SparkWorker(_SparkService):
    """One worker offering this machine's cores to the master."""

    name = "spark-worker"

    @property
    def port(self) -> int:
        return self.settings.stack.spark_worker_ui_port

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def argv(self) -> list[str]:
        stack = self.settings.stack
        return [
            _spark_class(),
            "org.apache.spark.deploy.worker.Worker",
            "--host",
            "127.0.0.1",
            "--cores",
            str(os.cpu_count() or 2),
            "--memory",
            "4g",
            "--webui-port",
            str(self.port),
            "--work-dir",
            str(self.data_dir / "work"),
            f"spark://127.0.0.1:{stack.spark_master_port}",
        ]

    def healthy(self) -> bool:
        state = master_state(self.settings.stack.spark_master_ui_port)
        workers = (state or {}).get("workers", [])
        return any(w.get("state") == "ALIVE" for w in workers)
