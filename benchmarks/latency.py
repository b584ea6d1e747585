"""Shortlist latency over HTTP against the real server, answered from cached heads.

One SQLite file in a temporary folder holds three rounds of 100, 1 000 and 10 000 synthetic
offers (fixture texts, varied ids, cities, dates), each with 5 000 synthetic applicants (fixture
texts, varied ids, preferred cities, dates) and five confirmed placements, and one re-ranker
fitted on simulated decisions of the sample round. Every text's embedding is stored first, so
no request waits for the model. The server prepares each round's offers on its first request
and then computes every applicant's heads in the background; the benchmark waits for that
(``GET /bench/warm/{id}``) and measures the server's memory with every applicant cached. Each
measured applicant is requested once first (its answer computed from the warm heads). Then the
benchmark sends
``GET /api/rounds/{id}/applicants/{applicant}/shortlist`` from 1 and from 4 concurrent clients,
with the re-ranker switched off and on, and ``GET /api/health`` as the reference. Every answer
is compared with the full computation in this process (the applicant against every offer:
``shortlists.shortlist(..., full=True)``) and has to be the same JSON. Then an offer is edited
over HTTP and the time until a shortlist shows it is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import matplotlib
import numpy as np
import psutil
from sentence_transformers import SentenceTransformer
from sqlalchemy import Engine, text, update
from sqlmodel import Session

import matcher
from api import cache, services, shortlists
from api.settings import get_settings
from benchmarks.common import PLOTS, REPO, Section, met, percentile, table
from benchmarks.synthetic import fixture_records, synthetic_applicants, synthetic_offers
from matcher.rerank import DecisionReranker, pair_features
from models import crud, tables
from models.db import init_db, make_engine
from models.store import SqlEmbeddingStore
from models.tables import PlacementCreate, PlacementStatus, RankerModel, Role

matplotlib.use("Agg")
import matplotlib.pyplot as plt

TITLE = "4. Shortlist latency over HTTP"
MEMORY_TITLE = "6. Server memory"
SIZES = (100, 1_000, 10_000)
APPLICANTS = 5_000
#: Requests per size and ranker setting, by number of concurrent clients (in BATCHES batches).
REQUESTS = {1: 100, 4: 200}
CLIENTS = tuple(REQUESTS)
#: Distinct applicants per size (requested in turn): each needs one full computation to compare.
DISTINCT = 100
BATCHES = 4
TARGET_P99_MS = 20.0
TARGET_RSS_MIB = 1024
CONFIRMED_PER_ROUND = 5
READY_TIMEOUT_S = 300.0
WARM_TIMEOUT_S = 1800.0
#: Runs of the largest size with 4 clients, per ranker setting (the machine is shared).
REPEATS = 3
#: Requests for other applicants right after the offer edit (their heads are being recomputed).
AFTER_EDIT_REQUESTS = 40


@dataclass
class Load:
    """Latencies (s) of one request loop, its batches' requests per second, every answer."""

    latencies: list[float]
    rates: list[float]
    answers: list[tuple[str, Any]] = field(default_factory=list)
    load_average: float = 0.0  # 1-minute load average at the end

    def p(self, q: float) -> float:
        return 1000.0 * percentile(self.latencies, q)

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)


@dataclass
class BenchRound:
    size: int
    round_id: int
    applicants: list[matcher.Applicant]
    offers: list[matcher.Offer]

    @property
    def applicant_ids(self) -> list[str]:
        return [a.id for a in self.applicants]


@dataclass
class Edit:
    """An offer edited over HTTP at the largest size, and what the next shortlists did."""

    put_ms: float
    first_ms: float  # the next shortlist that contains the edit
    reflected: bool
    same_json: bool
    others: Load  # other applicants' shortlists right after (heads being recomputed)


