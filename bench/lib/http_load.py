"""HTTP load for the API benchmarks: wrk when installed, else a bounded asyncio generator.

Both use 8 connections on loopback and stop by themselves (time or request count).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass

import httpx

CONNECTIONS = 8


@dataclass(frozen=True)
class Load:
    """One measurement of one endpoint."""

    p50_ms: float
    p99_ms: float
    rps: float
    requests: int
    non_2xx: int = 0
    p999_ms: float = 0.0


# wrk's --latency table stops at p99; its done() hook has the full histogram (microseconds).
_P999_LUA = """
done = function(summary, latency, requests)
  io.write(string.format("P99.9 %d\\n", latency:percentile(99.9)))
end
"""
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk_ms(text: str, label: str) -> float:
    match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if match is None:
        raise RuntimeError(f"wrk printed no {label}% latency:\n{text}")
    return float(match.group(1)) * _UNIT_MS[match.group(2)]


def load_wrk(url: str, key: str, seconds: float, *, only_2xx: bool = True) -> Load:
    """Drive ``url`` with wrk (1 thread, 8 connections) for ``seconds``; unless ``only_2xx``
    is False, any other status fails the run."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(_P999_LUA)
        script.flush()
        argv = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency"]
        argv += ["-s", script.name, "-H", f"X-API-Key: {key}", url]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    if only_2xx and "Non-2xx" in out:
        raise RuntimeError(f"non-2xx answers under load from {url}:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    other = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    p999 = re.search(r"^P99.9 (\d+)$", out, re.M)
    return Load(
        _wrk_ms(out, "50"),
        _wrk_ms(out, "99"),
        rps,
        total,
        int(other.group(1)) if other else 0,
        int(p999.group(1)) / 1000 if p999 else float("nan"),
    )


def load_httpx(
    url: str, key: str, seconds: float, max_requests: int = 200_000, *, only_2xx: bool = True
) -> Load:
    """Bounded asyncio load: 8 connections, stops at ``seconds`` or ``max_requests``."""

    async def go() -> Load:
        latencies: list[float] = []
        other = 0
        deadline = time.perf_counter() + seconds
        limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
        async with httpx.AsyncClient(headers={"X-API-Key": key}, limits=limits) as client:

            async def worker() -> None:
                nonlocal other
                while time.perf_counter() < deadline and len(latencies) < max_requests:
                    started = time.perf_counter()
                    res = await client.get(url)
                    if res.status_code != 200:
                        if only_2xx:
                            raise RuntimeError(
                                f"{url} answered {res.status_code}: {res.text[:200]}"
                            )
                        nonlocal other
                        other += 1
                    latencies.append(time.perf_counter() - started)

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
            elapsed = time.perf_counter() - started
        ordered = sorted(latencies)

        def pick(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

        return Load(
            pick(0.50), pick(0.99), len(ordered) / elapsed, len(ordered), other, pick(0.999)
        )

    return asyncio.run(go())
