"""Request dependencies, defined once as ``Annotated`` aliases."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlmodel import Session

from api.auth import Principal, check_token
from api.errors import Forbidden, NotAuthenticated
from api.runs import RunManager
from api.settings import Settings, get_settings
from matcher import TopicScorer
from models.schemas import MAX_ROW_ID
from models.tables import Role

SettingsDep = Annotated[Settings, Depends(get_settings)]
#: A row id in a path: 1 … 2**63 - 1, so SQLite never sees a number it cannot store.
IdPath = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    """One session per request; whatever the handler did not commit is rolled back."""
    with Session(engine) as session:
        yield session


def get_scorer(request: Request) -> TopicScorer:
    scorer: TopicScorer = request.app.state.scorer
    return scorer


def get_runs(request: Request) -> RunManager:
    runs: RunManager = request.app.state.runs
    return runs


def get_write_lock(request: Request) -> threading.Lock:
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
    return check_token(session, credentials.credentials)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def _requires(role: Role) -> object:
    def check(principal: PrincipalDep) -> Principal:
        if principal.role is not role:
            raise Forbidden(f"Nur für die Rolle „{role.value}“.")
        return principal

    return Depends(check)


CoordinatorDep = Annotated[Principal, _requires(Role.COORDINATOR)]
ApplicantDep = Annotated[Principal, _requires(Role.APPLICANT)]
MentorDep = Annotated[Principal, _requires(Role.MENTOR)]