@dataclass
class Measured:
    shortlist: dict[tuple[int, bool, int], Load] = field(default_factory=dict)  # size, rr, clients
    health: dict[int, Load] = field(default_factory=dict)
    prepare_s: dict[int, float] = field(default_factory=dict)  # first request: offers prepared
    #: each measured applicant's first request (heads computed), by size and ranker setting
    heads_ms: dict[tuple[int, bool], Load] = field(default_factory=dict)
    warm_s: dict[int, float] = field(default_factory=dict)  # every applicant's heads, by size
    #: p99 (ms) of each run of the largest size with 4 clients, by ranker setting
    repeats: dict[bool, list[float]] = field(default_factory=dict)
    rss: dict[str, int] = field(default_factory=dict)
    peak_rss: int = 0
    peak_before_edit: int = 0
    #: a second server with only the largest round cached: RSS after its warm-up, and peak
    alone: tuple[int, int] = (0, 0)
    compared: int = 0
    identical: int = 0
    edit: Edit | None = None
    in_process: dict[str, float] = field(default_factory=dict)  # ms, heads vs full at 10 000
    #: the full computation's JSON by size, ranker setting and path (computed once each)
    references: dict[tuple[int, bool], dict[str, Any]] = field(default_factory=dict)


def run(model: SentenceTransformer) -> list[Section]:
    with tempfile.TemporaryDirectory(prefix="matcher-bench-") as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        engine = make_engine(url)
        init_db(engine)
        # The server's models (``MATCHER_MODEL``, ``MATCHER_SECOND_MODEL``): the same scorer.
        embedder = matcher.load_embedder(
            get_settings().embedding_models, SqlEmbeddingStore(engine), models=[model]
        )
        scorer = matcher.TopicScorer(embedder)
        cache.WARM_IN_BACKGROUND = False  # this process computes references only
        print("  latency: database …", flush=True)
        token, rounds = prepare_database(engine, scorer)
        headers = {"Authorization": f"Bearer {token}"}
        measured = Measured()
        with server(url, Path(folder) / "server.log") as (base, process):
            measure(base, headers, rounds, process, engine, scorer, measured)
        print("  latency: a second server with the largest round alone …", flush=True)
        with server(url, Path(folder) / "alone.log") as (base, process):
            measured.alone = _alone(base, headers, rounds[-1], process)
        engine.dispose()
    plot(measured)
    return [_latency_section(measured), _memory_section(measured)]


# --- setup ----------------------------------------------------------------------------------


def prepare_database(engine: Engine, scorer: matcher.TopicScorer) -> tuple[str, list[BenchRound]]:
    """Embeddings, a coordinator token, one round per size and a stored re-ranker."""
    offers, applicants = fixture_records()
    matcher.score_pairs(scorer, applicants, offers)  # every text and the reference corpus, once
    many = synthetic_applicants(applicants, APPLICANTS, seed=1)
    rounds = []
    with Session(engine) as session:
        _, token = services.issue_account(session, role=Role.COORDINATOR, label="Benchmark")
        for size in SIZES:
            round_offers = synthetic_offers(offers, size, seed=size)
            round_ = services.import_round(
                session, name=f"Benchmark: {size} Angebote", offers=round_offers, applicants=many
            )
            round_id = services.row_id(round_.id)
            state = services.load_round(session, round_id)
            pairs = list(
                zip(state.applicant_row_ids.values(), state.offer_row_ids.values(), strict=False)
            )
            crud.add_placements(
                session=session,
                round_id=round_id,
                placements=[
                    PlacementCreate(
                        applicant_id=a, offer_id=o, status=PlacementStatus.CONFIRMED, score=0.5
                    )
                    for a, o in pairs[-CONFIRMED_PER_ROUND:]
                ],
            )
            rounds.append(BenchRound(size, round_id, many, round_offers))
        crud.add_ranker(session=session, ranker=_ranker(scorer, offers, applicants, rounds[0]))
        session.commit()
    _switch_ranker(engine, False)
    with engine.connect() as connection:
        connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    return token, rounds


