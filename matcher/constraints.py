"""Hard constraints of a placement, checked for all pairs at once, with reasons in German.

The rules are those of the interchange format: a working language spoken at the offer's minimum
CEFR level, ``min_weeks ≤ weeks_wanted ≤ max_weeks``, an inclusive date overlap of at least
7 × weeks_wanted days, and a free place (capacity minus confirmed placements ≥ 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property

import numpy as np

from matcher.records import CEFR_LEVELS, Applicant, Offer

#: German names of the working languages a coordinator sees most; others show their code.
LANGUAGE_NAMES = {
    "de": "Deutsch",
    "en": "Englisch",
    "fr": "Französisch",
    "pl": "Polnisch",
    "cs": "Tschechisch",
    "nl": "Niederländisch",
    "es": "Spanisch",
    "it": "Italienisch",
    "pt": "Portugiesisch",
    "sv": "Schwedisch",
    "da": "Dänisch",
    "no": "Norwegisch",
    "nb": "Norwegisch",
    "fi": "Finnisch",
    "hu": "Ungarisch",
    "et": "Estnisch",
    "lv": "Lettisch",
    "lt": "Litauisch",
    "sk": "Slowakisch",
    "sl": "Slowenisch",
    "hr": "Kroatisch",
    "el": "Griechisch",
    "ca": "Katalanisch",
    "ro": "Rumänisch",
    "bg": "Bulgarisch",
    "tr": "Türkisch",
    "uk": "Ukrainisch",
    "ru": "Russisch",
    "ga": "Irisch",
}


def language_name(code: str) -> str:
    """German name of an ISO 639-1 code, or the code itself."""
    return LANGUAGE_NAMES.get(code, code)


def level_rank(level: str) -> int:
    """1 for A1 … 6 for C2; 0 means the language is not spoken."""
    return CEFR_LEVELS.index(level) + 1


def required_days(weeks: int) -> int:
    """Days of overlap a stay of ``weeks`` weeks needs."""
    return 7 * weeks


def best_working_language(applicant: Applicant, offer: Offer) -> tuple[str, str] | None:
    """The working language the applicant speaks best, with its level; None if none is spoken."""
    spoken = [
        (code, applicant.languages[code])
        for code in offer.working_languages
        if code in applicant.languages
    ]
    return max(spoken, key=lambda pair: level_rank(pair[1]), default=None)


@dataclass(frozen=True)
class DateOverlap:
    """The inclusive date window two availabilities share (``days`` ≤ 0: none)."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def date_overlap(applicant: Applicant, offer: Offer) -> DateOverlap:
    """Shared window of an applicant's and an offer's availability."""
    return DateOverlap(
        max(applicant.available_from, offer.available_from),
        min(applicant.available_until, offer.available_until),
    )


@dataclass(frozen=True)
class Feasibility:
    """Which constraint holds for which pair: ``language[i, j]`` for applicant i and offer j."""

    applicants: Sequence[Applicant]
    offers: Sequence[Offer]
    language: np.ndarray  # (n, m) bool
    weeks: np.ndarray  # (n, m) bool
    dates: np.ndarray  # (n, m) bool
    free_places: np.ndarray  # (m,) int

    @cached_property
    def feasible(self) -> np.ndarray:
        """(n, m) bool: every hard constraint holds."""
        feasible = self.language & self.weeks & self.dates & (self.free_places > 0)[None, :]
        return np.asarray(feasible, dtype=bool)

    def reasons(self, i: int, j: int) -> list[str]:
        """Why applicant i cannot go to offer j, in German; empty if the placement is feasible."""
        applicant, offer = self.applicants[i], self.offers[j]
        reasons = []
        if not self.language[i, j]:
            reasons.append(_language_reason(applicant, offer))
        if not self.weeks[i, j]:
            reasons.append(
                f"Dauer: {applicant.weeks_wanted} Wochen gewünscht, das Angebot erlaubt "
                f"{offer.min_weeks}–{offer.max_weeks} Wochen."
            )
        if not self.dates[i, j]:
            reasons.append(_dates_reason(applicant, offer))
        if self.free_places[j] <= 0:
            reasons.append("Kapazität: Das Angebot hat keinen freien Platz mehr.")
        return reasons

    def obstacles(self, i: int) -> str:
        """Which constraints rule out how many offers for applicant i, most frequent first."""
        checks = {
            "Sprache": ~self.language[i],
            "Dauer": ~self.weeks[i],
            "Zeitraum": ~self.dates[i],
            "Kapazität": self.free_places <= 0,
        }
        counts = sorted(((int(mask.sum()), name) for name, mask in checks.items()), reverse=True)
        listed = ", ".join(f"{name} bei {count}" for count, name in counts if count)
        return f"von {len(self.offers)} Angeboten scheitern {listed}."


def _language_reason(applicant: Applicant, offer: Offer) -> str:
    needed = " oder ".join(language_name(code) for code in offer.working_languages)
    best = best_working_language(applicant, offer)
    spoken = f"vorhanden: {language_name(best[0])} {best[1]}" if best else "keine davon angegeben"
    return f"Sprache: {needed} mindestens auf {offer.min_language_level} nötig ({spoken})."


