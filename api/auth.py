"""Bearer tokens: random, shown once, stored as sha256, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlmodel import Session

from models import crud
from models.tables import Role

#: 32 random bytes: 256 bits, far beyond guessing.
TOKEN_BYTES = 32


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
    """The account of a token, or None; the stored hash is compared in constant time."""
    presented = hash_token(token)
    account = crud.find_account(session=session, token_hash=presented)
    if account is None or not hmac.compare_digest(account.token_hash, presented):
        return None
    assert account.id is not None
    offers = crud.mentor_offer_ids(session=session, account_id=account.id)
    return Principal(account.id, account.role, account.applicant_id, frozenset(offers))