def _ranker(
    scorer: matcher.TopicScorer,
    offers: list[matcher.Offer],
    applicants: list[matcher.Applicant],
    first: BenchRound,
) -> RankerModel:
    """A re-ranker fitted on simulated decisions of the sample round (it applies to all)."""
    scores = matcher.score_pairs(scorer, applicants, offers)
    rng = np.random.default_rng(0)
    pairs = [(i, int(j)) for i in range(len(applicants)) for j in np.argsort(-scores.score[i])[:6]]
    labels = [int(scores.topic.fit[i, j] + rng.normal(0, 0.05) > 0.1) for i, j in pairs]
    model = DecisionReranker().fit([pair_features(scores, i, j) for i, j in pairs], labels)
    return RankerModel(
        round_id=first.round_id,
        version=model.version,
        params=model.to_json(),
        confirmed=sum(labels),
        rejected=len(labels) - sum(labels),
        created_by="benchmark",
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def server(url: str, log: Path) -> Iterator[tuple[str, psutil.Process]]:
    """A uvicorn subprocess serving the app on a free port; its base URL and process."""
    port = _free_port()
    command = [sys.executable, "-m", "benchmarks.server", "--port", str(port)]
    environment = {**os.environ, "MATCHER_DATABASE_URL": url, "HF_HUB_OFFLINE": "1"}
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=REPO, env=environment, stdout=output, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_ready(base, process, log)
            yield base, psutil.Process(process.pid)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"server not ready after {READY_TIMEOUT_S} s")


def _memory(process: psutil.Process) -> tuple[int, int]:
    """Current and peak resident set size of the process, in bytes (peak: Linux VmHWM)."""
    rss = int(process.memory_info().rss)
    status = Path(f"/proc/{process.pid}/status")
    peak = rss
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) * 1024
    return rss, peak


# --- load -----------------------------------------------------------------------------------


async def _loop(base: str, headers: dict[str, str], paths: list[str], clients: int) -> Load:
    """Send ``paths`` from ``clients`` concurrent clients, in BATCHES batches; time each."""
    latencies: list[float] = []
    rates: list[float] = []
    answers: list[tuple[str, Any]] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    with _collector_paused():
        async with httpx.AsyncClient(
            base_url=base, headers=headers, timeout=600, limits=limits
        ) as client:
            size = max(1, len(paths) // BATCHES)
            for start in range(0, len(paths), size):
                batch = iter(paths[start : start + size])

                async def worker(batch: Iterator[str] = batch) -> None:
                    for path in batch:
                        began = time.perf_counter()
                        response = await client.get(path)
                        latencies.append(time.perf_counter() - began)
                        if response.status_code != 200:
                            status = f"{response.status_code} {response.text}"
                            raise RuntimeError(f"GET {path}: {status}")
                        if "shortlist" in path:
                            answers.append((path, response.json()))

                began = time.perf_counter()
                await asyncio.gather(*(worker() for _ in range(clients)))
                rates.append(len(paths[start : start + size]) / (time.perf_counter() - began))
    return Load(latencies, rates, answers, os.getloadavg()[0])


@contextlib.contextmanager
def _cores_apart(server: psutil.Process) -> Iterator[None]:
    """Every thread of the server on the first core, this client on the second, while timing.

    Unpinned, whole phases of some runs were 30–50 % slower (p50 12–15 instead of 7–9 ms with
    4 clients) while others were not; pinned, runs are steady. The server is bound to one core
    by its GIL either way.
    """
    every = os.sched_getaffinity(0)
    if len(every) < 2:
        yield
        return
    first, second = sorted(every)[:2]
    _set_affinity([t.id for t in server.threads()], {first})
    os.sched_setaffinity(0, {second})
    try:
        yield
    finally:
        os.sched_setaffinity(0, every)
        _set_affinity([t.id for t in server.threads()], every)


def _set_affinity(threads: list[int], cores: set[int]) -> None:
    for thread in threads:
        with contextlib.suppress(ProcessLookupError):  # a worker thread that ended meanwhile
            os.sched_setaffinity(thread, cores)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The benchmark client's garbage collector off while it times requests: its pauses (young
    collections of 2–7 ms in this process, which holds the models and the reference answers,
    measured with a ``gc.callbacks`` trace) are not the server's latency."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def shortlist_path(round_: BenchRound, applicant_id: str) -> str:
    return f"/api/rounds/{round_.round_id}/applicants/{applicant_id}/shortlist?top_k=5"


def _paths(round_: BenchRound, count: int, offset: int = 0) -> list[str]:
    """``count`` shortlists of distinct applicants spread over the round."""
    step = len(round_.applicant_ids) // count
    return [shortlist_path(round_, round_.applicant_ids[offset + k * step]) for k in range(count)]


