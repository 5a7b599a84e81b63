"""``paystream backtest fraud --history FILE``: a risk team's file to metrics, off the live
platform.

The lakehouse computes the history's offline features in its own process
(``paystream features build``, as a Databricks job would run it as a task of its own), then
the backtest reads that table and runs the protocol. The ledger, Redis and the graph are
never touched.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from paystream.errors import PaystreamError

PAYSTREAM = str(Path(sys.executable).parent / "paystream")


class OfflineFeaturesError(PaystreamError):
    """The offline feature build failed; the message is its own error line."""


@dataclass(frozen=True)
class HistoryRequest:
    """Which file to build offline features from, and how to read it."""

    path: Path
    namespace: str
    mapping: Path | None = None
    id_prefix: str | None = None
    chargeback_delay_days: float = 7.0

    def command(self) -> list[str]:
        """The ``paystream features build`` command line for this request."""
        command = [PAYSTREAM, "features", "build", "--history", str(self.path)]
        command += ["--namespace", self.namespace]
        command += ["--chargeback-delay-days", repr(self.chargeback_delay_days)]
        if self.mapping is not None:
            command += ["--mapping", str(self.mapping)]
        if self.id_prefix is not None:
            command += ["--id-prefix", self.id_prefix]
        return command


def build_offline_features(request: HistoryRequest) -> None:
    """Run the lakehouse's offline feature build; its progress shows on standard output.

    Raises:
        OfflineFeaturesError: the build failed, with the build's own one-line error.
    """
    done = subprocess.run(request.command(), stderr=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        last = lines[-1].removeprefix("error: ") if lines else f"exit code {done.returncode}"
        raise OfflineFeaturesError(f"offline features of {request.path.name}: {last}")
