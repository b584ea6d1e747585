"""HTTP mapping of every error, in one place.

    MatcherError (engine)
    ├── InvalidRecordsError      → 422, one entry per record and field
    ├── ModelLoadError           → 503
    └── StrengthNotCalibratedError → 503  strength thresholds fitted for another model
    ApiError (this package)
    ├── NotAuthenticated         → 401  no or unknown bearer token
    ├── Forbidden                → 403  valid token, wrong role
    ├── NotFound                 → 404  missing, or someone else's resource
    ├── Conflict                 → 409  state forbids it (place gone, round closed, run active)
    └── Unprocessable            → 422  a request that is well-formed but impossible

    DatabaseUnavailable (models) → 503  file vanished, replaced or read-only   + Retry-After
    sqlalchemy OperationalError  → 503  locked beyond the busy timeout, I/O   + Retry-After
    sqlalchemy DataError         → 422  a value the database refuses (PostgreSQL: NUL in text)

FastAPI's own RequestValidationError also becomes 422 with field paths, Starlette's HTTP errors
(unknown path, wrong method, unreadable body) keep their status in the same JSON shape. Error
replies list at most ``MAX_LISTED_ERRORS`` problems and their ``total``: a file with 100 000 bad
records gets a short answer. Any other exception is a 500 answered by ``RequestIds``: the client
gets a request id (``X-Request-ID``), the log gets that id with the exception's type and stack
frames, never its message or local variables, since both can carry personal data. Messages are
German: coordinators read them.
"""

from __future__ import annotations

import logging
import math
import traceback
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from matcher import InvalidRecordsError, ModelLoadError, german
from matcher.strength import StrengthNotCalibratedError
from models.health import DatabaseUnavailable
from models.schemas import ErrorDetail

logger = logging.getLogger(__name__)


class ApiError(Exception):
    status_code = 400

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NotAuthenticated(ApiError):
    status_code = 401


class Forbidden(ApiError):
    status_code = 403


class NotFound(ApiError):
    status_code = 404


class Conflict(ApiError):
    status_code = 409


class Unprocessable(ApiError):
    status_code = 422


#: Longest list of problems in one error reply; ``total`` says how many there were.
MAX_LISTED_ERRORS = 100


def _body(detail: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    errors = errors or []
    return {"detail": detail, "errors": errors[:MAX_LISTED_ERRORS], "total": len(errors)}


async def _api_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, NotAuthenticated) else None
    return JSONResponse(_body(error.detail, error.errors), error.status_code, headers=headers)


async def _invalid_records(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, InvalidRecordsError)
    errors = [  # the whole list for the count; _body keeps the first MAX_LISTED_ERRORS
        {
            "source": p.source,
            "index": p.index,
            "record_id": p.record_id,
            "field": p.field,
            "message": p.message,
        }
        for p in error.problems
    ]
    return JSONResponse(
        _body(f"{len(errors)} ungültige Angabe(n); nichts gespeichert.", errors), 422
    )