def measure(
    base: str,
    headers: dict[str, str],
    rounds: list[BenchRound],
    process: psutil.Process,
    engine: Engine,
    scorer: matcher.TopicScorer,
    out: Measured,
) -> None:
    out.rss["model loaded, nothing cached"] = _memory(process)[0]
    for round_ in rounds:
        began = time.perf_counter()
        httpx.get(base + _paths(round_, 1)[0], headers=headers, timeout=600).raise_for_status()
        out.prepare_s[round_.size] = time.perf_counter() - began
        print(f"  latency: heads of every applicant at {round_.size} …", flush=True)
        out.warm_s[round_.size] = _wait_warm(base, round_)
        out.rss[f"+ {_size(round_.size)} offers, {APPLICANTS} applicants' heads"] = _memory(
            process
        )[0]
    for reranked in (False, True):
        _switch_ranker(engine, reranked)
        for round_ in rounds:
            paths = _paths(round_, DISTINCT)
            print(f"  latency: heads of {len(paths)} applicants at {round_.size} …", flush=True)
            out.heads_ms[(round_.size, reranked)] = asyncio.run(_loop(base, headers, paths, 1))
            with _cores_apart(process):
                health = asyncio.run(_loop(base, headers, ["/api/health"] * REQUESTS[4], 4))
            out.health.setdefault(round_.size, health)
            for clients, count in REQUESTS.items():
                runs = REPEATS if (round_.size, clients) == (SIZES[-1], CLIENTS[-1]) else 1
                for _ in range(runs):
                    turns = [paths[k % len(paths)] for k in range(count)]
                    with _cores_apart(process):
                        load = asyncio.run(_loop(base, headers, turns, clients))
                    out.shortlist[(round_.size, reranked, clients)] = load
                    if runs > 1:
                        out.repeats.setdefault(reranked, []).append(load.p(99))
                    print(
                        f"    {round_.size:>6} offers, re-ranker {'on' if reranked else 'off'}, "
                        f"{clients} client(s): p50 {load.p(50):.1f} ms, p99 {load.p(99):.1f} ms"
                        f", load {load.load_average:.2f}",
                        flush=True,
                    )
                    _compare(engine, scorer, round_, reranked, out, clients)
    _switch_ranker(engine, False)
    out.rss["before the offer edit"], out.peak_before_edit = _memory(process)
    out.in_process = _in_process(engine, scorer, rounds[-1])
    out.edit = _edit(base, headers, rounds[-1], engine, scorer)
    out.rss["end"], out.peak_rss = _memory(process)


def _alone(
    base: str, headers: dict[str, str], round_: BenchRound, process: psutil.Process
) -> tuple[int, int]:
    """RSS and peak of a server that cached only ``round_``: its offers, every applicant's heads
    and the answers of the measured applicants (the issue's 10 000 offers, 5 000 applicants)."""
    paths = _paths(round_, DISTINCT)
    httpx.get(base + paths[0], headers=headers, timeout=600).raise_for_status()
    _wait_warm(base, round_)
    asyncio.run(_loop(base, headers, paths, 1))
    return _memory(process)


def _wait_warm(base: str, round_: BenchRound) -> float:
    """Seconds until the server computed the heads of every applicant of the round."""
    began = time.perf_counter()
    deadline = time.monotonic() + WARM_TIMEOUT_S
    while time.monotonic() < deadline:
        progress = httpx.get(f"{base}/bench/warm/{round_.round_id}", timeout=60).json()
        if progress["finished"]:
            return time.perf_counter() - began
        time.sleep(0.5)
    raise RuntimeError(f"heads of round {round_.size} not computed after {WARM_TIMEOUT_S} s")


def _switch_ranker(engine: Engine, enabled: bool) -> None:
    with engine.begin() as connection:
        connection.execute(update(tables.Round).values(reranker_enabled=enabled))


def _reference(engine: Engine, scorer: matcher.TopicScorer, round_: BenchRound, path: str) -> Any:
    """The full computation's JSON for a shortlist path (the applicant against every offer)."""
    applicant_id = path.split("/applicants/")[1].split("/")[0]
    with Session(engine) as session:
        answer = shortlists.shortlist(
            session, scorer, round_.round_id, applicant_id, top_k=5, full=True
        )
        return json.loads(answer.model_dump_json())


