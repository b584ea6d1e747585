"""Tokens: issue, list, revoke, re-issue (coordinators; the first token comes from the CLI)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from api import call, services
from api.deps import CoordinatorDep, IdPath, PlainDigits, PrincipalDep, SessionDep, SettingsDep
from api.routes.call import CallSettingsDep
from models.schemas import MAX_ROW_ID, AccountCreate, AccountIssued, AccountPublic, TokenPublic
from models.tables import Account, utc_now

router = APIRouter(prefix="/api/accounts", tags=["Zugänge"])


@router.get("/me")
def who_am_i(session: SessionDep, principal: PrincipalDep) -> AccountPublic:
    """The caller's role and what the token is bound to (any role)."""
    return services.account_public(session, principal)


@router.post("", status_code=status.HTTP_201_CREATED)
def issue_token(
    body: AccountCreate,
    session: SessionDep,
    settings: SettingsDep,
    call_settings: CallSettingsDep,
    principal: CoordinatorDep,
) -> AccountIssued:
    """A token for a coordinator, an applicant (one application) or a mentor (offers).

    With ``email`` (mentors, while the round's call takes offers) the link to the offer page
    is e-mailed too (English template ``mentor_invitation``).

    It expires 90 days after the round's closing day, or 180 days after issuance while the
    round has none (settings ``MATCHER_TOKEN_DAYS_AFTER_CLOSING``, ``…_LIFETIME_DAYS``).
    """
    account, token = services.issue_account(
        session,
        role=body.role,
        label=body.label,
        round_id=body.round_id,
        applicant_id=body.applicant_id,
        offer_ids=body.offer_ids,
        actor=principal.actor,
        settings=settings,
    )
    if body.email is not None:
        call.invite_mentor(
            session,
            account,
            token,
            body.email,
            round_id=body.round_id,
            offer_ids=body.offer_ids,
            settings=call_settings,
        )
    session.commit()
    return _issued(account, token)


@router.get("")
def list_tokens(
    session: SessionDep,
    _: CoordinatorDep,
    round_id: Annotated[
        int | None, PlainDigits, Query(ge=1, le=MAX_ROW_ID, description="only tokens of this round")
    ] = None,
) -> list[TokenPublic]:
    """Every token: label, role, binding, created, last used, expiry, state; never the secret."""
    return services.list_tokens(session, round_id=round_id)


@router.post("/{account_id}/revoke")
def revoke_token(account_id: IdPath, session: SessionDep, principal: CoordinatorDep) -> TokenPublic:
    """Stop a token at once; its calls get 401 „widerrufen“ (re-issue makes a new one)."""
    account = services.revoke_token(session, account_id, actor=principal.actor)
    session.commit()
    return services.token_public(session, account, utc_now())


@router.post("/{account_id}/reissue")
def reissue_token(
    account_id: IdPath, session: SessionDep, settings: SettingsDep, principal: CoordinatorDep
) -> AccountIssued:
    """A new secret for the same account, with a fresh expiry; the old secret stops working."""
    account, token = services.reissue_token(
        session, account_id, actor=principal.actor, settings=settings
    )
    session.commit()
    return _issued(account, token)


def _issued(account: Account, token: str) -> AccountIssued:
    return AccountIssued(
        id=services.row_id(account.id), role=account.role, label=account.label, token=token
    )
