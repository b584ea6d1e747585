"""Batch matching runs in the background: queued, running, done, failed or cancelled.

A run scores and solves outside any lock, then takes the decision lock, reloads the round and,
if confirmations or rejections happened meanwhile, solves again on the fresh state before it
writes. Its proposals and its final status are committed in one transaction, so a run that is
cancelled, fails or dies halfway leaves no proposals behind. One worker thread runs one run at
a time; a second run for a round that has one queued or running is refused.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

import matcher
from api import learning, services
from api.errors import Conflict
from api.funding import cost_json, funding_of
from api.settings import get_settings
from matcher import Assignment, Mode, TopicScorer
from models import crud
from models.tables import MatchingRun, RoundStatus, RunStatus, utc_now

logger = logging.getLogger(__name__)

FINAL = frozenset({RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED})


class RunCancelled(Exception):
    """Raised inside a run when a coordinator asked to stop it."""


class RunManager:
    """Owns the worker thread; the API only starts, reads and cancels runs."""

    def __init__(self, engine: Engine, scorer: TopicScorer, write_lock: threading.Lock) -> None:
        self.engine = engine
        self.scorer = scorer
        self.write_lock = write_lock
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="matching-run")
        #: Called between stages with (run id, stage); tests use it to cancel or fail a run.
        self.on_stage: Callable[[int, str], None] | None = None

    def start(
        self,
        session: Session,
        *,
        round_id: int,
        mode: Mode,
        actor: str,
        parameters: dict[str, Any] | None = None,
    ) -> MatchingRun:
        """Queue a run for a round, unless one is already queued or running.

        ``parameters``: budget, quotas and cost table (``schemas.FundingIn``), kept on the run.
        """
        with self.write_lock:
            if crud.active_run(session=session, round_id=round_id) is not None:
                raise Conflict("Für diese Runde läuft bereits eine Zuordnung.")
            run = crud.create_run(
                session=session,
                round_id=round_id,
                mode=mode.value,
                created_by=actor,
                parameters=parameters,
            )
            session.commit()
        assert run.id is not None
        self.submit(run.id)
        return run

    def submit(self, run_id: int) -> Future[None]:
        return self._executor.submit(self._execute, run_id)

    def cancel(self, session: Session, run: MatchingRun) -> MatchingRun:
        """Ask a run to stop; a queued run stops at once, a running one at its next stage."""
        if run.status in FINAL:
            raise Conflict(f"Die Zuordnung ist bereits beendet ({run.status.value}).")
        run.cancel_requested = True
        if run.status is RunStatus.QUEUED:
            _finish(run, RunStatus.CANCELLED, stage="abgebrochen")
        session.add(run)
        session.commit()
        return run

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _execute(self, run_id: int) -> None:
        with Session(self.engine) as session:
            run = session.get(MatchingRun, run_id)
            if run is None or run.status in FINAL:
                return
            try:
                self._run(session, run)
            except RunCancelled:
                session.rollback()
                _set_final(session, run_id, RunStatus.CANCELLED, "abgebrochen")
            except Exception as error:  # the run must end in a final state, whatever happened
                session.rollback()
                logger.exception("matching run %s failed", run_id)
                message = f"{type(error).__name__}: {error}"[:500]
                _set_final(session, run_id, RunStatus.FAILED, "fehlgeschlagen", error=message)

    def _run(self, session: Session, run: MatchingRun) -> None:
        assert run.id is not None
        mode = Mode(run.mode)
        funding = funding_of(run.parameters, time_limit=get_settings().assign_time_limit)
        self._stage(session, run, RunStatus.RUNNING, "Runde laden", 0.05)
        state = services.load_round(session, run.round_id)
        round_ = services.require_round(session, run.round_id)
        self._stage(session, run, RunStatus.RUNNING, "Texte einbetten und bewerten", 0.15)
        scores, ranker = learning.score_round_ranked(session, self.scorer, round_, state)
        self._stage(session, run, RunStatus.RUNNING, "Zuordnung berechnen", 0.7)
        assignment = matcher.assign(scores, mode=mode, rejected=state.rejected, funding=funding)
        self._stage(session, run, RunStatus.RUNNING, "Vorschläge speichern", 0.9)
        with self.write_lock:
            round_ = services.require_round(session, run.round_id)
            if round_.status is RoundStatus.CLOSED:
                raise RunCancelled
            fresh = services.load_round(session, run.round_id)
            if fresh != state:  # decisions or records changed while this run was computing
                state = fresh
                scores, ranker = learning.score_round_ranked(session, self.scorer, round_, state)
                assignment = matcher.assign(
                    scores, mode=mode, rejected=state.rejected, funding=funding
                )
            self._check_cancel(session, run)
            ids = services.store_proposals(session, run.round_id, state, assignment, run_id=run.id)
            run.result = _result(assignment, ids, scores.feasibility.free_places.sum())
            run.result["ranker"] = ranker.name
            _finish(run, RunStatus.DONE, stage="fertig")
            session.add(run)
            session.commit()

    def _stage(
        self, session: Session, run: MatchingRun, status: RunStatus, stage: str, progress: float
    ) -> None:
        self._check_cancel(session, run)
        run.status, run.stage, run.progress = status, stage, progress
        session.add(run)
        session.commit()
        if self.on_stage is not None:
            assert run.id is not None
            self.on_stage(run.id, stage)

    @staticmethod
    def _check_cancel(session: Session, run: MatchingRun) -> None:
        session.refresh(run)
        if run.cancel_requested:
            raise RunCancelled


def _finish(run: MatchingRun, status: RunStatus, *, stage: str, error: str | None = None) -> None:
    run.status, run.stage, run.error = status, stage, error
    run.progress = 1.0 if status is RunStatus.DONE else run.progress
    run.finished_at = utc_now()


def _set_final(
    session: Session, run_id: int, status: RunStatus, stage: str, error: str | None = None
) -> None:
    run = session.get(MatchingRun, run_id)
    if run is not None:
        _finish(run, status, stage=stage, error=error)
        session.add(run)
        session.commit()


def _result(assignment: Assignment, placement_ids: dict[str, int], places: Any) -> dict[str, Any]:
    proposals = [p for p in assignment.placements if not p.pinned]
    return {
        "proposals": [
            {
                "placement_id": placement_ids[p.applicant_id],
                "applicant_id": p.applicant_id,
                "offer_id": p.offer_id,
                "score": round(p.score, 6),
                "cost": round(p.cost, 2),
            }
            for p in proposals
        ],
        "pinned": [
            {"applicant_id": p.applicant_id, "offer_id": p.offer_id, "score": round(p.score, 6)}
            for p in assignment.placements
            if p.pinned
        ],
        "unplaced": [
            {"applicant_id": u.applicant_id, "reason": u.reason} for u in assignment.unplaced
        ],
        "alternates": {offer: list(ids) for offer, ids in assignment.alternates.items()},
        "total_score": round(assignment.total_score, 6),
        "places_left": int(places) - len(proposals),
        **cost_json(assignment),
    }


def fail_interrupted_runs(engine: Engine) -> int:
    """Runs left queued or running by a previous process can never finish: mark them failed."""
    with Session(engine) as session:
        interrupted = crud.unfinished_runs(session=session)
        for run in interrupted:
            _finish(
                run,
                RunStatus.FAILED,
                stage="fehlgeschlagen",
                error="Der Server wurde während der Zuordnung beendet.",
            )
            session.add(run)
        session.commit()
        return len(interrupted)
