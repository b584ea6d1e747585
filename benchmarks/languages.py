"""Languages: both development sets per language, each model alone and the ensemble; costs.

* quality: ``matcher.evaluate`` on the outgoing set (``dev``: German applications, offers in many
  languages) and the incoming set (``dev-incoming``: applications in eight languages, Berlin
  offers) for USE-m alone, e5 alone (each calibrated as in ``matcher.topic``) and the ensemble;
* embedding cost: each model's own time for the texts of both sets (fresh cache), texts/s;
* 10 000 offers: one applicant scored against 10 000 prepared offers (``score_prepared``, the
  path of a shortlist request), and the offers' preparation, one model vs the ensemble. The
  offers reuse the sample round's texts (``benchmarks.synthetic``), so embedding them is cheap;
  the matrices have the size of 10 000 distinct offers.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Mapping
from pathlib import Path

from sentence_transformers import SentenceTransformer

import matcher
from benchmarks.common import DEV, Section, measure, met, skipped, table
from benchmarks.synthetic import fixture_records, synthetic_offers
from matcher.embedding import E5_MODEL, Embedder, Ensemble, MemoryStore
from matcher.scoring import prepare_offers, score_prepared

TITLE = "10. Languages: applications in partner-city languages, each model and the ensemble"
INCOMING = DEV.parent / "dev-incoming"
FLOORS = {"incoming R@5 alle": 0.90, "incoming R@5 worst language": 0.80, "dev nDCG@10": 0.92}
OFFERS_AT_SCALE = 10_000


def run(model: SentenceTransformer) -> Section:
    if not (DEV / "gold.json").is_file() or not (INCOMING / "gold.json").is_file():
        return skipped(TITLE, f"{DEV} or {INCOMING} not found (only the team's checkouts)")
    use = Embedder(model, MemoryStore())
    e5 = Embedder(matcher.load_model(E5_MODEL), MemoryStore(), model_name=E5_MODEL)
    scorers = {
        "USE-m": matcher.TopicScorer(use),
        "e5": matcher.TopicScorer(e5),
        "ensemble": matcher.TopicScorer(Ensemble([use, e5])),
    }
    seconds: dict[str, float] = {}
    reports = {name: evaluate_set(folder, scorers, seconds) for name, folder in SETS.items()}
    costs = {
        "USE-m": (use.encoded_count, seconds["USE-m"]),
        "e5": (e5.encoded_count, seconds["e5"]),
    }
    scale = at_scale(scorers)
    section = Section(TITLE)
    section.body = _body(reports, costs, scale)
    ensemble_in, ensemble_out = reports["incoming"]["ensemble"], reports["outgoing"]["ensemble"]
    worst = min((m.recall_at_5, name) for name, m in ensemble_in.groups.items() if name != "alle")
    figures = {
        "incoming R@5 alle": (ensemble_in.groups["alle"].recall_at_5, "alle"),
        "incoming R@5 worst language": worst,
        "dev nDCG@10": (ensemble_out.groups["alle"].ndcg_at_10, "alle"),
    }
    section.headline = [
        (
            f"ensemble {name} ({group})",
            f"{value:.3f}",
            f"USE-m {_same(reports, name, group):.3f}",
            f"≥ {FLOORS[name]:.2f}",
            met(value >= FLOORS[name]),
        )
        for name, (value, group) in figures.items()
    ]
    return section


SETS = {"outgoing": DEV, "incoming": INCOMING}


def _same(
    reports: Mapping[str, Mapping[str, matcher.EvaluationReport]], name: str, group: str
) -> float:
    report = reports["incoming" if name.startswith("incoming") else "outgoing"]["USE-m"]
    metrics = report.groups[group]
    return metrics.ndcg_at_10 if "nDCG" in name else metrics.recall_at_5


def evaluate_set(
    folder: Path, scorers: Mapping[str, matcher.TopicScorer], seconds: dict[str, float]
) -> dict[str, matcher.EvaluationReport]:
    """Each scorer's report on one set; single-model scorers' wall time summed in ``seconds``."""
    offers = matcher.load_offers((folder / "offers.json").read_bytes())
    applicants = matcher.load_applicants((folder / "applicants.json").read_bytes())
    ids = ([a.id for a in applicants], [o.id for o in offers])
    gold = matcher.parse_gold(json.loads((folder / "gold.json").read_text("utf-8")), *ids)
    reports = {}
    for name, scorer in scorers.items():
        began = time.perf_counter()
        scores = matcher.score_pairs(scorer, applicants, offers)
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - began
        reports[name] = matcher.evaluate(
            scores.topic.fit,
            *ids,
            [o.language for o in offers],
            gold,
            scores.applicant_texts.languages,
        )
    return reports


def at_scale(scorers: Mapping[str, matcher.TopicScorer]) -> dict[str, tuple[float, float, int]]:
    """Per scorer: (prepare s, score one applicant s (median), prepared vector bytes)."""
    templates, applicants = fixture_records()
    offers = synthetic_offers(templates, OFFERS_AT_SCALE)
    applicant = applicants[:1]
    result = {}
    for name in ("USE-m", "ensemble"):
        scorer = scorers[name]
        matcher.score_pairs(scorer, applicant, templates)  # embed the texts once, untimed
        began = time.perf_counter()
        prepared = prepare_offers(scorer, offers)
        prepare = time.perf_counter() - began
        score = functools.partial(score_prepared, scorer, applicant, prepared)
        size = prepared.texts.whole.nbytes + prepared.texts.sentences.nbytes
        result[name] = (prepare, measure(score, 5)[0].wall, size)
    return result


def _body(
    reports: Mapping[str, Mapping[str, matcher.EvaluationReport]],
    costs: Mapping[str, tuple[int, float]],
    scale: Mapping[str, tuple[float, float, int]],
) -> str:
    parts = [
        "Measured on the two development sets (`../shared/benchmark/dev`, `dev-incoming`); "
        "the design choices in `matcher/topic.py` were made on these same sets, so the figures "
        "are optimistic. Cells: R@5 / nDCG@10. Groups: `alle`; by the language of the ideal "
        "offer (`de`, `andere`, each); `Bewerbung xx`: by the language the application is "
        "written in (given, else detected)."
    ]
    for set_name, by_method in reports.items():
        groups = list(by_method["ensemble"].groups)
        rows = [
            [
                group,
                by_method["ensemble"].groups[group].applicants,
                *(
                    f"{m.groups[group].recall_at_5:.3f} / {m.groups[group].ndcg_at_10:.3f}"
                    for m in by_method.values()
                ),
            ]
            for group in groups
        ]
        parts.append(f"**{set_name}**\n\n" + table(["group", "n", *by_method], rows, "l"))
    cost_rows = [
        [name, count, f"{seconds:.1f}", f"{count / seconds:.0f}" if seconds else "–"]
        for name, (count, seconds) in costs.items()
    ]
    parts.append(
        "**Embedding cost** (both sets and the reference corpus, fresh cache; the ensemble "
        "re-embeds nothing: its members' caches are the single models')\n\n"
        + table(["model", "texts embedded", "wall s", "texts/s"], cost_rows, "l")
    )
    base = scale["USE-m"]
    scale_rows = [
        [
            name,
            f"{prepare:.1f}",
            f"{score * 1000:.0f}",
            f"{score / base[1]:.2f}×",
            f"{size / 2**20:.0f}",
        ]
        for name, (prepare, score, size) in scale.items()
    ]
    parts.append(
        f"**{OFFERS_AT_SCALE:,} offers, in process** (`prepare_offers` once, then "
        "`score_prepared` for one applicant whose texts are cached, median of 5; the HTTP "
        "figure of section 4 adds the request around it)\n\n"
        + table(
            ["scorer", "prepare s", "score one applicant ms", "vs USE-m", "offer vectors MiB"],
            scale_rows,
            "l",
        )
    )
    return "\n\n".join(parts)
