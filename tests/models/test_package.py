"""The package's public names and its boundary are pinned."""

import subprocess
import sys
from pathlib import Path

import models

ROOT = Path(__file__).resolve().parents[2]


def test_public_names() -> None:
    assert sorted(models.__all__) == sorted(
        [
            "DEFAULT_DATABASE_URL",
            "Applicant",
            "ApplicantBase",
            "ApplicantPublic",
            "EmbeddingRecord",
            "Offer",
            "OfferBase",
            "OfferPublic",
            "Placement",
            "PlacementBase",
            "PlacementCreate",
            "PlacementPublic",
            "PlacementStatus",
            "Round",
            "RoundBase",
            "RoundCreate",
            "RoundPublic",
            "RoundStatus",
            "SqlEmbeddingStore",
            "UtcDateTime",
            "add_applicants",
            "add_offers",
            "add_placements",
            "create_round",
            "delete_proposals",
            "find_round",
            "get_round",
            "get_session",
            "init_db",
            "list_applicants",
            "list_offers",
            "list_placements",
            "list_rounds",
            "make_engine",
            "table_counts",
            "utc_now",
        ]
    )
    assert all(hasattr(models, name) for name in models.__all__)


def test_importing_models_loads_neither_engine_nor_api() -> None:
    # A fresh interpreter: in this one, other tests may already have imported matcher or api.
    script = (
        "import sys, models; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'matcher', 'api'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
