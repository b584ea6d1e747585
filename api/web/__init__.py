"""The web pages: a login page at ``/``, the role views under ``/app/…``, their static files.

The pages are a small static front end (HTML, CSS, vanilla JS modules, no build step) that
calls the JSON API with the bearer token the user pasted once. Nothing here reads the
database: every number on a page comes from ``/api``. The HTML is the same for every
``/app/…`` path; ``static/js/app.js`` picks the view from the path and the caller's role.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from api.errors import NotFound

STATIC_DIR = Path(__file__).resolve().parent / "static"

#: The only file types served; anything else under ``static/`` is not part of the site.
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}

#: Scripts and styles only from this origin: even if data ever reached the DOM as markup,
#: no inline script or event handler attribute would run.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def _file(path: Path) -> FileResponse:
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=SECURITY_HEADERS)


@router.get("/")
def login_page() -> FileResponse:
    """The login page: paste a bearer token once."""
    return _file(STATIC_DIR / "login.html")


@router.get("/app")
@router.get("/app/{view:path}")
def app_page(view: str = "") -> FileResponse:
    """The application shell; the script renders the view that belongs to the path."""
    return _file(STATIC_DIR / "app.html")


@router.get("/static/{name:path}")
def static_file(name: str) -> FileResponse:
    """A file below ``static/`` with a known type; 404 for anything else (or outside)."""
    path = (STATIC_DIR / name).resolve()
    if not path.is_relative_to(STATIC_DIR) or not path.is_file() or path.suffix not in MEDIA_TYPES:
        raise NotFound(f"Datei {name} gibt es nicht.")
    return _file(path)
