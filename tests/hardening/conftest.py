"""Shared set-up of the hardening suite: real model, real SQLite files, real servers.

Everything here is self-contained (nothing is imported from ``tests/api``) so that the suite
keeps working while other test folders change. The embedding model loads once per session; a
session-wide seed database holds the embeddings of the sample round and the reference corpus,
and tests that do not need a cold cache start from a copy of it.
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sentence_transformers import SentenceTransformer
from sqlalchemy import Engine, text
from sqlmodel import Session

import matcher
from api import services
from api.app import create_app
from api.settings import Settings
from models import crud
from models.db import init_db, make_engine
from models.tables import Role
from tests.conftest import Databases
from tests.support import bearer, ensemble_scorer

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
MATCHER_BIN = ROOT / ".venv" / "bin" / "matcher"
#: Longest a test waits for a background run to end.
RUN_TIMEOUT_SECONDS = 90.0
#: Longest a server subprocess may take to answer /api/health/live (it loads the model first).
SERVER_START_SECONDS = 90.0
FINAL_RUN_STATES = frozenset({"done", "failed", "cancelled"})

Record = dict[str, Any]
#: A client of the API: starlette's TestClient (in process) or httpx.Client (real server).
HttpClient = httpx.Client | TestClient
#: Their responses (httpx's, or those of the httpx fork the TestClient is built on).
HttpResponse = Any


# --- data ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sample_offers() -> list[Record]:
    """The sample offers (do not mutate: use ``copy.deepcopy``)."""
    offers: list[Record] = json.loads((FIXTURES / "offers.json").read_text("utf-8"))
    return offers


@pytest.fixture(scope="session")
def sample_applicants() -> list[Record]:
    """The sample applications (do not mutate: use ``copy.deepcopy``)."""
    applicants: list[Record] = json.loads((FIXTURES / "applicants.json").read_text("utf-8"))
    return applicants


def to_records(
    offers: Sequence[Record], applicants: Sequence[Record]
) -> tuple[list[matcher.Offer], list[matcher.Applicant]]:
    """Interchange dicts as validated engine records."""
    return (
        matcher.parse_records(matcher.Offer, list(offers), source="offers"),
        matcher.parse_records(matcher.Applicant, list(applicants), source="applicants"),
    )


def personal_strings(applicants: Sequence[Record]) -> dict[str, str]:
    """What must never leak, by label: names, e-mails and a snippet of each motivation."""
    secrets: dict[str, str] = {}
    for applicant in applicants:
        if applicant.get("name"):
            secrets[f"{applicant['id']} name"] = applicant["name"]
        if applicant.get("email"):
            secrets[f"{applicant['id']} email"] = applicant["email"]
        motivation: str = applicant["motivation"]
        middle = len(motivation) // 2
        secrets[f"{applicant['id']} motivation"] = motivation[middle : middle + 40]
    return secrets


def leaks(text_: str, secrets: dict[str, str]) -> list[str]:
    """Labels of the secrets that occur in ``text_``."""
    return [label for label, secret in secrets.items() if secret in text_]


# --- database -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def model() -> SentenceTransformer:
    """The real default model (offline), loaded once per session."""
    return matcher.load_model()


@pytest.fixture(scope="session")
def seed_database(
    tmp_path_factory: pytest.TempPathFactory,
    model: SentenceTransformer,
    sample_offers: list[Record],
    sample_applicants: list[Record],
) -> Path:
    """A database file whose embedding cache holds the sample data and the reference corpus."""
    path = tmp_path_factory.mktemp("hardening-seed") / "seed.db"
    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    offers, applicants = to_records(sample_offers, sample_applicants)
    scorer = ensemble_scorer(engine, model)
    matcher.score_pairs(scorer, applicants, offers)
    with engine.connect() as connection:  # fold the write-ahead log into the file to copy it
        connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()
    return path


def table_counts(engine: Engine) -> dict[str, int]:
    """Rows per table."""
    with Session(engine) as session:
        return crud.table_counts(session=session)


def issue_token(engine: Engine, role: Role = Role.COORDINATOR, **binding: Any) -> str:
    """A token issued through the service layer (what ``matcher users create`` does)."""
    with Session(engine) as session:
        _, token = services.issue_account(
            session, role=role, label=f"{role.value} (Härtetest)", **binding
        )
        session.commit()
    return token


#: Fields that make an offer and an applicant feasible for each other whatever the rest says
#: (German, a long shared window): the races test capacity, not the other rules.
WIDE_OFFER = {
    "working_languages": ["de"],
    "min_language_level": "B1",
    "available_from": "2027-01-04",
    "available_until": "2027-12-17",
    "min_weeks": 1,
    "max_weeks": 52,
}
WIDE_APPLICANT = {
    "languages": {"de": "C2"},
    "available_from": "2027-03-01",
    "available_until": "2027-09-30",
    "weeks_wanted": 2,
    "preferred_cities": [],
}


# --- in-process application ---------------------------------------------------------------------


class Coordinator:
    """A client (TestClient or a real-server httpx.Client) with a coordinator token."""

    def __init__(self, client: HttpClient, token: str) -> None:
        self.client = client
        self.token = token

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)

    def request(
        self, method: str, url: str, *, token: str | None = None, **kwargs: Any
    ) -> HttpResponse:
        headers = {**bearer(token or self.token), **kwargs.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **kwargs)

    def ok(self, method: str, url: str, status: int = 200, **kwargs: Any) -> Any:
        """The JSON of a request that has to answer ``status``."""
        response = self.request(method, url, **kwargs)
        assert response.status_code == status, (method, url, response.status_code, response.text)
        if not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.text

    def new_round(
        self, offers: Sequence[Record] = (), applicants: Sequence[Record] = (), name: str = "R"
    ) -> int:
        """Create a round and import records into it; its id."""
        round_id: int = self.ok("POST", "/api/rounds", 201, json={"name": name})["id"]
        if offers or applicants:
            body = {"offers": list(offers), "applicants": list(applicants)}
            self.ok("POST", f"/api/rounds/{round_id}/import", 201, json=body)
        return round_id

    def issue(self, role: Role, round_id: int, **binding: Any) -> str:
        """A token issued through the API."""
        body = {"role": role.value, "label": f"{role.value} (Test)", "round_id": round_id}
        issued = self.ok("POST", "/api/accounts", 201, json={**body, **binding})
        token: str = issued["token"]
        return token

    def start_run(self, round_id: int, mode: str = "max-placed") -> Record:
        run: Record = self.ok("POST", f"/api/rounds/{round_id}/runs", 202, json={"mode": mode})
        return run

    def wait_run(self, round_id: int, run_id: int, timeout: float = RUN_TIMEOUT_SECONDS) -> Record:
        """Poll a run until it reaches a final state (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            run: Record = self.ok("GET", f"/api/rounds/{round_id}/runs/{run_id}")
            if run["status"] in FINAL_RUN_STATES:
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
        found: list[Record] = self.ok("GET", f"/api/rounds/{round_id}/placements", params=params)
        return found


class App:
    """A started in-process app with its database engine and a coordinator."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.app: FastAPI = client.app  # type: ignore[assignment]
        self.coordinator = Coordinator(client, issue_token(self.engine))

    @property
    def engine(self) -> Engine:
        engine: Engine = self.app.state.engine
        return engine

    def counts(self) -> dict[str, int]:
        return table_counts(self.engine)


@pytest.fixture
def app_settings(
    tmp_path: Path, seed_database: Path, backend: str, databases: Databases
) -> Iterator[Settings]:
    """Settings of one test: its own database, a copy of the seeded one, on ``backend``."""
    url = databases.create(backend, tmp_path, seed=seed_database)
    yield Settings(database_url=url)
    databases.drop(url)


@pytest.fixture
def started(app_settings: Settings, model: SentenceTransformer) -> Iterator[App]:
    """The app with its lifespan run, stopped afterwards."""
    with TestClient(create_app(app_settings, model=model)) as client:
        yield App(client)


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) under /api/ of the app, the open /api/health* and /api/public/*
    (the call for applications, tested in tests/api/test_call.py) aside, sorted.

    Walks ``app.routes`` and the routers included into it (newer FastAPI keeps included routers
    as one entry each, whose ``effective_route_contexts()`` yields the routes with full paths).
    """
    found: set[tuple[str, str]] = set()

    def visit(routes: Sequence[Any]) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                found.update((method, route.path) for method in route.methods or ())
            elif hasattr(route, "effective_route_contexts"):
                for context in route.effective_route_contexts():
                    original = context.original_route
                    if isinstance(original, APIRoute):
                        methods = original.methods or ()
                        found.update((method, context.path) for method in methods)
            elif hasattr(route, "original_router"):
                visit(route.original_router.routes)

    visit(app.routes)
    return sorted(
        # {applicant_id:record_id} → {applicant_id}, as the API documents it
        (method, re.sub(r"\{(\w+):\w+\}", r"{\1}", path))
        for method, path in found
        if path.startswith("/api/") and not path.startswith(("/api/health", "/api/public/"))
    )


# --- real server subprocess ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """``matcher serve`` in a subprocess on 127.0.0.1, its output captured to files."""

    def __init__(
        self,
        database_url: str,
        log_dir: Path,
        name: str = "server",
        env: dict[str, str] | None = None,
    ) -> None:
        self.database_url = database_url
        self.extra_env = env or {}
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.stdout_path = log_dir / f"{name}-{self.port}.out"
        self.stderr_path = log_dir / f"{name}-{self.port}.err"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        env = {
            **os.environ,
            "MATCHER_DATABASE_URL": self.database_url,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        command = [str(MATCHER_BIN), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err)
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + SERVER_START_SECONDS
        with httpx.Client(base_url=self.base_url, timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(
                        f"server exited with {self.process.returncode}: {self.output}"
                    )
                try:
                    if client.get("/api/health/live").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        self.stop()
        raise AssertionError(
            f"server did not answer within {SERVER_START_SECONDS} s: {self.output}"
        )

    def client(self, timeout: float = 60.0, **kwargs: Any) -> httpx.Client:
        """A client for this server only (no proxy from the environment: 127.0.0.1 directly)."""
        return httpx.Client(base_url=self.base_url, timeout=timeout, trust_env=False, **kwargs)

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no cleanup, like a power cut of the process."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """Terminate (then kill) the process if it still runs; idempotent."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)

    @property
    def output(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        parts = [p.read_text("utf-8", "replace") for p in (self.stdout_path, self.stderr_path)]
        return "\n".join(parts)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def prepare_database(url: str) -> Engine:
    """An engine on ``url`` with every table created (as the server would)."""
    engine = make_engine(url)
    init_db(engine)
    return engine


def import_round(
    engine: Engine, name: str, offers: Sequence[Record], applicants: Sequence[Record]
) -> int:
    """A round with these records, stored through the service layer; its id."""
    offer_records, applicant_records = to_records(offers, applicants)
    with Session(engine) as session:
        round_ = services.import_round(
            session, name=name, offers=offer_records, applicants=applicant_records
        )
        session.commit()
        return services.row_id(round_.id)


def feasible_copy(record: Record, **changes: Any) -> Record:
    """A deep copy of a record with ``changes`` applied."""
    return {**copy.deepcopy(record), **changes}
