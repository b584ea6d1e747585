"""Browser tests: the real server (uvicorn in a thread) on a SQLite file, driven by Chromium.

The sample round (``fixtures/``) plus one applicant whose name and motivation contain markup is
imported once per session into a seed database, and every text is embedded into its cache
there (that takes the seconds). Each test copies the seed into its own ``tmp_path`` and starts
its own server on a free port, so tests never see each other's decisions. Chromium is Debian's
``/usr/bin/chromium``; no browser is ever downloaded.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright
from sentence_transformers import SentenceTransformer
from sqlalchemy import text
from sqlmodel import Session

import matcher
from api import services
from api.app import create_app
from api.settings import Settings
from models.db import init_db, make_engine
from models.tables import Role
from tests.support import ensemble_scorer, unavailable

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
#: ``make screenshots`` sets this to docs/screenshots; otherwise they go to a temporary folder,
#: so a test run never rewrites tracked files.
SCREENSHOT_DIR_VARIABLE = "MATCHER_SCREENSHOT_DIR"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ROUND_NAME = "Beispielrunde 2027 (Demo)"
#: Longest a test waits for the server to start or a run to finish.
TIMEOUT_SECONDS = 30.0
#: axe-core comes from the npm registry into a cache outside the repository, once per machine.
AXE_VERSION = "4.14.1"
AXE_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hospitation-web"

#: An applicant whose texts would run script if a page inserted them as markup.
XSS_ID = "A-900"
XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_NAME = 'Erika <img src=x onerror="window.__xss=2"> Muster'
XSS_MOTIVATION = (
    "Ich betreue Pilotprojekte mit Mikrodepots und Lastenrädern in der City-Logistik. "
    f"{XSS_SCRIPT} "
    "Ich möchte lernen, wie Kopenhagen Flächen für Mikrodepots vergibt und Lieferdaten auswertet."
)

Record = dict[str, Any]


def sample_round() -> tuple[list[Record], list[Record]]:
    """The sample offers and applicants plus the markup applicant (a copy of A-001)."""
    offers: list[Record] = json.loads((FIXTURES / "offers.json").read_text("utf-8"))
    applicants: list[Record] = json.loads((FIXTURES / "applicants.json").read_text("utf-8"))
    xss = copy.deepcopy(next(a for a in applicants if a["id"] == "A-001"))
    xss.update(id=XSS_ID, name=XSS_NAME, email=None, motivation=XSS_MOTIVATION)
    return offers, [*applicants, xss]


@pytest.fixture(scope="session")
def model() -> SentenceTransformer:
    """The real default model (offline), loaded once per session."""
    return matcher.load_model()


@pytest.fixture(scope="session")
def seed_database(tmp_path_factory: pytest.TempPathFactory, model: SentenceTransformer) -> Path:
    """A database with the sample round imported and every text's embedding cached."""
    path = tmp_path_factory.mktemp("web-seed") / "seed.db"
    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    offer_dicts, applicant_dicts = sample_round()
    offers = matcher.parse_records(matcher.Offer, offer_dicts, source="offers")
    applicants = matcher.parse_records(matcher.Applicant, applicant_dicts, source="applicants")
    with Session(engine) as session:
        services.import_round(session, name=ROUND_NAME, offers=offers, applicants=applicants)
        session.commit()
    matcher.score_pairs(ensemble_scorer(engine, model), applicants, offers)
    with engine.connect() as connection:  # fold the write-ahead log into the file to copy
        connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()
    return path


class ServerThread:
    """uvicorn serving an app on 127.0.0.1 and a free port, in a background thread."""

    def __init__(self, app: Any) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.port: int = self.socket.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", ws="none", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True
        )

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(TIMEOUT_SECONDS)
        self.socket.close()


