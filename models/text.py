"""Strict text for request fields: printable Unicode only, and names that say something.

A lone surrogate (``"\\ud800"``) cannot be encoded as UTF-8, so SQLite, the JSON encoder and
the CSV export fail on it long after validation said yes; NUL and other control characters end
up in exports and logs where they truncate or forge lines. Both are refused at the edge with a
German message. Tab, line feed and carriage return stay allowed: free text has paragraphs.

The engine validates the interchange format's own text fields with the same rule
(``matcher.records``); ``models`` may not import the engine, so the rule is written in both
places and ``tests/hardening/test_hostile_input.py`` holds them to the same cases.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

#: C0 controls except tab/LF/CR, DEL, C1 controls, and UTF-16 surrogates (never valid alone).
UNSAFE_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def check_text(value: str) -> str:
    """``value`` unchanged, or a ``text_unsafe`` error naming the first offending character."""
    found = UNSAFE_CHARACTERS.search(value)
    if found is not None:
        raise PydanticCustomError(
            "text_unsafe",
            "Unzulässiges Zeichen U+{code} an Stelle {position}: erlaubt sind druckbare "
            "Zeichen, Tabulator und Zeilenumbruch.",
            {"code": f"{ord(found.group()):04X}", "position": found.start() + 1},
        )
    return value


def check_name(value: str) -> str:
    """A name without surrounding spaces that contains at least one visible character."""
    value = check_text(value).strip()
    if not value:
        raise PydanticCustomError("name_blank", "Der Name darf nicht nur aus Leerzeichen bestehen.")
    return value


#: Free text (reasons, labels): any length the field allows, printable characters only.
SafeText = Annotated[str, AfterValidator(check_text)]
#: A name (round, token label): trimmed, not blank, at most 200 characters.
Name = Annotated[
    str, StringConstraints(max_length=200), AfterValidator(check_name), Field(min_length=1)
]
