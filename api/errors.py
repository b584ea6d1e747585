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

FastAPI's own RequestValidationError also becomes 422 with field paths, Starlette's HTTP errors
(unknown path, wrong method, unreadable body) keep their status in the same JSON shape, and any
other exception is a 500 whose log line names only its type and path: exception messages can
carry personal data. Messages are German: coordinators read them.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from matcher import InvalidRecordsError, ModelLoadError
from matcher.strength import StrengthNotCalibratedError
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


def _body(detail: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"detail": detail, "errors": errors or []}


async def _api_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, NotAuthenticated) else None
    return JSONResponse(_body(error.detail, error.errors), error.status_code, headers=headers)


async def _invalid_records(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, InvalidRecordsError)
    errors = [
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
        {"field": ".".join(str(part) for part in e["loc"]), "message": e["msg"]}
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


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    logger.error("unhandled %s on %s %s", type(error).__name__, request.method, request.url.path)
    return JSONResponse(_body("Interner Fehler; er wurde protokolliert."), 500)


async def _model_unavailable(_: Request, error: Exception) -> JSONResponse:
    return JSONResponse(_body(f"Das Sprachmodell ist nicht verfügbar: {error}"), 503)


async def _strength_uncalibrated(_: Request, error: Exception) -> JSONResponse:
    return JSONResponse(_body(str(error)), 503)


def install_error_handlers(app: FastAPI) -> None:
    """Register one handler per error class."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(InvalidRecordsError, _invalid_records)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(ModelLoadError, _model_unavailable)
    app.add_exception_handler(StrengthNotCalibratedError, _strength_uncalibrated)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


#: The error responses every API route may give, documented with their real JSON shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorDetail, "description": description}
    for status, description in (
        (401, "kein oder unbekanntes Token"),
        (403, "falsche Rolle"),
        (404, "nicht vorhanden oder nicht Ihres"),
        (409, "Zustand erlaubt es nicht (Platz vergeben, Runde abgeschlossen, Lauf aktiv)"),
        (413, "Anfrage zu groß"),
        (422, "ungültige Eingabe, je Datensatz und Feld"),
    )
}
