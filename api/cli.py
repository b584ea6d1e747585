"""The ``matcher`` command: demo, rank, assign and evaluate from the command line.

Invalid input ends with a message naming the record and field, exit code 2, and nothing stored.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine

import matcher
from api import learning, services
from api.errors import ApiError
from api.settings import get_settings
from matcher import (
    Assignment,
    EvaluationReport,
    InvalidRecordsError,
    MatcherError,
    Mode,
    PairScores,
)
from matcher.rerank import DecisionReranker, with_reranker
from models import crud
from models.db import init_db, make_engine
from models.tables import Role, RoundDirection

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DEMO_ROUND = "Beispielrunde 2027 (Demo)"
INCOMING_DEMO_ROUND = "Gäste in Berlin 2027 (Demo)"
DIRECTION_LABELS = {
    RoundDirection.OUTGOING: "Berliner Beschäftigte zu Partnerstädten",
    RoundDirection.INCOMING: "Gäste aus Partnerstädten in Berlin",
}
EXIT_INVALID_INPUT = 2

app = typer.Typer(
    help="Hospitation Matcher: rank and assign host offers for Berlin's exchange programme.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

ApplicantsOption = Annotated[
    Path, typer.Option("--applicants", help="applicants.json (interchange format)")
]
OffersOption = Annotated[Path, typer.Option("--offers", help="offers.json (interchange format)")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str) -> NoReturn:
    """Report bad input the way every command does: stderr, exit code 2."""
    err.print(f"[bold red]Fehler:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_INVALID_INPUT)


def database() -> Engine:
    """The configured database, its tables created if missing."""
    engine = make_engine(get_settings().database_url)
    init_db(engine)
    return engine


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        fail(f"{path}: cannot read file ({error.strerror})")


def read_records(
    applicants_file: Path, offers_file: Path
) -> tuple[list[matcher.Applicant], list[matcher.Offer]]:
    """Parse both files, reporting the problems of both before giving up."""
    try:
        offers, applicants = matcher.parse_round(
            lambda: matcher.load_offers(read_bytes(offers_file), source=offers_file.name),
            lambda: matcher.load_applicants(
                read_bytes(applicants_file), source=applicants_file.name
            ),
        )
    except InvalidRecordsError as error:
        fail(str(error))
    return applicants, offers


def file_scores(applicants_file: Path, offers_file: Path) -> PairScores:
    """Score two interchange files; embeddings are cached in the configured database."""
    applicants, offers = read_records(applicants_file, offers_file)
    settings = get_settings()
    engine = database()
    scorer = services.make_scorer(engine, settings.embedding_models)
    return matcher.score_pairs(scorer, applicants, offers, show_progress=sys.stderr.isatty())


@app.command()
def rank(
    applicants: ApplicantsOption,
    offers: OffersOption,
    top: Annotated[int, typer.Option("--top", min=1, help="Offers per applicant.")] = 5,
    topic_only: Annotated[
        bool,
        typer.Option(
            "--topic-only", help="Rank every offer by topic fit alone, marked feasible or not."
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Per applicant the best offers: feasible ones by score, or all by topic fit."""
    scores = file_scores(applicants, offers)
    rankings = matcher.rank(scores, top_k=top, topic_only=topic_only)
    if as_json:
        print_json({"rankings": [ranking_json(r) for r in rankings]})
        return
    for ranking in rankings:
        table = Table(title=f"Bewerbung {ranking.applicant_id}", title_justify="left")
        for column in ("Angebot", "Stadt", "Score", "zulässig", "Begründung"):
            table.add_column(column, overflow="fold")
        for s in ranking.suggestions:
            city = scores.offers[scores.offer_index[s.offer_id]].city
            because = "; ".join(s.reasons) or s.explanation.text
            table.add_row(
                s.offer_id, city, f"{s.score:.2f}", "ja" if s.feasible else "nein", because
            )
        if not ranking.suggestions:
            table.add_row("—", "", "", "", "kein zulässiges Angebot")
        out.print(table)


def ranking_json(ranking: matcher.Ranking) -> dict[str, Any]:
    return {
        "applicant_id": ranking.applicant_id,
        "suggestions": [
            {
                "offer_id": s.offer_id,
                "score": round(s.score, 6),
                "feasible": s.feasible,
                "reasons": list(s.reasons),
                "explanation": s.explanation.text,
                "topic_fit": round(s.topic_fit, 6),
                "preference_bonus": s.preference_bonus,
            }
            for s in ranking.suggestions
        ],
    }


ModeOption = Annotated[
    Mode,
    typer.Option("--mode", help="max-fit: best total fit; max-placed: most placements, then fit."),
]


@app.command()
def assign(
    applicants: ApplicantsOption,
    offers: OffersOption,
    mode: ModeOption = Mode.MAX_FIT,
    as_json: JsonOption = False,
) -> None:
    """Propose one placement per applicant within every offer's capacity (exact optimum)."""
    scores = file_scores(applicants, offers)
    assignment = matcher.assign(scores, mode=mode)
    if as_json:
        print_json(assignment_json(assignment))
    else:
        print_assignment(scores, assignment)


