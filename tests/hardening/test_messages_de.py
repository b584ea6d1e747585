"""German everywhere: every error path of the bad-input table answers without English sentences.

Reuses the table of ``test_bad_input.py`` (JSON import, CSV import, ``matcher import``) and adds
the request errors FastAPI itself reports (wrong types, unknown values, missing fields, bad path
and query parameters), which all go through ``matcher.german``. The check is a word list: an
English function word or pydantic phrase in a message fails the test. Quoted user data ('…')
is left out of the check, since it is echoed as it came.
"""

# The table's fixtures are imported by name; pytest passes them in as arguments of the same name.
# ruff: noqa: F401, F811

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field, ValidationError

from matcher import german
from tests.hardening.conftest import App
from tests.hardening.test_bad_input import (
    CLI_CASES,
    CSV_CASES,
    JSON_CASES,
    OFFER,
    Case,
    cli_database,
    cli_output,
    csv_files,
    invoke,
    json_body,
    started_module,
    target_round,
    write_file,
)

#: Words that occur in English messages (pydantic's, ours of old) and in no German sentence here.
ENGLISH = re.compile(
    r"\b(the|is|are|be|should|must|not|valid|invalid|field|required|input|expected|missing|"
    r"value|already|exists|or|and|of|at|least|greater|less|than|equal|characters?|string|"
    r"integer|number|list|larger|cannot|read|file|column|duplicate|record|allowed|type|parse|"
    r"unable|extra|permitted|should|exceed|after|before|object|array|dictionary)\b",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"'[^']*'")


def english_words(text: str) -> list[str]:
    """English words in ``text``, quoted values aside."""
    return ENGLISH.findall(_QUOTED.sub("", text))


def assert_german(body: dict[str, Any]) -> None:
    texts = [body["detail"], *(str(e.get("message", "")) for e in body.get("errors", []))]
    assert body.get("errors") or body["detail"]
    for text in texts:
        assert text, body
        assert not english_words(text), f"English in {text!r}"


def test_the_word_list_catches_pydantic_english() -> None:
    class Probe(BaseModel):
        capacity: int = Field(ge=0)

    with pytest.raises(ValidationError) as caught:
        Probe.model_validate({"capacity": -1})
    [error] = caught.value.errors()
    assert english_words(error["msg"])  # "Input should be greater than or equal to 0"
    assert not english_words(german.message(error))
    assert german.message(error) == "„Plätze“ muss mindestens 0 sein."


@pytest.mark.parametrize("case", JSON_CASES, ids=lambda c: c.id)
def test_json_import_errors_are_german(started_module: App, target_round: int, case: Case) -> None:
    response = started_module.coordinator.request(
        "POST",
        f"/api/rounds/{target_round}/import",
        content=json_body(case),
        headers={"Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500
    assert_german(response.json())


@pytest.mark.parametrize("case", CSV_CASES, ids=lambda c: c.id)
def test_csv_import_errors_are_german(started_module: App, target_round: int, case: Case) -> None:
    response = started_module.coordinator.request(
        "POST", f"/api/rounds/{target_round}/import/csv", files=csv_files(case)
    )
    assert 400 <= response.status_code < 500
    assert_german(response.json())


@pytest.mark.parametrize("case", CLI_CASES, ids=lambda c: c.id)
def test_cli_import_errors_are_german(tmp_path: Path, cli_database: str, case: Case) -> None:
    offers = write_file(tmp_path / "offers.json", case.offers)
    applicants = write_file(tmp_path / "applicants.json", case.applicants)
    result = invoke(
        ["import", "--name", "Deutsch", "--offers", str(offers), "--applicants", str(applicants)]
    )
    assert result.exit_code == 2
    for line in cli_output(result).splitlines():
        # The file names are the user's; the rest of every line is German.
        text = line.replace(offers.name, "").replace(applicants.name, "")
        assert not english_words(text), f"English in {line!r}"


def request_cases(round_id: int) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Requests FastAPI refuses before any route code runs, one per pydantic error type."""
    r = f"/api/rounds/{round_id}"
    return {
        "round-name-empty": ("POST", "/api/rounds", {"json": {"name": ""}}),
        "round-name-missing": ("POST", "/api/rounds", {"json": {}}),
        "round-name-not-text": ("POST", "/api/rounds", {"json": {"name": 5}}),
        "round-name-too-long": ("POST", "/api/rounds", {"json": {"name": "x" * 201}}),
        "body-not-json": (
            "POST",
            "/api/rounds",
            {"content": b"{name", "headers": {"Content-Type": "application/json"}},
        ),
        "body-not-an-object": ("POST", "/api/rounds", {"json": ["Runde"]}),
        "unknown-status": ("PATCH", r, {"json": {"status": "fertig"}}),
        "unknown-mode": ("POST", f"{r}/runs", {"json": {"mode": "best"}}),
        "round-id-not-a-number": ("GET", "/api/rounds/abc", {}),
        "round-id-zero": ("GET", "/api/rounds/0", {}),
        "top-k-zero": ("GET", f"{r}/applicants/{OFFER['id']}/shortlist", {"params": {"top_k": 0}}),
        "top-k-text": ("GET", f"{r}/applicants/x/shortlist", {"params": {"top_k": "viele"}}),
        "top-k-too-big": ("GET", f"{r}/applicants/x/shortlist", {"params": {"top_k": 1000}}),
        "unknown-role": ("POST", "/api/accounts", {"json": {"role": "admin", "label": "x"}}),
        "offer-ids-not-a-list": (
            "POST",
            "/api/accounts",
            {"json": {"role": "mentor", "label": "x", "offer_ids": "H-001"}},
        ),
        "import-offers-not-a-list": ("POST", f"{r}/import", {"json": {"offers": "keine Liste"}}),
        "decisions-missing": ("POST", f"{r}/decisions", {"json": {}}),
        "unknown-template": ("GET", "/api/templates/mentors.csv", {}),
        "unknown-export-format": ("GET", f"{r}/export.pdf", {}),
        "sheet-name-too-long": (
            "POST",
            f"{r}/import/csv",
            {"params": {"sheet": "x" * 40}, "files": {"offers": ("o.csv", b"id\n", "text/csv")}},
        ),
    }


@pytest.mark.parametrize("name", sorted(request_cases(1)))
def test_request_errors_are_german(started_module: App, target_round: int, name: str) -> None:
    method, url, kwargs = request_cases(target_round)[name]
    before = started_module.counts()
    response = started_module.coordinator.request(method, url, **kwargs)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert_german(response.json())
    assert started_module.counts() == before
