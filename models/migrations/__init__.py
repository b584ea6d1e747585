"""Alembic migrations of the schema; ``models.db`` runs them (``matcher db upgrade``)."""