def assignment_json(assignment: Assignment) -> dict[str, Any]:
    return {
        "assignments": [
            {"applicant_id": p.applicant_id, "offer_id": p.offer_id, "score": round(p.score, 6)}
            for p in assignment.placements
        ],
        "unassigned": [asdict(u) for u in assignment.unplaced],
        "alternates": {offer: list(ids) for offer, ids in assignment.alternates.items()},
        "total_score": round(assignment.total_score, 6),
    }


def print_assignment(scores: PairScores, assignment: Assignment) -> None:
    """The proposal as coordinators read it: who goes where, why, and what is left."""
    table = Table(title=f"Zuordnung ({assignment.mode.value})", title_justify="left")
    for column in ("Bewerbung", "Angebot", "Stadt", "Score", "Hauptgrund"):
        table.add_column(column, overflow="fold")
    for p in sorted(assignment.placements, key=lambda p: p.applicant_id):
        i, j = scores.applicant_index[p.applicant_id], scores.offer_index[p.offer_id]
        offer = scores.offers[j]
        explanation = matcher.explain(scores, i, j)
        pinned = " (bestätigt)" if p.pinned else ""
        table.add_row(
            p.applicant_id,
            f"{offer.id} {shorten(offer.title, 48)}",
            offer.city,
            f"{p.score:.2f}{pinned}",
            f"„{shorten(explanation.offer_sentence, 90)}“",
        )
    out.print(table)
    if assignment.unplaced:
        unplaced = Table(title="Ohne Platz", title_justify="left")
        unplaced.add_column("Bewerbung")
        unplaced.add_column("Grund", overflow="fold")
        for u in assignment.unplaced:
            unplaced.add_row(u.applicant_id, u.reason)
        out.print(unplaced)
    out.print(
        f"Platziert: {len(assignment.placements)}  ·  ohne Platz: {len(assignment.unplaced)}  ·  "
        f"freie Plätze: {assignment.places_left(scores)}  ·  Gesamt-Score: "
        f"{assignment.total_score:.2f}"
    )


@app.command()
def evaluate(
    applicants: ApplicantsOption,
    offers: OffersOption,
    gold: Annotated[Path, typer.Option("--gold", help="gold.json with graded relevance")],
    ranker_round: Annotated[
        int | None,
        typer.Option(
            "--ranker-round", help="Also evaluate the re-ranker learned up to this round."
        ),
    ] = None,
) -> None:
    """R@5, nDCG@10 and MRR of the topic ranking, overall, by the ideal offer's language and by
    the application's language."""
    scores = file_scores(applicants, offers)
    try:
        judgements = matcher.parse_gold(
            json.loads(read_bytes(gold)),
            [a.id for a in scores.applicants],
            [o.id for o in scores.offers],
        )
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        fail(f"{gold}: not valid JSON ({error})")
    except InvalidRecordsError as error:
        fail(str(error))
    ids = ([a.id for a in scores.applicants], [o.id for o in scores.offers])
    languages = [o.language for o in scores.offers]
    written = scores.applicant_texts.languages  # given, else detected
    report = matcher.evaluate(scores.topic.fit, *ids, languages, judgements, written)
    print_report(report, "Rangqualität (nur Themenpassung)")
    if ranker_round is not None:
        model = stored_reranker(ranker_round)
        reranked = with_reranker(scores, model).score
        print_report(
            matcher.evaluate(reranked, *ids, languages, judgements, written),
            f"Rangqualität mit Re-Ranker {model.version}",
        )


def stored_reranker(round_id: int) -> DecisionReranker:
    """The newest re-ranker learned up to ``round_id`` in the configured database."""
    engine = database()
    with services.open_session(engine) as session:
        stored = crud.latest_ranker(session=session, up_to_round=round_id)
        if stored is None:
            fail(f"Kein Re-Ranker bis Runde {round_id} gelernt (matcher learn --round ID).")
        return DecisionReranker.from_json(stored.params)


def print_report(report: EvaluationReport, title: str) -> None:
    table = Table(title=title, title_justify="left")
    for column in ("Gruppe", "Bewerbungen", "R@5", "nDCG@10", "MRR"):
        table.add_column(column, justify="right" if column != "Gruppe" else "left")
    for name, m in report.groups.items():
        table.add_row(
            name, str(m.applicants), f"{m.recall_at_5:.3f}", f"{m.ndcg_at_10:.3f}", f"{m.mrr:.3f}"
        )
    out.print(table)


