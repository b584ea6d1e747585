"""Hospitation Matcher engine: ranks and assigns applicants to host offers.

Records in, numbers and dataclasses out. This package knows nothing of HTTP or SQL: it imports
no fastapi, sqlmodel or sqlalchemy (a test pins this). Persistence of embeddings is reached
through the :class:`EmbeddingStore` protocol, which the ``models`` package implements.

Typical use::

    embedder = load_embedder([DEFAULT_MODEL, E5_MODEL], store)  # or Embedder(load_model(), store)
    scores = score_pairs(TopicScorer(embedder), applicants, offers, confirmed=confirmed)
    shortlists = rank(scores, top_k=5)
    proposal = assign(scores, mode=Mode.MAX_PLACED, rejected=rejected_pairs)
"""

from matcher.assignment import Assignment, Mode, Placement, Unplaced, assign, solve
from matcher.constraints import Feasibility, check_feasibility
from matcher.embedding import (
    DEFAULT_MODEL,
    E5_MODEL,
    E5Module,
    Embedder,
    EmbeddingStore,
    Ensemble,
    MemoryStore,
    UsemModule,
    load_embedder,
    load_model,
)
from matcher.errors import InvalidRecordsError, MatcherError, ModelLoadError, RecordProblem
from matcher.evaluation import EvaluationReport, Metrics, evaluate, parse_gold
from matcher.explain import Explanation, explain
from matcher.ranking import (
    CandidateRanking,
    Ranking,
    Suggestion,
    rank,
    rank_applicant,
    rank_candidates,
)
from matcher.records import (
    Applicant,
    Offer,
    load_applicants,
    load_offers,
    parse_records,
    parse_round,
)
from matcher.scoring import PairScores, score_pairs
from matcher.tabular import SourceInfo, load_table
from matcher.topic import TopicFit, TopicScorer

__all__ = [
    "DEFAULT_MODEL",
    "E5_MODEL",
    "Applicant",
    "Assignment",
    "CandidateRanking",
    "E5Module",
    "Embedder",
    "EmbeddingStore",
    "Ensemble",
    "EvaluationReport",
    "Explanation",
    "Feasibility",
    "InvalidRecordsError",
    "MatcherError",
    "MemoryStore",
    "Metrics",
    "Mode",
    "ModelLoadError",
    "Offer",
    "PairScores",
    "Placement",
    "Ranking",
    "RecordProblem",
    "SourceInfo",
    "Suggestion",
    "TopicFit",
    "TopicScorer",
    "Unplaced",
    "UsemModule",
    "assign",
    "check_feasibility",
    "evaluate",
    "explain",
    "load_applicants",
    "load_embedder",
    "load_model",
    "load_offers",
    "load_table",
    "parse_gold",
    "parse_records",
    "parse_round",
    "rank",
    "rank_applicant",
    "rank_candidates",
    "score_pairs",
    "solve",
]
