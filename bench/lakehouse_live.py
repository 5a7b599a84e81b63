"""The lakehouse service in the demo's configuration: how fresh gold stays, and at what cost.

``make demo`` leaves the stack, the pipeline (``streams``, ``risk``), ``paystream api serve``
and the lakehouse service (``paystream lakehouse run``) running at default settings. This
benchmark starts whichever of them is not running (and leaves them running), then, per run:

1. a steady background of ``--rate`` events/s (``paystream simulate --rate``: registrations,
   sessions, orders, bookings, payments, refunds) goes into Kafka, as live traffic would;
2. after ``--warmup`` s, for ``--seconds`` s, a probe payment is posted through
   ``POST /v1/payments`` every ``--probe-every`` s, and gold's ``customer_payment_history`` is
   read through delta-rs (the engine of ``paystream sql``) every second until it holds it.

Figures:

* ``lakehouse.freshness_p99_s``: POST to visible in gold, p99 over every probe of the run.
  Reference: the service's mean refresh seconds in the same window (from its /metrics).
* ``lakehouse.refresh_cpu_share``: CPU seconds of the service's process tree (keeper, CLI,
  Spark's JVM, Python workers) over the window's wall seconds, from /proc. Reference: the
  stream workers' share in the same window.

    .venv/bin/python -m bench.lakehouse_live --runs 3 --rate 200 --seconds 240
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console

from bench.lib import proc_cpu
from bench.lib.platform_setup import (
    api_base,
    bring_up,
    create_keys,
    payment_templates,
    revoke_keys,
)
from bench.lib.record import Figure, write
from bench.lib.stats import percentile
from compose.local.stack import LocalStack
from paystream.settings import Settings, get_settings

console = Console()
PAYSTREAM = str(Path(sys.executable).parent / "paystream")
#: A probe not in gold this long after the window counts as this late.
GIVE_UP_S = 600.0


@dataclass
class Probes:
    """Posted probe payments: id -> POST time, and seconds to gold of the found ones."""

    posted: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    refused: int = 0

    @property
    def outstanding(self) -> set[str]:
        return set(self.posted) - set(self.seconds)


def _scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line.startswith("paystream_lakehouse_refresh_seconds_") and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def _watch_gold(settings: Settings, probes: Probes, stop: threading.Event) -> None:
    """Every second, look the outstanding probes up in gold (delta-rs)."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    from deltalake import DeltaTable

    path = str(settings.lakehouse.root / "gold" / "customer_payment_history")
    table = DeltaTable(path)
    while not stop.is_set():
        waiting = probes.outstanding
        if waiting:
            table.update_incremental()
            dataset: ds.Dataset = table.to_pyarrow_dataset()
            found = dataset.to_table(
                columns=["payment_id"], filter=pc.field("payment_id").isin(sorted(waiting))
            ).column("payment_id")
            now = time.monotonic()
            for payment_id in found.to_pylist():
                probes.seconds.setdefault(payment_id, now - probes.posted[payment_id])
        stop.wait(1.0)


@dataclass
class RunResult:
    freshness_s: list[float]
    lost: int
    cpu_share: float
    streams_share: float
    refresh_mean_s: float


def _background(rate: float, seconds: float) -> subprocess.Popen[bytes]:
    """``paystream simulate`` at ``rate`` events/s, new ids each time (a fresh seed)."""
    seed = int(time.time() * 1000) % 1_000_000_000
    argv = [PAYSTREAM, "simulate", "--seed", str(seed), "--rate", str(rate)]
    argv += ["--customers", "3000", "--merchants", "60", "--days", "365"]
    argv += ["--limit", str(int(rate * seconds))]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _run(settings: Settings, rate: float, warmup: float, seconds: float, every: float) -> RunResult:
    stack = LocalStack(settings)
    service = stack.pid_file(stack.services["lakehouse"]).alive()
    streams = stack.pid_file(stack.services["streams"]).alive()
    assert service is not None and streams is not None, "the lakehouse service and workers run"
    templates = payment_templates()
    merchant = templates[0].merchant_id
    bodies = [t.body for t in templates if t.merchant_id == merchant]
    keys = create_keys(settings, [merchant])
    headers = {"X-API-Key": keys.by_merchant[merchant], "Content-Type": "application/json"}
    load = _background(rate, warmup + seconds + 120)
    probes, stop = Probes(), threading.Event()
    watcher = threading.Thread(target=_watch_gold, args=(settings, probes, stop), daemon=True)
    try:
        time.sleep(warmup)
        port = settings.stack.lakehouse_metrics_port
        before, metrics_before = (
            proc_cpu.snapshot({"lakehouse": service, "streams": streams}),
            _scrape(port),
        )
        started = time.monotonic()
        watcher.start()
        with httpx.Client(base_url=api_base(settings), timeout=10) as client:
            n = 0
            while time.monotonic() - started < seconds:
                due = started + n * every
                time.sleep(max(0.0, due - time.monotonic()))
                body = bodies[n % len(bodies)]
                posted_at = time.monotonic()
                answer = client.post(
                    "/v1/payments",
                    content=body,
                    headers={**headers, "Idempotency-Key": f"bench-fresh-{uuid.uuid4().hex}"},
                )
                if answer.status_code == 202:
                    probes.posted[answer.json()["payment_id"]] = posted_at
                else:
                    probes.refused += 1
                n += 1
        wall = time.monotonic() - started
        after, metrics_after = (
            proc_cpu.snapshot({"lakehouse": service, "streams": streams}),
            _scrape(port),
        )
        spent = proc_cpu.service_totals(proc_cpu.cpu_seconds(before, after))
        deadline = time.monotonic() + GIVE_UP_S
        while probes.outstanding and time.monotonic() < deadline:
            time.sleep(1)
    finally:
        stop.set()
        load.terminate()
        load.wait(timeout=30)
        revoke_keys(settings, keys)
    lost = len(probes.outstanding)
    freshness = list(probes.seconds.values()) + [GIVE_UP_S + seconds] * lost
    count = metrics_after.get("paystream_lakehouse_refresh_seconds_count", 0) - metrics_before.get(
        "paystream_lakehouse_refresh_seconds_count", 0
    )
    total = metrics_after.get("paystream_lakehouse_refresh_seconds_sum", 0) - metrics_before.get(
        "paystream_lakehouse_refresh_seconds_sum", 0
    )
    return RunResult(
        freshness_s=freshness,
        lost=lost,
        cpu_share=spent.get("lakehouse", 0.0) / wall,
        streams_share=spent.get("streams", 0.0) / wall,
        refresh_mean_s=total / count if count else float("nan"),
    )


