"""Round settings: the minimum match strength of batch runs and the planned closing day."""

from __future__ import annotations

from fastapi import APIRouter

from api import services
from api.deps import CoordinatorDep, IdPath, SessionDep, WriteLockDep
from models.schemas import RoundSettings, RoundSummary

router = APIRouter(prefix="/api/rounds/{round_id}", tags=["Runden"])


@router.patch("/settings")
def change_settings(
    round_id: IdPath,
    body: RoundSettings,
    session: SessionDep,
    lock: WriteLockDep,
    principal: CoordinatorDep,
) -> RoundSummary:
    """Set ``min_strength`` (null: propose any strength) and/or ``closes_on``; audited."""
    with lock:
        round_ = services.require_round(session, round_id, writable=True)
        services.change_round_settings(session, round_, body, actor=principal.actor)
        session.commit()
    return services.round_summary(session, round_)
