"""The exact problems an invalid interchange file produces: file, record number, id, field and
the German message a coordinator reads (DATA_FORMAT.md's rules, one case per rule).

``make mutate`` runs these, with test_records.py, against every mutant of
``matcher/records.py``; they pin what the error lists say, not only that there is an error.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from matcher import Applicant, InvalidRecordsError, Offer, RecordProblem
from matcher.records import load_applicants, load_offers, parse_records, parse_round
from tests.matcher.conftest import applicant_dict, offer_dict

Problem = tuple[str, int | None, str | None, str, str]


def problems_of(parse: Any) -> list[Problem]:
    with pytest.raises(InvalidRecordsError) as refused:
        parse()
    return [(p.source, p.index, p.record_id, p.field, p.message) for p in refused.value.problems]


def test_every_problem_of_a_file_is_named_by_record_and_field() -> None:
    data = [
        offer_dict(
            id=" H-1 ",
            available_from=20270301,
            available_until="2027-13-01",
            title="a\x07b",
        ),
        5,
        offer_dict(id="H-1", available_from="2027-06-01", available_until="2027-03-01"),
        offer_dict(id="H-2", min_weeks=4, max_weeks=2),
    ]
    assert problems_of(lambda: parse_records(Offer, data, source="angebote")) == [
        (
            "angebote",
            0,
            "H-1",
            "title",
            "„Titel“: Unzulässiges Zeichen U+0007 an Stelle 2: erlaubt sind druckbare Zeichen, "
            "Tabulator und Zeilenumbruch.",
        ),
        (
            "angebote",
            0,
            "H-1",
            "available_from",
            "„Verfügbar ab“: erwartet ein Datum wie 2027-03-01.",
        ),
        (
            "angebote",
            0,
            "H-1",
            "available_until",
            "„Verfügbar bis“: '2027-13-01' ist kein Datum der Form JJJJ-MM-TT.",
        ),
        ("angebote", 1, None, "", "Der Datensatz ist kein JSON-Objekt."),
        ("angebote", 2, "H-1", "available_until", "„Verfügbar bis“: liegt vor „Verfügbar ab“."),
        (
            "angebote",
            3,
            "H-2",
            "max_weeks",
            "„Höchstdauer (Wochen)“: ist kleiner als die „Mindestdauer (Wochen)“.",
        ),
        ("angebote", 0, "H-1", "id", "Die Kennung kommt in dieser Datei mehrfach vor."),
        ("angebote", 2, "H-1", "id", "Die Kennung kommt in dieser Datei mehrfach vor."),
    ]


def test_language_problems_name_the_language() -> None:
    data = [applicant_dict(languages={"xx": "C1", "de": "Z9"})]
    assert problems_of(lambda: parse_records(Applicant, data)) == [
        (
            "input",
            0,
            "A-1",
            "languages.xx",
            "„Sprachkenntnisse (xx)“: 'xx' ist kein Sprachcode nach ISO 639-1 (de, en, fr, …).",
        ),
        (
            "input",
            0,
            "A-1",
            "languages.de",
            "„Sprachkenntnisse (de)“ muss einer dieser Werte sein: 'A1', 'A2', 'B1', 'B2', 'C1' "
            "oder 'C2'.",
        ),
    ]


def test_valid_values_are_normalised() -> None:
    [offer] = parse_records(
        Offer,
        [offer_dict(language=" DE ", title="  Titel\t", working_languages=["De", "en"])],
    )
    assert (offer.language, offer.title, offer.working_languages) == ("de", "Titel", ["de", "en"])
    [dated] = parse_records(Offer, [{**offer_dict(), "available_from": date(2027, 3, 1)}])
    assert dated.available_from == date(2027, 3, 1)


@pytest.mark.parametrize(
    ("load", "raw", "expected"),
    [
        (load_offers, "{}", ("offers", "Erwartet wird eine JSON-Liste von Datensätzen.")),
        (load_applicants, b"\xff[]", ("applicants", "Die Datei ist kein gültiges UTF-8 (Byte 0).")),
        (
            load_applicants,
            b"[1, 2",
            ("applicants", "Die Datei ist kein gültiges JSON (Zeile 1, Spalte 6)."),
        ),
        (
            load_offers,
            "[\n  " + "9" * 5000 + "]",
            ("offers", "Die Datei enthält eine Zahl mit zu vielen Ziffern."),
        ),
    ],
)
def test_a_file_that_is_no_list_of_records_is_one_problem(
    load: Any, raw: str | bytes, expected: tuple[str, str]
) -> None:
    source, message = expected
    assert problems_of(lambda: load(raw)) == [(source, None, None, "", message)]


def test_the_source_name_is_the_callers() -> None:
    assert problems_of(lambda: load_offers("[1]", source="o.json"))[0][0] == "o.json"
    assert problems_of(lambda: load_applicants("[1]", source="a.json"))[0][0] == "a.json"
    offers = load_offers(json.dumps([offer_dict()]).encode())
    assert [o.id for o in offers] == ["O-1"]


def test_both_files_of_a_round_are_checked_and_reported_together() -> None:
    def bad(source: str) -> Any:
        def parse() -> Any:
            raise InvalidRecordsError([RecordProblem(source, 0, None, "", "kaputt")])

        return parse

    assert [p[0] for p in problems_of(lambda: parse_round(bad("o"), bad("a")))] == ["o", "a"]
    assert [p[0] for p in problems_of(lambda: parse_round(lambda: [], bad("a")))] == ["a"]
    assert [p[0] for p in problems_of(lambda: parse_round(bad("o"), lambda: []))] == ["o"]
    offer, applicant = (
        Offer.model_validate(offer_dict()),
        Applicant.model_validate(applicant_dict()),
    )
    assert parse_round(lambda: [offer], lambda: [applicant]) == ([offer], [applicant])


def test_a_file_in_another_unicode_encoding_is_refused() -> None:
    """UTF-8 only (DATA_FORMAT.md): ``json.loads`` alone would read UTF-16 bytes as well."""
    assert problems_of(lambda: load_offers("[]".encode("utf-16"))) == [
        ("offers", None, None, "", "Die Datei ist kein gültiges UTF-8 (Byte 0).")
    ]
