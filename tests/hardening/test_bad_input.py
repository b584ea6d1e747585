"""Bad input through every door: the JSON import, the CSV import and ``matcher import``.

One table of inputs runs against all three surfaces (the CSV import where the case applies).
Every rejected input has to answer 4xx (exit code 2 on the command line), name each invalid
record and field, and leave every table exactly as it was. Strings that merely look dangerous
(SQL, HTML) are valid data: they are stored verbatim and the tables survive.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sentence_transformers import SentenceTransformer
from sqlmodel import Session, select
from typer.testing import CliRunner, Result

import matcher
from api import cli
from api.app import create_app
from api.settings import Settings, get_settings
from matcher.records import MAX_TEXT_CHARS
from models import crud
from models.tables import Applicant, Offer, PlacementCreate, PlacementStatus, Role
from tests.hardening.conftest import (
    FIXTURES,
    App,
    Record,
    import_round,
    prepare_database,
    table_counts,
)
from tests.support import to_csv

BASE_OFFERS: list[Record] = json.loads((FIXTURES / "offers.json").read_text("utf-8"))
BASE_APPLICANTS: list[Record] = json.loads((FIXTURES / "applicants.json").read_text("utf-8"))
OFFER, APPLICANT = BASE_OFFERS[0], BASE_APPLICANTS[0]
OFFER_ID, APPLICANT_ID = OFFER["id"], APPLICANT["id"]
#: Far above the documented limit for free text (MAX_TEXT_CHARS = 10 000 characters).
HUGE_TEXT = ("Ich möchte lernen, wie Wien Straßen reinigt. " * 5000)[:200_000]
SQL = "'; DROP TABLE offer; --"
SQL_APPLICANT = "Robert'); DROP TABLE applicant; --"
HTML = "<script>alert('Hospitation')</script>"
INVALID_UTF8 = b'[{"id": "A-\xff\xfe", "motivation": "Gr\xfc\xdfe"}]'
NOT_JSON = b"Das ist kein JSON, sondern ein Brief: Sehr geehrte Damen und Herren ..."


def offer(**changes: Any) -> Record:
    return {**copy.deepcopy(OFFER), **changes}


def applicant(**changes: Any) -> Record:
    return {**copy.deepcopy(APPLICANT), **changes}


def without(record: Record, key: str) -> Record:
    return {k: v for k, v in record.items() if k != key}


@dataclass(frozen=True)
class Problem:
    """An invalid field an error report has to name; ``record_id`` None for a file problem."""

    record_id: str | None
    field: str


@dataclass(frozen=True)
class Case:
    """One bad input: records (or the raw bytes of a file) for offers and applicants."""

    id: str
    offers: list[Record] | bytes
    applicants: list[Record] | bytes
    problems: tuple[Problem, ...] = ()
    csv: bool = True
    #: the file whose problem it is, for file-level cases ("offers" or "applicants")
    bad_file: str | None = None


def record_case(
    case_id: str,
    *,
    offers: list[Record] | None = None,
    applicants: list[Record] | None = None,
    problems: list[tuple[str | None, str]],
    csv: bool = True,
) -> Case:
    return Case(
        case_id,
        offers if offers is not None else [offer()],
        applicants if applicants is not None else [applicant()],
        tuple(Problem(record_id, name) for record_id, name in problems),
        csv=csv,
    )


CASES: list[Case] = [
    record_case(
        "offer-reversed-dates",
        offers=[offer(available_from="2027-10-29", available_until="2027-03-01")],
        problems=[(OFFER_ID, "available_until")],
    ),
    record_case(
        "applicant-reversed-dates",
        applicants=[applicant(available_from="2027-08-31", available_until="2027-04-01")],
        problems=[(APPLICANT_ID, "available_until")],
    ),
    record_case(
        "applicant-unknown-cefr-level",
        applicants=[applicant(languages={"de": "D1", "en": "C1"})],
        problems=[(APPLICANT_ID, "languages.de")],
    ),
    record_case(
        "offer-unknown-cefr-level",
        offers=[offer(min_language_level="C3")],
        problems=[(OFFER_ID, "min_language_level")],
    ),
    record_case(
        "offer-unknown-language-code",
        offers=[offer(working_languages=["de", "xx"])],
        problems=[(OFFER_ID, "working_languages")],
    ),
    record_case(
        "applicant-unknown-language-code",
        applicants=[applicant(languages={"xx": "B1"})],
        problems=[(APPLICANT_ID, "languages")],
    ),
    record_case(
        "negative-capacity", offers=[offer(capacity=-1)], problems=[(OFFER_ID, "capacity")]
    ),
    record_case("offer-weeks-0", offers=[offer(min_weeks=0)], problems=[(OFFER_ID, "min_weeks")]),
    record_case("offer-weeks-53", offers=[offer(max_weeks=53)], problems=[(OFFER_ID, "max_weeks")]),
    record_case(
        "applicant-weeks-0",
        applicants=[applicant(weeks_wanted=0)],
        problems=[(APPLICANT_ID, "weeks_wanted")],
    ),
    record_case(
        "applicant-weeks-53",
        applicants=[applicant(weeks_wanted=53)],
        problems=[(APPLICANT_ID, "weeks_wanted")],
    ),
    record_case(
        "min-weeks-above-max-weeks",
        offers=[offer(min_weeks=6, max_weeks=2)],
        problems=[(OFFER_ID, "max_weeks")],
    ),
    record_case(
        "empty-motivation",
        applicants=[applicant(motivation="")],
        problems=[(APPLICANT_ID, "motivation")],
    ),
    record_case(
        "whitespace-only-motivation",
        applicants=[applicant(motivation="  \t\u00a0\n   ")],
        problems=[(APPLICANT_ID, "motivation")],
    ),
    record_case(
        "motivation-of-200-kb",
        applicants=[applicant(motivation=HUGE_TEXT)],
        problems=[(APPLICANT_ID, "motivation")],
    ),
    record_case(
        "description-above-text-limit",
        offers=[offer(description="x" * (MAX_TEXT_CHARS + 1))],
        problems=[(OFFER_ID, "description")],
    ),
    # The JSON twin of a CSV file with a missing column.
    record_case(
        "missing-required-field",
        offers=[without(offer(), "capacity")],
        applicants=[without(applicant(), "motivation")],
        problems=[(OFFER_ID, "capacity"), (APPLICANT_ID, "motivation")],
        csv=False,
    ),
    record_case(
        "csv-missing-columns",
        offers=[without(offer(), "capacity")],
        applicants=[without(without(applicant(), "motivation"), "weeks_wanted")],
        problems=[(None, "capacity"), (None, "motivation"), (None, "weeks_wanted")],
    ),
    record_case(
        "duplicate-applicant-ids",
        applicants=[applicant(), {**BASE_APPLICANTS[1], "id": APPLICANT_ID}],
        problems=[(APPLICANT_ID, "id")],
    ),
    record_case(
        "duplicate-offer-ids",
        offers=[offer(), {**BASE_OFFERS[1], "id": OFFER_ID}],
        problems=[(OFFER_ID, "id")],
    ),
    # All or nothing: the valid records of a file with one bad record are not stored either.
    record_case(
        "one-bad-record-among-valid-ones",
        offers=BASE_OFFERS[:5],
        applicants=[*BASE_APPLICANTS[:5], {**BASE_APPLICANTS[5], "weeks_wanted": 0}],
        problems=[(BASE_APPLICANTS[5]["id"], "weeks_wanted")],
    ),
    record_case(
        "problems-in-both-files-reported-together",
        offers=[offer(capacity=-3)],
        applicants=[applicant(weeks_wanted=60)],
        problems=[(OFFER_ID, "capacity"), (APPLICANT_ID, "weeks_wanted")],
    ),
    # An id is free text too: brackets must not be taken for console markup or anything else.
    record_case(
        "record-id-with-brackets",
        applicants=[applicant(id="A-[/]-[b]1[/b]", weeks_wanted=0)],
        problems=[("A-[/]-[b]1[/b]", "weeks_wanted")],
    ),
    Case("invalid-utf8", [offer()], INVALID_UTF8, bad_file="applicants"),
    Case("not-json", NOT_JSON, [applicant()], csv=False, bad_file="offers"),
    Case(
        "not-an-array",
        json.dumps({"offers": [offer()]}).encode(),
        [applicant()],
        csv=False,
        bad_file="offers",
    ),
]


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def started_module(
    tmp_path_factory: pytest.TempPathFactory, model: SentenceTransformer
) -> Iterator[App]:
    """One app for the module (nothing here needs a warm embedding cache)."""
    path = tmp_path_factory.mktemp("bad-input") / "api.db"
    settings = Settings(database_url=f"sqlite:///{path}")
    with TestClient(create_app(settings, model=model)) as client:
        yield App(client)


@pytest.fixture(scope="module")
def target_round(started_module: App) -> int:
    """The round every rejected import is aimed at (it holds one record of each kind)."""
    return started_module.coordinator.new_round(BASE_OFFERS[10:11], BASE_APPLICANTS[10:11])


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``MATCHER_DATABASE_URL`` of the command line, with every table created."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    prepare_database(url).dispose()
    monkeypatch.setenv("MATCHER_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


# --- helpers ------------------------------------------------------------------------------------


def json_body(case: Case) -> bytes:
    """The JSON import body of a case; raw file bytes are spliced in as they are."""

    def part(value: list[Record] | bytes) -> bytes:
        return value if isinstance(value, bytes) else json.dumps(value).encode()

    return b'{"offers": ' + part(case.offers) + b', "applicants": ' + part(case.applicants) + b"}"


def csv_files(case: Case) -> dict[str, tuple[str, bytes, str]]:
    def part(value: list[Record] | bytes) -> bytes:
        return value if isinstance(value, bytes) else to_csv(value)

    return {
        "offers": ("offers.csv", part(case.offers), "text/csv"),
        "applicants": ("applicants.csv", part(case.applicants), "text/csv"),
    }


def assert_error_body(body: Any) -> None:
    """Every error is ``{"detail": "<German message>", "errors": [...]}`` (README)."""
    assert isinstance(body, dict), body
    assert isinstance(body.get("detail"), str) and body["detail"], body
    assert isinstance(body.get("errors"), list), f"no 'errors' list in {body}"


def assert_names_problems(errors: list[dict[str, Any]], problems: tuple[Problem, ...]) -> None:
    """Each expected problem appears as an entry with its record id and field."""
    for problem in problems:
        matching = [
            e
            for e in errors
            if str(e.get("field", "")).startswith(problem.field)
            and (problem.record_id is None or e.get("record_id") == problem.record_id)
        ]
        assert matching, f"no error names {problem}: {errors}"


def cli_counts(url: str) -> dict[str, int]:
    """Rows per table of the command line's database."""
    engine = prepare_database(url)
    try:
        return table_counts(engine)
    finally:
        engine.dispose()


