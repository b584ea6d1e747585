"""Hostile input through every door: one table of requests, each refused cleanly.

The cases go through JSON bodies (the import, single records, names, switches, tokens), CSV
uploads, path and query parameters and request headers. Every one has to answer 4xx (never a
5xx), with the JSON error shape and a German ``detail``; where the case names a field, an error
entry has to name it, and where this project writes the message itself (control characters,
blank names, ids, repeated offers, surplus CSV cells) the German text is checked too. No case
may change a single row of any table.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sentence_transformers import SentenceTransformer

from api.app import create_app
from api.settings import Settings
from matcher import records as matcher_records
from models.text import UNSAFE_CHARACTERS
from tests.hardening.conftest import FIXTURES, App, Record
from tests.support import to_csv

OFFERS: list[Record] = json.loads((FIXTURES / "offers.json").read_text("utf-8"))
APPLICANTS: list[Record] = json.loads((FIXTURES / "applicants.json").read_text("utf-8"))
OFFER, APPLICANT = OFFERS[10], APPLICANTS[10]
#: Stands for the id of the module's round in paths; replaced when the case runs.
ROUND = "{round}"

#: Characters no text field may hold, and the code point the message has to name.
HAZARDS: dict[str, str] = {
    "lone-high-surrogate": "\ud800",
    "lone-low-surrogate": "\udfff",
    "nul": "\x00",
    "bell": "\x07",
    "escape-sequence": "\x1b[31m",
    "delete": "\x7f",
    "c1-next-line": "\x85",
    "form-feed": "\x0c",
    "vertical-tab": "\x0b",
}
BAD_CHARACTER = "Unzulässiges Zeichen U+"
#: A German detail: one of the words every German error message of the API uses.
GERMAN = re.compile(
    r"\b(Ungültige|ungültige|Anfrage|nichts|nicht|Anmeldung|Token|gibt|Methode|Datei|groß)\b"
)
ENGLISH = re.compile(r"\b(the|should|invalid|required|field|error)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Case:
    """One hostile request and what the answer has to contain."""

    id: str
    method: str
    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: a field name (or its last part) an error entry has to name
    field: str | None = None
    #: a German fragment an error message has to contain (where this project writes it)
    message: str | None = None
    #: the statuses allowed; 422 unless the door answers otherwise (401, 400, 413, 404)
    statuses: frozenset[int] = frozenset({422})
    #: token to send: "coordinator" (default) or a literal Authorization header value
    auth: str | None = "coordinator"


def json_request(body: Any) -> dict[str, Any]:
    """Request kwargs for a JSON body; lone surrogates travel as ``\\ud800`` escapes."""
    return {
        "content": json.dumps(body).encode(),
        "headers": {"Content-Type": "application/json"},
    }


def hazard_text(hazard: str) -> str:
    return f"Ich möchte lernen{hazard} wie Wien Straßen reinigt."


def with_field(record: Record, name: str, value: str) -> Record:
    changed = copy.deepcopy(record)
    changed[name] = [value] if isinstance(record.get(name), list) else value
    return changed


APPLICANT_FIELDS = ("name", "email", "motivation", "position", "home_organisation")
OFFER_FIELDS = ("title", "description", "city", "organisation", "mentor_name", "tags")


def text_cases() -> Iterator[Case]:
    """Every hazard in every text field, through the JSON import and the single-record doors."""
    for hazard_id, hazard in HAZARDS.items():
        code = f"U+{ord(hazard[0]):04X}"
        for name in APPLICANT_FIELDS:
            bad = with_field(APPLICANT, name, hazard_text(hazard))
            bad["id"] = "A-777"
            yield Case(
                f"json-import-applicant-{name}-{hazard_id}",
                "POST",
                f"/api/rounds/{ROUND}/import",
                json_request({"applicants": [bad]}),
                field=name,
                message=f"{BAD_CHARACTER}{code[2:]}",
            )
        for name in OFFER_FIELDS:
            bad = with_field(OFFER, name, hazard_text(hazard))
            bad["id"] = "H-777"
            yield Case(
                f"json-import-offer-{name}-{hazard_id}",
                "POST",
                f"/api/rounds/{ROUND}/import",
                json_request({"offers": [bad]}),
                field=name,
                message=BAD_CHARACTER,
            )
        yield Case(
            f"json-new-applicant-motivation-{hazard_id}",
            "POST",
            f"/api/rounds/{ROUND}/applicants",
            json_request({**with_field(APPLICANT, "motivation", hazard), "id": "A-778"}),
            field="motivation",
        )
        yield Case(
            f"json-replace-applicant-name-{hazard_id}",
            "PUT",
            f"/api/rounds/{ROUND}/applicants/{APPLICANT['id']}",
            json_request(with_field(APPLICANT, "name", hazard_text(hazard))),
            field="name",
        )
        yield Case(
            f"json-decision-reason-{hazard_id}",
            "POST",
            f"/api/rounds/{ROUND}/decisions",
            json_request(
                {"decisions": [{"placement_id": 1, "decision": "confirm", "reason": hazard}]}
            ),
            field="reason",
        )


def csv_upload(kind: str, data: bytes) -> dict[str, Any]:
    return {"files": {kind: (f"{kind}.csv", data, "text/csv")}}


def csv_cases() -> Iterator[Case]:
    """Control characters in CSV cells, undecodable surrogates, rows longer than the header."""
    for hazard_id, hazard in HAZARDS.items():
        if "surrogate" in hazard_id:
            continue  # not encodable in UTF-8: the byte cases below
        for name in ("motivation", "name"):
            record = {**with_field(APPLICANT, name, hazard_text(hazard)), "id": "A-779"}
            yield Case(
                f"csv-applicant-{name}-{hazard_id}",
                "POST",
                f"/api/rounds/{ROUND}/import/csv",
                csv_upload("applicants", to_csv([record])),
                field=name,
                message=BAD_CHARACTER,
            )
        for name in ("title", "description"):
            record = {**with_field(OFFER, name, hazard_text(hazard)), "id": "H-779"}
            yield Case(
                f"csv-offer-{name}-{hazard_id}",
                "POST",
                f"/api/rounds/{ROUND}/import/csv",
                csv_upload("offers", to_csv([record])),
                field=name,
                message=BAD_CHARACTER,
            )
    # Bytes that are no UTF-8 (e.g. an encoded surrogate, ED A0 80) are not refused: such a file
    # is read as Windows-1252, as German Excel writes it, and the answer names that encoding
    # (tests/office). Surrogates that reach a text field are refused (JSON cases above).
    for kind, record in (("offers", OFFER), ("applicants", APPLICANT)):
        rows = to_csv([{**record, "id": "X-781"}]).rstrip(b"\r\n")
        for surplus in (1, 3):
            yield Case(
                f"csv-{kind}-{surplus}-cells-beyond-the-header",
                "POST",
                f"/api/rounds/{ROUND}/import/csv",
                csv_upload(kind, rows + b",zuviel" * surplus + b"\r\n"),
                message="gefüllte Zellen, die Kopfzeile nur",
            )


BLANKS = {
    "spaces": "   ",
    "tab-newline": "\t\n",
    "empty": "",
    "nbsp": "\u00a0\u00a0",
    "ideo": "\u3000",
}


def name_cases() -> Iterator[Case]:
    for blank_id, blank in BLANKS.items():
        expected = None if blank == "" else "nicht nur aus Leerzeichen"
        yield Case(
            f"round-name-{blank_id}",
            "POST",
            "/api/rounds",
            json_request({"name": blank}),
            field="name",
            message=expected,
        )
        yield Case(
            f"token-label-{blank_id}",
            "POST",
            "/api/accounts",
            json_request({"role": "coordinator", "label": blank}),
            field="label",
            message=expected,
        )
    for hazard_id, hazard in HAZARDS.items():
        yield Case(
            f"round-name-{hazard_id}",
            "POST",
            "/api/rounds",
            json_request({"name": f"Runde{hazard}2027"}),
            field="name",
        )


def strict_value_cases() -> Iterator[Case]:
    """Bools that are not true/false, ids that are not integers, offers named twice."""
    for value in ("yes", "true", "on", 1, 0, "1", None, [], {}):
        yield Case(
            f"ranker-enabled-{value!r}",
            "PATCH",
            f"/api/rounds/{ROUND}/ranker",
            json_request({"enabled": value}),
            field="enabled",
        )
    for value in ("1", 1.0, True, "1_0", -1, 0, 2**63):
        yield Case(
            f"bulk-placement-id-{value!r}",
            "POST",
            f"/api/rounds/{ROUND}/decisions",
            json_request({"decisions": [{"placement_id": value, "decision": "confirm"}]}),
            field="placement_id",
        )
    for value in ("1", True, 1.5):
        yield Case(
            f"account-round-id-{value!r}",
            "POST",
            "/api/accounts",
            json_request({"role": "mentor", "label": "M", "round_id": value}),
            field="round_id",
        )
    twice = [OFFER["id"], OFFER["id"]]
    for label, offer_ids in (("twice", twice), ("thrice", [*twice, OFFER["id"]])):
        yield Case(
            f"mentor-token-offer-{label}",
            "POST",
            "/api/accounts",
            json_request({"role": "mentor", "label": "M", "round_id": 0, "offer_ids": offer_ids}),
            field="offer_ids",
            message="Mehrfach angegeben",
        )


BAD_IDS = {
    "underscore": "1_0",
    "plus": "%2B1",
    "leading-space": "%201",
    "trailing-space": "1%20",
    "exponent": "1e1",
    "hex": "0x1",
    "arabic-digit": "%D9%A1",
    "fullwidth-digit": "%EF%BC%91",
    "decimal": "1.0",
    "negative": "-1",
    "zero": "0",
    "beyond-64-bit": str(2**63),
    "twenty-digits": "9" * 20,
}


def path_and_query_cases() -> Iterator[Case]:
    for label, bad in BAD_IDS.items():
        yield Case(f"path-round-{label}", "GET", f"/api/rounds/{bad}", field="round_id")
        yield Case(f"path-run-{label}", "GET", f"/api/rounds/{ROUND}/runs/{bad}", field="run_id")
        yield Case(
            f"path-placement-{label}",
            "POST",
            f"/api/rounds/{ROUND}/placements/{bad}/confirm",
            field="placement_id",
        )
    for label, bad in (
        ("nul", "A-0%0011"),
        ("surrogate-bytes", "A-%ED%A0%80"),
        ("invalid-utf8", "A-%FF%FE"),
        ("escape", "A-%1B%5B31m"),
        ("ten-thousand-chars", "A" * 10_000),
        ("dot-dot", "..%2F..%2Fetc%2Fpasswd"),
    ):
        for method, suffix in (("GET", ""), ("DELETE", ""), ("GET", "/shortlist")):
            yield Case(
                f"path-applicant-id-{label}-{method}{suffix.replace('/', '-')}",
                method,
                f"/api/rounds/{ROUND}/applicants/{bad}{suffix}",
                statuses=frozenset({404, 422}),
            )
    shortlist = f"/api/rounds/{ROUND}/applicants/{APPLICANT['id']}/shortlist"
    for value in ("1_0", "+5", "abc", "0", "101", "1.5", " 5", "٥"):
        yield Case(
            f"query-top-k-{value!r}", "GET", shortlist, {"params": {"top_k": value}}, "top_k"
        )
    for value in ("yes", "on", "1", "True", "wahr"):
        yield Case(
            f"query-topic-only-{value!r}",
            "GET",
            shortlist,
            {"params": {"topic_only": value}},
            field="topic_only",
            message="Nur „true“ oder „false“",
        )
    for value in ("unbekannt", "CONFIRMED", "confirmed\x00"):
        yield Case(
            f"query-status-{value!r}",
            "GET",
            f"/api/rounds/{ROUND}/placements",
            {"params": {"status": value}},
            field="status",
        )


def header_cases() -> Iterator[Case]:
    unauthorised = frozenset({401})
    for label, header in (
        ("empty-bearer", "Bearer "),
        ("basic", "Basic a29vcmRpbmF0b3I6Z2VoZWlt"),
        ("long-token", "Bearer " + "x" * 10_000),
        ("latin1-token", "Bearer t\xe4st"),
        ("no-scheme", "abcdef"),
    ):
        yield Case(
            f"header-authorization-{label}",
            "GET",
            "/api/rounds",
            auth=header,
            statuses=unauthorised,
        )
    body = json.dumps({"name": "Runde"}).encode()
    for label, content_type in (
        ("text-plain", "text/plain"),
        ("form", "application/x-www-form-urlencoded"),
        ("json-latin1", "application/json; charset=latin-1"),
    ):
        yield Case(
            f"header-content-type-{label}",
            "POST",
            "/api/rounds",
            {
                "content": body.replace(b"Runde", "Ründe".encode("latin-1")),
                "headers": {"Content-Type": content_type},
            },
            statuses=frozenset({400, 415, 422}),
        )
    yield Case(
        "header-multipart-without-boundary",
        "POST",
        f"/api/rounds/{ROUND}/import/csv",
        {"content": b"--x\r\n", "headers": {"Content-Type": "multipart/form-data"}},
        statuses=frozenset({400, 422}),
    )
    yield Case(
        "header-content-length-too-large",
        "POST",
        f"/api/rounds/{ROUND}/import",
        {
            "content": b"{}",
            "headers": {"Content-Type": "application/json", "Content-Length": str(10**12)},
        },
        statuses=frozenset({413}),
    )


CASES: list[Case] = [
    *text_cases(),
    *csv_cases(),
    *name_cases(),
    *strict_value_cases(),
    *path_and_query_cases(),
    *header_cases(),
]


def test_the_table_is_large_and_its_ids_unique() -> None:
    assert len(CASES) >= 150, len(CASES)
    assert len({case.id for case in CASES}) == len(CASES)


def test_engine_and_request_fields_apply_one_character_rule() -> None:
    """The engine may not import ``models``, so the rule is written twice: it must not drift."""
    assert matcher_records._UNSAFE_CHARACTERS.pattern == UNSAFE_CHARACTERS.pattern


@pytest.fixture(scope="module")
def hostile_app(
    tmp_path_factory: pytest.TempPathFactory, model: SentenceTransformer
) -> Iterator[tuple[App, int]]:
    """One app and one round (one offer, one applicant) for the whole table."""
    path = tmp_path_factory.mktemp("hostile") / "api.db"
    with TestClient(create_app(Settings(database_url=f"sqlite:///{path}"), model=model)) as client:
        app = App(client)
        yield app, app.coordinator.new_round([OFFER], [APPLICANT], name="Zielrunde")


def send(app: App, round_id: int, case: Case) -> Any:
    kwargs = copy.deepcopy(case.kwargs)
    headers: dict[str, str | bytes] = kwargs.pop("headers", {})
    if case.auth == "coordinator":
        headers["Authorization"] = f"Bearer {app.coordinator.token}"
    elif case.auth is not None:
        headers["Authorization"] = case.auth.encode("latin-1")  # as raw as HTTP allows
    path = case.path.replace(ROUND, str(round_id))
    return app.client.request(case.method, path, headers=headers, **kwargs)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_hostile_input_is_refused_in_german_and_changes_nothing(
    hostile_app: tuple[App, int], case: Case
) -> None:
    app, round_id = hostile_app
    before = app.counts()
    response = send(app, round_id, case)
    assert response.status_code in case.statuses, (response.status_code, response.text[:500])
    body = response.json()
    assert isinstance(body["errors"], list) and body["total"] >= len(body["errors"]), body
    detail: str = body["detail"]
    assert GERMAN.search(detail) and not ENGLISH.search(detail), detail
    if case.field is not None:
        named = [e for e in body["errors"] if case.field in str(e.get("field", ""))]
        assert named, (case.field, body)
        if case.message is not None:
            assert any(case.message in str(e.get("message")) for e in named), body
    elif case.message is not None:
        assert any(case.message in str(e.get("message")) for e in body["errors"]), body
    assert app.counts() == before


def test_an_error_reply_lists_the_first_hundred_problems_and_their_total(
    hostile_app: tuple[App, int],
) -> None:
    app, round_id = hostile_app
    before = app.counts()
    broken = [{"id": f"A-{i:05d}"} for i in range(3_000)]  # each misses eight fields
    response = app.coordinator.request(
        "POST", f"/api/rounds/{round_id}/import", json={"applicants": broken}
    )
    assert response.status_code == 422
    body = response.json()
    assert len(body["errors"]) == 100
    assert body["total"] >= 3_000
    assert body["errors"][0]["record_id"] == "A-00000"
    assert len(response.content) < 40_000
    assert app.counts() == before
