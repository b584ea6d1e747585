"""``make bench``: every benchmark section, then BENCHMARKS.md and the plots.

``python -m benchmarks`` runs all sections and writes BENCHMARKS.md; ``python -m benchmarks
quality latency`` runs only those and prints their Markdown (BENCHMARKS.md is left as it is);
``python -m benchmarks --write latency`` runs only those and renews their part of BENCHMARKS.md,
which keeps every other section as last measured (each section says when and under which load:
a full run takes well over half an hour, too long to repeat for one changed section).
Sections: quality, stsb, embedding, latency (with server memory), assignment, rerank,
backends (SQLite and PostgreSQL with 1 and 2 worker processes), strength, budget, languages.
Results live in ``benchmarks/results/<section>.json``; BENCHMARKS.md is rendered from them.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

START = time.perf_counter()

from sentence_transformers import SentenceTransformer  # noqa: E402 - timed from the start

import matcher  # noqa: E402
from benchmarks import (  # noqa: E402
    assignment,
    backends,
    budget,
    embedding,
    languages,
    latency,
    quality,
    rerank_experiment,
    strength_thresholds,
    stsb,
)
from benchmarks.common import REPO, RESULTS, Section, load_average, machine, table  # noqa: E402

COMMAND = "`make bench` (`.venv/bin/python -m benchmarks`)"
SECTIONS: dict[str, Callable[[SentenceTransformer], list[Section]]] = {
    "quality": lambda model: [quality.run(model)],
    "stsb": lambda model: [stsb.run(model)],
    "embedding": lambda model: [embedding.run(model)],
    "latency": latency.run,
    "assignment": lambda model: [assignment.run()],
    "rerank": lambda model: [rerank_experiment.run(model)],
    "backends": lambda model: [backends.run(model)],
    "strength": lambda model: [strength_thresholds.run(model)],
    "budget": lambda model: [budget.run()],
    "languages": lambda model: [languages.run(model)],
}


@dataclass(frozen=True)
class Measured:
    """One section's stored result: its parts of the report and when and how it was measured."""

    name: str
    at: datetime
    seconds: float
    load_before: str
    load_after: str
    sections: list[Section]

    def save(self) -> None:
        RESULTS.mkdir(exist_ok=True)
        data = {
            "name": self.name,
            "at": self.at.isoformat(timespec="minutes"),
            "seconds": round(self.seconds),
            "load_before": self.load_before,
            "load_after": self.load_after,
            "sections": [s.to_json() for s in self.sections],
        }
        path = RESULTS / f"{self.name}.json"
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, name: str) -> Measured | None:
        path = RESULTS / f"{name}.json"
        if not path.is_file():
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        sections = [Section.from_json(part) for part in data["sections"]]
        at = datetime.fromisoformat(data["at"])
        return cls(name, at, data["seconds"], data["load_before"], data["load_after"], sections)


def measure(name: str, model: SentenceTransformer) -> Measured:
    print(f"{name} …", flush=True)
    at, load_before, began = datetime.now(UTC), load_average(), time.perf_counter()
    sections = SECTIONS[name](model)
    seconds = time.perf_counter() - began
    print(f"{name}: {seconds:.0f} s", flush=True)
    return Measured(name, at, seconds, load_before, load_average(), sections)


def main(argv: list[str]) -> int:
    write = "--write" in argv
    chosen = [name for name in argv if name != "--write"] or list(SECTIONS)
    unknown = [name for name in chosen if name not in SECTIONS]
    if unknown:
        print(f"unknown section(s) {unknown}; choose from {list(SECTIONS)}", file=sys.stderr)
        return 2
    model = matcher.load_model()
    measured = []
    for name in chosen:
        measured.append(measure(name, model))
        if write or not argv:
            measured[-1].save()  # at once: a long run cut short keeps what it measured
    if argv and not write:
        for section in ordered([s for m in measured for s in m.sections]):
            print(section.markdown())
        return 0
    stored = [Measured.load(name) for name in SECTIONS]
    report = render([m for m in stored if m is not None], machine())
    (REPO / "BENCHMARKS.md").write_text(report, encoding="utf-8")
    total = time.perf_counter() - START
    print(f"BENCHMARKS.md written; this run took {total:.0f} s", flush=True)
    return 0


def ordered(sections: list[Section]) -> list[Section]:
    """Sections in report order (section 6, server memory, comes from the latency run)."""
    return sorted(sections, key=lambda s: int(s.title.split(".", 1)[0]))


def render(measured: list[Measured], setting: list[tuple[str, str]]) -> str:
    sections = ordered([section for result in measured for section in result.sections])
    summary = [row for section in sections for row in section.headline]
    when = [
        (m.name, f"{m.at:%Y-%m-%d %H:%M} UTC", duration(m.seconds), m.load_before, m.load_after)
        for m in measured
    ]
    body = "\n".join(section.markdown() for section in sections)
    return f"""# Benchmarks

Generated by {COMMAND}; `python -m benchmarks --write SECTION…` renews single sections and keeps
the others as last measured, so each section's date, duration and load are listed below. Do not
edit by hand: change `benchmarks/` and run `make bench`. Sections whose data (`../shared/`) is
absent say "skipped". Every speed figure stands next to a reference measured in the same run;
times are medians of several runs. The machine is shared: the load average says how busy it
was; absolute times move with it, ratios less so.

{table(["", "machine"], setting, "ll")}

{table(["section", "measured", "took", "load before (1, 5, 15 min)", "load after"], when, "lllll")}

## Summary

{table(["figure", "value", "reference (same run)", "target", "met"], summary, "llll")}

{body}"""


def duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
