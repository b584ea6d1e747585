"""The real server for the latency benchmark: ``python -m benchmarks.server --port P``.

Serves ``create_app()`` with uvicorn on 127.0.0.1, configured like ``matcher serve`` (settings
from the environment, ``MATCHER_DATABASE_URL`` pointing at the benchmark's SQLite file).

``--blas-threads N`` caps BLAS (OpenBLAS) threads at N for the whole process, as
``threadpoolctl.threadpool_limits(N, "blas")`` in the app's lifespan would.

``--no-warm`` switches the background computation of every applicant's heads off: requests
compute the heads they miss (section 4 keeps it on and waits for it).

One route is added for the benchmark only: ``GET /bench/warm/{round_id}`` reports how far the
background computation of the round's shortlist heads got (``api.cache.progress``), so the
benchmark measures the warmed cache and how long warming took.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from threadpoolctl import threadpool_limits

from api import cache
from api.app import create_app
from api.settings import get_settings


def bench_app() -> FastAPI:
    """The product's app plus the benchmark's progress route."""
    app = create_app(get_settings())

    @app.get("/bench/warm/{round_id}", include_in_schema=False)
    def warm(round_id: int, request: Request) -> dict[str, Any]:
        progress = cache.progress(request.app.state.engine, request.app.state.scorer, round_id)
        if progress is None:
            return {"total": 0, "done": 0, "finished": False}
        return {"total": progress.total, "done": progress.done, "finished": progress.finished}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--blas-threads", type=int, default=None)
    parser.add_argument("--no-warm", action="store_true", help="no background heads")
    args = parser.parse_args()
    cache.WARM_IN_BACKGROUND = not args.no_warm
    if args.blas_threads is not None:
        threadpool_limits(args.blas_threads, user_api="blas")
    uvicorn.run(
        bench_app(), host="127.0.0.1", port=args.port, log_level="warning", access_log=False
    )


if __name__ == "__main__":
    main()
