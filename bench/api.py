"""API latency and throughput: GET recommendations and GET statements beside a trivial endpoint.

One ``paystream api serve`` process (one uvicorn worker) on loopback, in an isolated world:
its own Redis namespace, ledger database and gold tables under a temporary lakehouse root.
Load comes from ``wrk`` (Debian's package) with 8 connections on one thread, or, when wrk is
missing, from a bounded asyncio httpx generator with 8 concurrent connections. Each run
measures the trivial endpoint (``/healthz``: same app, same middleware, no I/O), then
recommendations, then statements, so every figure has its reference from the same run.

    .venv/bin/python -m bench.api --runs 5 --seconds 15
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
from collections.abc import Callable
from typing import Annotated

import httpx
import typer
from rich.console import Console

from bench.lib.api_world import World, build_world, create_key, destroy_world, start_server
from bench.lib.http_load import Load, load_httpx, load_wrk
from bench.lib.record import Figure, write
from compose.local.process import free_port
from paystream.settings import get_settings

console = Console()
CONNECTIONS = 8


def _isolated_targets(world: World, port: int) -> tuple[str, dict[str, str]]:
    key = create_key(world.settings, world.spec.merchants[0])
    base = f"http://127.0.0.1:{port}"
    customer = world.spec.customers[len(world.spec.merchants)]
    return key, {
        "trivial": f"{base}/healthz",
        "recommendations": f"{base}/v1/customers/{customer}/recommendations?limit=10",
        "statements": (
            f"{base}/v1/merchants/{world.spec.merchants[0]}/statements?from=2011-03-01"
            "&to=2011-03-31&granularity=day"
        ),
    }


def _measure(
    drive: Callable[..., Load], key: str, targets: dict[str, str], runs: int, seconds: float
) -> dict[str, list[Load]]:
    for name, url in targets.items():  # warm-up: pools, caches, Delta handles
        check = httpx.get(url, headers={"X-API-Key": key}, timeout=30)
        if check.status_code != 200:
            raise RuntimeError(f"{name} answered {check.status_code}: {check.text[:300]}")
        drive(url, key, min(2.0, seconds))
    results: dict[str, list[Load]] = {name: [] for name in targets}
    for run in range(runs):
        for name, url in targets.items():
            results[name].append(drive(url, key, seconds))
            last = results[name][-1]
            console.print(
                f"run {run + 1}/{runs} {name:16s} p50 {last.p50_ms:7.2f} ms  "
                f"p99 {last.p99_ms:7.2f} ms  p99.9 {last.p999_ms:7.2f} ms  "
                f"{last.rps:8.0f} req/s  ({last.requests} req)"
            )
    return results


def _figures(results: dict[str, list[Load]], command: str) -> list[Figure]:
    trivial_p99 = [r.p99_ms for r in results["trivial"]]
    figures = [
        Figure(
            "api.recommendations_p99_ms",
            "ms",
            [r.p99_ms for r in results["recommendations"]],
            command,
            "GET /healthz p99, same server, same run",
            trivial_p99,
            "< 5",
            higher_is_better=False,
        ),
        Figure(
            "api.recommendations_rps_over_trivial",
            "ratio",
            [
                r.rps / t.rps
                for r, t in zip(results["recommendations"], results["trivial"], strict=True)
            ],
            command,
            target=">= 0.70",
        ),
        Figure(
            "api.statements_p99_ms",
            "ms",
            [r.p99_ms for r in results["statements"]],
            command,
            "GET /healthz p99, same server, same run",
            trivial_p99,
            higher_is_better=False,
        ),
    ]
    if "risk_decision" in results:
        figures.append(
            Figure(
                "api.risk_decision_p99_ms",
                "ms",
                [r.p99_ms for r in results["risk_decision"]],
                command,
                "GET /healthz p99, same server, same run",
                trivial_p99,
                higher_is_better=False,
            )
        )
    return figures


def _summary(results: dict[str, list[Load]]) -> str:
    parts = []
    for name, loads in results.items():
        parts.append(
            f"{name}: p50 {statistics.median(r.p50_ms for r in loads):.2f} / p99 "
            f"{statistics.median(r.p99_ms for r in loads):.2f} / p99.9 "
            f"{statistics.median(r.p999_ms for r in loads):.2f} ms, "
            f"{statistics.median(r.rps for r in loads):,.0f} req/s"
        )
    return "; ".join(parts)


def main(
    runs: Annotated[int, typer.Option(help="Measured runs (median reported).")] = 3,
    seconds: Annotated[float, typer.Option(help="Seconds of load per endpoint per run.")] = 10,
    world_kind: Annotated[
        str,
        typer.Option(
            "--world",
            help="demo: the server `make demo` leaves serving, on its data (runs the demo "
            "if nothing serves; the recorded figures); isolated: a bench world of its own.",
        ),
    ] = "demo",
    workers: Annotated[
        str, typer.Option(help="Comma-separated uvicorn worker counts to compare (demo).")
    ] = "1,2",
    run_demo: Annotated[bool, typer.Option(help="Run `paystream demo` first anyway.")] = False,
    merchants: Annotated[int, typer.Option(help="Merchants in gold (isolated).")] = 200,
    days: Annotated[int, typer.Option(help="Days of statements per merchant (isolated).")] = 365,
    tool: Annotated[str, typer.Option(help="wrk, httpx or auto.")] = "auto",
    record: Annotated[bool, typer.Option(help="Write docs/benchmarks.md and JSON.")] = True,
) -> None:
    """Measure p50/p99/p99.9 and req/s of recommendations, risk decisions and statements
    beside /healthz, on the server as users run it."""
    use_wrk = tool == "wrk" or (tool == "auto" and shutil.which("wrk") is not None)
    generator = "wrk 4.1 (1 thread, 8 connections)" if use_wrk else "asyncio httpx (8 conns)"
    drive = load_wrk if use_wrk else load_httpx
    if world_kind == "isolated":
        _isolated(drive, generator, runs, seconds, merchants, days, record)
        return
    from bench.lib.api_demo import demo_targets

    counts = [int(w) for w in workers.split(",")]
    default = get_settings().api.workers
    measured: dict[int, dict[str, list[Load]]] = {}
    limited: dict[int, tuple[Load, Load]] = {}
    for n, count in enumerate(counts):
        demo = demo_targets(count, run_demo=run_demo and n == 0)
        console.print(f"`paystream api serve` as the demo starts it, {count} worker(s)")
        measured[count] = _measure(drive, demo.key, demo.urls, runs, seconds)
        # The demo's printed key has the default limit: most of a run answers 429.
        url = demo.urls["recommendations"]
        ok = drive(url, demo.key, min(5.0, seconds))
        throttled = drive(url, demo.limited_key, min(5.0, seconds), only_2xx=False)
        limited[count] = (ok, throttled)
        console.print(
            f"429 check: {throttled.non_2xx}/{throttled.requests} throttled, p50 "
            f"{throttled.p50_ms:.2f} ms, p99 {throttled.p99_ms:.2f} ms (200s: p50 "
            f"{ok.p50_ms:.2f}, p99 {ok.p99_ms:.2f})"
        )
    # The figures are the configuration users get: the default worker count.
    users = default if default in measured else counts[0]
    command = f"python -m bench.api --runs {runs} --seconds {seconds:g} --workers {workers}"
    notes = [
        f"Measured on the server `make demo` leaves serving (`paystream api serve --log-level "
        f"warning`, started by `compose/local/api_process.py`, default settings, uvloop + "
        f"httptools, no access log), on the demo's own gold and Redis, calling the customer, "
        f"payment and merchant the demo prints, with a key whose rate limit never binds. "
        f"Load generator: {generator} on loopback, {seconds:g} s per endpoint per run, "
        f"endpoints alternated within each run after a warm-up; it shares the 2 cores with "
        f"the server, Redis and the idle stack. Figures: {users} worker(s) (`api.workers`)."
    ]
    for count, results in measured.items():
        ok, throttled = limited[count]
        notes.append(
            f"{count} worker(s), medians of {runs} runs: {_summary(results)}. With the "
            f"default-limited key, {throttled.non_2xx:,} of {throttled.requests:,} answers "
            f"were 429, p50 {throttled.p50_ms:.2f} ms, p99 {throttled.p99_ms:.2f} ms, "
            f"p99.9 {throttled.p999_ms:.2f} ms, against p50 {ok.p50_ms:.2f} / p99 "
            f"{ok.p99_ms:.2f} / p99.9 {ok.p999_ms:.2f} ms for 200s just before."
        )
    text = "\n\n".join(notes)
    console.print(text)
    if record:
        write("API", _figures(measured[users], command), text)


def _isolated(
    drive: Callable[..., Load],
    generator: str,
    runs: int,
    seconds: float,
    merchants: int,
    days: int,
    record: bool,
) -> None:
    # Twice the merchants: customer number `merchants` has a personal list at merchants[0].
    world = build_world(merchants, days, customers=2 * merchants)
    port = free_port()
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = start_server(world, port)
        key, targets = _isolated_targets(world, port)
        results = _measure(drive, key, targets, runs, seconds)
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        destroy_world(world)
    command = f"python -m bench.api --world isolated --runs {runs} --seconds {seconds:g}"
    text = (
        f"Isolated bench world ({merchants} merchants x {days} days of gold), one "
        f"`paystream api serve` on loopback; load generator: {generator}. {_summary(results)}."
    )
    console.print(text)
    if record:
        write("API (isolated world)", _figures(results, command), text)


if __name__ == "__main__":
    typer.run(main)
