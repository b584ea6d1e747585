"""CLI, service and HTTP tests run against a real SQLite file in a temporary folder.

The embedding model loads once per session (``model``). Embedding the sample data and the
reference corpus takes seconds, so one session-wide database file holds those embeddings
(``seed_database``); every HTTP test starts from a copy of it in its own ``tmp_path``. The
embedding cache is keyed by model and text, so a copy gives exactly the vectors the model would.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sentence_transformers import SentenceTransformer
from sqlalchemy import Engine, text
from sqlmodel import Session
from typer.testing import CliRunner

import matcher
from api import services
from api.app import create_app
from api.settings import Settings, get_settings
from models import crud
from models.db import init_db, make_engine
from models.tables import (
    MatchingRun,
    PlacementCreate,
    PlacementStatus,
    Role,
    RunStatus,
    utc_now,
)
from tests.conftest import Databases
from tests.support import bearer, copy_seed, ensemble_scorer

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
#: Longest a test waits for a background run to end.
RUN_TIMEOUT_SECONDS = 60.0
#: Applicants in the rounds built by ``api_round``: enough for several proposals, still fast.
SMALL_ROUND_APPLICANTS = 12

Record = dict[str, Any]


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


# --- HTTP API --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def model() -> SentenceTransformer:
    """The real default model (offline), loaded once per test session."""
    return matcher.load_model()


def sample_records(
    offers: Sequence[Record], applicants: Sequence[Record]
) -> tuple[list[matcher.Offer], list[matcher.Applicant]]:
    """Interchange dicts as engine records."""
    return (
        matcher.parse_records(matcher.Offer, list(offers), source="offers"),
        matcher.parse_records(matcher.Applicant, list(applicants), source="applicants"),
    )


@pytest.fixture(scope="session")
def seed_database(
    tmp_path_factory: pytest.TempPathFactory,
    model: SentenceTransformer,
    fixture_offers: list[Record],
    fixture_applicants: list[Record],
) -> Path:
    """A database file whose embedding cache holds the sample data and the reference corpus."""
    path = tmp_path_factory.mktemp("seed") / "seed.db"
    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    offers, applicants = sample_records(fixture_offers, fixture_applicants)
    scorer = ensemble_scorer(engine, model)
    matcher.score_pairs(scorer, applicants, offers)
    with engine.connect() as connection:  # fold the write-ahead log into the file to copy
        connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def engine_scorer(
    tmp_path_factory: pytest.TempPathFactory, seed_database: Path, model: SentenceTransformer
) -> Iterator[matcher.TopicScorer]:
    """The engine's scorer with the same model, outside the app (what ``matcher rank`` uses)."""
    engine = make_engine(copy_seed(seed_database, tmp_path_factory.mktemp("ref") / "ref.db"))
    yield ensemble_scorer(engine, model)
    engine.dispose()


@pytest.fixture
def api_settings(
    tmp_path: Path, seed_database: Path, backend: str, databases: Databases
) -> Iterator[Settings]:
    """Settings of one test: its own database (a copy of the seeded one) on ``backend``."""
    url = databases.create(backend, tmp_path, seed=seed_database)
    yield Settings(database_url=url)
    databases.drop(url)


