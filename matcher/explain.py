"""Why an offer is suggested to an applicant, in German, from the same numbers as the score."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matcher.constraints import best_working_language, date_overlap, language_name
from matcher.scoring import PairScores, preference_rank

#: How the topic sentence reads per match strength („schwach“ says there is no clear link).
TOPIC_WORDING = {"sehr gut": "passt gut zu", "gut": "berührt"}


@dataclass(frozen=True)
class Explanation:
    """The evidence behind one suggestion; ``text`` renders it for coordinators and applicants."""

    applicant_sentence: str
    offer_sentence: str
    sentence_similarity: float
    working_language: str | None
    applicant_level: str | None
    required_level: str
    overlap_days: int
    weeks_wanted: int
    preferred_city: str | None
    preference_rank: int | None
    #: Match strength label („sehr gut“, „gut“, „schwach“); set, it words the topic part
    #: instead of the similarity figure (see :data:`TOPIC_WORDING`).
    strength: str | None = None

    @property
    def text(self) -> str:
        return " ".join(
            part
            for part in (self._topic(), self._language(), self._dates(), self._preference())
            if part
        )

    def _topic(self) -> str:
        if self.strength == "schwach":
            return f"Thema: kein klarer thematischer Bezug zu „{self.offer_sentence}“."
        if self.strength is not None:
            verb = TOPIC_WORDING[self.strength]
            return f"Thema: „{self.applicant_sentence}“ {verb} „{self.offer_sentence}“."
        return (
            f"Thema: „{self.applicant_sentence}“ passt zu „{self.offer_sentence}“ "
            f"(Ähnlichkeit {self.sentence_similarity:.2f})."
        )

    def _language(self) -> str:
        if self.working_language is None:
            return f"Arbeitssprache: keine gemeinsame (gefordert {self.required_level})."
        return (
            f"Arbeitssprache: {language_name(self.working_language)} {self.applicant_level} "
            f"(gefordert {self.required_level})."
        )

    def _dates(self) -> str:
        if self.overlap_days <= 0:
            return "Zeitraum: keine Überschneidung."
        return (
            f"Zeitraum: {self.overlap_days} gemeinsame Tage für {self.weeks_wanted} Wochen "
            f"({7 * self.weeks_wanted} Tage)."
        )

    def _preference(self) -> str:
        if self.preference_rank is None:
            return ""
        return f"Wunschstadt: {self.preferred_city} ({self.preference_rank + 1}. Wahl)."


def explain(scores: PairScores, i: int, j: int) -> Explanation:
    """Explain the pair (applicant i, offer j): best-matching sentences, language, dates, city."""
    applicant, offer = scores.applicants[i], scores.offers[j]
    similarity = scores.applicant_texts.sentences_of(i) @ scores.offer_texts.sentences_of(j).T
    best_a, best_o = np.unravel_index(int(np.argmax(similarity)), similarity.shape)
    language = best_working_language(applicant, offer)
    rank = preference_rank(applicant, offer.city)
    return Explanation(
        applicant_sentence=scores.applicant_texts.sentence_texts[i][best_a],
        offer_sentence=scores.offer_texts.sentence_texts[j][best_o],
        sentence_similarity=float(similarity[best_a, best_o]),
        working_language=language[0] if language else None,
        applicant_level=language[1] if language else None,
        required_level=offer.min_language_level,
        overlap_days=date_overlap(applicant, offer).days,
        weeks_wanted=applicant.weeks_wanted,
        preferred_city=offer.city if rank is not None else None,
        preference_rank=rank,
    )
