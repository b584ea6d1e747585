"""Bearer tokens: random, shown once, stored as sha256, compared in constant time.

A token stops working when it is revoked or past its ``expires_at``; either gives 401 with a
German message that says which (an unknown token says nothing more than that).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from api.errors import NotAuthenticated
from models import crud
from models.health import DatabaseUnavailable
from models.tables import Role, utc_now

#: 32 random bytes: 256 bits, far beyond guessing.
TOKEN_BYTES = 32
#: ``last_used_at`` is written at most this often per account, so reads seldom write.
LAST_USED_PRECISION = timedelta(minutes=1)


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """Tokens are long random strings, so a plain sha256 is enough (no password stretching)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """The caller: role and what the account is bound to (row ids)."""

    account_id: int
    role: Role
    applicant_id: int | None
    offer_ids: frozenset[int]

    @property
    def actor(self) -> str:
        """How the audit log names the caller: role and account id, never a person's name."""
        return f"{self.role.value}:{self.account_id}"


def authenticate(session: Session, token: str) -> Principal | None:
    """The account of a valid token, or None (unknown, revoked or expired)."""
    try:
        return check_token(session, token)
    except NotAuthenticated:
        return None


def check_token(session: Session, token: str, *, now: datetime | None = None) -> Principal:
    """The caller of a token, or 401 saying whether it is unknown, revoked or expired.

    The stored hash is compared in constant time. Use is recorded at most once a minute with a
    conditional update committed at once on the request's own connection (a request holds one
    connection only), so a request that reads only still leaves its trace.
    """
    now = now or utc_now()
    presented = hash_token(token)
    account = crud.find_account(session=session, token_hash=presented)
    if account is None or not hmac.compare_digest(account.token_hash, presented):
        raise NotAuthenticated("Unbekanntes Token.")
    if account.revoked_at is not None:
        raise NotAuthenticated(f"Dieses Token wurde am {account.revoked_at:%d.%m.%Y} widerrufen.")
    if account.expires_at is not None and account.expires_at <= now:
        raise NotAuthenticated(f"Dieses Token ist am {account.expires_at:%d.%m.%Y} abgelaufen.")
    assert account.id is not None
    # Only mentors have offers: the others' requests skip the query.
    is_mentor = account.role is Role.MENTOR
    offers = crud.mentor_offer_ids(session=session, account_id=account.id) if is_mentor else []
    principal = Principal(account.id, account.role, account.applicant_id, frozenset(offers))
    if account.last_used_at is None or now - account.last_used_at >= LAST_USED_PRECISION:
        _record_use(session, account.id, now)
    return principal


def _record_use(session: Session, account_id: int, now: datetime) -> None:
    """Stamp the token's use; skipped (not failed) when the database is busy writing."""
    try:
        crud.stamp_account_use(session=session, account_id=account_id, used_at=now)
        session.commit()
    except (OperationalError, DatabaseUnavailable):  # busy or read-only: the request goes on
        session.rollback()
