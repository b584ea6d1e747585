"""Shortlist throughput on SQLite and PostgreSQL with 1 and 2 worker processes.

Each configuration is a real ``uvicorn --factory api.app:create_app --workers N`` on
127.0.0.1, as the README's production section deploys it, on a database holding the same round
(1,000 offers, the 79 sample applications, every embedding stored). PostgreSQL is a throw-away
cluster started from Debian's binaries (``tests/postgres_server.py``) with its default
durability (fsync on). Every worker is warmed up (its round cache filled) before the clock runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sentence_transformers import SentenceTransformer
from sqlalchemy import Engine
from sqlmodel import Session

import matcher
from api import services
from benchmarks.common import REPO, Section, table
from benchmarks.latency import Load, _free_port, _loop, _wait_ready
from benchmarks.synthetic import fixture_records, synthetic_offers
from models.db import init_db, make_engine
from models.store import SqlEmbeddingStore
from models.tables import Role
from tests.postgres_server import PostgresServer, unavailable_reason

TITLE = "11. Database backends and worker processes"
OFFERS = 1_000
WORKERS = (1, 2)
#: Concurrent clients: enough to keep two workers busy.
CLIENTS = 8
REQUESTS = 320
HEADERS = ("backend", "workers", "req/s", "vs 1 worker", "p50 ms", "p99 ms", "load avg")
#: Warm-up requests per worker, so that every process has built its round cache.
WARMUP_PER_WORKER = 12


@dataclass(frozen=True)
class Result:
    backend: str
    workers: int
    load: Load
    #: The machine's 1-minute load average right after the measurement (other work included).
    load_average: float


def run(model: SentenceTransformer) -> Section:
    reason = unavailable_reason()
    with tempfile.TemporaryDirectory(prefix="matcher-bench-db-") as folder:
        urls = {"SQLite": f"sqlite:///{Path(folder) / 'bench.db'}"}
        with contextlib.ExitStack() as stack:
            if reason is None:
                postgres = stack.enter_context(PostgresServer(durable=True))
                urls["PostgreSQL"] = postgres.create_database("bench")
            results = []
            for backend, url in urls.items():
                token, path = _prepare(url, model)
                for workers in WORKERS:
                    print(f"  backends: {backend}, {workers} worker(s) …", flush=True)
                    log = Path(folder) / f"{backend}-{workers}.log"
                    load = _measure(url, workers, token, path, log)
                    print(f"    {load.rate:.1f} req/s, p50 {load.p(50):.0f} ms", flush=True)
                    results.append(Result(backend, workers, load, os.getloadavg()[0]))
    return _section(results, reason)


def _prepare(url: str, model: SentenceTransformer) -> tuple[str, str]:
    """Store the round, its embeddings and a coordinator token; (token, shortlist path)."""
    engine: Engine = make_engine(url)
    try:
        init_db(engine)
        offers, applicants = fixture_records()
        offers = synthetic_offers(offers, OFFERS, seed=OFFERS)
        scorer = matcher.TopicScorer(matcher.Embedder(model, SqlEmbeddingStore(engine)))
        matcher.score_pairs(scorer, applicants, offers)  # every embedding, once
        with Session(engine) as session:
            _, token = services.issue_account(session, role=Role.COORDINATOR, label="Benchmark")
            round_ = services.import_round(
                session, name="Benchmark", offers=offers, applicants=applicants
            )
            session.commit()
            round_id = services.row_id(round_.id)
    finally:
        engine.dispose()
    return token, f"/api/rounds/{round_id}/applicants/{{applicant}}/shortlist?top_k=5"


@contextlib.contextmanager
def _uvicorn(url: str, workers: int, log: Path) -> Iterator[str]:
    """``uvicorn --factory api.app:create_app --workers N``; its base URL."""
    port = _free_port()
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    environment = {**os.environ, "MATCHER_DATABASE_URL": url, "HF_HUB_OFFLINE": "1"}
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=REPO, env=environment, stdout=output, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(base, process, log)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _measure(url: str, workers: int, token: str, path: str, log: Path) -> Load:
    headers = {"Authorization": f"Bearer {token}"}
    _, applicants = fixture_records()
    paths = [path.format(applicant=applicants[k % len(applicants)].id) for k in range(REQUESTS)]
    with _uvicorn(url, workers, log) as base:
        warmup = paths[: WARMUP_PER_WORKER * workers]
        asyncio.run(_loop(base, headers, warmup, clients=CLIENTS))
        return asyncio.run(_loop(base, headers, paths, clients=CLIENTS))


def _section(results: list[Result], reason: str | None) -> Section:
    single = {r.backend: r.load.rate for r in results if r.workers == 1}
    rows = [
        (
            r.backend,
            r.workers,
            f"{r.load.rate:.1f}",
            f"{r.load.rate / single[r.backend]:.2f}×",
            f"{r.load.p(50):.0f}",
            f"{r.load.p(99):.0f}",
            f"{r.load_average:.1f}",
        )
        for r in results
    ]
    cores = os.cpu_count()
    body = f"""
Shortlists (top 5) of one round with {OFFERS:,} offers, {REQUESTS} requests from {CLIENTS}
concurrent clients, served by `uvicorn --factory api.app:create_app --workers N`; req/s is the
median over the batches, latencies in ms. {cores} CPU cores, shared with the clients (and
with whatever else runs: the load average column says how busy the machine was). A second
worker can only help where a core is idle.

{table(HEADERS, rows, "lrrrrrr")}
"""
    if reason is not None:
        body += f"\nPostgreSQL skipped: {reason}.\n"
    headline = [
        (
            f"shortlist req/s, {r.backend}, {r.workers} workers",
            f"{r.load.rate:.1f}",
            f"1 worker: {single[r.backend]:.1f}",
            "reported",
            "—",
        )
        for r in results
        if r.workers > 1
    ]
    return Section(TITLE, body, headline=headline)
