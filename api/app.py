"""The FastAPI application: ``create_app()`` wires settings, database, model and routes."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sentence_transformers import SentenceTransformer

import matcher
from api.errors import ERROR_RESPONSES, install_error_handlers
from api.limits import BodySizeLimit
from api.routes import accounts, me, placements, ranker, records, rounds, runs, shortlists
from api.runs import RunManager, fail_interrupted_runs
from api.settings import Settings, get_settings
from api.web import router as web_router
from models.db import init_db, make_engine
from models.store import SqlEmbeddingStore

DESCRIPTION = """
Matches Berlin administration staff with host offers in partner cities (Hospitation).

Authenticate with `Authorization: Bearer <token>`; the first coordinator token comes from
`matcher users create --role coordinator`. Roles: **coordinator** (everything under
`/api/rounds`, tokens), **applicant** (`/api/me/suggestions`), **mentor** (`/api/mentor/...`).
Errors are JSON: `{"detail": "...", "errors": [{"field": "...", "message": "..."}]}`.
"""


def create_app(
    settings: Settings | None = None, *, model: SentenceTransformer | None = None
) -> FastAPI:
    """Build the app; the models load once, at start-up (``model``: the first, shared by tests)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        init_db(engine)
        fail_interrupted_runs(engine)
        embedder = matcher.load_embedder(
            settings.embedding_models, SqlEmbeddingStore(engine), models=[model] if model else []
        )
        scorer = matcher.TopicScorer(embedder)
        app.state.engine = engine
        app.state.scorer = scorer
        app.state.write_lock = threading.Lock()
        app.state.runs = RunManager(engine, scorer, app.state.write_lock)
        yield
        app.state.runs.shutdown()
        engine.dispose()

    app = FastAPI(
        title="Hospitation Matcher", version="0.1.0", description=DESCRIPTION, lifespan=lifespan
    )
    app.dependency_overrides[get_settings] = lambda: settings
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit)
    for module in (rounds, records, shortlists, runs, placements, me, accounts, ranker):
        app.include_router(module.router, responses=ERROR_RESPONSES)
    app.include_router(web_router)

    @app.get("/api/health", tags=["Betrieb"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