def main(
    runs: Annotated[int, typer.Option(min=1, help="Measured runs (medians reported).")] = 3,
    rate: Annotated[float, typer.Option(help="Background events/s into Kafka.")] = 200.0,
    seconds: Annotated[float, typer.Option(help="Measured window per run.")] = 240.0,
    warmup: Annotated[float, typer.Option(help="Load before the window.")] = 60.0,
    probe_every: Annotated[float, typer.Option(help="Seconds between probe payments.")] = 4.0,
    record: Annotated[bool, typer.Option(help="Write docs/benchmarks.md.")] = True,
) -> None:
    """Measure gold's freshness and the lakehouse service's CPU share under live traffic."""
    settings = get_settings()
    started = bring_up(settings, lambda line: console.log(line))
    started += LocalStack(settings).up(lambda line: console.log(line), ["lakehouse"])
    if started:
        console.log(f"started {', '.join(started)}; left running, as make demo leaves them")
    results = []
    for i in range(runs):
        result = _run(settings, rate, warmup, seconds, probe_every)
        results.append(result)
        f = result.freshness_s
        console.print(
            f"run {i + 1}: {len(f)} probes, freshness p50 {percentile(f, 50):.1f} s, p99 "
            f"{percentile(f, 99):.1f} s, max {max(f):.1f} s, lost {result.lost}; service CPU "
            f"{result.cpu_share:.2f} core (stream workers {result.streams_share:.2f}); mean "
            f"refresh {result.refresh_mean_s:.1f} s"
        )
    if not record:
        return
    command = (
        f"python -m bench.lakehouse_live --runs {runs} --rate {rate:g} --seconds {seconds:g} "
        f"--warmup {warmup:g} --probe-every {probe_every:g}"
    )
    figures = [
        Figure(
            "lakehouse.freshness_p99_s", "s",
            [percentile(r.freshness_s, 99) for r in results], command,
            reference_name="the service's mean refresh seconds, same window",
            reference_runs=[r.refresh_mean_s for r in results],
            target="≤ 60", higher_is_better=False,
        ),
        Figure(
            "lakehouse.refresh_cpu_share", "cores",
            [r.cpu_share for r in results], command,
            reference_name="the three stream workers' share, same window",
            reference_runs=[r.streams_share for r in results],
            target="≤ 0.25", higher_is_better=False,
        ),
    ]  # fmt: skip
    p50 = statistics.median(percentile(r.freshness_s, 50) for r in results)
    notes = (
        f"Configuration: the stack, `streams run` (three sinks), one risk agent, `paystream api "
        f"serve` and `paystream lakehouse run` at default settings (refresh every "
        f"{settings.lakehouse.refresh_interval_s:g} s, bronze and silver events every "
        f"{settings.lakehouse.events_refresh_interval_s:g} s), as `make demo` leaves them; "
        f"background `paystream simulate --rate {rate:g}` into the default topics. Freshness: "
        f"one API payment every {probe_every:g} s, POST to visible in gold "
        f"`customer_payment_history` through delta-rs, median p50 {p50:.1f} s; probes lost "
        f"(not in gold {GIVE_UP_S:.0f} s after the window): "
        f"{', '.join(str(r.lost) for r in results)}."
    )
    write("Lakehouse service (bench.lakehouse_live)", figures, notes)


if __name__ == "__main__":
    typer.run(main)
