"""Long-lived objects out of the garbage collector's sight, freed memory back to the system.

A server process holds some 550 000 objects from its libraries and models, and a warm round
cache adds about 15 per applicant. Python's full collection walks all of them, a third of a
second in which no request runs (BENCHMARKS.md, section 4): :func:`settle` moves what is alive
after start-up and after each warm-up into the permanent generation (``gc.freeze``), so the
collections in between look at new objects only. Each settle first takes everything frozen
before back (``gc.unfreeze``) and collects it, so nothing stays uncollected for longer than one
warm-up: one full collection per change of a round's offers instead of one every few seconds.

glibc keeps freed memory of its per-thread arenas; ``malloc_trim`` returns it, some 30 MB after
preparing 10 000 offers (section 6).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from functools import cache
from typing import Any


def settle() -> None:
    """Collect everything, freeze what survives, and give free memory back to the system."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@cache
def settle_started() -> None:
    """:func:`settle` once per process, when its first app has started (a test suite starts
    many; libraries and models load once)."""
    settle()


@cache
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None
