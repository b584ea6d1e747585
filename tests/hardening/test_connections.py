"""Connections: a request holds at most one pooled connection, so a full threadpool of
shortlist and "Meine Vorschläge" requests never waits for the pool (it used to stall 30 s and
answer 500 from 16 concurrent requests on). One real server process, both backends.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from models.tables import Role
from tests.conftest import BACKENDS, Databases
from tests.hardening.conftest import Record, Server, import_round, issue_token, prepare_database
from tests.support import bearer

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

#: Concurrent requests: more than FastAPI's 40 request threads, so some queue for a thread.
CONCURRENT = 64
#: Applicants asking for their own suggestions (each with a token), and shortlists asked for.
APPLICANTS = 16


@pytest.fixture
def server(
    tmp_path: Path,
    seed_database: Path,
    backend: str,
    databases: Databases,
    sample_offers: list[Record],
    sample_applicants: list[Record],
) -> Iterator[tuple[Server, int, str, list[str]]]:
    """A server on the sample round; (server, round id, coordinator token, applicant tokens)."""
    url = databases.create(backend, tmp_path, seed=seed_database)
    engine = prepare_database(url)
    round_id = import_round(engine, "Last", sample_offers, sample_applicants)
    coordinator = issue_token(engine)
    applicants = [
        issue_token(engine, Role.APPLICANT, round_id=round_id, applicant_id=a["id"])
        for a in sample_applicants[:APPLICANTS]
    ]
    engine.dispose()
    try:
        with Server(url, tmp_path, "connections") as running:
            yield running, round_id, coordinator, applicants
    finally:
        databases.drop(url)


def test_64_concurrent_shortlists_and_suggestions_all_succeed(
    server: tuple[Server, int, str, list[str]], sample_applicants: list[Record]
) -> None:
    running, round_id, coordinator, applicants = server

    def request(i: int) -> httpx.Response:
        with running.client(timeout=120.0) as client:
            if i % 2:
                return client.get("/api/me/suggestions", headers=bearer(applicants[i % APPLICANTS]))
            applicant_id = sample_applicants[i % APPLICANTS]["id"]
            url = f"/api/rounds/{round_id}/applicants/{applicant_id}/shortlist"
            return client.get(url, headers=bearer(coordinator))

    with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
        responses = list(pool.map(request, range(CONCURRENT)))
    failures = [(r.status_code, r.text[:200]) for r in responses if r.status_code != 200]
    assert failures == []
    assert all(r.json() for r in responses)
    assert "QueuePool" not in running.output
