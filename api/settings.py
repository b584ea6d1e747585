"""Configuration from the environment (prefix ``MATCHER_``), shared by the CLI and the API."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from matcher.embedding import DEFAULT_MODEL, E5_MODEL
from models.db import DEFAULT_BUSY_TIMEOUT, DEFAULT_DATABASE_URL, PoolSettings


class Settings(BaseSettings):
    """Every setting has a default that works offline on a fresh clone."""

    model_config = SettingsConfigDict(env_prefix="MATCHER_", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL: a SQLite file by default; in production PostgreSQL, "
        "postgresql+psycopg://user:password@host:5432/matcher.",
    )
    db_pool_size: int = Field(
        default=PoolSettings.size, ge=1, description="Connections each process keeps open."
    )
    db_max_overflow: int = Field(
        default=PoolSettings.overflow,
        ge=0,
        description="Extra connections a process may open under load (closed when idle); "
        "pool size + overflow ≥ 40 (the request threads) means no request waits.",
    )
    db_pool_timeout: float = Field(
        default=PoolSettings.timeout,
        gt=0,
        description="Seconds a request waits for a free connection before it fails.",
    )
    model: str = Field(
        default=DEFAULT_MODEL,
        description="Embedding model: the bundled default, a sentence-transformers model "
        "name already installed, or a local model directory.",
    )
    db_busy_timeout: float = Field(
        default=DEFAULT_BUSY_TIMEOUT,
        gt=0,
        le=60,
        description="Seconds a request waits for a locked SQLite database before it answers "
        "503 with Retry-After.",
    )
    second_model: str = Field(
        default=E5_MODEL,
        description="Second embedding model of the ensemble (reads Czech, Finnish, Hungarian, "
        "…); empty: the first model alone.",
    )
    top_k: int = Field(default=5, ge=1, le=100, description="Default shortlist length.")
    assign_time_limit: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="Seconds the exact solver may spend under a budget or quotas before it "
        "returns its best assignment with the proven gap.",
    )
    token_days_after_closing: int = Field(
        default=90,
        ge=0,
        le=3650,
        description="Tokens bound to a round with a closing day expire this many days after it.",
    )
    token_lifetime_days: int = Field(
        default=180,
        ge=1,
        le=3650,
        description="Lifetime of a token from issuance when no closing day is known "
        "(coordinator tokens, rounds without closes_on).",
    )
    run_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="How long a batch run stays claimed without a heartbeat (renewed every "
        "third of it); a run whose process died is failed by another process after this.",
    )

    smtp_host: str = Field(
        default="",
        description="Mail server for the e-mail notifications; empty: notifications are off "
        "(messages are still written to the outbox and wait there).",
    )
    smtp_port: int | None = Field(
        default=None, ge=1, le=65535, description="Default by TLS: 587 starttls, 465 ssl, 25 none."
    )
    smtp_tls: Literal["none", "starttls", "ssl"] = Field(
        default="starttls",
        description="starttls: plain connection upgraded by STARTTLS; ssl: TLS from the start "
        "(SMTPS); none: unencrypted (only for a relay on the same host).",
    )
    smtp_user: str = Field(default="", description="Login at the mail server; empty: none.")
    smtp_password: SecretStr = Field(default=SecretStr(""), description="Its password.")
    smtp_sender: str = Field(
        default="",
        description="From address, e.g. 'Hospitationsprogramm <hospitation@example.berlin.de>'; "
        "needed with a mail server.",
    )
    smtp_timeout: float = Field(
        default=30.0, gt=0, le=600, description="Seconds one step of the SMTP dialogue may take."
    )
    outbox_poll_seconds: float = Field(
        default=5.0, gt=0, le=3600, description="How often each process looks for due e-mails."
    )
    outbox_max_attempts: int = Field(
        default=10,
        ge=1,
        le=100,
        description="Attempts per e-mail before it is marked failed (`matcher outbox resend`).",
    )
    outbox_retry_seconds: float = Field(
        default=60.0,
        gt=0,
        le=86400,
        description="Wait before the second attempt; it doubles with each failure, up to 6 h.",
    )
    outbox_lease_seconds: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="An e-mail claimed by a process that died is sent by another after this.",
    )

    @model_validator(mode="after")
    def _sender_with_server(self) -> Self:
        if self.smtp_host and not self.smtp_sender:
            raise ValueError("MATCHER_SMTP_SENDER fehlt: ohne Absender wird nichts versandt.")
        return self

    @property
    def pool(self) -> PoolSettings:
        """The connection pool of each process."""
        return PoolSettings(self.db_pool_size, self.db_max_overflow, self.db_pool_timeout)

    @property
    def embedding_models(self) -> tuple[str, ...]:
        """The models the topic scorer embeds with, in ensemble order."""
        return tuple(name for name in (self.model, self.second_model) if name)


@lru_cache
def get_settings() -> Settings:
    """Settings read once per process; tests override or clear this cache."""
    return Settings()
