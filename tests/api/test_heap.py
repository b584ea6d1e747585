"""``api.heap.settle``: what survives is out of the collector's sight until the next settle,
and the next settle collects it; nothing is lost for good."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from api import heap


class Node:
    """An object in a reference cycle: only the collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_settled_objects_wait_for_the_next_settle_and_are_then_collected() -> None:
    node = Node()
    ref = weakref.ref(node)
    heap.settle()
    assert gc.get_freeze_count() > 0
    del node
    gc.collect()
    assert ref() is not None  # frozen: a full collection does not look at it
    heap.settle()
    assert ref() is None


def test_garbage_from_before_a_settle_is_collected_by_it() -> None:
    node = Node()
    ref = weakref.ref(node)
    del node
    heap.settle()
    assert ref() is None
