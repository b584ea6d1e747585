"""German names of fields and German sentences for validation errors: one vocabulary.

Coordinators read every message in German, and they keep their data in spreadsheets with German
column headers. Both come from the table ``FIELD_LABELS`` below (the README prints it as the
header mapping), so a column called ``Dienststelle`` in an uploaded file and the message
„Dienststelle“ darf nicht leer sein. name the same thing. ``message()`` turns one pydantic error
(a dict of ``type``, ``loc``, ``ctx``) into a German sentence; the record import, the HTTP error
handler and the CLI all call it, so there is exactly one translation. An error type missing
from ``_SENTENCES`` still gets a German sentence („ist ungültig“), never pydantic's English text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

#: Interchange field (and request field) → German label; the labels double as the column headers
#: of spreadsheets (import, export, templates).
FIELD_LABELS: dict[str, str] = {
    # offers
    "id": "Kennung",
    "city": "Stadt",
    "country": "Land",
    "organisation": "Gastbehörde",
    "title": "Titel",
    "description": "Beschreibung",
    "language": "Sprache",
    "working_languages": "Arbeitssprachen",
    "min_language_level": "Mindestniveau",
    "capacity": "Plätze",
    "available_from": "Verfügbar ab",
    "available_until": "Verfügbar bis",
    "min_weeks": "Mindestdauer (Wochen)",
    "max_weeks": "Höchstdauer (Wochen)",
    "mentor_name": "Mentor/in",
    "mentor_email": "E-Mail Mentor/in",
    "tags": "Schlagwörter",
    "travel_cost": "Reisekosten",
    "weekly_cost": "Kosten pro Woche",
    # applicants
    "name": "Name",
    "email": "E-Mail",
    "home_organisation": "Dienststelle",
    "position": "Funktion",
    "languages": "Sprachkenntnisse",
    "preferred_cities": "Wunschstädte",
    "weeks_wanted": "Wunschdauer (Wochen)",
    "motivation": "Motivation",
    "agency": "Behörde",
    "wishes": "Wunschangebote",
    # request bodies and parameters of the HTTP API
    "offers": "Angebote",
    "applicants": "Bewerbungen",
    "status": "Status",
    "mode": "Verfahren",
    "role": "Rolle",
    "label": "Bezeichnung",
    "round_id": "Runde",
    "applicant_id": "Bewerbung",
    "offer_id": "Angebot",
    "offer_ids": "Angebote",
    "placement_id": "Zuordnung",
    "run_id": "Zuordnungslauf",
    "decision": "Entscheidung",
    "decisions": "Entscheidungen",
    "reason": "Begründung",
    "enabled": "eingeschaltet",
    "top_k": "Anzahl",
    "topic_only": "nur Themenpassung",
    "sheet": "Tabellenblatt",
    "body": "Inhalt der Anfrage",
}

#: Where a request error sits; not part of the field's name.
_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})


def field_label(loc: Sequence[str | int]) -> str:
    """German name of an error location: ``("languages", "de")`` → „Sprachkenntnisse (de)“."""
    parts = list(loc)
    if len(parts) > 1 and parts[0] in _LOCATIONS:
        parts = parts[1:]
    if not parts:
        return "Eingabe"
    words: list[str] = []
    for part in parts:
        if isinstance(part, int):
            words.append(f"Eintrag {part + 1}")
        elif part in FIELD_LABELS:
            words.append(FIELD_LABELS[part])
        else:
            words.append(part)
    head, *rest = words
    return f"{head} ({', '.join(rest)})" if rest else head


def _expected(ctx: Mapping[str, Any]) -> str:
    return str(ctx.get("expected", "")).replace(" or ", " oder ")


def _text_length(ctx: Mapping[str, Any]) -> str:
    shortest = int(ctx.get("min_length", 1))
    if shortest <= 1:
        return "darf nicht leer sein"
    return f"braucht mindestens {shortest} Zeichen"


def _entries(count: Any) -> str:
    return "1 Eintrag" if count == 1 else f"{count} Einträge"


def _invalid(_: Mapping[str, Any]) -> str:
    return "ist ungültig"


def _custom(ctx: Mapping[str, Any]) -> str:
    """Our own validators raise ValueError with a German text; pass it on."""
    return str(ctx.get("error", "ist ungültig")).removeprefix("Value error, ")


#: pydantic error type → predicate of the sentence (subject: the field's German name).
_SENTENCES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "missing": lambda _: "fehlt",
    "missing_argument": lambda _: "fehlt",
    "greater_than_equal": lambda c: f"muss mindestens {c.get('ge')} sein",
    "greater_than": lambda c: f"muss größer als {c.get('gt')} sein",
    "less_than_equal": lambda c: f"darf höchstens {c.get('le')} sein",
    "less_than": lambda c: f"muss kleiner als {c.get('lt')} sein",
    "multiple_of": lambda c: f"muss ein Vielfaches von {c.get('multiple_of')} sein",
    "finite_number": lambda _: "muss eine endliche Zahl sein",
    "string_too_short": _text_length,
    "string_too_long": lambda c: f"darf höchstens {c.get('max_length')} Zeichen lang sein",
    "too_short": lambda c: f"braucht mindestens {_entries(c.get('min_length'))}",
    "too_long": lambda c: f"darf höchstens {_entries(c.get('max_length'))} haben",
    "string_type": lambda _: "muss ein Text sein",
    "string_unicode": lambda _: "muss gültiger Unicode-Text sein",
    "string_pattern_mismatch": lambda _: "hat nicht die erwartete Form",
    "string_sub_type": lambda _: "muss ein Text sein",
    "int_type": lambda _: "muss eine ganze Zahl sein",
    "int_parsing": lambda _: "muss eine ganze Zahl sein",
    "int_parsing_size": lambda _: "ist als Zahl zu groß",
    "int_from_float": lambda _: "muss eine ganze Zahl sein",
    "float_type": lambda _: "muss eine Zahl sein",
    "float_parsing": lambda _: "muss eine Zahl sein",
    "decimal_type": lambda _: "muss eine Zahl sein",
    "decimal_parsing": lambda _: "muss eine Zahl sein",
    "bool_type": lambda _: "muss wahr oder falsch sein (true/false)",
    "bool_parsing": lambda _: "muss wahr oder falsch sein (true/false)",
    "list_type": lambda _: "muss eine Liste sein",
    "tuple_type": lambda _: "muss eine Liste sein",
    "set_type": lambda _: "muss eine Liste sein",
    "dict_type": lambda _: "muss ein Objekt (Schlüssel und Werte) sein",
    "model_type": lambda _: "muss ein Objekt (Schlüssel und Werte) sein",
    "model_attributes_type": lambda _: "muss ein Objekt (Schlüssel und Werte) sein",
    "dataclass_type": lambda _: "muss ein Objekt (Schlüssel und Werte) sein",
    "none_required": lambda _: "muss leer sein",
    "literal_error": lambda c: f"muss einer dieser Werte sein: {_expected(c)}",
    "enum": lambda c: f"muss einer dieser Werte sein: {_expected(c)}",
    "date_type": lambda _: "muss ein Datum sein (JJJJ-MM-TT)",
    "date_parsing": lambda _: "muss ein Datum sein (JJJJ-MM-TT)",
    "date_from_datetime_parsing": lambda _: "muss ein Datum sein (JJJJ-MM-TT)",
    "date_from_datetime_inexact": lambda _: "muss ein Datum ohne Uhrzeit sein (JJJJ-MM-TT)",
    "date_past": lambda _: "muss in der Vergangenheit liegen",
    "date_future": lambda _: "muss in der Zukunft liegen",
    "datetime_type": lambda _: "muss ein Zeitpunkt sein (JJJJ-MM-TTThh:mm)",
    "datetime_parsing": lambda _: "muss ein Zeitpunkt sein (JJJJ-MM-TTThh:mm)",
    "datetime_from_date_parsing": lambda _: "muss ein Zeitpunkt sein (JJJJ-MM-TTThh:mm)",
    "timezone_aware": lambda _: "braucht eine Zeitzone",
    "url_parsing": lambda _: "muss eine gültige Adresse (URL) sein",
    "url_type": lambda _: "muss eine gültige Adresse (URL) sein",
    "uuid_parsing": lambda _: "muss eine gültige UUID sein",
    "uuid_type": lambda _: "muss eine gültige UUID sein",
    "json_type": lambda _: "muss JSON-Text sein",
    "extra_forbidden": lambda _: "ist hier nicht vorgesehen",
    "frozen_field": lambda _: "darf nicht geändert werden",
    "frozen_instance": lambda _: "darf nicht geändert werden",
    "union_tag_invalid": lambda _: "hat eine unbekannte Art",
    "union_tag_not_found": lambda _: "nennt seine Art nicht",
    "is_instance_of": lambda _: "hat den falschen Typ",
    "bytes_type": lambda _: "muss ein Text sein",
    "value_error": _custom,
    "assertion_error": _custom,
}


#: Error types the project raises itself (``PydanticCustomError`` in models/ and api/): their
#: message is already a German sentence, so it is kept and only prefixed with the field.
OWN_ERROR_TYPES = frozenset(
    {"digits_only", "true_or_false", "ids_repeated", "text_unsafe", "name_blank"}
)


def message(error: Mapping[str, Any], *, loc: Sequence[str | int] | None = None) -> str:
    """One pydantic error as a German sentence naming the field: ``„Plätze“ muss mindestens 0
    sein.``; ``loc`` overrides the error's own location (model-level checks name their field)."""
    kind = str(error.get("type", ""))
    if kind == "json_invalid":  # its location is a character offset, not a field
        return "Der Inhalt ist kein gültiges JSON."
    where = field_label(loc if loc is not None else error.get("loc", ()))
    if kind in OWN_ERROR_TYPES:
        return f"„{where}“: {error.get('msg', 'ist ungültig')}"
    ctx = error.get("ctx") or {}
    predicate = _SENTENCES.get(kind, _invalid)(ctx)
    if kind in {"value_error", "assertion_error"}:
        return f"„{where}“: {predicate.rstrip('.')}."
    return f"„{where}“ {predicate}."
