"""Configuration from the environment (prefix ``MATCHER_``), shared by the CLI and the API."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from matcher.embedding import DEFAULT_MODEL, E5_MODEL
from models.db import DEFAULT_DATABASE_URL


class Settings(BaseSettings):
    """Every setting has a default that works offline on a fresh clone."""

    model_config = SettingsConfigDict(env_prefix="MATCHER_", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL, description="SQLAlchemy URL; SQLite file by default."
    )
    model: str = Field(
        default=DEFAULT_MODEL,
        description="Embedding model: the bundled default, a sentence-transformers model "
        "name already installed, or a local model directory.",
    )
    second_model: str = Field(
        default=E5_MODEL,
        description="Second embedding model of the ensemble (reads Czech, Finnish, Hungarian, "
        "…); empty: the first model alone.",
    )
    top_k: int = Field(default=5, ge=1, le=100, description="Default shortlist length.")

    @property
    def embedding_models(self) -> tuple[str, ...]:
        """The models the topic scorer embeds with, in ensemble order."""
        return tuple(name for name in (self.model, self.second_model) if name)


@lru_cache
def get_settings() -> Settings:
    """Settings read once per process; tests override or clear this cache."""
    return Settings()
