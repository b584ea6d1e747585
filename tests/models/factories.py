"""Complete interchange-like rows, as the service layer builds them from engine records."""

from datetime import date

from models import ApplicantBase, OfferBase


def make_offer(external_id: str = "o1", **changes: object) -> OfferBase:
    """An offer with every field set, as the service layer builds it from an interchange record."""
    fields: dict[str, object] = {
        "external_id": external_id,
        "city": "Wien",
        "country": "AT",
        "organisation": "Magistratsabteilung 23 – Wirtschaft, Arbeit und Statistik",
        "title": "Open-Data-Portal der Stadt",
        "description": "Gäste begleiten das Team bei der Veröffentlichung offener Daten.",
        "language": "de",
        "working_languages": ["de", "en"],
        "min_language_level": "B2",
        "capacity": 2,
        "available_from": date(2027, 3, 1),
        "available_until": date(2027, 6, 30),
        "min_weeks": 1,
        "max_weeks": 4,
        "mentor_name": "Maria Gruber",
        "mentor_email": "maria.gruber@example.at",
        "tags": ["Open Data", "Statistik", "Digitalisierung"],
    }
    fields.update(changes)
    return OfferBase.model_validate(fields)


def make_applicant(external_id: str = "a1", **changes: object) -> ApplicantBase:
    """An applicant with every field set."""
    fields: dict[str, object] = {
        "external_id": external_id,
        "name": "Jürgen Weiß",
        "email": "juergen.weiss@example.berlin.de",
        "home_organisation": "Bezirksamt Pankow, Stadtentwicklungsamt",
        "position": "Sachbearbeiter Bauleitplanung",
        "languages": {"de": "C2", "en": "B2", "pl": "A2"},
        "preferred_cities": ["Wien", "Warschau"],
        "available_from": date(2027, 4, 1),
        "available_until": date(2027, 5, 31),
        "weeks_wanted": 2,
        "motivation": "Ich möchte lernen, wie Wien Bürgerbeteiligung digital organisiert.",
    }
    fields.update(changes)
    return ApplicantBase.model_validate(fields)