def _compare(
    engine: Engine,
    scorer: matcher.TopicScorer,
    round_: BenchRound,
    reranked: bool,
    out: Measured,
    clients: int,
) -> None:
    """Every answer of the last run against the full computation (asserted)."""
    expected = out.references.setdefault((round_.size, reranked), {})
    for path, answer in out.shortlist[(round_.size, reranked, clients)].answers:
        if path not in expected:
            expected[path] = _reference(engine, scorer, round_, path)
        out.compared += 1
        out.identical += answer == expected[path]
        assert answer == expected[path], (path, answer, expected[path])


def _in_process(
    engine: Engine, scorer: matcher.TopicScorer, round_: BenchRound
) -> dict[str, float]:
    """One shortlist in this process, from warm heads and in full (median ms of 20 each)."""
    with Session(engine) as session:
        applicants = round_.applicant_ids[:20]
        for applicant_id in applicants:  # heads computed (no background thread here)
            shortlists.shortlist(session, scorer, round_.round_id, applicant_id, top_k=5)
        result = {}
        for label, full in (("heads", False), ("full", True)):
            times = []
            for applicant_id in applicants:
                began = time.perf_counter()
                shortlists.shortlist(
                    session, scorer, round_.round_id, applicant_id, top_k=5, full=full
                )
                times.append(1000 * (time.perf_counter() - began))
            result[label] = statistics.median(times)
    return result


def _edit(
    base: str,
    headers: dict[str, str],
    round_: BenchRound,
    engine: Engine,
    scorer: matcher.TopicScorer,
) -> Edit:
    """Edit the top offer of one applicant over HTTP; time until a shortlist shows it.

    The edit adds the applicant's motivation to the offer's description: the offer then fits
    better and stays ahead of its unedited twins (the synthetic offers repeat 36 texts), so the
    right answer lists it with its new title.
    """
    applicant = round_.applicants[7]
    path = shortlist_path(round_, applicant.id)
    top = httpx.get(base + path, headers=headers).json()["suggestions"][0]["offer_id"]
    offer = next(o for o in round_.offers if o.id == top)
    body = {
        **json.loads(offer.model_dump_json()),
        "title": "Geändert: " + offer.title,
        "description": f"{offer.description} {applicant.motivation}",
    }
    began = time.perf_counter()
    httpx.put(
        f"{base}/api/rounds/{round_.round_id}/offers/{top}", headers=headers, json=body, timeout=600
    ).raise_for_status()
    put_done = time.perf_counter()
    answer = httpx.get(base + path, headers=headers, timeout=600).json()
    first_done = time.perf_counter()
    reflected = body["title"] in {s["title"] for s in answer["suggestions"]}
    same = answer == _reference(engine, scorer, round_, path)
    others = asyncio.run(
        _loop(base, headers, _paths(round_, AFTER_EDIT_REQUESTS, offset=11), CLIENTS[-1])
    )
    for other, answer in others.answers:
        assert answer == _reference(engine, scorer, round_, other), other
    return Edit(
        put_ms=1000 * (put_done - began),
        first_ms=1000 * (first_done - put_done),
        reflected=reflected,
        same_json=same,
        others=others,
    )


# --- report ---------------------------------------------------------------------------------


def plot(measured: Measured) -> None:
    figure, axis = plt.subplots(figsize=(7.5, 4.8))
    sizes = list(SIZES)
    styles = {(False, 1): "tab:blue", (False, 4): "tab:green", (True, 1): "tab:purple"}
    styles[(True, 4)] = "tab:red"
    for (reranked, clients), color in styles.items():
        for q, style in ((50, "-"), (99, "--")):
            values = [measured.shortlist[(s, reranked, clients)].p(q) for s in sizes]
            label = f"p{q}, {clients} client(s), re-ranker {'on' if reranked else 'off'}"
            axis.plot(sizes, values, style, marker="o", color=color, label=label)
    health = [measured.health[s].p(50) for s in sizes]
    axis.plot(sizes, health, ":", marker="s", color="grey", label="p50 GET /api/health (4)")
    axis.axhline(TARGET_P99_MS, color="black", linewidth=0.8, label="target p99 20 ms")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("offers in the round")
    axis.set_ylabel("latency (ms)")
    axis.set_title(f"Shortlist latency over HTTP ({APPLICANTS} applicants, heads cached)")
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=6, ncol=2)
    figure.tight_layout()
    PLOTS.mkdir(parents=True, exist_ok=True)
    figure.savefig(PLOTS / "latency.png", dpi=110)
    plt.close(figure)