@app.command()
def demo(
    fixtures: Annotated[
        Path, typer.Option("--fixtures", help="Folder with offers.json and applicants.json")
    ] = FIXTURES,
    mode: ModeOption = Mode.MAX_PLACED,
    incoming: Annotated[
        bool,
        typer.Option(
            "--incoming",
            help="The incoming sample round instead: partner-city staff to Berlin hosts "
            "(fixtures/incoming).",
        ),
    ] = False,
) -> None:
    """Load the sample round into the database, embed, assign and print the proposal."""
    settings = get_settings()
    if incoming:
        fixtures = FIXTURES / "incoming" if fixtures == FIXTURES else fixtures
    direction = RoundDirection.INCOMING if incoming else RoundDirection.OUTGOING
    name = INCOMING_DEMO_ROUND if incoming else DEMO_ROUND
    applicants, offers = read_records(fixtures / "applicants.json", fixtures / "offers.json")
    engine = database()
    with services.open_session(engine) as session:
        round_ = crud.find_round(session=session, name=name)
        if round_ is None:
            round_ = services.import_round(
                session, name=name, offers=offers, applicants=applicants, direction=direction
            )
            session.commit()
            out.print(
                f"Runde „{name}“ ({DIRECTION_LABELS[direction]}) angelegt: "
                f"{len(offers)} Angebote, {len(applicants)} Bewerbungen."
            )
        assert round_.id is not None
        scorer = services.make_scorer(engine, settings.embedding_models)
        _, scores, assignment = services.propose(
            session, scorer, round_.id, mode=mode, show_progress=True
        )
    print_assignment(scores, assignment)
    out.print(f"Neu eingebettete Texte: {scorer.embedder.encoded_count} (0: alle aus dem Cache)")


@app.command("import")
def import_round(
    applicants: ApplicantsOption,
    offers: OffersOption,
    name: Annotated[str, typer.Option("--name", help="Name of the new round.")],
    incoming: Annotated[
        bool, typer.Option("--incoming", help="Partner-city staff to Berlin hosts.")
    ] = False,
) -> None:
    """Create a round from two interchange files: all records, or nothing (exit code 2)."""
    applicant_records, offer_records = read_records(applicants, offers)
    if not name.strip() or len(name) > 200:
        fail("--name: 1 to 200 characters")
    engine = database()
    with services.open_session(engine) as session:
        round_ = services.import_round(
            session,
            name=name.strip(),
            offers=offer_records,
            applicants=applicant_records,
            direction=RoundDirection.INCOMING if incoming else RoundDirection.OUTGOING,
        )
        session.commit()
        round_id = round_.id
    out.print(
        f"Runde {round_id} „{name.strip()}“ angelegt: {len(offer_records)} Angebote, "
        f"{len(applicant_records)} Bewerbungen."
    )


@app.command()
def learn(
    round_id: Annotated[int, typer.Option("--round", help="Round whose decisions to learn from.")],
) -> None:
    """Fit the re-ranker on confirmed and rejected placements up to this round and store it."""
    settings = get_settings()
    engine = database()
    with services.open_session(engine) as session:
        try:
            stored = learning.learn(
                session, services.make_scorer(engine, settings.embedding_models), round_id, "cli"
            )
        except ApiError as error:
            fail(error.detail)
        session.commit()
        out.print(
            f"Re-Ranker {stored.version} gelernt aus {stored.confirmed} Bestätigungen und "
            f"{stored.rejected} Ablehnungen (Runden bis {round_id})."
        )


users = typer.Typer(help="Issue bearer tokens.", no_args_is_help=True)
app.add_typer(users, name="users")


@users.command("create")
def create_user(
    role: Annotated[Role, typer.Option("--role", help="coordinator, applicant or mentor")],
    label: Annotated[str, typer.Option("--label", help="Who holds the token (no e-mail).")] = "",
    round_id: Annotated[
        int | None, typer.Option("--round", help="Round of the applicant or offers.")
    ] = None,
    applicant: Annotated[
        str | None, typer.Option("--applicant", help="Applicant id (role applicant).")
    ] = None,
    offers: Annotated[
        list[str] | None, typer.Option("--offer", help="Offer id, repeatable (role mentor).")
    ] = None,
) -> None:
    """Create an account and print its token once (only its hash is stored)."""
    engine = database()
    with services.open_session(engine) as session:
        try:
            account, token = services.issue_account(
                session,
                role=role,
                label=label or role.value,
                round_id=round_id,
                applicant_id=applicant,
                offer_ids=offers or [],
            )
        except ApiError as error:
            fail(error.detail)
        session.commit()
        account_id = account.id
    out.print(f"Zugang {account_id} ({role.value}) angelegt. Token (wird nur jetzt angezeigt):")
    print(token)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Start the HTTP API (docs at /docs)."""
    import uvicorn

    from api.app import create_app

    uvicorn.run(create_app(get_settings()), host=host, port=port)


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def print_json(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point; engine errors become messages, not tracebacks."""
    try:
        app(args=list(argv) if argv is not None else None)
    except MatcherError as error:
        err.print(f"[bold red]Fehler:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        sys.exit(EXIT_INVALID_INPUT)
