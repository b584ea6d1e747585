"""Issuing bearer tokens (coordinators only; the first one comes from the CLI)."""

from __future__ import annotations

from fastapi import APIRouter, status

from api import services
from api.deps import CoordinatorDep, PrincipalDep, SessionDep
from models.schemas import AccountCreate, AccountIssued, AccountPublic

router = APIRouter(prefix="/api/accounts", tags=["Zugänge"])


@router.get("/me")
def who_am_i(session: SessionDep, principal: PrincipalDep) -> AccountPublic:
    """The caller's role and what the token is bound to (any role)."""
    return services.account_public(session, principal)


@router.post("", status_code=status.HTTP_201_CREATED)
def issue_token(body: AccountCreate, session: SessionDep, _: CoordinatorDep) -> AccountIssued:
    """A token for a coordinator, an applicant (one application) or a mentor (offers)."""
    account, token = services.issue_account(
        session,
        role=body.role,
        label=body.label,
        round_id=body.round_id,
        applicant_id=body.applicant_id,
        offer_ids=body.offer_ids,
    )
    session.commit()
    return AccountIssued(
        id=services.row_id(account.id), role=account.role, label=account.label, token=token
    )
