"""The real server for the latency benchmark: ``python -m benchmarks.server --port P [--uncached]``.

Serves ``create_app()`` with uvicorn on 127.0.0.1, configured like ``matcher serve`` (settings
from the environment, ``MATCHER_DATABASE_URL`` pointing at the benchmark's SQLite file).

``--blas-threads N`` caps BLAS (OpenBLAS) threads at N for the whole process, as
``threadpoolctl.threadpool_limits(N, "blas")`` in the app's lifespan would.

``--uncached`` serves shortlists the way they were computed before the round cache
(``api/cache.py``): every request loads the round through ``services.load_round`` and scores the
applicant with ``matcher.score_pairs``, which re-embeds (from the database) and re-calibrates
every offer. It exists only to measure "before" against "after" in the same run.
"""

from __future__ import annotations

import argparse

import uvicorn
from sqlmodel import Session
from threadpoolctl import threadpool_limits

import matcher
from api import services, shortlists
from api.app import create_app
from api.settings import get_settings
from matcher import PairScores, TopicScorer
from models.tables import Applicant


def uncached_applicant_scores(
    session: Session, scorer: TopicScorer, round_id: int, applicant: Applicant
) -> PairScores:
    """The shortlist's scoring before the round cache (the code this benchmark replaced)."""
    state = services.load_round(session, round_id)
    record = services.applicant_record(applicant)
    return matcher.score_pairs(scorer, [record], state.offers, confirmed=state.confirmed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--uncached", action="store_true")
    parser.add_argument("--blas-threads", type=int, default=None)
    args = parser.parse_args()
    if args.blas_threads is not None:
        threadpool_limits(args.blas_threads, user_api="blas")
    if args.uncached:
        # Fail loudly if the hook moved: "before" would otherwise silently measure "after".
        assert callable(getattr(shortlists, "_applicant_scores", None))
        shortlists._applicant_scores = uncached_applicant_scores  # the path before the cache
    uvicorn.run(
        create_app(get_settings()),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
