"""Request dependencies, defined once as ``Annotated`` aliases."""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.convertors import StringConvertor, register_url_convertor

from api.auth import Principal, check_token
from api.errors import Forbidden, NotAuthenticated
from api.runs import RunManager
from api.settings import Settings
from matcher import TopicScorer
from models.schemas import MAX_ROW_ID
from models.store import SessionBinding, SqlEmbeddingStore
from models.tables import Role

# The dependencies that only read ``app.state`` are ``async``: FastAPI runs a plain ``def``
# dependency in its threadpool, a hop that costs more than the lookup (BENCHMARKS.md, section 4).


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with (``create_app``).

    Read from the app, not given as a ``dependency_overrides`` entry: FastAPI rebuilds every
    dependency's signature on every request while any override is set.
    """
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]

_DIGITS = re.compile(r"[0-9]{1,19}")


def _plain_digits(value: object) -> object:
    """Numbers in a URL are ASCII digits only: ``int()`` would read "1_0" as 10, " 7" as 7."""
    if isinstance(value, str) and _DIGITS.fullmatch(value) is None:
        raise PydanticCustomError(
            "digits_only",
            "Nur Ziffern 0–9 erlaubt (höchstens 19), erhalten: „{value}“.",
            {"value": value[:40]},
        )
    return value


#: Put in front of ``int`` in a path or query parameter: refuses "1_0", "+1", " 1", "1e3".
PlainDigits = BeforeValidator(_plain_digits)


def _true_or_false(value: object) -> object:
    """A switch in a URL is ``true`` or ``false``; "yes", "on" and "1" are guesses, not input."""
    if isinstance(value, str) and value not in {"true", "false"}:
        raise PydanticCustomError(
            "true_or_false",
            "Nur „true“ oder „false“ erlaubt, erhalten: „{value}“.",
            {"value": value[:40]},
        )
    return value


#: Put in front of ``bool`` in a query parameter.
PlainBool = BeforeValidator(_true_or_false)

#: A row id in a path: 1 … 2**31 - 1, so no database sees a number it cannot store.
IdPath = Annotated[int, PlainDigits, Path(ge=1, le=MAX_ROW_ID)]


class RecordIdConvertor(StringConvertor):
    """A public id in a path may contain "/" (sent as ``%2F``, which the server decodes):
    it takes the rest of the path, except the sub-resources named after it, so
    ``/applicants/A/1`` opens ``A/1`` and ``/applicants/A/1/shortlist`` its shortlist."""

    regex = r"[^/].*?(?<!/shortlist)(?<!/personal-data)(?<!/candidates)"


#: Use as ``{applicant_id:record_id}`` in route paths.
register_url_convertor("record_id", RecordIdConvertor())


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def get_session(
    engine: Annotated[Engine, Depends(get_engine)], request: Request
) -> AsyncIterator[Session]:
    """One session, so at most one pooled connection, per request.

    Whatever the handler did not commit is rolled back. The embedding store reads through this
    session and writes new vectors only after it is closed (``SqlEmbeddingStore.bind``), so a
    request never holds two connections. ``async`` because the binding must be made in the
    request's own context, which the handler's thread inherits; the blocking close runs in the
    threadpool.
    """
    store: SqlEmbeddingStore = request.app.state.store
    session = Session(engine)
    binding = store.bind(session)
    try:
        yield session
    finally:
        await run_in_threadpool(_close, session, store, binding)


def _close(session: Session, store: SqlEmbeddingStore, binding: SessionBinding) -> None:
    try:
        session.close()
    finally:
        store.flush(binding)


async def get_scorer(request: Request) -> TopicScorer:
    scorer: TopicScorer = request.app.state.scorer
    return scorer


async def get_runs(request: Request) -> RunManager:
    runs: RunManager = request.app.state.runs
    return runs


async def get_write_lock(request: Request) -> threading.Lock:
    """Serialises decisions and run writes: capacity checks and writes never interleave."""
    lock: threading.Lock = request.app.state.write_lock
    return lock


SessionDep = Annotated[Session, Depends(get_session)]
WriteLockDep = Annotated[threading.Lock, Depends(get_write_lock)]
ScorerDep = Annotated[TopicScorer, Depends(get_scorer)]
RunsDep = Annotated[RunManager, Depends(get_runs)]

_bearer = HTTPBearer(auto_error=False)


def get_principal(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated("Anmeldung nötig: Authorization: Bearer <Token>.")
    principal = check_token(session, credentials.credentials)
    # Give the connection back while the handler waits for a worker thread: otherwise every
    # request queued behind a busy database write lock holds one and the pool runs dry.
    session.rollback()
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def _requires(role: Role) -> object:
    async def check(principal: PrincipalDep) -> Principal:
        if principal.role is not role:
            raise Forbidden(f"Nur für die Rolle „{role.value}“.")
        return principal

    return Depends(check)


CoordinatorDep = Annotated[Principal, _requires(Role.COORDINATOR)]
ApplicantDep = Annotated[Principal, _requires(Role.APPLICANT)]
MentorDep = Annotated[Principal, _requires(Role.MENTOR)]
