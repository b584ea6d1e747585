"""Parsing the interchange format: valid records load, every bad field is named by id and field."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from matcher import (
    Applicant,
    InvalidRecordsError,
    Offer,
    RecordProblem,
    load_applicants,
    load_offers,
    parse_records,
)
from matcher.records import MAX_TEXT_CHARS
from tests.matcher.conftest import applicant_dict, offer_dict


def _problems(kind: type[Offer] | type[Applicant], data: Any) -> list[RecordProblem]:
    with pytest.raises(InvalidRecordsError) as caught:
        parse_records(kind, data)  # type: ignore[type-var]
    assert caught.value.problems, "an InvalidRecordsError must carry its problems"
    return caught.value.problems


def _without(record: dict[str, Any], field: str) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key != field}


def test_valid_offer_parses_with_typed_fields() -> None:
    [offer] = parse_records(Offer, [offer_dict(id="O-7", working_languages=["DE", " en "])])
    assert offer.id == "O-7"
    assert offer.available_from == date(2027, 3, 1)
    assert offer.available_until == date(2027, 6, 30)
    assert offer.working_languages == ["de", "en"]
    assert offer.capacity == 1


def test_valid_applicant_parses_with_typed_fields() -> None:
    [applicant] = parse_records(Applicant, [applicant_dict(id="A-7", weeks_wanted=52)])
    assert applicant.id == "A-7"
    assert applicant.weeks_wanted == 52
    assert applicant.languages == {"de": "C2", "en": "B2"}
    assert applicant.available_until == date(2027, 6, 30)


def test_optional_offer_fields_take_their_defaults() -> None:
    raw = offer_dict()
    for optional in ("country", "language", "min_language_level", "mentor_name", "tags"):
        raw.pop(optional)
    [offer] = parse_records(Offer, [raw])
    assert offer.min_language_level == "B1"
    assert offer.language is None
    assert offer.tags == []


def test_unknown_fields_are_ignored() -> None:
    [offer] = parse_records(Offer, [offer_dict(internal_note="x", rating=5)])
    [applicant] = parse_records(Applicant, [applicant_dict(portal_status={"a": 1})])
    assert not hasattr(offer, "internal_note")
    assert not hasattr(applicant, "portal_status")


OFFER_CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "reversed dates",
        {"available_from": "2027-07-01", "available_until": "2027-06-30"},
        "available_until",
    ),
    ("unknown CEFR level", {"min_language_level": "B3"}, "min_language_level"),
    ("unknown working language", {"working_languages": ["de", "xx"]}, "working_languages"),
    ("unknown text language", {"language": "deutsch"}, "language"),
    ("no working language", {"working_languages": []}, "working_languages"),
    ("negative capacity", {"capacity": -1}, "capacity"),
    ("capacity as string", {"capacity": "3"}, "capacity"),
    ("capacity as float", {"capacity": 2.0}, "capacity"),
    ("min_weeks 0", {"min_weeks": 0}, "min_weeks"),
    ("max_weeks 53", {"max_weeks": 53}, "max_weeks"),
    ("min_weeks > max_weeks", {"min_weeks": 5, "max_weeks": 4}, "max_weeks"),
    ("date as number", {"available_from": 20270301}, "available_from"),
    ("date not ISO", {"available_until": "30.06.2027"}, "available_until"),
    ("empty description", {"description": ""}, "description"),
    ("whitespace description", {"description": " \n\t "}, "description"),
    ("description too long", {"description": "x" * (MAX_TEXT_CHARS + 1)}, "description"),
]

APPLICANT_CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "reversed dates",
        {"available_from": "2027-03-02", "available_until": "2027-03-01"},
        "available_until",
    ),
    ("unknown CEFR level", {"languages": {"de": "C3"}}, "languages"),
    ("unknown language code", {"languages": {"klingon": "C1"}}, "languages"),
    ("no language", {"languages": {}}, "languages"),
    ("weeks 0", {"weeks_wanted": 0}, "weeks_wanted"),
    ("weeks 53", {"weeks_wanted": 53}, "weeks_wanted"),
    ("weeks as string", {"weeks_wanted": "3"}, "weeks_wanted"),
    ("weeks as bool", {"weeks_wanted": True}, "weeks_wanted"),
    ("empty motivation", {"motivation": ""}, "motivation"),
    ("whitespace-only motivation", {"motivation": "   \n  "}, "motivation"),
    ("motivation too long", {"motivation": "a" * (MAX_TEXT_CHARS + 1)}, "motivation"),
    ("date as number", {"available_from": 20270301}, "available_from"),
    ("date as null", {"available_until": None}, "available_until"),
]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [pytest.param(overrides, field, id=name) for name, overrides, field in OFFER_CASES],
)
def test_invalid_offer_field_is_named(overrides: dict[str, Any], field: str) -> None:
    problems = _problems(Offer, [offer_dict(id="O-bad", **overrides)])
    assert [(p.record_id, p.field.split(".")[0]) for p in problems] == [("O-bad", field)]
    assert problems[0].index == 0
    assert "'O-bad'" in str(problems[0]) and field in str(problems[0])


@pytest.mark.parametrize(
    ("overrides", "field"),
    [pytest.param(overrides, field, id=name) for name, overrides, field in APPLICANT_CASES],
)
def test_invalid_applicant_field_is_named(overrides: dict[str, Any], field: str) -> None:
    problems = _problems(Applicant, [applicant_dict(id="A-bad", **overrides)])
    assert [(p.record_id, p.field.split(".")[0]) for p in problems] == [("A-bad", field)]
    assert "'A-bad'" in str(problems[0]) and field in str(problems[0])


def test_text_of_exactly_max_length_is_accepted() -> None:
    [applicant] = parse_records(Applicant, [applicant_dict(motivation="a" * MAX_TEXT_CHARS)])
    assert len(applicant.motivation) == MAX_TEXT_CHARS


def test_weeks_at_the_bounds_are_accepted() -> None:
    offers = parse_records(Offer, [offer_dict(id="O-a", min_weeks=1, max_weeks=52)])
    applicants = parse_records(
        Applicant,
        [applicant_dict(id="A-a", weeks_wanted=1), applicant_dict(id="A-b", weeks_wanted=52)],
    )
    assert (offers[0].min_weeks, offers[0].max_weeks) == (1, 52)
    assert [a.weeks_wanted for a in applicants] == [1, 52]


@pytest.mark.parametrize(
    "field",
    [
        "id",
        "city",
        "organisation",
        "title",
        "description",
        "working_languages",
        "capacity",
        "available_from",
        "available_until",
        "min_weeks",
        "max_weeks",
    ],
)
def test_missing_required_offer_field_is_named(field: str) -> None:
    raw = _without(offer_dict(id="O-miss"), field)
    problems = _problems(Offer, [raw])
    assert [p.field for p in problems] == [field]
    expected_id = None if field == "id" else "O-miss"
    assert [p.record_id for p in problems] == [expected_id]


@pytest.mark.parametrize(
    "field",
    [
        "home_organisation",
        "position",
        "languages",
        "available_from",
        "available_until",
        "weeks_wanted",
        "motivation",
    ],
)
def test_missing_required_applicant_field_is_named(field: str) -> None:
    problems = _problems(Applicant, [_without(applicant_dict(id="A-miss"), field)])
    assert [(p.record_id, p.field) for p in problems] == [("A-miss", field)]


def test_duplicate_ids_report_both_records() -> None:
    data = [applicant_dict(id="A-1"), applicant_dict(id="A-2"), applicant_dict(id="A-1")]
    problems = _problems(Applicant, data)
    assert sorted((p.index, p.record_id, p.field) for p in problems) == [
        (0, "A-1", "id"),
        (2, "A-1", "id"),
    ]


def test_all_problems_of_a_file_come_in_one_error() -> None:
    data = [
        offer_dict(id="O-1", capacity=-2),
        offer_dict(id="O-2"),
        offer_dict(id="O-3", min_language_level="D1", max_weeks=60),
        "not an object",
    ]
    problems = _problems(Offer, data)
    assert sorted((p.index, p.record_id, p.field.split(".")[0]) for p in problems) == [
        (0, "O-1", "capacity"),
        (2, "O-3", "max_weeks"),
        (2, "O-3", "min_language_level"),
        (3, None, ""),
    ]


@pytest.mark.parametrize("top_level", [{"id": "O-1"}, "offers", 3, None])
def test_non_array_top_level_is_rejected(top_level: Any) -> None:
    problems = _problems(Offer, top_level)
    assert len(problems) == 1
    assert problems[0].record_id is None and "JSON-Liste" in problems[0].message


def test_load_offers_reads_json_bytes() -> None:
    raw = json.dumps([offer_dict(id="O-json")], ensure_ascii=False).encode("utf-8")
    assert [offer.id for offer in load_offers(raw)] == ["O-json"]


def test_load_applicants_rejects_invalid_utf8() -> None:
    raw = json.dumps([applicant_dict()]).encode("utf-8").replace(b"Pankow", b"Pank\xff\xfew")
    with pytest.raises(InvalidRecordsError) as caught:
        load_applicants(raw)
    [problem] = caught.value.problems
    assert "UTF-8" in problem.message and problem.source == "applicants"


@pytest.mark.parametrize("raw", ['[{"id": "O-1",}]', "", "[", b"{'id': 1}"])
def test_load_offers_rejects_invalid_json(raw: str | bytes) -> None:
    with pytest.raises(InvalidRecordsError) as caught:
        load_offers(raw)
    [problem] = caught.value.problems
    assert "JSON" in problem.message and problem.index is None


def test_invalid_record_in_a_file_rejects_the_whole_file() -> None:
    raw = json.dumps([applicant_dict(id="A-ok"), applicant_dict(id="A-bad", weeks_wanted=0)])
    with pytest.raises(InvalidRecordsError) as caught:
        load_applicants(raw)
    assert [p.record_id for p in caught.value.problems] == ["A-bad"]
    assert "A-bad" in str(caught.value) and "weeks_wanted" in str(caught.value)


def test_records_are_immutable() -> None:
    [offer] = parse_records(Offer, [offer_dict()])
    with pytest.raises(ValueError, match="frozen"):
        offer.capacity = 5  # type: ignore[misc]
