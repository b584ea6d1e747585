"""The e-mail outbox (issue 18): every notification is a row first, sent later.

- ``outboxmessage``: recipient, subject, body, language, kind, round and the public ids the
  message is about; ``status`` (pending, sending, sent, failed) with a CHECK constraint,
  ``attempts``, ``next_attempt_at``, ``last_error``; the dispatcher's claim (``owner``,
  ``lease_until``); ``created_at``, ``sent_at``. ``key`` is unique: one message per event.
- ``ix_outboxmessage_due`` (status, next_attempt_at): the dispatcher's search for due rows;
  ``ix_outboxmessage_round_id``: ON DELETE CASCADE from ``round``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 13:11:46.725829
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUS = sa.Enum(
    "pending", "sending", "sent", "failed", name="outboxstatus", native_enum=False,
    create_constraint=True,
)  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "outboxmessage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=True),
        sa.Column("applicant_public_id", sa.String(length=500), nullable=True),
        sa.Column("offer_public_id", sa.String(length=500), nullable=True),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("owner", sa.String(length=100), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["round_id"], ["round.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_outboxmessage_due", "outboxmessage", ["status", "next_attempt_at"])
    op.create_index("ix_outboxmessage_round_id", "outboxmessage", ["round_id"])


def downgrade() -> None:
    op.drop_index("ix_outboxmessage_round_id", table_name="outboxmessage")
    op.drop_index("ix_outboxmessage_due", table_name="outboxmessage")
    op.drop_table("outboxmessage")
