"""The single-record form's fields: every interchange field once, with its German label."""

from __future__ import annotations

import pytest

import matcher
from api.office import Kind, record_fields
from matcher.german import FIELD_LABELS


@pytest.mark.parametrize(
    ("kind", "model"), [(Kind.OFFERS, matcher.Offer), (Kind.APPLICANTS, matcher.Applicant)]
)
def test_every_field_once_in_order_with_its_german_label(
    kind: Kind, model: type[matcher.Offer] | type[matcher.Applicant]
) -> None:
    fields = record_fields(kind)
    assert [f.name for f in fields] == list(model.model_fields)
    assert all(f.label == FIELD_LABELS[f.name] for f in fields)
    assert {f.name for f in fields if f.required} == {
        name for name, field in model.model_fields.items() if field.is_required()
    }


def test_each_field_gets_the_input_its_type_needs() -> None:
    offer = {f.name: f for f in record_fields(Kind.OFFERS)}
    applicant = {f.name: f for f in record_fields(Kind.APPLICANTS)}
    inputs = {
        "capacity": "integer",
        "travel_cost": "number",
        "available_from": "date",
        "working_languages": "list",
        "description": "text",
        "title": "line",
        "mentor_email": "line",
        "min_language_level": "choice",
    }
    assert {name: offer[name].input for name in inputs} == inputs
    assert offer["min_language_level"].options == ["A1", "A2", "B1", "B2", "C1", "C2"]
    assert (applicant["languages"].input, applicant["motivation"].input) == ("languages", "text")
    assert offer["title"].options == []
