"""Batch matching runs in the background, each claimed by exactly one process.

The run row is the claim. Inserting it is refused by the partial unique index
``uq_matchingrun_active_round`` while the round has a queued or running run, so of two
processes asked at once exactly one gets 202, the other 409. The row names its ``owner`` (this
process) and a ``lease_until``; a heartbeat thread renews the leases of this process's runs
every third of the lease (``MATCHER_RUN_LEASE_SECONDS``) and fails any run whose lease ran out,
whichever process owned it: that process is gone. Every write of the owner is conditional on
still holding the run, so a run failed that way is never revived by a stalled owner.

A run scores and solves outside any lock, then takes the round's write lock in the database
(``crud.lock_round_for_write``), reloads the round and writes only if nothing changed meanwhile;
otherwise it lets go of the lock, solves again on the fresh state and retries. Its proposals and
its final status are committed in one transaction, so a run that is cancelled, fails or dies
halfway leaves no proposals behind.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from api import audit, learning, services
from api.errors import Conflict
from api.funding import cost_json, funding_of
from api.settings import get_settings
from matcher import Assignment, Mode, PairScores, TopicScorer
from matcher.embedding import ProgressCallback, reporting_progress
from models import crud
from models.tables import MatchingRun, RoundStatus, RunStatus, utc_now

logger = logging.getLogger(__name__)

FINAL = frozenset({RunStatus.DONE, RunStatus.FAILED, RunStatus.CANCELLED})
#: Why a run whose owner stopped renewing its lease is failed.
LEASE_EXPIRED = "Der Prozess, der die Zuordnung ausführte, antwortet nicht mehr (Lease abgelaufen)."
#: How often a run solves again because the round changed while it was solving.
MAX_SOLVES = 4
#: The share of the progress bar the embedding step fills, from … until.
EMBEDDING_FROM, EMBEDDING_UNTIL = 0.15, 0.65
#: Shortest pause between two progress writes while texts are embedded.
PROGRESS_SECONDS = 0.5


class RunCancelled(Exception):
    """Raised inside a run when a coordinator asked to stop it."""


class LeaseLost(Exception):
    """Raised inside a run that another process failed because its lease had run out."""


def process_owner() -> str:
    """A name for this process that no other process, here or on another host, shares."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class RunManager:
    """Owns the worker thread and the heartbeat; the API only starts, reads and cancels runs."""

    def __init__(
        self,
        engine: Engine,
        scorer: TopicScorer,
        write_lock: threading.Lock,
        *,
        lease_seconds: float,
    ) -> None:
        self.engine = engine
        self.scorer = scorer
        self.write_lock = write_lock
        self.lease_seconds = lease_seconds
        self.owner = process_owner()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="matching-run")
        #: Called between stages with (run id, stage); tests use it to cancel or fail a run.
        self.on_stage: Callable[[int, str], None] | None = None
        self._stopped = threading.Event()
        self._heartbeat = threading.Thread(
            target=self._beat, name="matching-run-heartbeat", daemon=True
        )
        self._heartbeat.start()

    def lease(self) -> Any:
        """The end of a lease taken or renewed now."""
        return utc_now() + timedelta(seconds=self.lease_seconds)

    def start(
        self,
        session: Session,
        *,
        round_id: int,
        mode: Mode,
        actor: str,
        parameters: dict[str, Any] | None = None,
    ) -> MatchingRun:
        """Queue a run for a round, unless one is already queued or running (in any process).

        ``parameters``: budget, quotas and cost table (``schemas.FundingIn``), kept on the run.
        """
        with self.write_lock:
            try:
                run = self._claim(
                    session, round_id=round_id, mode=mode, actor=actor, parameters=parameters
                )
            except BaseException:
                session.rollback()  # let go of the database's write lock inside the thread lock
                raise
        assert run.id is not None
        self.submit(run.id)
        return run

    def _claim(
        self,
        session: Session,
        *,
        round_id: int,
        mode: Mode,
        actor: str,
        parameters: dict[str, Any] | None,
    ) -> MatchingRun:
        """Insert the run row owned by this process; 409 while the round has an active run."""
        crud.lock_round_for_write(session=session, round_id=round_id)
        round_ = services.require_round(session, round_id)
        session.refresh(round_)
        if round_.status is RoundStatus.CLOSED:
            raise Conflict(f"Runde {round_id} ist abgeschlossen und nur noch lesbar.")
        _fail_expired(session)
        if crud.active_run(session=session, round_id=round_id) is not None:
            raise Conflict("Für diese Runde läuft bereits eine Zuordnung.")
        try:
            run = crud.create_run(
                session=session,
                round_id=round_id,
                mode=mode.value,
                created_by=actor,
                owner=self.owner,
                lease_until=self.lease(),
                parameters=parameters,
            )
            audit.record_run(
                session, run, "run_started", actor=actor, detail=_parameters_text(parameters)
            )
            session.commit()
        except IntegrityError as error:  # the unique index: another process was first
            raise Conflict("Für diese Runde läuft bereits eine Zuordnung.") from error
        return run

    def submit(self, run_id: int) -> Future[None]:
        return self._executor.submit(self._execute, run_id)

    def cancel(self, session: Session, run: MatchingRun, *, actor: str = "system") -> MatchingRun:
        """Ask a run to stop; a queued run stops at once, a running one at its next stage."""
        session.refresh(run)
        if run.status in FINAL:
            raise Conflict(f"Die Zuordnung ist bereits beendet ({run.status.value}).")
        crud.request_cancel(session=session, run_id=services.row_id(run.id))
        session.refresh(run)
        if run.status is RunStatus.CANCELLED:  # it was queued: stopped now, by ``actor``
            audit.record_run(session, run, "run_cancelled", actor=actor, detail="vor dem Start")
        session.commit()
        session.refresh(run)
        return run

    def shutdown(self) -> None:
        self._stopped.set()
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._heartbeat.join(timeout=10)

    def _beat(self) -> None:
        """Renew this process's leases and fail runs of dead processes, every third lease."""
        while not self._stopped.wait(self.lease_seconds / 3):
            try:
                with Session(self.engine) as session:
                    crud.renew_leases(session=session, owner=self.owner, until=self.lease())
                    _fail_expired(session)
                    session.commit()
            except Exception:  # e.g. the database is busy: the next beat tries again
                logger.exception("run heartbeat failed")

    def _execute(self, run_id: int) -> None:
        with Session(self.engine) as session:
            run = session.get(MatchingRun, run_id)
            if run is None or run.status in FINAL or run.owner != self.owner:
                return
            try:
                self._run(session, run)
            except LeaseLost:
                session.rollback()
                logger.warning("matching run %s lost its lease", run_id)
            except RunCancelled:
                session.rollback()
                self._set_final(session, run_id, RunStatus.CANCELLED, "abgebrochen")
            except Exception as error:  # the run must end in a final state, whatever happened
                session.rollback()
                logger.exception("matching run %s failed", run_id)
                message = f"{type(error).__name__}: {error}"[:500]
                self._set_final(session, run_id, RunStatus.FAILED, "fehlgeschlagen", message)

    def _run(self, session: Session, run: MatchingRun) -> None:
        assert run.id is not None
        mode = Mode(run.mode)
        funding = funding_of(run.parameters, time_limit=get_settings().assign_time_limit)
        self._stage(session, run, "Runde laden", 0.05)
        state = services.load_round(session, run.round_id)
        round_ = services.require_round(session, run.round_id)
        self._stage(session, run, "Texte einbetten und bewerten", EMBEDDING_FROM)
        with reporting_progress(self._embedding_progress(run)):
            scores, ranker = learning.score_round_ranked(session, self.scorer, round_, state)
        self._stage(session, run, "Zuordnung berechnen", 0.7)
        assignment = services.assign_round(
            self.scorer, round_, state, scores, mode=mode, funding=funding
        )
        self._stage(session, run, "Vorschläge speichern", 0.9)
        for _ in range(MAX_SOLVES):
            with self.write_lock:
                crud.lock_round_for_write(session=session, round_id=run.round_id)
                session.refresh(round_)
                if round_.status is RoundStatus.CLOSED:
                    raise RunCancelled
                fresh = services.load_round(session, run.round_id)
                if fresh == state:
                    self._store(session, run, state, assignment, scores, ranker.name)
                    return
                session.rollback()  # let go of the lock while solving again
            # Decisions or records changed while this run was computing: solve on the new state.
            state = fresh
            scores, ranker = learning.score_round_ranked(session, self.scorer, round_, state)
            assignment = services.assign_round(
                self.scorer, round_, state, scores, mode=mode, funding=funding
            )
        raise RuntimeError("Die Runde änderte sich während jeder Berechnung; bitte erneut starten.")

    def _store(
        self,
        session: Session,
        run: MatchingRun,
        state: services.RoundState,
        assignment: Assignment,
        scores: PairScores,
        ranker: str,
    ) -> None:
        """Write the proposals and the run's result in one transaction (under the lock)."""
        self._check_cancel(session, run)
        ids = services.store_proposals(
            session, run.round_id, state, assignment, self.scorer, scores, run_id=run.id
        )
        # A forced capacity cut can leave an offer with more guests than places: none is free.
        free = scores.feasibility.free_places.clip(min=0).sum()
        result = {**_result(assignment, ids, free), "ranker": ranker}
        audit.record_run(
            session,
            run,
            audit.RUN_ENDED[RunStatus.DONE],
            actor="system",
            detail=f"{len(ids)} Vorschläge, {len(assignment.unplaced)} ohne Platz, "
            f"{len(assignment.placements) - len(ids)} bestätigte beibehalten",
        )
        self._write(
            session,
            run,
            status=RunStatus.DONE,
            stage="fertig",
            progress=1.0,
            result=result,
            finished_at=utc_now(),
        )
        session.commit()

    def _stage(self, session: Session, run: MatchingRun, stage: str, progress: float) -> None:
        self._check_cancel(session, run)
        self._write(session, run, status=RunStatus.RUNNING, stage=stage, progress=progress)
        session.commit()
        if self.on_stage is not None:
            assert run.id is not None
            self.on_stage(run.id, stage)

    def _embedding_progress(self, run: MatchingRun) -> ProgressCallback:
        """Write „Texte einbetten: done / total“ to the run, at most every PROGRESS_SECONDS
        and whenever all texts asked for so far are done; each write is a stage (it checks for
        a cancel and the lease, and calls ``on_stage``).

        ``total`` grows as each model and each side starts; the bar keeps its highest share, so
        it never moves back."""
        run_id = services.row_id(run.id)
        last_write, shown = 0.0, EMBEDDING_FROM

        def report(done: int, total: int) -> None:
            nonlocal last_write, shown
            if done < total and time.monotonic() - last_write < PROGRESS_SECONDS:
                return
            last_write = time.monotonic()
            shown = max(shown, EMBEDDING_FROM + (EMBEDDING_UNTIL - EMBEDDING_FROM) * done / total)
            # Its own short transaction: the run's session may hold a read of the round.
            with Session(self.engine) as session:
                current = session.get(MatchingRun, run_id)
                assert current is not None
                self._stage(session, current, f"Texte einbetten: {done} / {total}", shown)

        return report

    def _write(self, session: Session, run: MatchingRun, **values: Any) -> None:
        """Write to the run while this process still holds it (renewing the lease)."""
        if not crud.update_active_run(
            session=session,
            run_id=services.row_id(run.id),
            owner=self.owner,
            lease_until=self.lease(),
            **values,
        ):
            raise LeaseLost

    def _set_final(
        self, session: Session, run_id: int, status: RunStatus, stage: str, error: str | None = None
    ) -> None:
        ended = crud.update_active_run(
            session=session,
            run_id=run_id,
            owner=self.owner,
            status=status,
            stage=stage,
            error=error,
            finished_at=utc_now(),
        )
        run = session.get(MatchingRun, run_id)
        if ended and run is not None:
            detail = error or ""
            audit.record_run(session, run, audit.RUN_ENDED[status], actor="system", detail=detail)
        session.commit()

    @staticmethod
    def _check_cancel(session: Session, run: MatchingRun) -> None:
        session.refresh(run)
        if run.cancel_requested:
            raise RunCancelled


def _fail_expired(session: Session) -> list[int]:
    """Fail the runs of dead processes (:data:`LEASE_EXPIRED`), audited (the caller commits)."""
    failed = crud.fail_expired_runs(session=session, error=LEASE_EXPIRED)
    for run_id in failed:
        run = session.get(MatchingRun, run_id)
        if run is not None:
            audit.record_run(session, run, "run_failed", actor="system", detail=LEASE_EXPIRED)
    return failed


def _parameters_text(parameters: dict[str, Any] | None) -> str:
    """The run's budget and quotas in a few words (empty: none set)."""
    named = {k: v for k, v in (parameters or {}).items() if v not in (None, {}, [])}
    return ", ".join(f"{key} {value}" for key, value in named.items())


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


def fail_expired_runs(engine: Engine) -> int:
    """At start-up: fail the runs whose process is gone (lease expired); runs that another
    live process is executing are left alone. The count."""
    with Session(engine) as session:
        failed = _fail_expired(session)
        session.commit()
        return len(failed)
