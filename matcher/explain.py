"""Why an offer is suggested to an applicant, from the same numbers as the score.

Coordinators read explanations in German (``Explanation.text``). Applicants read them in German
or English (``Explanation.render("en")``, their choice; :func:`explanation_language` is the
default): partner-city staff applying to Berlin need not read German. The quoted sentences stay
in their original language whatever the wording, so the applicant sees their own sentence and
the host's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matcher.constraints import best_working_language, date_overlap, language_name, level_rank
from matcher.records import Applicant
from matcher.scoring import PairScores, preference_rank, wish_rank
from matcher.topic import EmbeddedTexts

#: Languages explanations can be written in; the first is the coordinators'.
EXPLANATION_LANGUAGES: tuple[str, ...] = ("de", "en")
#: An applicant reads German explanations from this level on, else English ones.
GERMAN_READING_LEVEL = "B2"

_ENGLISH_NAMES = {
    "de": "German", "en": "English", "fr": "French", "pl": "Polish", "cs": "Czech",
    "nl": "Dutch", "es": "Spanish", "it": "Italian", "pt": "Portuguese", "sv": "Swedish",
    "da": "Danish", "fi": "Finnish", "hu": "Hungarian", "sk": "Slovak", "el": "Greek",
}  # fmt: skip


@dataclass(frozen=True)
class Wording:
    """The sentences of an explanation in one language (``str.format`` fields)."""

    topic: str
    no_language: str
    language: str
    no_dates: str
    dates: str
    preference: str
    wish: str
    language_names: dict[str, str]
    #: The topic sentence per match strength, without a figure (what applicants read).
    topic_by_strength: dict[str, str]


WORDINGS: dict[str, Wording] = {
    "de": Wording(
        topic="Thema: „{applicant}“ passt zu „{offer}“ (Ähnlichkeit {similarity:.2f}).",
        no_language="Arbeitssprache: keine gemeinsame (gefordert {required}).",
        language="Arbeitssprache: {language} {level} (gefordert {required}).",
        no_dates="Zeitraum: keine Überschneidung.",
        dates="Zeitraum: {overlap} gemeinsame Tage für {weeks} Wochen ({days} Tage).",
        preference="Wunschstadt: {city} ({rank}. Wahl).",
        # "der Bewerbung", not "der Bewerberin"/"des Bewerbers": the form asks for no gender.
        wish="Wunsch {rank} der Bewerbung.",
        language_names={},
        topic_by_strength={
            "sehr gut": "Thema: „{applicant}“ passt gut zu „{offer}“.",
            "gut": "Thema: „{applicant}“ berührt „{offer}“.",
            "schwach": "Thema: kein klarer thematischer Bezug zu „{offer}“.",
        },
    ),
    "en": Wording(
        topic="Topic: “{applicant}” matches “{offer}” (similarity {similarity:.2f}).",
        no_language="Working language: none in common (required {required}).",
        language="Working language: {language} {level} (required {required}).",
        no_dates="Dates: no overlap.",
        dates="Dates: {overlap} days in common for {weeks} weeks ({days} days).",
        preference="Preferred city: {city} (choice {rank}).",
        wish="The application's wish {rank}.",
        language_names=_ENGLISH_NAMES,
        topic_by_strength={
            "sehr gut": "Topic: “{applicant}” fits “{offer}” well.",
            "gut": "Topic: “{applicant}” touches on “{offer}”.",
            "schwach": "Topic: no clear link to “{offer}”.",
        },
    ),
}


@dataclass(frozen=True)
class Explanation:
    """The evidence behind one suggestion; :meth:`render` words it for its reader."""

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
    #: instead of the similarity figure (``Wording.topic_by_strength``).
    strength: str | None = None
    #: 0 when the offer is the applicant's first wish, 1 the second, …; None: not wished.
    wish_rank: int | None = None

    @property
    def text(self) -> str:
        """The coordinators' (German) wording."""
        return self.render("de")

    def render(self, language: str = "de") -> str:
        """The explanation worded in ``language`` (one of EXPLANATION_LANGUAGES)."""
        wording = WORDINGS[language]
        parts = (
            self._topic(wording),
            self._language(wording),
            self._dates(wording),
            self._preference(wording),
            self._wish(wording),
        )
        return " ".join(part for part in parts if part)

    def _topic(self, wording: Wording) -> str:
        template = wording.topic_by_strength.get(self.strength or "", wording.topic)
        return template.format(
            applicant=self.applicant_sentence,
            offer=self.offer_sentence,
            similarity=self.sentence_similarity,
        )

    def _language(self, wording: Wording) -> str:
        if self.working_language is None:
            return wording.no_language.format(required=self.required_level)
        name = wording.language_names.get(self.working_language) or language_name(
            self.working_language
        )
        return wording.language.format(
            language=name, level=self.applicant_level, required=self.required_level
        )

    def _dates(self, wording: Wording) -> str:
        if self.overlap_days <= 0:
            return wording.no_dates
        return wording.dates.format(
            overlap=self.overlap_days, weeks=self.weeks_wanted, days=7 * self.weeks_wanted
        )

    def _preference(self, wording: Wording) -> str:
        if self.preference_rank is None:
            return ""
        return wording.preference.format(city=self.preferred_city, rank=self.preference_rank + 1)

    def _wish(self, wording: Wording) -> str:
        return "" if self.wish_rank is None else wording.wish.format(rank=self.wish_rank + 1)


def explanation_language(applicant: Applicant, chosen: str | None = None) -> str:
    """The applicant's choice, else German for readers at B2 or above, else English."""
    if chosen in EXPLANATION_LANGUAGES:
        return chosen
    german = applicant.languages.get("de")
    return "de" if german and level_rank(german) >= level_rank(GERMAN_READING_LEVEL) else "en"


def sentence_similarity(
    applicants: EmbeddedTexts, i: int, offers: EmbeddedTexts, j: int
) -> np.ndarray:
    """(s_i, s_j) cosines of applicant i's and offer j's sentences, averaged over the models
    that read both texts' languages (all of them if none does)."""
    a, o = applicants.sentences_of(i), offers.sentences_of(j)
    pair = (applicants.language_of(i), offers.language_of(j))
    views = [v for v in applicants.layout if all(v.reads(lang) for lang in pair)]
    views = views or list(applicants.layout)
    similarity: np.ndarray = np.mean([a[:, v.columns] @ o[:, v.columns].T for v in views], axis=0)
    return similarity


def explain(scores: PairScores, i: int, j: int) -> Explanation:
    """Explain the pair (applicant i, offer j): sentences, language, dates, city, wish."""
    applicant, offer = scores.applicants[i], scores.offers[j]
    similarity = sentence_similarity(scores.applicant_texts, i, scores.offer_texts, j)
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
        wish_rank=wish_rank(applicant, offer.id),
    )
