"""Helpers shared by the API and hardening test suites (plain functions, no fixtures)."""

from __future__ import annotations

import csv
import io
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import pytest
from sentence_transformers import SentenceTransformer
from sqlalchemy import Engine

import matcher
from api.settings import Settings
from models.store import SqlEmbeddingStore

Record = dict[str, Any]


def unavailable(reason: str) -> NoReturn:
    """A tool the tests need is missing: skip on a developer's machine, fail in CI (``CI`` set),
    where ``.ci/run`` installs it and a skip would hide tests that never ran."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run these tests: {reason}")
    pytest.skip(reason)


def to_csv(records: Sequence[Record]) -> bytes:
    """Interchange records in the CSV variant: lists as ``a;b``, languages as ``de:C2;en:B1``."""

    def cell(value: Any) -> str:
        if isinstance(value, dict):
            return ";".join(f"{key}:{level}" for key, level in value.items())
        if isinstance(value, list):
            return ";".join(str(item) for item in value)
        return "" if value is None else str(value)

    columns = list(dict.fromkeys(key for record in records for key in record))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows({key: cell(value) for key, value in record.items()} for record in records)
    return buffer.getvalue().encode("utf-8")


def bearer(token: str | None) -> dict[str, str]:
    """Request headers for a token (none for ``None``)."""
    return {} if token is None else {"Authorization": f"Bearer {token}"}


def copy_seed(seed: Path, target: Path) -> str:
    """Copy a seeded database file to ``target``; its URL."""
    shutil.copyfile(seed, target)
    return f"sqlite:///{target}"


def ensemble_scorer(engine: Engine, model: SentenceTransformer) -> matcher.TopicScorer:
    """The scorer the app builds from default settings (both models), sharing the first one."""
    embedder = matcher.load_embedder(
        Settings().embedding_models, SqlEmbeddingStore(engine), models=[model]
    )
    return matcher.TopicScorer(embedder)