def _dates_reason(applicant: Applicant, offer: Offer) -> str:
    overlap = date_overlap(applicant, offer)
    needed = required_days(applicant.weeks_wanted)
    if overlap.days <= 0:
        return (
            f"Zeitraum: Verfügbarkeit ({applicant.available_from:%d.%m.%Y}–"
            f"{applicant.available_until:%d.%m.%Y}) und Angebot ({offer.available_from:%d.%m.%Y}–"
            f"{offer.available_until:%d.%m.%Y}) überschneiden sich nicht."
        )
    return (
        f"Zeitraum: nur {overlap.days} gemeinsame Tage ({overlap.start:%d.%m.%Y}–"
        f"{overlap.end:%d.%m.%Y}), für {applicant.weeks_wanted} Wochen sind {needed} nötig."
    )


@dataclass(frozen=True)
class OfferConstraints:
    """The offer side of every hard constraint as arrays, entry j for offer j.

    Depends only on the offers, so a caller scoring many applicants against one list of offers
    (a shortlist per request) computes it once with :func:`offer_constraints`.
    """

    codes: tuple[str, ...]  # every working language of any offer, sorted
    offered: np.ndarray  # (m, len(codes)) bool: offer j works in codes[k]
    needed: np.ndarray  # (m,) int8 rank of the minimum level
    min_weeks: np.ndarray  # (m,) int64
    max_weeks: np.ndarray  # (m,) int64
    available_from: np.ndarray  # (m,) int64 ordinal
    available_until: np.ndarray  # (m,) int64 ordinal
    capacity: np.ndarray  # (m,) int64


def offer_constraints(offers: Sequence[Offer]) -> OfferConstraints:
    """Arrays of the offers' constraint fields (one pass over the records)."""
    codes = tuple(sorted({code for offer in offers for code in offer.working_languages}))
    column = {code: k for k, code in enumerate(codes)}
    offered = np.zeros((len(offers), len(codes)), dtype=bool)
    for j, offer in enumerate(offers):
        offered[j, [column[code] for code in offer.working_languages]] = True
    return OfferConstraints(
        codes=codes,
        offered=offered,
        needed=np.array([level_rank(o.min_language_level) for o in offers], dtype=np.int8),
        min_weeks=np.array([o.min_weeks for o in offers], dtype=np.int64),
        max_weeks=np.array([o.max_weeks for o in offers], dtype=np.int64),
        available_from=np.array([o.available_from.toordinal() for o in offers], dtype=np.int64),
        available_until=np.array([o.available_until.toordinal() for o in offers], dtype=np.int64),
        capacity=np.array([o.capacity for o in offers], dtype=np.int64),
    )


def check_feasibility(
    applicants: Sequence[Applicant],
    offers: Sequence[Offer],
    confirmed_per_offer: Sequence[int] | None = None,
    *,
    prepared: OfferConstraints | None = None,
) -> Feasibility:
    """Evaluate every hard constraint for every pair at once (numpy, no per-pair Python loop).

    ``confirmed_per_offer[j]`` counts confirmed placements on offer j; they use up places.
    ``prepared`` is ``offer_constraints(offers)`` when the caller already has it.
    """
    side = prepared if prepared is not None else offer_constraints(offers)
    confirmed = (
        np.zeros(len(offers), dtype=np.int64)
        if confirmed_per_offer is None
        else (np.asarray(confirmed_per_offer, dtype=np.int64))
    )
    return Feasibility(
        applicants=applicants,
        offers=offers,
        language=_language_matrix(applicants, side),
        weeks=_weeks_matrix(applicants, side),
        dates=_dates_matrix(applicants, side),
        free_places=side.capacity - confirmed,
    )


def _language_matrix(applicants: Sequence[Applicant], side: OfferConstraints) -> np.ndarray:
    codes = side.codes
    spoken = np.array(
        [
            [level_rank(a.languages[c]) if c in a.languages else 0 for c in codes]
            for a in applicants
        ],
        dtype=np.int8,
    ).reshape(len(applicants), len(codes))
    result = np.zeros((len(applicants), len(side.needed)), dtype=bool)
    for k in range(len(codes)):
        result |= (spoken[:, k, None] >= side.needed[None, :]) & side.offered[None, :, k]
    return result


def _weeks_matrix(applicants: Sequence[Applicant], side: OfferConstraints) -> np.ndarray:
    wanted = np.array([a.weeks_wanted for a in applicants], dtype=np.int64)[:, None]
    return (side.min_weeks[None, :] <= wanted) & (wanted <= side.max_weeks[None, :])


def _dates_matrix(applicants: Sequence[Applicant], side: OfferConstraints) -> np.ndarray:
    a_from = np.array([a.available_from.toordinal() for a in applicants], dtype=np.int64)
    a_until = np.array([a.available_until.toordinal() for a in applicants], dtype=np.int64)
    overlap = (
        np.minimum(a_until[:, None], side.available_until[None, :])
        - np.maximum(a_from[:, None], side.available_from[None, :])
        + 1
    )
    needed = np.array([required_days(a.weeks_wanted) for a in applicants], dtype=np.int64)
    return np.asarray(overlap >= needed[:, None], dtype=bool)


def last_day(start: date, weeks: int) -> date:
    """Last day of a stay of ``weeks`` weeks starting on ``start`` (inclusive)."""
    return start + timedelta(days=required_days(weeks) - 1)