def _size(size: int) -> str:
    return f"{size:,}".replace(",", " ")


def _latency_section(m: Measured) -> Section:
    largest = SIZES[-1]
    rows = []
    for (size, reranked, clients), load in sorted(m.shortlist.items()):
        rows.append(
            (
                _size(size),
                "on" if reranked else "off",
                clients,
                len(load.latencies),
                f"{load.p(50):.1f}",
                f"{load.p(95):.1f}",
                f"{load.p(99):.1f}",
                f"{1000 * max(load.latencies):.1f}",
                f"{load.rate:.0f}",
                f"{m.health[size].p(50):.1f} / {m.health[size].p(99):.1f}",
                f"{load.load_average:.2f}",
            )
        )
    headers = ["offers", "re-ranker", "clients", "requests", "p50 ms", "p95 ms", "p99 ms", "max ms"]
    headers += ["req/s", "health p50 / p99 ms (4 clients)", "load avg (1 min)"]
    warm_rows = [
        (
            _size(s),
            f"{m.prepare_s[s]:.2f} s",
            f"{m.warm_s[s]:.0f} s",
            f"{m.heads_ms[(s, False)].p(50):.0f} / {m.heads_ms[(s, True)].p(50):.0f} ms",
            f"{m.heads_ms[(s, False)].p(99):.0f} / {m.heads_ms[(s, True)].p(99):.0f} ms",
        )
        for s in SIZES
    ]
    worst = max(m.shortlist[(largest, rr, CLIENTS[-1])].p(99) for rr in (False, True))
    off, on = (m.shortlist[(largest, rr, CLIENTS[-1])].p(99) for rr in (False, True))
    runs = {rr: ", ".join(f"{v:.1f}" for v in m.repeats.get(rr, [])) for rr in (False, True)}
    worst_run = max(v for values in m.repeats.values() for v in values)
    edit = m.edit
    assert edit is not None
    section = Section(TITLE)
    section.body = (
        f"""
The real server (`python -m benchmarks.server`: `create_app()` under uvicorn on 127.0.0.1, as
`matcher serve`, default BLAS threads), one SQLite file in a temporary folder. Rounds of 100,
1 000 and 10 000 synthetic offers (the 36 fixture offers' texts with varied ids, cities, dates,
capacities) with {APPLICANTS:,} synthetic applicants each (the 79 sample applications' texts
with varied ids, preferred cities, dates, weeks) and {CONFIRMED_PER_ROUND} confirmed
placements, imported through the service layer; one re-ranker fitted on simulated decisions of
the sample round, switched off and on for all rounds. Every embedding is stored before the
server starts. Each round's first request prepares its offers; the server then computes the
heads of all {APPLICANTS:,} applicants in the background, and the benchmark waits for it
before the next round. Each measured applicant is requested once first (its answer computed
from the warm heads and kept), then the measured requests repeat it: `top_k=5`, {DISTINCT}
distinct applicants spread over the round requested in turn, keep-alive httpx clients;
{REQUESTS[4]} requests with 4 clients, {REQUESTS[1]} with 1; req/s the median of {BATCHES}
batches; 10 000 offers with 4 clients run {REPEATS} times per ranker setting (the table shows
the last run). Reference: {REQUESTS[4]} `GET /api/health` from 4 clients against the same
server just before. The client runs on the same 2 cores: while timing, every server thread is
pinned to one core and the client to the other (`os.sched_setaffinity`; the server is bound to
one core by its GIL anyway), and the client's own garbage collector is paused (its young
collections took 2–7 ms in a `gc.callbacks` trace, pauses that are not the server's). Unpinned,
four runs of this section with the final server gave p99 16.0–17.8, 15.9–19.7, 20.7–30.3 and
15.1–24.1 ms at 10 000 offers with 4 clients: in some runs whole phases were 30–50 % slower,
as if the client and the server's busy thread took turns on one core. The load average
(machine shared with other engineers' jobs) is read after each line.

{table(headers, rows, "l")}

"""
        + table(
            [
                "offers",
                "round's first request (offers prepared)",
                "every applicant's heads (background)",
                "applicant's first request p50 off / on",
                "p99 off / on",
            ],
            warm_rows,
            "l",
        )
        + f"""

At 10 000 offers and 4 clients the p99 of each run was {runs[False]} ms with the re-ranker off
and {runs[True]} ms with it on (last runs **{off:.1f} ms** / **{on:.1f} ms**); target <
{TARGET_P99_MS:.0f} ms: {met(worst_run < TARGET_P99_MS)} (worst run {worst_run:.1f} ms).
In this process, one shortlist at 10 000 offers took {m.in_process["heads"]:.1f} ms from the
heads and {m.in_process["full"]:.1f} ms computed in full against every offer (median of 20).
The background computation of the heads is fast here because the synthetic applicants repeat
79 texts and applicants with the same embedded texts share one topic fit (exact: the same
inputs); with 5 000 distinct texts each applicant costs one full computation.

**Same answers.** {m.identical} of {m.compared} answered shortlists are the same JSON as the
full computation in the benchmark's process (`shortlists.shortlist(..., full=True)`: the
applicant scored against every offer of the round, then ranked, as every shortlist was computed
before the heads), asserted for each answer, re-ranker off and on.

**An offer edit.** At 10 000 offers, the top offer of one applicant's shortlist got a new title
and the applicant's motivation added to its description over HTTP (`PUT …/offers/{{id}}`,
{edit.put_ms:.0f} ms). The next shortlist of that applicant took **{edit.first_ms:.0f} ms**
(the server found the round's `offers_version` changed, embedded the edited offer, reused the
other offers' vectors, recomputed every offer's baselines, computed this applicant's heads,
while its background thread started on every applicant's heads again) and showed the new
title: {met(edit.reflected)}; same JSON as the full computation on the edited offers:
{met(edit.same_json)}. Shortlists of
{AFTER_EDIT_REQUESTS} other applicants right after (4 clients, while the server recomputes
every applicant's heads in the background; a request whose heads are not there yet computes
them): p50 {edit.others.p(50):.0f} ms, p99 {edit.others.p(99):.0f} ms, all the same JSON as
the full computation.

![Shortlist latency vs. number of offers](benchmarks/plots/latency.png)

**Design** (`api/cache.py`, `matcher/toplist.py`). A shortlist is the first k offers of one
ordering among the offers the applicant may take; between text changes only free places change,
and dropping full offers keeps the order of the rest. So the first {cache.DEPTH} offers of each
of an applicant's orderings (topic only, base score, re-ranker), computed once with the full
computation, answer every later request exactly while at least k of them have a free place
(else the request computes in full). The finished answer is kept with the heads, keyed by the
ranker, the view, k and the confirmed placements on the head's offers. A request reads the
round (its `offers_version`), the applicant (a digest of the record keys the heads), the
re-ranker and the confirmed placements on the head's offers; a repeated request then reads its
answer, a new one explains its k pairs: no work per offer of the round.

**The request around it.** With 4 clients on 2 cores a request waits for the others, so its
latency is about four times the server's time per request; that time was what to cut. A repeated
shortlist now runs three queries (the token; the round with the applicant and the newest
re-ranker's id, whose parsed model is kept; the placements on the head's offers with the
applicant's own) and serialises its kept answer. Found with py-spy on the server under load (2
000 offers, 5 000 applicants, unpinned; p50 with 1 / 4 clients 5.2 / 19.9 ms before, 2.5 / 9.2
ms after; server CPU 2.4 ms per request under 4 clients): a `dependency_overrides` entry for the
settings made FastAPI rebuild every dependency's signature on every request (a quarter of the
server's time; the settings now come from `app.state`); dependencies that only read `app.state`
each took a threadpool hop (now `async`); uvicorn ran without uvloop and httptools (now
dependencies); a full garbage collection walked the 550 000 objects of the libraries and models,
a 0.3 s pause every few seconds under load (`api/heap.py` freezes what is alive after start-up
and after each warm-up of at least 1 000 applicants, and collects it again at the next one);
FastAPI dumped, validated and serialised the returned model again (the route serialises it
itself).
"""
    )
    section.headline = [
        (
            "shortlist p99 at 10 000 offers, 4 clients, heads cached",
            f"{off:.1f} ms (re-ranker on {on:.1f} ms); runs {runs[False]} / {runs[True]}",
            f"health p99 {m.health[largest].p(99):.1f} ms; full path in process "
            f"{m.in_process['full']:.0f} ms",
            f"< {TARGET_P99_MS:.0f} ms",
            met(max(worst, worst_run) < TARGET_P99_MS),
        ),
        (
            "shortlists identical to the full computation",
            f"{m.identical} / {m.compared}",
            "`shortlist(..., full=True)`",
            "all",
            met(m.identical == m.compared),
        ),
        (
            "offer edit → shortlist showing it",
            f"{edit.put_ms + edit.first_ms:.0f} ms",
            f"PUT {edit.put_ms:.0f} ms + next shortlist {edit.first_ms:.0f} ms",
            "next request",
            met(edit.reflected and edit.same_json),
        ),
    ]
    return section


