"""Wishes (offers ranked while applying online): a soft bonus like preferred cities."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from matcher import Offer, assign, explain, rank
from matcher.scoring import MAX_WISH_BONUS, WISH_BONUS
from tests.matcher.conftest import build_scores, make_applicant, make_offer

EQUAL_FIT = np.array([[0.2, 0.2, 0.2]])


def _twins() -> list[Offer]:
    """Three offers alike in everything but their id, one place each."""
    return [make_offer(id=f"H-{k}", city="Wien", capacity=1) for k in (1, 2, 3)]


def test_without_wishes_the_first_of_equal_offers_is_taken() -> None:
    scores = build_scores([make_applicant(id="A-1", preferred_cities=[])], _twins(), EQUAL_FIT)
    placement = assign(scores).placements[0]
    assert placement.offer_id == "H-1"
    assert not scores.bonus.any()


def test_the_run_picks_the_wished_offer_among_equal_fits_and_says_so() -> None:
    applicant = make_applicant(id="A-1", preferred_cities=[], wishes=["H-3", "H-2"])
    scores = build_scores([applicant], _twins(), EQUAL_FIT)
    assert assign(scores).placements[0].offer_id == "H-3"
    assert [s.offer_id for s in rank(scores)[0].suggestions] == ["H-3", "H-2", "H-1"]
    assert scores.bonus[0].tolist() == [0.0, WISH_BONUS[1], WISH_BONUS[0]]
    assert "Wunsch 1 der Bewerbung." in explain(scores, 0, 2).text
    assert "Wunsch 2 der Bewerbung." in explain(scores, 0, 1).text
    assert "Wunsch" not in explain(scores, 0, 0).text
    assert "wish 1" in explain(scores, 0, 2).render("en")


def test_a_wish_never_lifts_a_clearly_worse_fit() -> None:
    fit = np.array([[0.3, 0.3 - MAX_WISH_BONUS - 0.01, 0.0]])
    scores = build_scores([make_applicant(id="A-1", wishes=["H-2"])], _twins(), fit)
    assert assign(scores).placements[0].offer_id == "H-1"


def test_wishes_of_offers_not_in_the_round_count_nothing() -> None:
    scores = build_scores([make_applicant(id="A-1", wishes=["H-9"])], _twins(), EQUAL_FIT)
    assert not scores.bonus.any()


@pytest.mark.parametrize("wishes", [["H-1", "H-1"], ["H-1", "H-2", "H-3", "H-4"]])
def test_repeated_or_more_than_three_wishes_are_refused(wishes: list[str]) -> None:
    with pytest.raises(ValidationError):
        make_applicant(wishes=wishes)
