"""Quality floors on the shared development sets, outgoing and incoming.

The only tests that read ../shared/benchmark/; a user's clone has no such folder, so each set
skips with that reason. Rankings come from the scorer the service and the CLI build (both
models, from the settings); the metrics are recomputed here in a few lines, independently of
``matcher.evaluate``, which ``test_evaluate_command_groups_by_language`` checks through the CLI.
One database file per module caches the embeddings, so each set is embedded once.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import matcher
from api import services
from api.cli import app
from api.settings import Settings, get_settings
from matcher.language import detect_language
from models.db import init_db, make_engine

SETS = Path(__file__).resolve().parents[3] / "shared" / "benchmark"
DEV, INCOMING = SETS / "dev", SETS / "dev-incoming"


def needs(folder: Path) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not (folder / "gold.json").is_file(),
        reason=f"../shared/benchmark/{folder.name} is not beside this clone "
        "(only the team's checkouts have it)",
    )


@pytest.fixture(scope="module")
def cache_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('dev-cache') / 'matcher.db'}"


@pytest.fixture
def cached_settings(cache_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings (CLI included) pointing at the module's embedding cache."""
    monkeypatch.setenv("MATCHER_DATABASE_URL", cache_url)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def ranked_offers(folder: Path, settings: Settings) -> tuple[list[dict[str, str]], list[list[str]]]:
    """The raw applicants and, per applicant, every offer id by descending topic fit."""
    raw = json.loads((folder / "applicants.json").read_text("utf-8"))
    applicants = matcher.parse_records(matcher.Applicant, raw)
    offers = matcher.load_offers((folder / "offers.json").read_bytes())
    engine = make_engine(settings.database_url)
    init_db(engine)
    try:
        scorer = services.make_scorer(engine, settings.embedding_models)
        fit = matcher.score_pairs(scorer, applicants, offers).topic.fit
    finally:
        engine.dispose()
    return raw, [[offers[j].id for j in np.argsort(-row, kind="stable")] for row in fit]


def recall_and_ndcg(ranking: list[str], grades: dict[str, int]) -> tuple[float, float]:
    """R@5 (a grade-3 offer in the top 5) and nDCG@10 (gain 2^g - 1, log2 discount)."""
    recall = float(any(grades.get(offer) == 3 for offer in ranking[:5]))
    dcg = sum((2 ** grades.get(o, 0) - 1) / math.log2(k + 2) for k, o in enumerate(ranking[:10]))
    best = sorted((2**g - 1 for g in grades.values()), reverse=True)[:10]
    return recall, dcg / sum(gain / math.log2(k + 2) for k, gain in enumerate(best))


def per_language(folder: Path, settings: Settings) -> dict[str, list[tuple[float, float]]]:
    """Every applicant's (R@5, nDCG@10), overall ("alle") and by the language they wrote in."""
    raw, rankings = ranked_offers(folder, settings)
    gold = json.loads((folder / "gold.json").read_text("utf-8"))
    groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for applicant, ranking in zip(raw, rankings, strict=True):
        metrics = recall_and_ndcg(ranking, gold[applicant["id"]])
        groups["alle"].append(metrics)
        groups[applicant.get("language", "de")].append(metrics)
    assert len(groups["alle"]) == len(raw) == len(gold)  # every applicant was evaluated
    return groups


def mean(values: list[tuple[float, float]], k: int) -> float:
    return sum(value[k] for value in values) / len(values)


@needs(DEV)
def test_outgoing_dev_set_meets_floors(cached_settings: Settings) -> None:
    groups = per_language(DEV, cached_settings)
    assert mean(groups["alle"], 1) >= 0.92  # nDCG@10; USE-m alone: 0.906
    assert mean(groups["alle"], 0) >= 0.97  # R@5; USE-m alone: 0.978


@needs(INCOMING)
def test_incoming_dev_set_meets_floors_in_every_language(cached_settings: Settings) -> None:
    groups = per_language(INCOMING, cached_settings)
    assert len(groups) == 1 + 8  # alle + the set's eight applicant languages
    assert mean(groups["alle"], 0) >= 0.90
    recall = {language: mean(values, 0) for language, values in groups.items()}
    assert min(recall.values()) >= 0.80, recall  # USE-m alone: fi 0.20, hu 0.20


@needs(INCOMING)
def test_detected_language_is_the_labelled_one() -> None:
    applicants = json.loads((INCOMING / "applicants.json").read_text("utf-8"))
    wrong = {
        a["id"]: (a["language"], detect_language(a["motivation"]))
        for a in applicants
        if detect_language(a["motivation"]) != a["language"]
    }
    assert not wrong


@needs(DEV)
@needs(INCOMING)
@pytest.mark.parametrize(("folder", "floor"), [(DEV, 0.93), (INCOMING, 0.90)])
def test_evaluate_command_groups_by_language(
    runner: CliRunner, cached_settings: Settings, folder: Path, floor: float
) -> None:
    files = {name: str(folder / f"{name}.json") for name in ("applicants", "offers", "gold")}
    result = runner.invoke(
        app,
        ["evaluate", *(part for name, path in files.items() for part in (f"--{name}", path))],
        env={"COLUMNS": "120"},
    )
    assert result.exit_code == 0, result.output
    rows = {
        match[0].strip(): (int(match[1]), float(match[2]))
        for match in re.findall(r"│\s*([\w ?]+?)\s*│\s*(\d+)\s*│\s*([\d.]+)\s*│", result.stdout)
    }
    assert rows["alle"][1] >= floor
    by_applicant = {name: row for name, row in rows.items() if name.startswith("Bewerbung ")}
    assert sum(count for count, _ in by_applicant.values()) == rows["alle"][0]
    if folder == INCOMING:
        assert {"Bewerbung cs", "Bewerbung fi", "Bewerbung hu"} <= set(by_applicant)
