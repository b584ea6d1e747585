"""One pooled connection per request at most, also when the request embeds new text.

With a pool of exactly one connection and no overflow, a request that needed a second one
(the embedding store next to the request's session) would wait out the pool timeout and fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sentence_transformers import SentenceTransformer

from api.app import create_app
from api.settings import Settings
from models.tables import Role
from tests.api.conftest import Api, Record
from tests.conftest import BACKENDS, Databases

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def one_connection_api(
    tmp_path: Path,
    seed_database: Path,
    backend: str,
    databases: Databases,
    model: SentenceTransformer,
) -> Iterator[Api]:
    url = databases.create(backend, tmp_path, seed=seed_database)
    settings = Settings(database_url=url, db_pool_size=1, db_max_overflow=0, db_pool_timeout=3.0)
    try:
        with TestClient(create_app(settings, model=model)) as client:
            yield Api(client)
    finally:
        databases.drop(url)


def test_requests_that_embed_new_text_need_one_connection(
    one_connection_api: Api, offers_data: list[Record], applicants_data: list[Record]
) -> None:
    api = one_connection_api
    newcomer = {**applicants_data[0], "id": "A-NEU", "motivation": "Ganz neuer Text über Brücken."}
    round_id = api.new_round(offers_data, [newcomer])
    before = api.counts()["embedding"]

    shortlist = api.ok("GET", f"/api/rounds/{round_id}/applicants/A-NEU/shortlist")
    assert shortlist["suggestions"]
    # The new sentences were embedded and stored once the request gave its connection back.
    stored = api.counts()["embedding"]
    assert stored > before

    _, token = api.issue(Role.APPLICANT, round_id, applicant_id="A-NEU")
    assert api.ok("GET", "/api/me/suggestions", token=token)
    assert api.counts()["embedding"] == stored  # read back, not embedded again