def invoke(arguments: list[str]) -> Result:
    get_settings.cache_clear()
    result = CliRunner().invoke(cli.app, arguments)
    get_settings.cache_clear()
    return result


def cli_output(result: Result) -> str:
    try:
        stderr = result.stderr
    except ValueError:  # stderr not captured separately
        stderr = ""
    return result.output + stderr


def write_file(path: Path, content: list[Record] | bytes) -> Path:
    path.write_bytes(
        content if isinstance(content, bytes) else json.dumps(content, ensure_ascii=False).encode()
    )
    return path


def engine_problems(case: Case, offers_name: str, applicants_name: str) -> list[str]:
    """The problem lines the engine reports for the case's files (what the CLI must print)."""

    def raw(value: list[Record] | bytes) -> bytes:
        return value if isinstance(value, bytes) else json.dumps(value).encode()

    try:
        matcher.parse_round(
            lambda: matcher.load_offers(raw(case.offers), source=offers_name),
            lambda: matcher.load_applicants(raw(case.applicants), source=applicants_name),
        )
    except matcher.InvalidRecordsError as error:
        return [str(problem) for problem in error.problems]
    raise AssertionError(f"case {case.id} is valid for the engine")


# --- the table, three surfaces ------------------------------------------------------------------

JSON_CASES = [c for c in CASES if c.id != "csv-missing-columns"]
CSV_CASES = [c for c in CASES if c.csv]
CLI_CASES = [c for c in CASES if c.id != "csv-missing-columns"]


