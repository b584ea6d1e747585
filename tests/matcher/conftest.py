"""Record builders, model-free pair scores and the real model, loaded once per session.

The builders are plain functions (hypothesis strategies call them too); test modules import
them from here. Everything that needs the embedding model gets it through the session-scoped
``model`` / ``embedder`` / ``scorer`` fixtures, so the model loads once per run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

import matcher
from matcher import (
    Applicant,
    Embedder,
    Offer,
    PairScores,
    TopicFit,
    TopicScorer,
    check_feasibility,
    score_pairs,
)
from matcher.text import applicant_sentences, offer_sentences
from matcher.topic import EmbeddedTexts

OFFER_DEFAULTS: dict[str, Any] = {
    "id": "O-1",
    "city": "Wien",
    "country": "AT",
    "organisation": "Magistratsabteilung 48 – Abfallwirtschaft",
    "title": "Abfallberatung im Bezirk",
    "description": "Gäste begleiten die Abfallberatung. Sie lernen die Sammelsysteme kennen.",
    "language": "de",
    "working_languages": ["de"],
    "min_language_level": "B1",
    "capacity": 1,
    "available_from": "2027-03-01",
    "available_until": "2027-06-30",
    "min_weeks": 1,
    "max_weeks": 8,
    "mentor_name": "Doris Hainzl",
    "mentor_email": "doris.hainzl@example.org",
    "tags": ["Abfallwirtschaft"],
}

APPLICANT_DEFAULTS: dict[str, Any] = {
    "id": "A-1",
    "name": "Jana Beispiel",
    "email": "jana.beispiel@example.org",
    "home_organisation": "Bezirksamt Pankow, Umwelt- und Naturschutzamt",
    "position": "Sachbearbeiterin Abfallrecht",
    "languages": {"de": "C2", "en": "B2"},
    "preferred_cities": [],
    "available_from": "2027-03-01",
    "available_until": "2027-06-30",
    "weeks_wanted": 2,
    "motivation": "Ich bearbeite Anzeigen zu illegalen Ablagerungen. Ich möchte lernen, "
    "wie andere Städte vorbeugen.",
}


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def offer_dict(**overrides: Any) -> dict[str, Any]:
    """A valid offer as decoded JSON, with ``overrides`` applied (dates may be ``date``)."""
    return {**OFFER_DEFAULTS, **{key: _jsonable(value) for key, value in overrides.items()}}


def applicant_dict(**overrides: Any) -> dict[str, Any]:
    """A valid application as decoded JSON, with ``overrides`` applied (dates may be ``date``)."""
    return {**APPLICANT_DEFAULTS, **{key: _jsonable(value) for key, value in overrides.items()}}


def make_offer(**overrides: Any) -> Offer:
    """A valid :class:`matcher.Offer`; any field can be overridden."""
    return Offer.model_validate(offer_dict(**overrides))


def make_applicant(**overrides: Any) -> Applicant:
    """A valid :class:`matcher.Applicant`; any field can be overridden."""
    return Applicant.model_validate(applicant_dict(**overrides))


def fake_texts(
    sentence_lists: Sequence[Sequence[str]], seed: int = 0, dim: int = 8
) -> EmbeddedTexts:
    """Random unit vectors standing in for embeddings of documents with these sentences."""
    rng = np.random.default_rng(seed)

    def unit(rows: int) -> np.ndarray:
        vectors = rng.normal(size=(rows, dim)).astype(np.float32)
        unit_rows: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        return unit_rows

    counts = [len(sentences) for sentences in sentence_lists]
    return EmbeddedTexts(
        whole=unit(len(sentence_lists)),
        sentences=unit(sum(counts)),
        starts=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        sentence_texts=tuple(tuple(sentences) for sentences in sentence_lists),
    )


def topic_fit_of(fit: np.ndarray) -> TopicFit:
    """A TopicFit whose calibrated ``fit`` is exactly ``fit`` (equal views)."""
    fit = np.asarray(fit, dtype=np.float64)
    return TopicFit(whole=fit, sentences=fit)


def build_scores(
    applicants: Sequence[Applicant],
    offers: Sequence[Offer],
    fit: np.ndarray,
    *,
    confirmed: Mapping[str, str] | None = None,
    seed: int = 0,
) -> PairScores:
    """PairScores without the model: hand-made topic fit, real feasibility (as score_pairs)."""
    confirmed = dict(confirmed or {})
    column = {offer.id: j for j, offer in enumerate(offers)}
    per_offer = [0] * len(offers)
    for offer_id in confirmed.values():
        if offer_id in column:
            per_offer[column[offer_id]] += 1
    return PairScores(
        applicants=applicants,
        offers=offers,
        applicant_texts=fake_texts([applicant_sentences(a) for a in applicants], seed),
        offer_texts=fake_texts([offer_sentences(o) for o in offers], seed + 1),
        topic=topic_fit_of(fit),
        feasibility=check_feasibility(applicants, offers, per_offer),
        confirmed=confirmed,
    )


# A small hand-written round: six topics, offers in German, English and French.
SAMPLE_OFFERS: tuple[dict[str, Any], ...] = (
    offer_dict(
        id="O-WASTE",
        city="Wien",
        organisation="Magistratsabteilung 48 – Abfallwirtschaft",
        title="Re-Use statt Sperrmüll: das 48er-Tandler-Kaufhaus",
        description=(
            "Gäste lernen, wie die Stadt gut erhaltene Möbel und Geräte aus dem Sperrmüll "
            "sammelt, prüft und im eigenen Gebrauchtwarenkaufhaus wieder verkauft. "
            "Sie begleiten die Mistplätze, an denen Bürgerinnen und Bürger Altstoffe und "
            "Wiederverwendbares abgeben. Ein Tag ist dem Reparaturnetzwerk und der "
            "Abfallvermeidung gewidmet."
        ),
        tags=["Abfallwirtschaft", "Wiederverwendung", "Kreislaufwirtschaft"],
        working_languages=["de"],
        min_language_level="B2",
        capacity=2,
    ),
    offer_dict(
        id="O-CYCLE",
        city="Kopenhagen",
        country="DK",
        organisation="Technical and Environmental Administration, Mobility Department",
        title="Planning a city-wide network of cycle superhighways",
        description=(
            "Guests join the team that plans cycle superhighways together with neighbouring "
            "municipalities. They learn how bike lanes, junction design and traffic signals "
            "for cyclists are standardised across the region. Site visits show green waves "
            "for bicycles and the counting of cycle traffic."
        ),
        language="en",
        tags=["Radverkehr", "Mobilität"],
        working_languages=["en", "da"],
        min_language_level="B2",
        capacity=1,
        available_from="2027-04-01",
        available_until="2027-09-30",
    ),
    offer_dict(
        id="O-HOUSING",
        city="Wien",
        organisation="Magistratsabteilung 50 – Wohnbauförderung",
        title="Geförderter Wohnbau und Mieterschutz",
        description=(
            "Gäste lernen die Vergabe geförderter Wohnungen und die Schlichtungsstelle für "
            "Mietstreitigkeiten kennen. Sie begleiten Beratungsgespräche zu Mieterhöhungen und "
            "Wohnungsmängeln. Zum Abschluss vergleichen sie die Wiener Wohnbauförderung mit "
            "dem Berliner Modell."
        ),
        tags=["Wohnen", "Mietrecht"],
        working_languages=["de"],
        capacity=1,
    ),
    offer_dict(
        id="O-DIGITAL",
        city="Warschau",
        country="PL",
        organisation="Urząd m.st. Warszawy, Biuro Cyfryzacji Miasta",
        title="Digitale Bürgerdienste und Online-Terminbuchung",
        description=(
            "Gäste arbeiten im Team, das Verwaltungsleistungen online anbietet. Sie lernen, "
            "wie Anträge digitalisiert, Online-Formulare mit Nutzerinnen getestet und Termine "
            "im Bürgeramt per App gebucht werden. Ein Schwerpunkt ist die barrierefreie "
            "Gestaltung digitaler Dienste."
        ),
        tags=["Digitalisierung", "E-Government"],
        working_languages=["en", "pl"],
        min_language_level="B1",
        capacity=1,
    ),
    offer_dict(
        id="O-LIBRARY",
        city="Paris",
        country="FR",
        organisation="Direction des Affaires Culturelles, Bibliothèques de la Ville de Paris",
        title="Les bibliothèques de quartier comme lieux de vie",
        description=(
            "Les invités découvrent le réseau des bibliothèques municipales de Paris. Ils "
            "participent à l'accueil du public, aux ateliers de lecture pour enfants et aux "
            "horaires d'ouverture élargis le dimanche. Ils apprennent comment les "
            "bibliothécaires organisent le prêt de livres et les animations culturelles."
        ),
        language="fr",
        tags=["Bibliotheken", "Kultur"],
        working_languages=["fr"],
        min_language_level="B2",
        capacity=1,
    ),
    offer_dict(
        id="O-CIVIL",
        city="Prag",
        country="CZ",
        organisation="Magistrát hlavního města Prahy, Krisenmanagement",
        title="Katastrophenschutz und Hochwasserschutz",
        description=(
            "Gäste lernen den Krisenstab der Stadt kennen und begleiten eine "
            "Hochwasserschutzübung an der Moldau. Sie erfahren, wie Warnsysteme, "
            "Evakuierungspläne und Notunterkünfte für Katastrophenfälle vorbereitet werden."
        ),
        tags=["Bevölkerungsschutz", "Krisenmanagement"],
        working_languages=["de", "en", "cs"],
        min_language_level="B1",
        capacity=1,
    ),
)

SAMPLE_APPLICANTS: tuple[dict[str, Any], ...] = (
    applicant_dict(
        id="A-WASTE",
        position="Referentin für Abfallvermeidung und Kreislaufwirtschaft",
        motivation=(
            "Ich koordiniere das Berliner Abfallwirtschaftskonzept und die Re-Use-Initiativen "
            "der Bezirke. Ich möchte lernen, wie man gebrauchte Möbel aus dem Sperrmüll "
            "rettet und in einem Gebrauchtwarenkaufhaus wieder verkauft. Besonders "
            "interessieren mich Reparaturangebote und die Zusammenarbeit mit den "
            "Recyclinghöfen."
        ),
        languages={"de": "C2", "en": "C1", "fr": "B2"},
        preferred_cities=["Wien"],
    ),
    applicant_dict(
        id="A-CYCLE",
        position="Referent für Radverkehrsplanung",
        motivation=(
            "Ich plane Radschnellverbindungen und geschützte Radfahrstreifen in Berlin. Ich "
            "möchte lernen, wie eine Stadt Kreuzungen fahrradfreundlich gestaltet und Ampeln "
            "für den Radverkehr schaltet."
        ),
        languages={"de": "C2", "en": "C1"},
        preferred_cities=["Kopenhagen", "Amsterdam"],
        available_from="2027-05-01",
        available_until="2027-08-31",
        weeks_wanted=4,
    ),
    applicant_dict(
        id="A-HOUSING",
        position="Sachbearbeiterin in der Wohnungsaufsicht",
        motivation=(
            "Ich bearbeite Beschwerden von Mieterinnen über Wohnungsmängel und "
            "Zweckentfremdung. Ich möchte sehen, wie Wien geförderte Wohnungen vergibt und "
            "Mietstreitigkeiten schlichtet."
        ),
        languages={"de": "C2", "en": "A2"},
    ),
    applicant_dict(
        id="A-DIGITAL",
        position="Produktverantwortlicher für Online-Dienste im Bürgeramt",
        motivation=(
            "Ich verantworte die Online-Terminvergabe der Berliner Bürgerämter. Ich möchte "
            "lernen, wie andere Städte Anträge digitalisieren und Online-Formulare mit "
            "Nutzerinnen testen."
        ),
        languages={"de": "C2", "en": "B2"},
        weeks_wanted=3,
    ),
    applicant_dict(
        id="A-LIBRARY",
        position="Leiterin einer Stadtteilbibliothek",
        motivation=(
            "Ich leite eine Stadtteilbibliothek in Neukölln. Ich möchte erfahren, wie "
            "Bibliotheken sonntags öffnen und Leseförderung für Kinder organisieren."
        ),
        languages={"de": "C2", "fr": "C1"},
        preferred_cities=["Paris"],
    ),
    applicant_dict(
        id="A-CIVIL",
        position="Sachgebietsleiter Katastrophenschutz",
        motivation=(
            "Ich bereite den Bezirk auf Großschadenslagen wie Hochwasser und Stromausfall "
            "vor. Ich möchte lernen, wie ein Krisenstab Evakuierungen plant und "
            "Notunterkünfte betreibt."
        ),
        languages={"de": "C2", "en": "B1"},
        available_from="2027-03-01",
        available_until="2027-03-10",
        weeks_wanted=2,
    ),
)

# The waste offer rewritten in English and French, without German tags: topic fit has to
# cross the language barrier on its own.
WASTE_OFFER_TRANSLATIONS: dict[str, dict[str, Any]] = {
    "en": {
        "language": "en",
        "title": "Re-use instead of bulky waste: the city's second-hand department store",
        "description": (
            "Guests learn how the city collects well-preserved furniture and appliances from "
            "bulky waste, checks them and sells them again in its own second-hand store. They "
            "visit the recycling centres where residents drop off recyclables and reusable "
            "goods. One day is dedicated to the repair network and waste prevention."
        ),
        "tags": [],
        "working_languages": ["en"],
    },
    "fr": {
        "language": "fr",
        "title": "Le réemploi plutôt que les encombrants : la ressourcerie de la ville",
        "description": (
            "Les invités découvrent comment la ville collecte les meubles et les appareils en "
            "bon état parmi les encombrants, les contrôle et les revend dans sa propre "
            "ressourcerie. Ils visitent les déchetteries où les habitants déposent les "
            "matériaux recyclables et les objets réutilisables. Une journée est consacrée au "
            "réseau de réparation et à la prévention des déchets."
        ),
        "tags": [],
        "working_languages": ["fr"],
    },
}


def sample_offers(waste_language: str = "de") -> list[Offer]:
    """The sample offers; the waste offer in German (as written) or translated."""
    offers = [dict(raw) for raw in SAMPLE_OFFERS]
    if waste_language != "de":
        offers[0].update(WASTE_OFFER_TRANSLATIONS[waste_language])
    return [Offer.model_validate(raw) for raw in offers]


def sample_applicants() -> list[Applicant]:
    """The sample applications (German)."""
    return [Applicant.model_validate(raw) for raw in SAMPLE_APPLICANTS]


@pytest.fixture(scope="session")
def model() -> SentenceTransformer:
    """The real default model (offline), loaded once per test session."""
    return matcher.load_model()


@pytest.fixture(scope="session")
def embedder(model: SentenceTransformer) -> Embedder:
    """A shared, caching embedder; tests that count model calls make their own."""
    return Embedder(model)


@pytest.fixture(scope="session")
def scorer(embedder: Embedder) -> TopicScorer:
    """Topic scorer over the shared embedder (the reference corpus is embedded once)."""
    return TopicScorer(embedder)


@pytest.fixture(scope="session")
def sample_scores(scorer: TopicScorer) -> PairScores:
    """The sample round scored with the real model."""
    return score_pairs(scorer, sample_applicants(), sample_offers())
