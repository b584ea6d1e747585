"""``make mutate``: mutation testing of the core modules, written to docs/mutation-report.md.

mutmut (configured in pyproject.toml, ``[tool.mutmut]``) copies the code into ``mutants/``,
plants one small change at a time and runs only the tests that cover the changed function.
A mutant that no test notices either shows a missing test or changes nothing a caller can see
(an *equivalent* mutant, e.g. ``dtype=np.int8`` → default ``int64`` for small counts). The
equivalent ones are listed with their reason in ``tests/mutation_equivalents.toml``; every
other survivor is a finding. The kill rate counts killed / (all − equivalent − skipped).

Not part of ``make test``: a run takes tens of minutes on two cores.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "docs" / "mutation-report.md"
EQUIVALENTS = ROOT / "tests" / "mutation_equivalents.toml"
MUTMUT = Path(sys.executable).parent / "mutmut"
#: Each module's own run lives in mutants/<stem>/ (ignored by git), with its own mutants/ copy.
WORK = ROOT / "mutants"
#: Linked into every work folder: the code mutmut copies and the tests it runs.
LINKED = ("matcher", "api", "models", "tests", "fixtures", "README.md")

#: Module → the tests that cover it. Only fast in-process tests: no model-heavy runs, no
#: server processes, SQLite only (``-m "not postgresql"``); mutmut then runs, per mutant, only
#: those of them that call the mutated function.
MODULES: dict[str, list[str]] = {
    "models/lifecycle.py": ["tests/models/test_lifecycle.py", "tests/models/test_transitions.py"],
    "api/decisions.py": ["tests/api/test_decisions_direct.py"],
    "matcher/records.py": [
        "tests/matcher/test_records.py",
        "tests/matcher/test_record_problems.py",
    ],
    "matcher/assignment.py": [
        "tests/matcher/test_assignment_exact.py",
        "tests/matcher/test_assignment.py",
        "tests/matcher/test_budget.py",
    ],
    "matcher/constraints.py": ["tests/matcher/test_constraints.py"],
    # Model-free: a fake two-model embedder, every step recomputed with numpy in the test.
    "matcher/topic.py": ["tests/matcher/test_topic_exact.py", "tests/matcher/test_topic_views.py"],
    # Model-free as well: the same fake embedder, the fast paths compared bit for bit.
    "matcher/scoring.py": ["tests/matcher/test_scoring_exact.py"],
}


def work_folder(module: str) -> Path:
    """mutants/<stem>/: links to the project and a pyproject.toml selecting module and tests."""
    folder = WORK / Path(module).stem
    folder.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = folder / name
        if not link.exists():
            link.symlink_to(ROOT / name)
    config = (ROOT / "pyproject.toml").read_text("utf-8")
    selection = [*MODULES[module], "-m", "not postgresql"]
    config = re.sub(r"(?m)^only_mutate = .*$", f"only_mutate = {json.dumps([module])}", config)
    config = re.sub(
        r"(?m)^pytest_add_cli_args_test_selection = .*$",
        f"pytest_add_cli_args_test_selection = {json.dumps(selection)}",
        config,
    )
    (folder / "pyproject.toml").write_text(config, encoding="utf-8")
    return folder


#: Parallel mutmut workers (``MUTMUT_WORKERS``); the machine is shared, so two at most.
WORKERS = os.environ.get("MUTMUT_WORKERS", "2")


def run_mutmut(module: str, names: list[str] | None = None) -> None:
    """Run every mutant of one module (the code under test is imported from the work folder's
    mutants/, never from PYTHONPATH). ``MATCHER_MUTATION_RUN`` makes the property tests draw a
    few fixed examples (tests/matcher/strategies.py: ``thorough``). ``names``: only these mutants
    (mutmut collects the coverage of tests added since the last run first)."""
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    environment["MATCHER_MUTATION_RUN"] = "1"
    subprocess.run(
        [str(MUTMUT), "run", "--max-children", WORKERS, *(names or [])],
        cwd=work_folder(module),
        env=environment,
        check=True,
    )


def statuses() -> dict[str, tuple[str, Path]]:
    """Mutant name → (killed / survived / timeout / no tests / …, its work folder)."""
    result: dict[str, tuple[str, Path]] = {}
    for module in MODULES:
        folder = WORK / Path(module).stem
        meta = folder / "mutants" / f"{module}.meta"
        if not meta.exists():
            continue
        codes = json.loads(meta.read_text("utf-8"))["exit_code_by_key"]
        result |= {name: (status_by_exit_code[code], folder) for name, code in codes.items()}
    return result


def diff(name: str, folder: Path) -> str:
    """The planted change as the two changed lines."""
    shown = subprocess.run(
        [str(MUTMUT), "show", name], cwd=folder, capture_output=True, text=True, check=False
    ).stdout
    return "\n".join(
        line for line in shown.splitlines() if line[:2] in {"- ", "+ "} and line.strip(" +-")
    )


def module_row(module: str, found: dict[str, str], equivalent: dict[str, str]) -> str:
    """One table row: the counts of a module and its kill rate of non-equivalent mutants.

    A mutant that makes the covering tests run past mutmut's limit (it hangs or loops) or crash
    the test process (segfault, e.g. an invalid sparse graph handed to scipy) was noticed; it
    counts as detected. Mutants of an interrupted run ("not checked") are counted
    apart and left out of the rate.
    """
    prefix = module.removesuffix(".py").replace("/", ".") + "."
    mine = {n: s for n, s in found.items() if n.startswith(prefix)}
    if not mine:
        return f"| `{module}` | not run for this report |" + " |" * 6
    counts = Counter(mine.values())
    alive = [n for n, s in mine.items() if s in {"survived", "no tests"}]
    explained = [n for n in alive if n in equivalent]
    considered = len(mine) - len(explained) - counts["not checked"]
    stopped = counts["timeout"] + counts["segfault"]
    detected = counts["killed"] + stopped
    rate = f"{detected / considered:.1%}" if considered else "–"
    return (
        f"| `{module}` | {len(mine)} | {counts['killed']} | {len(alive) - len(explained)} "
        f"| {stopped} | {len(explained)} | {counts['not checked']} | {rate} |"
    )


def render(found: dict[str, tuple[str, Path]], equivalent: dict[str, str]) -> str:
    """The Markdown report: totals per module, then every survivor with its diff."""
    status = {name: s for name, (s, _) in found.items()}
    survivors = sorted(n for n, s in status.items() if s in {"survived", "no tests"})
    timeouts = sorted(n for n, s in status.items() if s in {"timeout", "segfault"})
    unexplained = [n for n in survivors if n not in equivalent]
    lines = [
        "# Mutation report",
        "",
        f"Generated by `make mutate` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC (mutmut; each "
        "module runs only its covering tests, listed in `tests/mutation_report.py`, with the "
        "property tests at 25 fixed examples).",
        "",
        "| module | mutants | killed | survived (not equivalent) | timed out / crashed "
        "| equivalent | not run | kill rate of non-equivalent |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *(module_row(module, status, equivalent) for module in MODULES),
        "",
        "Timeouts and crashes count as detected. Equivalent mutants are explained below "
        "(`tests/mutation_equivalents.toml`).",
        f"Unexplained survivors: {len(unexplained)}.",
        "",
        "## Survivors",
        "",
    ]
    for name in survivors:
        why = equivalent.get(name, "**not explained: a missing test**")
        lines += [f"### `{name}` ({status[name]})", "", why, "", "```diff"]
        lines += [diff(name, found[name][1]), "```", ""]
    lines += ["## Timed out or crashed (detected)", ""]
    lines += [
        f"- `{name}`: `{diff(name, found[name][1]).replace(chr(10), ' / ')}`" for name in timeouts
    ]
    return "\n".join(lines) + "\n"


def main(arguments: list[str]) -> int:
    """``python -m tests.mutation_report [--report-only | --survivors | --no-report] [module …]``.

    Without modules: every module of :data:`MODULES`. The report always covers every module
    that has results.
    """
    chosen = [a for a in arguments if not a.startswith("--")] or list(MODULES)
    if "--survivors" in arguments:  # after new tests: rerun only what survived last time
        alive = {n for n, (s, _) in statuses().items() if s in {"survived", "no tests"}}
        for module in chosen:
            prefix = module.removesuffix(".py").replace("/", ".") + "."
            mine = sorted(n for n in alive if n.startswith(prefix))
            if mine:
                run_mutmut(module, mine)
    elif "--report-only" not in arguments:
        for module in chosen:
            run_mutmut(module)
    if "--no-report" in arguments:
        return 0
    equivalent: dict[str, str] = tomllib.loads(EQUIVALENTS.read_text("utf-8"))["equivalent"]
    found = statuses()
    REPORT.write_text(render(found, equivalent), encoding="utf-8")
    print(f"{REPORT.relative_to(ROOT)} written: {len(found)} mutants")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
