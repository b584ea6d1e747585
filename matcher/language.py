"""The language a text is written in: given by the record, else detected offline.

Records of the interchange format may carry ``language`` (ISO 639-1 of the motivation or the
offer text). Where it is absent, :func:`detect_language` asks ``lingua`` (installed with its
models, nothing fetched) which of :data:`DETECTABLE` the text is in. The candidates are the
languages of the partner cities and of the EU administrations they exchange with; restricting
them keeps detection precise on the short texts of applications. Lingua runs in its
low-accuracy (trigram) mode: models load lazily, ~50 MB instead of ~750 MB preloaded, and
applications are long enough for trigrams.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from functools import cache

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

from matcher.records import Applicant, Offer

#: Languages detection chooses from (ISO 639-1).
DETECTABLE: tuple[str, ...] = tuple(
    "de en fr pl cs hu fi nl sv it es pt da et lv lt sk sl ro bg hr el ru uk tr".split()
)
#: Below this confidence a detection is no answer: the language stays unknown.
MIN_CONFIDENCE = 0.5
_REMEMBERED = 4096
_detected: OrderedDict[str, str | None] = OrderedDict()


@cache
def _detector() -> LanguageDetector:
    languages = [
        Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper())) for code in DETECTABLE
    ]
    return LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode().build()


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of ``text``'s language, or None when no candidate is clearly ahead."""
    # Remembered by hash, not by text: motivations are personal data and are erased on request.
    key = hashlib.sha256(text.encode()).hexdigest()
    if key not in _detected:
        _detected[key] = _detect(text)
        if len(_detected) > _REMEMBERED:
            _detected.popitem(last=False)
    return _detected[key]


def _detect(text: str) -> str | None:
    if not any(character.isalpha() for character in text):
        return None
    ranked = _detector().compute_language_confidence_values(text)
    if not ranked or ranked[0].value < MIN_CONFIDENCE:
        return None
    return str(ranked[0].language.iso_code_639_1.name.lower())


def applicant_language(applicant: Applicant) -> str | None:
    """The language of the applicant's motivation: as given, else detected."""
    return applicant.language or detect_language(applicant.motivation)


def offer_language(offer: Offer) -> str | None:
    """The language of the offer's title and description: as given, else detected."""
    return offer.language or detect_language(f"{offer.title}. {offer.description}")