async def _request_validation(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [
        {"field": ".".join(str(part) for part in e["loc"]), "message": german.message(e)}
        for e in error.errors()
    ]
    return JSONResponse(_body("Ungültige Anfrage.", errors), 422)


_STARLETTE_MESSAGES = {
    400: "Der Inhalt der Anfrage ist nicht lesbar (kein gültiges UTF-8 oder JSON).",
    404: "Diese Adresse gibt es nicht.",
    405: "Diese Methode ist hier nicht erlaubt.",
}


async def _http_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    detail = _STARLETTE_MESSAGES.get(error.status_code, str(error.detail))
    return JSONResponse(_body(detail), error.status_code, headers=error.headers)


_DATABASE_MESSAGES = (
    ("locked", "Die Datenbank ist gerade belegt; bitte in wenigen Sekunden erneut versuchen."),
    ("busy", "Die Datenbank ist gerade belegt; bitte in wenigen Sekunden erneut versuchen."),
    ("readonly", "Die Datenbank ist schreibgeschützt; Änderungen sind gesperrt."),
)


def _database_unavailable(retry_after: int) -> Callable[[Request, Exception], Awaitable[Response]]:
    """503 with ``Retry-After``: the request was fine, the database could not take it now."""

    async def handler(_: Request, error: Exception) -> Response:
        if isinstance(error, DatabaseUnavailable):
            detail = error.detail
        else:
            reason = str(getattr(error, "orig", error)).lower().replace(" ", "")
            detail = next(
                (text for key, text in _DATABASE_MESSAGES if key in reason),
                "Die Datenbank ist nicht erreichbar; bitte später erneut versuchen.",
            )
            # The driver's own words ("database is locked"): no statement, no parameters.
            logger.warning("database unavailable: %s", getattr(error, "orig", type(error).__name__))
        return JSONResponse(_body(detail), 503, headers={"Retry-After": str(retry_after)})

    return handler


class RequestIds:
    """ASGI middleware: every response carries ``X-Request-ID``; an uncaught error becomes 500.

    The log line of a 500 names the request id, the exception types and their stack frames
    (file, line, function, source line) and nothing else: no message, no locals, no query or
    body, since any of them can hold an applicant's name or motivation.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message).append("X-Request-ID", request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:
            _log_unexpected(error, request_id, scope)
            if started:  # the status line is out: end here; uvicorn closes the connection
                return
            body = _body(f"Interner Fehler; er wurde unter der Nummer {request_id} protokolliert.")
            response = JSONResponse(body, 500, headers={"X-Request-ID": request_id})
            await response(scope, receive, send)


def _log_unexpected(error: BaseException, request_id: str, scope: Scope) -> None:
    route = getattr(scope.get("route"), "path", "?")  # the template, not the ids in the URL
    chain: list[str] = []
    current: BaseException | None = error
    while current is not None and len(chain) < 10:  # a bounded walk: chains can loop
        frames = "".join(traceback.format_list(traceback.extract_tb(current.__traceback__)))
        chain.append(f"{type(current).__module__}.{type(current).__qualname__}\n{frames}")
        current = current.__cause__ or current.__context__
    logger.error(
        "request %s: unhandled %s on %s %s (message withheld)\n%s",
        request_id,
        type(error).__qualname__,
        scope.get("method"),
        route,
        "caused by ".join(reversed(chain)),
    )


async def _model_unavailable(_: Request, error: Exception) -> JSONResponse:
    return JSONResponse(_body(f"Das Sprachmodell ist nicht verfügbar: {error}"), 503)


async def _value_refused(_: Request, error: Exception) -> JSONResponse:
    detail = "Ein Wert ist für die Datenbank ungültig (z. B. ein NUL-Zeichen \\0 in einem Text)."
    return JSONResponse(_body(detail), 422)


async def _strength_uncalibrated(_: Request, error: Exception) -> JSONResponse:
    return JSONResponse(_body(str(error)), 503)


def install_error_handlers(app: FastAPI, *, busy_timeout: float) -> None:
    """Register one handler per error class, and the request-id middleware for the rest."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(InvalidRecordsError, _invalid_records)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(ModelLoadError, _model_unavailable)
    app.add_exception_handler(StrengthNotCalibratedError, _strength_uncalibrated)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    database_down = _database_unavailable(max(1, math.ceil(busy_timeout)))
    for error_class in (DatabaseUnavailable, OperationalError, PoolTimeout):
        app.add_exception_handler(error_class, database_down)
    app.add_middleware(RequestIds)
    app.add_exception_handler(DataError, _value_refused)


#: The error responses every API route may give, documented with their real JSON shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorDetail, "description": description}
    for status, description in (
        (401, "kein oder unbekanntes Token"),
        (403, "falsche Rolle"),
        (404, "nicht vorhanden oder nicht Ihres"),
        (409, "Zustand erlaubt es nicht (Platz vergeben, Runde abgeschlossen, Lauf aktiv)"),
        (413, "Anfrage zu groß"),
        (422, "ungültige Eingabe, je Datensatz und Feld (höchstens 100, dazu `total`)"),
        (500, "interner Fehler; die Nummer steht in `X-Request-ID` und im Protokoll"),
        (503, "Datenbank belegt, schreibgeschützt oder fehlt; `Retry-After` in Sekunden"),
    )
}
