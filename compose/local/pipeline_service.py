"""The live pipeline as stack services (``paystream stack up --with pipeline``).

``streams`` runs ``paystream streams run`` (the ledger, Redis and graph sinks, one process
each) and ``risk`` runs ``paystream streams risk``, both at default settings and each under
:mod:`compose.local.keeper`, which restarts a crashed command with back-off and logs why. So
the platform ``make demo`` leaves behind keeps applying payments posted through the API, and
``paystream stack status`` / ``down`` see the pipeline like any other service.
"""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

from compose.local.keeper import Restarts
from compose.local.services import Service

#: ``stack up --with pipeline`` starts both.
PIPELINE = ("streams", "risk")
#: The sink workers ``paystream streams run`` starts; sink i serves /metrics on port + i.
SINK_COUNT = 3


def _metrics_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


class _Kept(Service):
    """A paystream command kept alive by the keeper."""

    optional = True
    start_timeout_s = 120.0

    def command(self) -> list[str]:
        """The paystream command line the keeper runs."""
        raise NotImplementedError

    def argv(self) -> list[str]:
        keeper = [sys.executable, "-m", "compose.local.keeper", "--name", self.name]
        return [*keeper, "--run-dir", str(self.home / "run"), "--", *self.command()]

    def restarts(self) -> Restarts:
        """How often the keeper restarted the command since the service started."""
        return Restarts.read(self.home / "run", self.name)

    @staticmethod
    def paystream() -> str:
        """The CLI of the interpreter running the stack, so the pipeline runs the same code."""
        return str(Path(sys.executable).parent / "paystream")


class StreamWorkers(_Kept):
    """``paystream streams run``: the three sink workers."""

    name = "streams"

    @property
    def port(self) -> int:
        return self.settings.stack.streams_metrics_port

    def command(self) -> list[str]:
        return [self.paystream(), "streams", "run", "--metrics-port", str(self.port)]

    def healthy(self) -> bool:
        # Each worker serves /metrics once its app is built and connected to its store.
        return all(_metrics_up(self.port + i) for i in range(SINK_COUNT))


class RiskAgent(_Kept):
    """``paystream streams risk``: one risk agent."""

    name = "risk"

    @property
    def port(self) -> int:
        return self.settings.stack.risk_metrics_port

    def command(self) -> list[str]:
        return [self.paystream(), "streams", "risk", "--metrics-port", str(self.port)]

    def healthy(self) -> bool:
        return _metrics_up(self.port)


class LakehouseRefresher(_Kept):
    """``paystream lakehouse run``: keeps bronze, silver and gold fresh in one Spark session.

    It needs the lakehouse built once (``make demo`` builds it, then starts this service).
    """

    name = "lakehouse"
    # The Spark driver's JVM and the first refresh's session start.
    start_timeout_s = 180.0

    @property
    def port(self) -> int:
        return self.settings.stack.lakehouse_metrics_port

    def command(self) -> list[str]:
        return [self.paystream(), "lakehouse", "run", "--metrics-port", str(self.port)]

    def healthy(self) -> bool:
        return _metrics_up(self.port)
