"""Topic fit combines its two views: the whole-text cosine and the sentence max-sim.

Issue 19 re-planted "topic fit without one of its two views" by hand: with the sentence view
dropped (fit = whole text only) both dev-set floor tests still pass (measured on the shared dev
sets), so the dev floors cannot guard it. These tests pin that each view moves the fit by its
weight, whichever view is dropped.
"""

from __future__ import annotations

import numpy as np
import pytest

from matcher.topic import WHOLE_TEXT_WEIGHT, TopicFit


def test_both_views_carry_weight() -> None:
    assert 0.0 < WHOLE_TEXT_WEIGHT < 1.0


@pytest.mark.parametrize("view", ["whole", "sentences"])
def test_each_view_moves_the_fit_by_its_weight(view: str) -> None:
    zeros = np.zeros((2, 3))
    step = np.array([[0.3, 0.0, -0.2], [0.0, 0.1, 0.0]])
    fit = TopicFit(**{"whole": zeros, "sentences": zeros, view: step}).fit
    weight = WHOLE_TEXT_WEIGHT if view == "whole" else 1.0 - WHOLE_TEXT_WEIGHT
    np.testing.assert_allclose(fit, weight * step)
    assert fit.dtype == np.float64


def test_a_sentence_match_can_outrank_a_better_whole_text() -> None:
    """Offer 0 reads better as a whole, offer 1 has the sentence that matches: the sum decides."""
    whole = np.array([[0.10, 0.05]])
    sentences = np.array([[0.00, 0.30]])
    assert int(np.argmax(TopicFit(whole=whole, sentences=sentences).fit[0])) == 1