@dataclass
class Site:
    """A running server with the sample round, and the API steps tests prepare data with."""

    url: str
    app: Any
    round_id: int
    http: httpx.Client
    coordinator_token: str = ""

    def issue(self, role: Role, **bound: Any) -> str:
        """A fresh token, issued like ``matcher users create`` does."""
        with Session(self.app.state.engine) as session:
            _, token = services.issue_account(
                session, role=role, label=f"{role.value} (Browser-Test)", **bound
            )
            session.commit()
        return token

    def api(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        """JSON of an API call that has to succeed (as the coordinator unless ``token``)."""
        headers = {"Authorization": f"Bearer {token or self.coordinator_token}"}
        response = self.http.request(method, path, headers=headers, **kwargs)
        assert response.is_success, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def run(self, mode: str = "max-placed") -> Record:
        """A batch run through the API, waited for; it has to end ``done``."""
        base = f"/api/rounds/{self.round_id}/runs"
        run: Record = self.api("POST", base, json={"mode": mode})
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while run["status"] not in {"done", "failed", "cancelled"}:
            assert time.monotonic() < deadline, f"run {run['id']} still {run['status']}"
            time.sleep(0.05)
            run = self.api("GET", f"{base}/{run['id']}")
        assert run["status"] == "done", run
        return run

    def shortlist(self, applicant_id: str) -> list[Record]:
        """The applicant's shortlist as the API gives it."""
        path = f"/api/rounds/{self.round_id}/applicants/{applicant_id}/shortlist"
        suggestions: list[Record] = self.api("GET", path)["suggestions"]
        return suggestions

    def summary(self) -> Record:
        summary: Record = self.api("GET", f"/api/rounds/{self.round_id}")
        return summary


@pytest.fixture
def site(tmp_path: Path, seed_database: Path, model: SentenceTransformer) -> Iterator[Site]:
    """The real server on a copy of the seeded database, with a coordinator token."""
    database = tmp_path / "matcher.db"
    shutil.copyfile(seed_database, database)
    app = create_app(Settings(database_url=f"sqlite:///{database}"), model=model)
    with ServerThread(app) as server:
        url = f"http://127.0.0.1:{server.port}"
        with httpx.Client(base_url=url, timeout=TIMEOUT_SECONDS) as http:
            site = Site(url=url, app=app, round_id=0, http=http)
            site.coordinator_token = site.issue(Role.COORDINATOR)
            [round_] = site.api("GET", "/api/rounds")
            site.round_id = round_["id"]
            yield site


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} fehlt: die Browser-Tests brauchen Debians Chromium")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser tab (own sessionStorage); fails the test on any script error."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        locale="de-DE",
        timezone_id="Europe/Berlin",
        accept_downloads=True,
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # Failed API calls a test provokes on purpose are logged as "Failed to load resource".
        if message.type == "error" and "Failed to load resource" not in message.text:
            problems.append(f"console: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    yield page
    context.close()
    assert not problems, problems


def login(page: Page, site: Site, token: str) -> None:
    """Log in on the start page by pasting the token, as a user would."""
    page.goto(f"{site.url}/")
    page.get_by_label("Zugangs-Token").fill(token)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(re.compile(r"/app/.+"))
    page.locator("main h1").wait_for()


@pytest.fixture(scope="session", autouse=True)
def screenshot_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``$MATCHER_SCREENSHOT_DIR`` if set, else a folder under pytest's temporary directory."""
    configured = os.environ.get(SCREENSHOT_DIR_VARIABLE)
    folder = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    os.environ[SCREENSHOT_DIR_VARIABLE] = str(folder)
    yield folder
    if configured is None:
        del os.environ[SCREENSHOT_DIR_VARIABLE]


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as <name>.png in the session's screenshot folder."""
    folder = Path(os.environ[SCREENSHOT_DIR_VARIABLE])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    # The page, not a passing notice: hide the toast that may still cover part of it.
    page.evaluate("document.getElementById('toast')?.classList.remove('toast--visible')")
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's browser script, installed with npm into a cache folder (never vendored)."""
    script = AXE_CACHE / f"axe-core-{AXE_VERSION}" / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        if npm is None:
            unavailable(
                "npm fehlt: die Barrierefreiheits-Prüfung lädt axe-core aus der npm-Registry"
            )
        subprocess.run(
            [
                npm,
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(script.parents[2]),
                f"axe-core@{AXE_VERSION}",
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return script.read_text("utf-8")


#: Only these impacts fail the check; "moderate" and "minor" findings are reported, not fatal.
AXE_RUN = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => {
      const where = v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ");
      return `${v.id} (${v.impact}): ${v.help} @ ${where}`;
    });
}"""


def axe_violations(page: Page) -> list[str]:
    """Serious and critical axe-core findings on the page as shown now.

    The script comes in as an init script (the pages' CSP forbids inline scripts, rightly)."""
    found: list[str] = page.evaluate(AXE_RUN)
    return found


def use_axe(page: Page, source: str) -> None:
    """Make axe-core available on every page this tab opens from now on."""
    page.context.add_init_script(script=source)
