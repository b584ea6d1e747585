"""CLI and service tests run against a real SQLite file in a temporary folder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.settings import get_settings

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point the settings at a fresh database file for one test."""
    url = f"sqlite:///{tmp_path / 'matcher.db'}"
    monkeypatch.setenv("MATCHER_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="session")
def fixture_offers() -> list[dict[str, object]]:
    return json.loads((FIXTURES / "offers.json").read_text("utf-8"))


@pytest.fixture(scope="session")
def fixture_applicants() -> list[dict[str, object]]:
    return json.loads((FIXTURES / "applicants.json").read_text("utf-8"))


@pytest.fixture
def small_round(
    tmp_path: Path,
    fixture_offers: list[dict[str, object]],
    fixture_applicants: list[dict[str, object]],
) -> tuple[Path, Path]:
    """A slice of the sample round as interchange files: 8 applicants, all offers."""
    applicants = tmp_path / "applicants.json"
    offers = tmp_path / "offers.json"
    applicants.write_text(json.dumps(fixture_applicants[:8], ensure_ascii=False), "utf-8")
    offers.write_text(json.dumps(fixture_offers, ensure_ascii=False), "utf-8")
    return applicants, offers
