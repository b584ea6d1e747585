"""Sentence splitting and the texts the engine embeds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matcher.text import (
    applicant_sentences,
    applicant_text,
    offer_sentences,
    offer_text,
    split_sentences,
)
from tests.matcher.conftest import make_applicant, make_offer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Ich lerne z. B. Abfalltrennung. Dann vergleiche ich.",
            ["Ich lerne z. B. Abfalltrennung.", "Dann vergleiche ich."],
        ),
        (
            "Mein Mentor ist Dr. Weber. Er leitet das Amt.",
            ["Mein Mentor ist Dr. Weber.", "Er leitet das Amt."],
        ),
        (
            "Wir nutzen u. a. Sensoren. Die Daten sind offen.",
            ["Wir nutzen u. a. Sensoren.", "Die Daten sind offen."],
        ),
        (
            "Was lernt man dort? Sehr viel! Ich freue mich.",
            ["Was lernt man dort?", "Sehr viel!", "Ich freue mich."],
        ),
        ("Ein Satz ohne Punkt", ["Ein Satz ohne Punkt"]),
        ("Version 2.0 ist neu. 3 Tage Schulung.", ["Version 2.0 ist neu.", "3 Tage Schulung."]),
        ("Das ist gut. „Wir kommen“, sagt sie.", ["Das ist gut.", "„Wir kommen“, sagt sie."]),
        ("  Erster Satz.   \n  Zweiter Satz.  ", ["Erster Satz.", "Zweiter Satz."]),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_lowercase_after_period_does_not_start_a_sentence() -> None:
    assert split_sentences("Das ist bzw. war gut.") == ["Das ist bzw. war gut."]


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_blank_text_has_no_sentences(text: str) -> None:
    assert split_sentences(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "... Ich möchte lernen, wie Wien Sperrmüll verwertet.",
        ". Ich bewerbe mich für Wien.",
        "Ich bewerbe mich. ... Wirklich.",
    ],
)
def test_text_starting_with_dots_is_split_without_error(text: str) -> None:
    sentences = split_sentences(text)
    assert sentences and all(sentences)
    assert "".join(sentences).replace(" ", "") == text.replace(" ", "")


# Tokens that exercise every branch: boundaries, abbreviations, quotes, digits, blanks.
_TOKENS = st.sampled_from(
    [
        ".",
        "...",
        "!",
        "?",
        "…",
        " ",
        "\n",
        "Amt",
        "Ärger",
        "bzw.",
        "z.",
        "B.",
        "Dr.",
        "ca.",
        "1.",
        "„Ja“",
        "(Wien)",
        "Art.",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_TOKENS, max_size=20).map(" ".join))
def test_split_sentences_keeps_every_character_and_returns_no_blank(text: str) -> None:
    sentences = split_sentences(text)
    assert all(sentence and sentence == sentence.strip() for sentence in sentences)
    assert "".join("".join(s.split()) for s in sentences) == "".join(text.split())


def test_applicant_views() -> None:
    applicant = make_applicant(
        position="Referentin Abfallrecht",
        motivation="Ich prüfe z. B. Anzeigen. Ich möchte lernen.",
    )
    assert (
        applicant_text(applicant)
        == "Referentin Abfallrecht. Ich prüfe z. B. Anzeigen. Ich möchte lernen."
    )
    assert applicant_sentences(applicant) == [
        "Ich prüfe z. B. Anzeigen.",
        "Ich möchte lernen.",
        "Referentin Abfallrecht",
    ]


def test_offer_views_include_title_and_tags() -> None:
    offer = make_offer(
        title="Re-Use", tags=["Abfall", "Kreislauf"], description="Satz eins. Satz zwei."
    )
    assert offer_text(offer) == "Re-Use. Abfall, Kreislauf. Satz eins. Satz zwei."
    assert offer_sentences(offer) == ["Satz eins.", "Satz zwei.", "Re-Use", "Abfall, Kreislauf"]
    untagged = make_offer(title="Re-Use", tags=[], description="Satz eins.")
    assert offer_text(untagged) == "Re-Use. Satz eins."
    assert offer_sentences(untagged) == ["Satz eins.", "Re-Use"]


def test_valid_motivation_starting_with_dots_can_be_read() -> None:
    applicant = make_applicant(motivation="... Ich möchte lernen, wie Wien Sperrmüll verwertet.")
    assert applicant_sentences(applicant)[-1] == applicant.position
    assert len(applicant_sentences(applicant)) == 2
