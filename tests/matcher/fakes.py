"""Test doubles shared by the model-free tests of ``matcher.topic`` and ``matcher.scoring``."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from matcher.embedding import View

#: Model A reads de, fr, fi; model B de, fr: a Finnish text is read by A alone, a Hungarian one
#: by neither (then both count).
VIEWS = (
    View("model-a", slice(0, 4), frozenset({"de", "fr", "fi"})),
    View("model-b", slice(4, 7), frozenset({"de", "fr"})),
)


class FakeEmbedder:
    """Deterministic vectors from (prompt, text), unit length per model, as an ensemble's."""

    def __init__(self, views: tuple[View, ...] = VIEWS) -> None:
        self.views = views
        self.prompts: list[str | None] = []
        self.progress: list[bool] = []

    @property
    def width(self) -> int:
        return max(v.columns.stop for v in self.views) if self.views else 5

    def vector(self, text: str, prompt_name: str | None) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(f"{prompt_name}|{text}".encode()).digest()[:8])
        raw = np.random.default_rng(seed).normal(size=self.width)
        for view in self.views or (View("", slice(0, self.width)),):
            raw[view.columns] /= np.linalg.norm(raw[view.columns])
        return raw.astype(np.float32)

    def embed(
        self, texts: Sequence[str], *, prompt_name: str | None = None, show_progress: bool = False
    ) -> np.ndarray:
        self.prompts.append(prompt_name)
        self.progress.append(show_progress)
        return np.array([self.vector(t, prompt_name) for t in texts], dtype=np.float32).reshape(
            len(texts), self.width
        )