def _memory_section(m: Measured) -> Section:
    mib = 2**20
    rows = [(moment, f"{value / mib:.0f}") for moment, value in m.rss.items()]
    rows.append(("peak (VmHWM) over the whole run", f"**{m.peak_rss / mib:.0f}**"))
    alone, alone_peak = m.alone
    rows.append(
        (
            f"a second server, 10 000 offers and the heads of {APPLICANTS:,} applicants alone "
            f"(peak {alone_peak / mib:.0f})",
            f"**{alone / mib:.0f}**",
        )
    )
    before = m.rss["before the offer edit"]
    section = Section(MEMORY_TITLE)
    section.body = f"""
Resident memory of the server of section 4 (psutil; peak from `/proc/<pid>/status` VmHWM):
after start-up (model loaded), after each round's offers were prepared and the heads of all
its {APPLICANTS:,} applicants computed (topic, base and re-ranker orderings, {cache.DEPTH}
offers each), before the offer edit (all three rounds cached, answers of the measured
applicants kept) and at the end.

{table(["server", "RSS MiB"], rows, "l")}

With 10 000 offers and {APPLICANTS:,} applicants cached (a second server that served only the
largest round: its offers, every applicant's heads, the measured applicants' answers), the
server holds **{alone / mib:.0f} MiB**; target < 1 GiB: {met(alone < TARGET_RSS_MIB * mib)}.
With 10 000 + 1 000 + 100 offers prepared and the heads of 3 x {APPLICANTS:,} applicants
cached, it holds **{before / mib:.0f} MiB**, under 1 GiB: {met(before < TARGET_RSS_MIB * mib)}.
The peak of the whole run, {m.peak_rss / mib:.0f} MiB,
includes the edit: the 10 000 offers are prepared again while the old entry is still referenced.
The offers' vectors are 236 MiB at 10 000 offers (two models, 896 dimensions, 59 167 sentences);
before 2026-11-29 the prepared offers also kept the model call's row-major output alive beside
their column-major copy (200 MiB more: `whole` was a view into it). After each warm-up
`api/heap.py` hands freed heap back to the system (glibc `malloc_trim`).
"""
    section.headline = [
        (
            "server RSS, 10 000 offers and 5 000 applicants cached",
            f"{alone / mib:.0f} MiB",
            f"with 1 000 + 100 more offers and 2 x 5 000 more applicants {before / mib:.0f} MiB "
            f"(peak {m.peak_rss / mib:.0f} MiB with the edit); model loaded "
            f"{m.rss['model loaded, nothing cached'] / mib:.0f} MiB",
            "< 1024 MiB",
            met(alone < TARGET_RSS_MIB * mib),
        )
    ]
    return section