@pytest.mark.parametrize("case", JSON_CASES, ids=lambda c: c.id)
def test_json_import_rejects(started_module: App, target_round: int, case: Case) -> None:
    before = started_module.counts()
    response = started_module.coordinator.request(
        "POST",
        f"/api/rounds/{target_round}/import",
        content=json_body(case),
        headers={"Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    assert_error_body(response.json())
    if case.problems:
        assert response.status_code == 422
        assert_names_problems(response.json()["errors"], case.problems)
    assert started_module.counts() == before, "a rejected import changed the database"


@pytest.mark.parametrize("case", CSV_CASES, ids=lambda c: c.id)
def test_csv_import_rejects(started_module: App, target_round: int, case: Case) -> None:
    before = started_module.counts()
    response = started_module.coordinator.request(
        "POST", f"/api/rounds/{target_round}/import/csv", files=csv_files(case)
    )
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    body = response.json()
    assert_error_body(body)
    assert response.status_code == 422, body
    if case.problems:
        assert_names_problems(body["errors"], case.problems)
    if case.bad_file:
        sources = {e.get("source") for e in body["errors"]}
        assert f"{case.bad_file}.csv" in sources, body
    assert started_module.counts() == before, "a rejected import changed the database"


@pytest.mark.parametrize("case", CLI_CASES, ids=lambda c: c.id)
def test_cli_import_rejects(tmp_path: Path, cli_database: str, case: Case) -> None:
    offers_file = write_file(tmp_path / "offers-in.json", case.offers)
    applicants_file = write_file(tmp_path / "applicants-in.json", case.applicants)
    before = cli_counts(cli_database)
    result = invoke(
        [
            "import",
            "--name",
            "Härtetest",
            "--applicants",
            str(applicants_file),
            "--offers",
            str(offers_file),
        ]
    )
    output = cli_output(result)
    assert result.exit_code == 2, (result.exit_code, output, result.exception)
    for line in engine_problems(case, offers_file.name, applicants_file.name):
        # The same record and field the engine (and the API) names, printed verbatim.
        assert line[:300] in output, f"{line[:300]!r} missing from:\n{output[:2000]}"
    for problem in case.problems:
        if problem.record_id is not None:
            assert f"Datensatz {problem.record_id!r}" in output, output[:2000]
        assert f"Feld '{problem.field}" in output, output[:2000]
    if case.bad_file:
        bad = offers_file if case.bad_file == "offers" else applicants_file
        assert bad.name in output, output
    assert cli_counts(cli_database) == before


def test_every_table_case_runs_on_every_applicable_surface() -> None:
    """The table is the contract: no case silently drops out of a surface."""
    assert len(JSON_CASES) == len(CASES) - 1
    assert {c.id for c in CASES} - {c.id for c in CSV_CASES} == {
        "missing-required-field",
        "not-json",
        "not-an-array",
    }


# --- references to things that do not exist ----------------------------------------------------


@dataclass(frozen=True)
class Reference:
    id: str
    method: str
    url: str
    json: Any = None
    #: what the message has to mention ("" = the unknown id in the request; None = nothing)
    names: str | None = ""
    files: bool = False


def references(round_id: int, other_round: int) -> list[Reference]:
    r = f"/api/rounds/{round_id}"
    other_applicant = BASE_APPLICANTS[20]["id"]  # lives in ``other_round`` only
    return [
        Reference(
            "import-into-round-999",
            "POST",
            "/api/rounds/999/import",
            {"offers": [offer()], "applicants": [applicant()]},
            "999",
        ),
        Reference(
            "csv-import-into-round-999",
            "POST",
            "/api/rounds/999/import/csv",
            names="999",
            files=True,
        ),
        Reference("show-round-999", "GET", "/api/rounds/999", names="999"),
        Reference("runs-of-round-999", "POST", "/api/rounds/999/runs", {"mode": "max-fit"}, "999"),
        Reference("run-999999", "GET", f"{r}/runs/999999", names="999999"),
        Reference("cancel-run-999999", "POST", f"{r}/runs/999999/cancel", names="999999"),
        Reference("shortlist-of-unknown-applicant", "GET", f"{r}/applicants/A-999/shortlist"),
        Reference(
            "shortlist-of-applicant-of-another-round",
            "GET",
            f"{r}/applicants/{other_applicant}/shortlist",
            names=other_applicant,
        ),
        Reference("candidates-of-unknown-offer", "GET", f"{r}/offers/H-999/candidates"),
        Reference("show-unknown-applicant", "GET", f"{r}/applicants/A-999"),
        Reference(
            "replace-unknown-applicant", "PUT", f"{r}/applicants/A-999", applicant(id="A-999")
        ),
        Reference("delete-unknown-applicant", "DELETE", f"{r}/applicants/A-999"),
        Reference(
            "personal-data-of-unknown-applicant", "GET", f"{r}/applicants/A-999/personal-data"
        ),
        Reference("delete-unknown-offer", "DELETE", f"{r}/offers/H-999"),
        Reference("replace-unknown-offer", "PUT", f"{r}/offers/H-999", offer(id="H-999")),
        Reference(
            "confirm-placement-999999", "POST", f"{r}/placements/999999/confirm", {}, "999999"
        ),
        Reference("reject-placement-999999", "POST", f"{r}/placements/999999/reject", {}, "999999"),
        Reference(
            "manual-placement-of-unknown-applicant",
            "POST",
            f"{r}/placements",
            {"applicant_id": "A-999", "offer_id": OFFER_ID},
        ),
        Reference(
            "manual-placement-on-unknown-offer",
            "POST",
            f"{r}/placements",
            {"applicant_id": APPLICANT_ID, "offer_id": "H-999"},
            "H-999",
        ),
        Reference(
            "account-for-unknown-applicant",
            "POST",
            "/api/accounts",
            {"role": "applicant", "label": "x", "round_id": round_id, "applicant_id": "A-999"},
        ),
        Reference(
            "account-for-unknown-offer",
            "POST",
            "/api/accounts",
            {
                "role": "mentor",
                "label": "x",
                "round_id": round_id,
                "offer_ids": [OFFER_ID, "H-999"],
            },
            "H-999",
        ),
        Reference(
            "account-in-round-999",
            "POST",
            "/api/accounts",
            {"role": "applicant", "label": "x", "round_id": 999, "applicant_id": APPLICANT_ID},
            "999",
        ),
        # Mentors get one message for "missing" and "not yours" alike (no existence oracle).
        Reference(
            "mentor-decision-on-placement-999999",
            "POST",
            "/api/mentor/guests/999999/accept",
            names=None,
        ),
    ]


REFERENCE_IDS = [ref.id for ref in references(1, 2)]


@pytest.fixture(scope="module")
def reference_rounds(started_module: App) -> tuple[int, int]:
    """A round with the base records, and another round holding a different applicant."""
    coordinator = started_module.coordinator
    round_id = coordinator.new_round([offer()], [applicant()], name="Referenzen")
    other = coordinator.new_round(BASE_OFFERS[20:21], BASE_APPLICANTS[20:21], name="Andere")
    return round_id, other


@pytest.mark.parametrize("reference_id", REFERENCE_IDS)
def test_unknown_references_are_refused(
    started_module: App, reference_rounds: tuple[int, int], reference_id: str
) -> None:
    ref = next(r for r in references(*reference_rounds) if r.id == reference_id)
    before = started_module.counts()
    kwargs: dict[str, Any] = {}
    if ref.files:
        kwargs["files"] = {"offers": ("offers.csv", to_csv([offer()]), "text/csv")}
    elif ref.json is not None:
        kwargs["json"] = ref.json
    token = None
    if ref.url.startswith("/api/mentor/"):
        token = started_module.coordinator.issue(
            Role.MENTOR, reference_rounds[0], offer_ids=[OFFER_ID]
        )
        before = started_module.counts()
    response = started_module.coordinator.request(ref.method, ref.url, token=token, **kwargs)
    assert response.status_code == 404, (response.status_code, response.text)
    assert_error_body(response.json())
    if ref.names is not None:
        mentioned = ref.names or re.findall(r"[AH]-999|999999", ref.url + json.dumps(ref.json))[0]
        assert mentioned in response.json()["detail"], response.json()
    assert started_module.counts() == before, "a refused request changed the database"


def test_bulk_decision_with_unknown_placement_stores_nothing(
    started_module: App, reference_rounds: tuple[int, int]
) -> None:
    """All or nothing: a valid confirmation before an unknown id is not stored either."""
    round_id = reference_rounds[0]
    with Session(started_module.engine) as session:
        a = crud.get_applicant(session=session, round_id=round_id, external_id=APPLICANT_ID)
        o = crud.get_offer(session=session, round_id=round_id, external_id=OFFER_ID)
        assert a is not None and o is not None and a.id is not None and o.id is not None
        row = crud.add_placements(
            session=session,
            round_id=round_id,
            placements=[
                PlacementCreate(
                    applicant_id=a.id, offer_id=o.id, status=PlacementStatus.PROPOSED, score=0.5
                )
            ],
        )[0]
        session.commit()
        placement_id = row.id
    before = started_module.counts()
    response = started_module.coordinator.request(
        "POST",
        f"/api/rounds/{round_id}/decisions",
        json={
            "decisions": [
                {"placement_id": placement_id, "decision": "confirm"},
                {"placement_id": 999999, "decision": "confirm"},
            ]
        },
    )
    assert response.status_code == 404, response.text
    assert "999999" in response.json()["detail"]
    assert started_module.counts() == before
    statuses = {p["id"]: p["status"] for p in started_module.coordinator.placements(round_id)}
    assert statuses[placement_id] == "proposed"


#: Beyond SQLite's 64-bit integers: an id no row can have.
HUGE = 2**70


def huge_references(round_id: int) -> dict[str, tuple[str, str, Any]]:
    r = f"/api/rounds/{round_id}"
    return {
        "show-round": ("GET", f"/api/rounds/{HUGE}", None),
        "import-into-round": (
            "POST",
            f"/api/rounds/{HUGE}/import",
            {"offers": [], "applicants": []},
        ),
        "confirm-placement": ("POST", f"{r}/placements/{HUGE}/confirm", {}),
        "show-run": ("GET", f"{r}/runs/{HUGE}", None),
        "bulk-decision": (
            "POST",
            f"{r}/decisions",
            {"decisions": [{"placement_id": HUGE, "decision": "reject"}]},
        ),
        "account-in-round": (
            "POST",
            "/api/accounts",
            {"role": "applicant", "label": "x", "round_id": HUGE, "applicant_id": APPLICANT_ID},
        ),
        "mentor-accept": ("POST", f"/api/mentor/guests/{HUGE}/accept", None),
    }


@pytest.mark.parametrize("name", sorted(huge_references(1)))
def test_ids_beyond_64_bits_are_refused_not_crashed(
    started_module: App, reference_rounds: tuple[int, int], name: str
) -> None:
    method, url, body = huge_references(reference_rounds[0])[name]
    token = None
    if url.startswith("/api/mentor/"):
        token = started_module.coordinator.issue(
            Role.MENTOR, reference_rounds[0], offer_ids=[OFFER_ID]
        )
    before = started_module.counts()
    try:
        response = started_module.coordinator.request(method, url, token=token, json=body)
    except Exception as error:  # the in-process client re-raises what became a 500
        pytest.fail(f"{method} {url} crashed the handler: {type(error).__name__}: {error}")
    assert response.status_code in {404, 422}, (response.status_code, response.text)
    assert_error_body(response.json())
    assert started_module.counts() == before


@pytest.mark.parametrize(
    ("case_id", "arguments"),
    [
        ("applicant-in-round-999", ["--role", "applicant", "--round", "999", "--applicant", "A"]),
        (
            "unknown-applicant",
            ["--role", "applicant", "--round", "{round}", "--applicant", "A-999"],
        ),
        ("unknown-offer", ["--role", "mentor", "--round", "{round}", "--offer", "H-999"]),
        ("applicant-without-round", ["--role", "applicant", "--applicant", APPLICANT_ID]),
    ],
)
def test_cli_users_create_refuses_unknown_references(
    cli_database: str, case_id: str, arguments: list[str]
) -> None:
    engine = prepare_database(cli_database)
    round_id = import_round(engine, "CLI", [offer()], [applicant()])
    before = table_counts(engine)
    result = invoke(["users", "create", *[a.replace("{round}", str(round_id)) for a in arguments]])
    assert result.exit_code == 2, (case_id, cli_output(result), result.exception)
    assert "Fehler" in cli_output(result)
    assert table_counts(engine) == before


# --- strings that look dangerous are data -------------------------------------------------------


def hostile_records() -> tuple[Record, Record]:
    """Valid records whose text fields carry SQL and HTML; ids stay URL-safe but odd."""
    hostile_offer = offer(
        id="H-1' OR '1'='1",
        title=SQL,
        organisation=HTML,
        city="Wien<br>",
        description=f"{HTML} Gäste lernen die Arbeit der MA 48 kennen. {SQL}",
        mentor_name='Doris "Bobby" Tables',
    )
    hostile_applicant = applicant(
        id="A-1; DROP TABLE applicant",
        name=SQL_APPLICANT,
        email="<img src=x onerror=alert(1)>@example.org",
        position=HTML,
        home_organisation=f"Bezirksamt Mitte <b onmouseover='x'>{SQL}</b>",
        motivation=f"Ich arbeite im Ordnungsamt. {HTML} Ich möchte lernen. {SQL}",
    )
    return hostile_offer, hostile_applicant


def assert_tables_intact(app_: App, before: dict[str, int]) -> None:
    after = app_.counts()
    assert after["offer"] == before["offer"] + 1
    assert after["applicant"] == before["applicant"] + 1
    assert {k: v for k, v in after.items() if k not in {"offer", "applicant"}} == {
        k: v for k, v in before.items() if k not in {"offer", "applicant"}
    }


def assert_returned_verbatim(
    app_: App, round_id: int, expected_offer: Record, expected: Record
) -> None:
    coordinator = app_.coordinator
    base = f"/api/rounds/{round_id}"
    got_offer = coordinator.ok("GET", f"{base}/offers/{quote(expected_offer['id'], safe='')}")
    got_applicant = coordinator.ok("GET", f"{base}/applicants/{quote(expected['id'], safe='')}")
    for key in ("title", "organisation", "city", "description", "mentor_name"):
        assert got_offer[key] == expected_offer[key], key
    for key in ("name", "email", "position", "home_organisation", "motivation"):
        assert got_applicant[key] == expected[key], key
    listed = coordinator.ok("GET", f"{base}/applicants")
    assert [a["name"] for a in listed] == [expected["name"]]
    export = coordinator.request("GET", f"{base}/export.csv")
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert expected["name"] in export.text
    assert expected["home_organisation"] in export.text


def test_sql_and_html_in_json_import_are_stored_verbatim(started: App) -> None:
    hostile_offer, hostile_applicant = hostile_records()
    before = started.counts()
    round_id = started.coordinator.new_round(name=SQL)
    before = started.counts()
    started.coordinator.ok(
        "POST",
        f"/api/rounds/{round_id}/import",
        201,
        json={"offers": [hostile_offer], "applicants": [hostile_applicant]},
    )
    assert_tables_intact(started, before)
    assert_returned_verbatim(started, round_id, hostile_offer, hostile_applicant)
    assert started.coordinator.ok("GET", f"/api/rounds/{round_id}")["name"] == SQL
    shortlist = started.coordinator.ok(
        "GET",
        f"/api/rounds/{round_id}/applicants/{quote(hostile_applicant['id'], safe='')}/shortlist",
        params={"topic_only": True},
    )
    assert shortlist["suggestions"][0]["title"] == SQL
    assert shortlist["suggestions"][0]["offer_id"] == hostile_offer["id"]


def test_sql_and_html_in_csv_import_are_stored_verbatim(started: App) -> None:
    hostile_offer, hostile_applicant = hostile_records()
    round_id = started.coordinator.new_round(name=HTML)
    before = started.counts()
    started.coordinator.ok(
        "POST",
        f"/api/rounds/{round_id}/import/csv",
        201,
        files={
            "offers": ("offers.csv", to_csv([hostile_offer]), "text/csv"),
            "applicants": ("applicants.csv", to_csv([hostile_applicant]), "text/csv"),
        },
    )
    assert_tables_intact(started, before)
    assert_returned_verbatim(started, round_id, hostile_offer, hostile_applicant)


def test_sql_and_html_in_cli_import_are_stored_verbatim(tmp_path: Path, cli_database: str) -> None:
    hostile_offer, hostile_applicant = hostile_records()
    engine = prepare_database(cli_database)
    before = table_counts(engine)
    result = invoke(
        [
            "import",
            "--name",
            HTML,
            "--offers",
            str(write_file(tmp_path / "o.json", [hostile_offer])),
            "--applicants",
            str(write_file(tmp_path / "a.json", [hostile_applicant])),
        ]
    )
    assert result.exit_code == 0, (cli_output(result), result.exception)
    after = table_counts(engine)
    assert after["offer"] == before["offer"] + 1 and after["applicant"] == before["applicant"] + 1
    assert after["round"] == before["round"] + 1
    with Session(engine) as session:
        stored_offer = session.exec(select(Offer)).one()
        stored_applicant = session.exec(select(Applicant)).one()
    assert stored_offer.external_id == hostile_offer["id"]
    assert (stored_offer.title, stored_offer.organisation, stored_offer.description) == (
        hostile_offer["title"],
        hostile_offer["organisation"],
        hostile_offer["description"],
    )
    assert stored_applicant.external_id == hostile_applicant["id"]
    assert (stored_applicant.name, stored_applicant.email, stored_applicant.motivation) == (
        hostile_applicant["name"],
        hostile_applicant["email"],
        hostile_applicant["motivation"],
    )


# --- oversized bodies ---------------------------------------------------------------------------

TEN_MB = 10 * 1024 * 1024


def huge_json() -> bytes:
    filler = "x" * TEN_MB
    return json.dumps({"offers": [], "applicants": [applicant(motivation=filler)]}).encode()


def chunks(data: bytes, size: int = 256 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


UPLOADS: dict[str, Callable[[int], dict[str, Any]]] = {
    "json-10mb": lambda r: {
        "url": f"/api/rounds/{r}/import",
        "content": huge_json(),
        "headers": {"Content-Type": "application/json"},
    },
    "json-10mb-chunked-without-length": lambda r: {
        "url": f"/api/rounds/{r}/import",
        "content": chunks(huge_json()),
        "headers": {"Content-Type": "application/json"},
    },
    "csv-10mb": lambda r: {
        "url": f"/api/rounds/{r}/import/csv",
        "files": {
            "applicants": (
                "applicants.csv",
                to_csv([applicant(motivation="x" * TEN_MB)]),
                "text/csv",
            )
        },
    },
}


@pytest.mark.parametrize("upload", sorted(UPLOADS))
def test_ten_megabyte_upload_is_refused_with_413(
    started_module: App, target_round: int, upload: str
) -> None:
    before = started_module.counts()
    request = UPLOADS[upload](target_round)
    url = request.pop("url")
    response = started_module.coordinator.request("POST", url, **request)
    assert response.status_code == 413, (response.status_code, response.text[:300])
    assert_error_body(response.json())
    assert started_module.counts() == before


def test_csv_file_above_five_megabytes_is_refused(started_module: App, target_round: int) -> None:
    """README: ≤ 5 MB per CSV file (below the 8 MB body cap, so the route itself refuses)."""
    before = started_module.counts()
    big = to_csv([applicant(motivation="x" * (6 * 1024 * 1024))])
    response = started_module.coordinator.request(
        "POST",
        f"/api/rounds/{target_round}/import/csv",
        files={"applicants": ("applicants.csv", big, "text/csv")},
    )
    assert response.status_code in {413, 422}, response.text[:300]
    assert_error_body(response.json())
    assert started_module.counts() == before
