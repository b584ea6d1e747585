"""Domain errors of the engine; the API maps each class to an HTTP status in one place.

MatcherError
├── InvalidRecordsError   input records break the interchange format (→ 422 / exit 2)
└── ModelLoadError        the configured embedding model cannot be loaded offline
"""

from __future__ import annotations

from dataclasses import dataclass


class MatcherError(Exception):
    """Base class of every error the engine raises on purpose."""


@dataclass(frozen=True)
class RecordProblem:
    """One invalid field of one record: enough for a coordinator to find and fix it."""

    source: str
    index: int | None
    record_id: str | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"Datensatz {self.record_id!r}" if self.record_id else f"Datensatz Nr. {self.index}"
        if self.index is None:
            where = "Datei"
        field = f", Feld '{self.field}'" if self.field else ""
        return f"{self.source}: {where}{field}: {self.message}"


class InvalidRecordsError(MatcherError):
    """Raised with every problem of a file at once, so nothing of it is imported."""

    def __init__(self, problems: list[RecordProblem]) -> None:
        self.problems = problems
        shown = "\n".join(f"  - {problem}" for problem in problems[:50])
        more = f"\n  … und {len(problems) - 50} weitere" if len(problems) > 50 else ""
        super().__init__(f"{len(problems)} ungültige Angabe(n), nichts gespeichert:\n{shown}{more}")


class ModelLoadError(MatcherError):
    """The embedding model named in the settings could not be loaded without a model hub."""
