"""The database as the engine's embedding cache (the ``EmbeddingStore`` protocol, structurally).

Vectors are stored as raw float32 bytes, so a loaded vector is bit-for-bit the one saved.

Inside an HTTP request the store must not take a second pooled connection while the request's
session holds one: with every request thread waiting for a second connection the pool runs dry
and requests stall until they time out. So a request binds its session (``bind``): loads then
read through that session's connection, and new vectors wait in the binding until the request
has given its connection back (``flush``). Outside a request (CLI, background runs) the store
uses its engine as before.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, Executable, Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from models.tables import EmbeddingRecord

#: Keys per ``IN (...)`` query: stays below SQLite's bound-variable limit on old builds (999).
CHUNK_SIZE = 500

_TABLE: Table = EmbeddingRecord.__table__  # type: ignore[attr-defined]  # set by SQLAlchemy

#: Inserts that skip rows whose key exists, atomically, per dialect; others check first.
_INSERT_IGNORING_EXISTING: dict[str, Executable] = {
    "sqlite": sqlite.insert(_TABLE).on_conflict_do_nothing(),
    "postgresql": postgresql.insert(_TABLE).on_conflict_do_nothing(),
}


@dataclass
class SessionBinding:
    """A request's session lent to the store, and the vectors waiting for ``flush``."""

    session: Session | None
    pending: dict[str, dict[str, npt.NDArray[Any]]] = field(default_factory=dict)


#: The binding of the request being served; request threads inherit their request's context.
_binding: ContextVar[SessionBinding | None] = ContextVar("embedding_store_binding", default=None)


class SqlEmbeddingStore:
    """Embeddings that outlive the process, shared by every process using the database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def bind(session: Session) -> SessionBinding:
        """Read through ``session`` in this context (a request) and hold new vectors back.

        Call it in the request's own context (an ``async`` dependency), so that the request's
        threads see it; call ``flush`` once the session is closed.
        """
        binding = SessionBinding(session)
        _binding.set(binding)
        return binding

    def flush(self, binding: SessionBinding) -> None:
        """End the binding and store the vectors it held back (after its session is closed)."""
        binding.session = None
        for model_id, vectors in binding.pending.items():
            self._write(model_id, vectors)
        binding.pending.clear()

    def load(self, model_id: str, keys: Sequence[str]) -> dict[str, npt.NDArray[np.float32]]:
        """Stored vectors, shape (dim,), for those keys that exist; missing keys are absent."""
        binding = _binding.get()
        if binding is None or binding.session is None:
            with self.engine.connect() as connection:
                return _read(connection, model_id, keys)
        pending = binding.pending.get(model_id, {})
        found = {key: pending[key] for key in keys if key in pending}
        missing = [key for key in keys if key not in found]
        found.update(_read(binding.session.connection(), model_id, missing))
        return found

    def save(self, model_id: str, vectors: Mapping[str, npt.NDArray[Any]]) -> None:
        """Store 1-D vectors as float32; existing keys keep their vector.

        Inside a bound request they are stored by ``flush``, after the request's connection is
        back in the pool; until then ``load`` finds them in the binding.
        """
        binding = _binding.get()
        if binding is None or binding.session is None:
            self._write(model_id, vectors)
            return
        held = binding.pending.setdefault(model_id, {})
        held.update((key, _vector(key, vector)) for key, vector in vectors.items())

    def _write(self, model_id: str, vectors: Mapping[str, npt.NDArray[Any]]) -> None:
        """Insert in one transaction of its own, skipping keys that exist."""
        rows = [_row(model_id, key, vector) for key, vector in vectors.items()]
        if not rows:
            return
        with self.engine.begin() as connection:
            statement = _INSERT_IGNORING_EXISTING.get(connection.dialect.name)
            if statement is not None:
                connection.execute(statement, rows)
                return
            # Not atomic against a concurrent writer of the same key: that writer's insert fails
            # with IntegrityError, and it can simply retry (the key is then known).
            existing = _existing_keys(connection, model_id, [row["text_key"] for row in rows])
            new_rows = [row for row in rows if row["text_key"] not in existing]
            if new_rows:
                connection.execute(insert(_TABLE), new_rows)


def _read(
    connection: Connection, model_id: str, keys: Sequence[str]
) -> dict[str, npt.NDArray[np.float32]]:
    found: dict[str, npt.NDArray[np.float32]] = {}
    for chunk in _chunks(list(dict.fromkeys(keys))):
        rows = connection.execute(
            select(_TABLE.c.text_key, _TABLE.c.dim, _TABLE.c.vector).where(
                _TABLE.c.model_id == model_id, _TABLE.c.text_key.in_(chunk)
            )
        )
        for key, dim, blob in rows:
            # frombuffer views read-only bytes; copy so callers get an ordinary array.
            found[key] = np.frombuffer(blob, dtype=np.float32, count=dim).copy()
    return found


def _vector(key: str, vector: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    array = np.ascontiguousarray(vector, dtype=np.float32)
    if array.ndim != 1:
        raise ValueError(f"embedding {key} must be 1-D, got shape {array.shape}")
    return array


def _row(model_id: str, key: str, vector: npt.NDArray[Any]) -> dict[str, Any]:
    array = _vector(key, vector)
    return {"model_id": model_id, "text_key": key, "dim": array.shape[0], "vector": array.tobytes()}


def _existing_keys(connection: Connection, model_id: str, keys: list[str]) -> set[str]:
    existing: set[str] = set()
    for chunk in _chunks(keys):
        existing.update(
            connection.scalars(
                select(_TABLE.c.text_key).where(
                    _TABLE.c.model_id == model_id, _TABLE.c.text_key.in_(chunk)
                )
            )
        )
    return existing


def _chunks(keys: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(keys), CHUNK_SIZE):
        yield keys[start : start + CHUNK_SIZE]
