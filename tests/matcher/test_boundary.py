"""The engine's boundary: no web or database modules on import, and a pinned public surface."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import matcher

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN_MODULES = ("fastapi", "sqlmodel", "sqlalchemy", "starlette", "api", "models")

PUBLIC_NAMES = [
    "DEFAULT_MODEL",
    "E5_MODEL",
    "Applicant",
    "Assignment",
    "CandidateRanking",
    "E5Module",
    "Embedder",
    "EmbeddingStore",
    "Ensemble",
    "EvaluationReport",
    "Explanation",
    "Feasibility",
    "InvalidRecordsError",
    "MatcherError",
    "MemoryStore",
    "Metrics",
    "Mode",
    "ModelLoadError",
    "Offer",
    "PairScores",
    "Placement",
    "Ranking",
    "RecordProblem",
    "SourceInfo",
    "Suggestion",
    "TopicFit",
    "TopicScorer",
    "Unplaced",
    "UsemModule",
    "assign",
    "check_feasibility",
    "evaluate",
    "explain",
    "load_applicants",
    "load_embedder",
    "load_model",
    "load_offers",
    "load_table",
    "parse_gold",
    "parse_records",
    "parse_round",
    "rank",
    "rank_applicant",
    "rank_candidates",
    "score_pairs",
    "solve",
]


def _modules_loaded_by_import_matcher() -> set[str]:
    code = "import json, sys, matcher; print(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(PROJECT_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_importing_matcher_loads_no_web_or_database_module() -> None:
    loaded = _modules_loaded_by_import_matcher()
    assert "matcher" in loaded
    offending = sorted(
        name
        for name in loaded
        if any(name == top or name.startswith(f"{top}.") for top in FORBIDDEN_MODULES)
    )
    assert offending == []


def test_public_names_are_pinned() -> None:
    assert sorted(matcher.__all__) == sorted(PUBLIC_NAMES)
    assert matcher.__all__ == PUBLIC_NAMES


def test_every_public_name_exists() -> None:
    missing = [name for name in matcher.__all__ if not hasattr(matcher, name)]
    assert missing == []
