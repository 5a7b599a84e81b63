"""Recording benchmark figures: one JSON per figure plus a section of docs/benchmarks.md.

Format and rules: every figure is the median of several runs with its spread, measured beside
its reference in the same run, with the command and the machine recorded.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from paystream.settings import REPO_ROOT

RESULTS = REPO_ROOT / "bench" / "results"
DOC = REPO_ROOT / "docs" / "benchmarks.md"
DOC_HEADER = """# Benchmarks

Every figure here is written by a benchmark under `bench/` (rerun the command beside it).
Figures are medians of repeated runs, with min and max, measured beside their reference in the
same run on the machine named. The machines are 2-core and noisy: read ratios, not absolutes.
JSON copies live in `bench/results/<figure>.json`.
"""


def _version(argv: list[str], pattern: str) -> str:
    if shutil.which(argv[0]) is None:
        return "?"
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    match = re.search(pattern, out.stdout + out.stderr)
    return match.group(1) if match else "?"


def machine() -> str:
    """Cores, memory and the versions that matter for the figures."""
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    java = _version(["java", "-version"], r'version "([^"]+)"')
    mariadb = _version(["/usr/sbin/mariadbd", "--version"], r"Ver ([0-9.]+)")
    redis = _version(["redis-server", "--version"], r"v=([0-9.]+)")
    return (
        f"{os.cpu_count()} cores, {mem_kib / 1024 / 1024:.0f} GiB, "
        f"Python {platform.python_version()}, Java {java}, Kafka 3.9.1, "
        f"MariaDB {mariadb}, Redis {redis}"
    )


@dataclass
class Figure:
    """One published figure with its runs and its reference."""

    figure: str
    unit: str
    runs: list[float]
    command: str
    reference_name: str | None = None
    reference_runs: list[float] = field(default_factory=list)
    target: str | None = None
    higher_is_better: bool = True

    @property
    def value(self) -> float:
        """Median of the runs."""
        return statistics.median(self.runs)

    @property
    def reference(self) -> float | None:
        """Median of the reference runs."""
        return statistics.median(self.reference_runs) if self.reference_runs else None

    @property
    def ratio(self) -> float | None:
        """Figure over reference."""
        ref = self.reference
        return round(self.value / ref, 3) if ref else None

    def to_json(self, machine_text: str) -> dict[str, object]:
        """The JSON document of ``bench/results/<figure>.json``."""
        doc: dict[str, object] = {
            "figure": self.figure,
            "value": round(self.value, 3),
            "unit": self.unit,
            "runs": [round(r, 3) for r in self.runs],
            "reference": (
                {
                    "name": self.reference_name,
                    "value": round(self.reference, 3),
                    "runs": [round(r, 3) for r in self.reference_runs],
                }
                if self.reference is not None
                else None
            ),
            "ratio": self.ratio,
            "target": self.target,
            "command": self.command,
            "machine": machine_text,
            "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        return doc


def _fmt(value: float) -> str:
    return f"{value:,.1f}" if value >= 100 else f"{value:,.3g}"


def write(section: str, figures: list[Figure], notes: str = "") -> None:
    """Write the figures' JSON files and replace ``section`` in docs/benchmarks.md."""
    machine_text = write_json(figures)
    lines = [
        f"## {section}",
        "",
        f"Command: `{figures[0].command}`  ",
        f"Machine: {machine_text}  ",
        f"Measured: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        "| figure | median | min – max | unit | reference (median) | ratio | target |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for fig in figures:
        ref = f"{fig.reference_name}: {_fmt(fig.reference)}" if fig.reference is not None else "—"
        lines.append(
            f"| `{fig.figure}` | {_fmt(fig.value)} | {_fmt(min(fig.runs))} – {_fmt(max(fig.runs))}"
            f" | {fig.unit} | {ref} | {fig.ratio if fig.ratio is not None else '—'}"
            f" | {fig.target or '—'} |"
        )
    if notes:
        lines += ["", notes.strip()]
    write_section(section, "\n".join(lines) + "\n")


def write_json(figures: list[Figure]) -> str:
    """Write each figure's ``bench/results/<figure>.json``; return the machine description."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    machine_text = machine()
    for fig in figures:
        (RESULTS / f"{fig.figure}.json").write_text(
            json.dumps(fig.to_json(machine_text), indent=2) + "\n"
        )
    return machine_text


def write_section(section: str, block: str) -> None:
    """Replace (or append) ``section`` of docs/benchmarks.md with a markdown block."""
    text = DOC.read_text() if DOC.exists() else DOC_HEADER
    start, end = f"<!-- {section}: start -->", f"<!-- {section}: end -->"
    wrapped = f"{start}\n{block}{end}\n"
    if start in text:
        text = re.sub(
            re.escape(start) + r".*?" + re.escape(end) + r"\n", lambda _: wrapped, text, flags=re.S
        )
    else:
        text = text.rstrip("\n") + "\n\n" + wrapped
    DOC.write_text(text)
