"""Quality floors on the shared development set, through ``matcher evaluate``.

The one test that reads ../shared/benchmark/; a user's clone has no such folder.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app

DEV = Path(__file__).resolve().parents[3] / "shared" / "benchmark" / "dev"
pytestmark = pytest.mark.skipif(
    not (DEV / "gold.json").is_file(),
    reason="../shared/benchmark/dev is not beside this clone (only the team's checkouts have it)",
)


def test_dev_set_meets_quality_floors(runner: CliRunner, database_url: str) -> None:
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--applicants",
            str(DEV / "applicants.json"),
            "--offers",
            str(DEV / "offers.json"),
            "--gold",
            str(DEV / "gold.json"),
        ],
        env={"COLUMNS": "120"},
    )
    assert result.exit_code == 0, result.output
    rows = {
        match[0]: (float(match[1]), float(match[2]), float(match[3]))
        for match in re.findall(
            r"│\s*(\w+)\s*│\s*\d+\s*│\s*([\d.]+)\s*│\s*([\d.]+)\s*│\s*([\d.]+)", result.stdout
        )
    }
    recall, ndcg, _ = rows["alle"]
    assert recall >= 0.93
    assert ndcg >= 0.83
    assert rows["andere"][0] >= 0.85