@pytest.fixture
def app(api_settings: Settings, model: SentenceTransformer) -> FastAPI:
    return create_app(api_settings, model=model)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client with the app started (lifespan run) and stopped afterwards."""
    with TestClient(app) as test_client:
        yield test_client


class Api:
    """A started app, a coordinator token and the steps most tests repeat."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.app: FastAPI = client.app  # type: ignore[assignment]
        with self.session() as session:
            account, self.coordinator_token = services.issue_account(
                session, role=Role.COORDINATOR, label="Koordination (Test)"
            )
            session.commit()
            self.coordinator_id = services.row_id(account.id)

    @property
    def engine(self) -> Engine:
        engine: Engine = self.app.state.engine
        return engine

    @property
    def coordinator(self) -> dict[str, str]:
        return bearer(self.coordinator_token)

    @property
    def coordinator_actor(self) -> str:
        return f"coordinator:{self.coordinator_id}"

    def session(self) -> Session:
        return Session(self.engine)

    def request(
        self, method: str, url: str, *, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """A request as the coordinator, or with ``token``."""
        headers = bearer(token) if token is not None else self.coordinator
        headers.update(kwargs.pop("headers", {}))
        return self.client.request(method, url, headers=headers, **kwargs)

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def ok(self, method: str, url: str, status: int = 200, **kwargs: Any) -> Any:
        """JSON of a request that has to succeed with ``status``."""
        response = self.request(method, url, **kwargs)
        assert response.status_code == status, (method, url, response.text)
        return response.json() if response.content else None

    def new_round(
        self,
        offers: Sequence[Record] = (),
        applicants: Sequence[Record] = (),
        *,
        name: str = "Testrunde",
        min_strength: str | None = None,
    ) -> int:
        """Create a round and import records into it (JSON); the round's id.

        Runs propose pairs of any strength unless ``min_strength`` says otherwise: these rounds
        test capacities and decisions on whatever pairs are feasible; the default minimum
        („gut“) has its own tests in ``test_lifecycle.py``.
        """
        round_id: int = self.ok("POST", "/api/rounds", 201, json={"name": name})["id"]
        with self.session() as session:  # set-up, not a coordinator's change: no audit entry
            round_ = crud.get_round(session=session, round_id=round_id)
            assert round_ is not None
            round_.min_strength = min_strength
            session.add(round_)
            session.commit()
        if offers or applicants:
            body = {"offers": list(offers), "applicants": list(applicants)}
            self.ok("POST", f"/api/rounds/{round_id}/import", 201, json=body)
        return round_id

    def issue(self, role: Role, round_id: int | None = None, **fields: Any) -> tuple[int, str]:
        """Issue a token through the API; (account id, token)."""
        body = {"role": role.value, "label": f"{role.value} (Test)", "round_id": round_id, **fields}
        issued = self.ok("POST", "/api/accounts", 201, json=body)
        return issued["id"], issued["token"]

    def start_run(self, round_id: int, mode: str = "max-placed") -> Record:
        run: Record = self.ok("POST", f"/api/rounds/{round_id}/runs", 202, json={"mode": mode})
        return run

    def wait_run(self, round_id: int, run_id: int) -> Record:
        """Poll a run until it is done, failed or cancelled (bounded)."""
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        while True:
            run: Record = self.ok("GET", f"/api/rounds/{round_id}/runs/{run_id}")
            if run["status"] in {"done", "failed", "cancelled"}:
                return run
            assert time.monotonic() < deadline, f"run {run_id} still {run['status']}"
            time.sleep(0.05)

    def run(self, round_id: int, mode: str = "max-placed") -> Record:
        """Start a run and wait for it; it has to end ``done``."""
        run = self.wait_run(round_id, self.start_run(round_id, mode)["id"])
        assert run["status"] == "done", run
        return run

    def placements(self, round_id: int, status: str | None = None) -> list[Record]:
        params = {"status": status} if status else {}
        placements: list[Record] = self.ok(
            "GET", f"/api/rounds/{round_id}/placements", params=params
        )
        return placements

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        with self.session() as session:
            return crud.table_counts(session=session)

    def add_placement(
        self, round_id: int, applicant_id: str, offer_id: str, status: PlacementStatus
    ) -> int:
        """Store a placement directly (test set-up without a run); its id."""
        return self.add_placements(round_id, [(applicant_id, offer_id)], status)[0]

    def add_placements(
        self, round_id: int, pairs: Sequence[tuple[str, str]], status: PlacementStatus
    ) -> list[int]:
        """Store placements of (applicant id, offer id) pairs directly; their ids."""
        with self.session() as session:
            rows = crud.add_placements(
                session=session,
                round_id=round_id,
                placements=[
                    PlacementCreate(
                        applicant_id=services.row_id(
                            services.require_applicant(session, round_id, applicant_id).id
                        ),
                        offer_id=services.row_id(
                            services.require_offer(session, round_id, offer_id).id
                        ),
                        status=status,
                        score=0.5,
                    )
                    for applicant_id, offer_id in pairs
                ],
            )
            session.commit()
            return [services.row_id(row.id) for row in rows]

    def add_run(self, round_id: int, status: RunStatus) -> int:
        """Store a run row directly (not handed to the worker); its id.

        An active one is held by another, live process (its lease runs for an hour).
        """
        with self.session() as session:
            run = MatchingRun(
                round_id=round_id,
                mode="max-placed",
                status=status,
                created_by="t",
                owner="anderer-prozess",
                lease_until=utc_now() + timedelta(hours=1),
            )
            session.add(run)
            session.commit()
            return services.row_id(run.id)


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


@pytest.fixture
def offers_data(fixture_offers: list[Record]) -> list[Record]:
    """The sample offers, a copy a test may change."""
    return copy.deepcopy(fixture_offers)


@pytest.fixture
def applicants_data(fixture_applicants: list[Record]) -> list[Record]:
    """The sample applications, a copy a test may change."""
    return copy.deepcopy(fixture_applicants)


@pytest.fixture
def api_round(api: Api, offers_data: list[Record], applicants_data: list[Record]) -> int:
    """A round with the first applicants of the sample and every offer."""
    return api.new_round(offers_data, applicants_data[:SMALL_ROUND_APPLICANTS])
