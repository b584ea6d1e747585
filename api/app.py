"""The FastAPI application: ``create_app()`` wires settings, database, model and routes."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sentence_transformers import SentenceTransformer

import matcher
from api import heap
from api.errors import ERROR_RESPONSES, install_error_handlers
from api.limits import BodySizeLimit
from api.mailer import start_dispatcher
from api.routes import (
    accounts,
    audit,
    call,
    me,
    office,
    placements,
    ranker,
    records,
    round_settings,
    rounds,
    runs,
    shortlists,
)
from api.runs import RunManager, fail_expired_runs
from api.settings import Settings, get_settings
from api.web import router as web_router
from models.db import (
    UPGRADE_HINT,
    SchemaOutdatedError,
    current_revision,
    head_revision,
    init_db,
    make_engine,
)
from models.health import DatabaseUnavailable, check_writable
from models.store import SqlEmbeddingStore

DESCRIPTION = """
Matches Berlin administration staff with host offers in partner cities (Hospitation).

Authenticate with `Authorization: Bearer <token>`; the first coordinator token comes from
`matcher users create --role coordinator`. Roles: **coordinator** (everything under
`/api/rounds`, tokens), **applicant** (`/api/me/suggestions`), **mentor** (`/api/mentor/...`).
Errors are JSON: `{"detail": "...", "errors": [{"field": "...", "message": "..."}], "total": 1}`;
every response carries `X-Request-ID`. A busy, read-only or missing database answers 503 with
`Retry-After`. `/api/health/live`: the process answers; `/api/health/ready`: it can write.
"""
#: Swagger UI's and ReDoc's files, from an installed package: /docs works without a CDN.
DOCS_FILES = files("fastapi_offline") / "static"
DOCS_STATIC = "/docs-static"


def create_app(
    settings: Settings | None = None, *, model: SentenceTransformer | None = None
) -> FastAPI:
    """Build the app; the models load once, at start-up (``model``: the first, shared by tests)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(
            settings.database_url, pool=settings.pool, busy_timeout=settings.db_busy_timeout
        )
        try:
            init_db(engine)  # refuses an outdated schema: SchemaOutdatedError names the command
        except SchemaOutdatedError:
            engine.dispose()
            raise
        fail_expired_runs(engine)
        store = SqlEmbeddingStore(engine)
        embedder = matcher.load_embedder(
            settings.embedding_models, store, models=[model] if model else []
        )
        scorer = matcher.TopicScorer(embedder)
        app.state.engine = engine
        app.state.store = store
        app.state.scorer = scorer
        app.state.write_lock = threading.Lock()
        app.state.runs = RunManager(
            engine, scorer, app.state.write_lock, lease_seconds=settings.run_lease_seconds
        )
        app.state.mailer = start_dispatcher(engine, settings)
        heap.settle_started()  # the libraries and models live as long as the process
        yield
        if app.state.mailer is not None:
            app.state.mailer.shutdown()
        app.state.runs.shutdown()
        engine.dispose()

    app = FastAPI(
        title="Hospitation Matcher",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.add_middleware(BodySizeLimit)
    install_error_handlers(app, busy_timeout=settings.db_busy_timeout)
    # Shortlists first: the most frequent request finds its route without trying the others'
    # (its paths end in /shortlist or /candidates, which no other route's ids may).
    routers = (shortlists, rounds, round_settings, office, records, runs, placements, me, accounts)
    for module in (*routers, ranker, audit, call):
        app.include_router(module.router, responses=ERROR_RESPONSES)
    app.include_router(web_router)
    _add_health(app)
    _add_docs(app)
    return app


def _add_health(app: FastAPI) -> None:
    """Liveness (the process answers) and readiness (the database takes writes, schema current)."""

    @app.get("/api/health/live", tags=["Betrieb"])
    @app.get("/api/health", tags=["Betrieb"], summary="Alias of /api/health/live")
    async def live() -> dict[str, str]:
        """Answers while the process runs; touches nothing else (for restarts by a supervisor)."""
        return {"status": "ok"}

    @app.get(
        "/api/health/ready",
        tags=["Betrieb"],
        responses={503: {"description": "not ready: database busy, read-only, gone or outdated"}},
    )
    def ready(request: Request) -> Any:
        """200 only if the database takes a write now (rolled back) and its schema is current."""
        engine = request.app.state.engine
        check_writable(engine)  # raises: answered 503 by the database handlers
        revision, head = current_revision(engine), head_revision()
        if revision != head:
            raise DatabaseUnavailable(
                f"Das Datenbankschema ist nicht aktuell (Stand: {revision or 'keiner'}, "
                f"benötigt: {head}). " + UPGRADE_HINT
            )
        return JSONResponse({"status": "ready"}, headers={"Cache-Control": "no-store"})


def _add_docs(app: FastAPI) -> None:
    """/docs and /redoc with their scripts served by this app, not fetched from a CDN."""
    app.mount(DOCS_STATIC, StaticFiles(directory=str(DOCS_FILES)), name="docs-static")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} – API",
            swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_STATIC}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} – API",
            redoc_js_url=f"{DOCS_STATIC}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_STATIC}/favicon.png",
            with_google_fonts=False,
        )
