"""The ``matcher`` command: demo, rank, assign and evaluate from the command line.

Invalid input ends with a message naming the record and field, exit code 2, and nothing stored.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine
from typer._click import exceptions as usage
from typer.core import TyperGroup

import matcher
from api import learning, office, services
from api.errors import ApiError
from api.funding import cost_json, funding_of
from api.mailer import Dispatcher
from api.outbox import datum
from api.settings import get_settings
from matcher import (
    Assignment,
    EvaluationReport,
    InvalidRecordsError,
    MatcherError,
    Mode,
    PairScores,
    SourceInfo,
)
from matcher.funding import Funding, euros
from matcher.records import decode_json
from matcher.rerank import DecisionReranker, with_reranker
from matcher.tabular import RecordT
from models import crud
from models import outbox as outbox_rows
from models.db import (
    SchemaOutdatedError,
    current_revision,
    head_revision,
    init_db,
    make_engine,
    upgrade_db,
)
from models.tables import OutboxStatus, Role, RoundDirection

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DEMO_ROUND = "Beispielrunde 2027 (Demo)"
INCOMING_DEMO_ROUND = "Gäste in Berlin 2027 (Demo)"
DIRECTION_LABELS = {
    RoundDirection.OUTGOING: "Berliner Beschäftigte zu Partnerstädten",
    RoundDirection.INCOMING: "Gäste aus Partnerstädten in Berlin",
}
#: EUR; placing everyone possible in the sample round would cost 161 360 €.
DEMO_BUDGET = 100_000.0
EXIT_INVALID_INPUT = 2

out = Console()
err = Console(stderr=True)


# --- usage errors in German ---------------------------------------------------------------------
# Typer (0.29: its own copy of Click, values checked by pydantic) words usage errors in English.
# ``GermanUsageGroup`` catches every one where the command line is parsed and reports it like
# any other bad input (``fail``): German, naming the option, exit code 2. ``--help`` stays.

#: The two usage errors Click raises as a plain ``UsageError``, with only English text to go by.
_NO_SUCH_COMMAND = re.compile(
    r"No such command '(?P<name>.*?)'\.(?: Did you mean '(?P<hint>.*?)'\?)?"
)
_EXTRA_ARGUMENTS = re.compile(r"Got unexpected extra argument(?:s|\(s\))? \((?P<extra>.*)\)")


def _option(param: Any) -> str:
    """How the user writes a parameter: ``--round`` for an option, ``PATH`` for an argument."""
    if param is None:
        return "Eingabe"
    return str(param.opts[0] if param.param_type_name == "option" else param.name.upper())


def _choices(param: Any) -> list[str]:
    """The values of an enum-typed parameter (empty for any other type)."""
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return [str(member.value) for member in annotation]
    return []


def _bad_value(error: usage.BadParameter) -> str:
    """A value the option's type refused, in the words of the one German translation."""
    name = _option(error.param)
    cause = error.__cause__
    problems = cause.errors() if isinstance(cause, ValidationError) else []
    choices = _choices(error.param)
    if choices:
        given = f" (nicht „{problems[0]['input']}“)" if problems else ""
        return f"„{name}“ muss einer dieser Werte sein: {', '.join(choices)}{given}."
    if problems and problems[0]["type"] not in {"value_error", "assertion_error"}:
        return matcher.german.message(problems[0], loc=(name,))
    return f"„{name}“ hat einen ungültigen Wert."


def usage_message(error: usage.UsageError) -> str:
    """A German sentence for any usage error of the command line, naming the option."""
    if isinstance(error, usage.MissingParameter):
        choices = _choices(error.param)
        which = f" ({', '.join(choices)})" if choices else ""
        kind = "Option" if error.param and error.param.param_type_name == "option" else "Angabe"
        return f"Die {kind} {_option(error.param)} fehlt{which}."
    if isinstance(error, usage.BadParameter):
        return _bad_value(error)
    if isinstance(error, usage.NoSuchOption):
        hint = f" Gemeint: {' oder '.join(error.possibilities)}?" if error.possibilities else ""
        return f"Die Option {error.option_name} gibt es hier nicht.{hint}"
    if isinstance(error, usage.BadOptionUsage):
        if "does not take a value" in error.message:
            return f"Die Option {error.option_name} nimmt keinen Wert."
        return f"Die Option {error.option_name} braucht einen Wert."
    if found := _NO_SUCH_COMMAND.fullmatch(error.message):
        hint = f" Gemeint: {found['hint']}?" if found["hint"] else ""
        return f"Den Befehl „{found['name']}“ gibt es nicht.{hint}"
    if found := _EXTRA_ARGUMENTS.fullmatch(error.message):
        return f"Überzählige Angabe: {found['extra']}."
    return "Der Aufruf ist unvollständig oder falsch."


@contextmanager
def german_usage_errors() -> Iterator[None]:
    """Report a usage error raised in the block in German (stderr, exit code 2)."""
    try:
        yield
    except usage.NoArgsIsHelpError:  # a bare ``matcher`` or ``matcher users``: the help
        raise
    except usage.UsageError as error:
        where = f" Hilfe: {error.ctx.command_path} --help" if error.ctx else ""
        fail(usage_message(error) + where)


class GermanUsageGroup(TyperGroup):
    """The ``matcher`` command: parsing its own and its subcommands' arguments (``invoke``
    parses the subcommand's) happens inside :func:`german_usage_errors`."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with german_usage_errors():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with german_usage_errors():
            return super().invoke(ctx)


app = typer.Typer(
    help="Hospitation Matcher: rank and assign host offers for Berlin's exchange programme.",
    cls=GermanUsageGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ApplicantsOption = Annotated[
    Path,
    typer.Option("--applicants", help="Applications: .json (interchange format), .csv or .xlsx"),
]
OffersOption = Annotated[
    Path, typer.Option("--offers", help="Offers: .json (interchange format), .csv or .xlsx")
]
#: Files read as spreadsheets (``matcher.tabular``); anything else is interchange JSON.
TABLE_SUFFIXES = frozenset({".csv", ".xlsx"})
#: API field → the option that sets it, so CLI messages name what the user typed.
OPTION_NAMES = {
    "round_id": "--round",
    "applicant_id": "--applicant",
    "offer_ids": "--offer",
    "role": "--role",
    "label": "--label",
    "name": "--name",
}
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str) -> NoReturn:
    """Report bad input the way every command does: stderr, exit code 2."""
    err.print(f"[bold red]Fehler:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_INVALID_INPUT)


def database() -> Engine:
    """The configured database; an empty one is created at the current schema.

    A database at an older schema ends the command with the German message that names
    ``matcher db upgrade`` (exit code 2); it is left untouched.
    """
    settings = get_settings()
    engine = make_engine(settings.database_url, pool=settings.pool)
    try:
        init_db(engine)
    except SchemaOutdatedError as error:
        engine.dispose()
        fail(str(error))
    return engine


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        fail(f"{path}: Datei nicht lesbar ({error.strerror})")


def fail_api(error: ApiError) -> NoReturn:
    """An API error in CLI words: the fields it names become the options that set them."""
    named = [e for e in error.errors if e.get("field") in OPTION_NAMES]
    if not named:
        fail(error.detail)
    fail(" ".join(f"{OPTION_NAMES[e['field']]}: {e.get('message', '')}" for e in named))


def load_file(
    kind: type[RecordT], path: Path, infos: list[SourceInfo], sheet: str | None = None
) -> list[RecordT]:
    """Records of an interchange JSON file or a spreadsheet; how a spreadsheet was read is
    appended to ``infos``."""
    raw = read_bytes(path)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        return matcher.parse_records(kind, decode_json(raw, source=path.name), source=path.name)
    records, info = matcher.load_table(kind, raw, source=path.name, sheet=sheet)
    infos.append(info)
    return records


def read_files(
    applicants_file: Path, offers_file: Path, sheet: str | None = None
) -> tuple[list[matcher.Applicant], list[matcher.Offer], list[SourceInfo]]:
    """Parse both files, reporting the problems of both before giving up."""
    infos: list[SourceInfo] = []
    try:
        offers, applicants = matcher.parse_round(
            lambda: load_file(matcher.Offer, offers_file, infos, sheet),
            lambda: load_file(matcher.Applicant, applicants_file, infos, sheet),
        )
    except InvalidRecordsError as error:
        fail(str(error))
    return applicants, offers, infos


def read_records(
    applicants_file: Path, offers_file: Path
) -> tuple[list[matcher.Applicant], list[matcher.Offer]]:
    """Both files' records (JSON, CSV or XLSX)."""
    applicants, offers, _ = read_files(applicants_file, offers_file)
    return applicants, offers


def describe_source(info: SourceInfo) -> str:
    """How a spreadsheet was read: ``a.csv: CSV, Windows-1252, Trennzeichen „;“``."""
    if info.format == "xlsx":
        return f"{info.source}: XLSX, Tabellenblatt „{info.sheet}“"
    separator = "Tabulator" if info.delimiter == "\t" else f"„{info.delimiter}“"
    return f"{info.source}: CSV, {info.encoding}, Trennzeichen {separator}"


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


BudgetOption = Annotated[
    float | None, typer.Option("--budget", help="Central fund in EUR for all placements.")
]
AgencyQuotaOption = Annotated[
    int | None, typer.Option("--agency-quota", help="At most N placements per home agency.")
]
CityQuotaOption = Annotated[
    list[str] | None,
    typer.Option("--city-quota", help="CITY=N: at most N placements there (repeatable)."),
]
CityCostOption = Annotated[
    list[str] | None,
    typer.Option(
        "--city-cost",
        help="CITY=TRAVEL[:WEEKLY] EUR for offers without own costs (repeatable).",
    ),
]


def city_values(items: Sequence[str] | None, option: str) -> dict[str, str]:
    """``["Wien=5"]`` → ``{"Wien": "5"}``; anything else ends with a German error."""
    values: dict[str, str] = {}
    for item in items or ():
        city, sep, value = item.partition("=")
        if not sep or not city.strip() or not value.strip():
            fail(f"{option} erwartet STADT=WERT, nicht {item!r}.")
        values[city.strip()] = value.strip()
    return values


def cli_funding(
    budget: float | None,
    agency_quota: int | None,
    city_quota: Sequence[str] | None,
    city_cost: Sequence[str] | None,
) -> Funding:
    """Budget and quota options as the engine's Funding; bad values exit with code 2."""
    costs = {
        city: dict(zip(("travel_cost", "weekly_cost"), value.split(":", 1), strict=False))
        for city, value in city_values(city_cost, "--city-cost").items()
    }
    parameters = {
        "budget": budget,
        "agency_quota": agency_quota,
        "city_quotas": city_values(city_quota, "--city-quota"),
        "city_costs": costs,
    }
    try:
        return funding_of(parameters, time_limit=get_settings().assign_time_limit)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_url=False)
        )
        fail(f"Ungültige Budget- oder Quotenangabe: {problems}")


@app.command()
def assign(
    applicants: ApplicantsOption,
    offers: OffersOption,
    mode: ModeOption = Mode.MAX_FIT,
    budget: BudgetOption = None,
    agency_quota: AgencyQuotaOption = None,
    city_quota: CityQuotaOption = None,
    city_cost: CityCostOption = None,
    as_json: JsonOption = False,
) -> None:
    """Propose one placement per applicant within capacities, budget and quotas (exact)."""
    funding = cli_funding(budget, agency_quota, city_quota, city_cost)
    scores = file_scores(applicants, offers)
    assignment = matcher.assign(scores, mode=mode, funding=funding)
    if as_json:
        print_json(assignment_json(assignment))
    else:
        print_assignment(scores, assignment)


def assignment_json(assignment: Assignment) -> dict[str, Any]:
    return {
        "assignments": [
            {
                "applicant_id": p.applicant_id,
                "offer_id": p.offer_id,
                "score": round(p.score, 6),
                "cost": round(p.cost, 2),
            }
            for p in assignment.placements
        ],
        "unassigned": [asdict(u) for u in assignment.unplaced],
        "alternates": {offer: list(ids) for offer, ids in assignment.alternates.items()},
        "total_score": round(assignment.total_score, 6),
        **cost_json(assignment),
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
    print_costs(assignment)


def print_costs(assignment: Assignment) -> None:
    """Budget used and left, and what the budget cost in fit; nothing when nothing costs."""
    costs = assignment.costs
    if costs.budget is None and costs.total_cost == 0:
        return
    line = f"Kosten: {euros(costs.total_cost)}"
    if costs.budget is not None and costs.budget_left is not None:
        line += (
            f" von {euros(costs.budget)} Budget  ·  übrig: {euros(costs.budget_left)}  ·  "
            f"Score-Verlust durch das Budget: {costs.fit_lost:.2f}"
        )
    out.print(line + f"  ·  bewiesene Optimalitätslücke: {costs.gap:.1e}")


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
        fail(f"{gold}: kein gültiges JSON ({type(error).__name__})")
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
    budget: BudgetOption = DEMO_BUDGET,
    agency_quota: AgencyQuotaOption = None,
    city_quota: CityQuotaOption = None,
    incoming: Annotated[
        bool,
        typer.Option(
            "--incoming",
            help="The incoming sample round instead: partner-city staff to Berlin hosts "
            "(fixtures/incoming).",
        ),
    ] = False,
) -> None:
    """Load the sample round into the database, embed, assign and print the proposal.

    The sample round's central fund (``--budget``) binds: it pays about 60 % of what placing
    everyone possible would cost.
    """
    funding = cli_funding(budget, agency_quota, city_quota, None)
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
            session, scorer, round_.id, mode=mode, show_progress=True, funding=funding
        )
    print_assignment(scores, assignment)
    out.print(f"Neu eingebettete Texte: {scorer.embedder.encoded_count} (0: alle aus dem Cache)")


@app.command("import")
def import_round(
    applicants: ApplicantsOption,
    offers: OffersOption,
    name: Annotated[str, typer.Option("--name", help="Name of the new round.")],
    sheet: Annotated[
        str | None, typer.Option("--sheet", help="XLSX: sheet to read (default: the first).")
    ] = None,
    incoming: Annotated[
        bool, typer.Option("--incoming", help="Partner-city staff to Berlin hosts.")
    ] = False,
) -> None:
    """Create a round from two files (JSON, CSV or XLSX): all records, or nothing (exit code 2)."""
    applicant_records, offer_records, infos = read_files(applicants, offers, sheet)
    if not name.strip() or len(name) > 200:
        fail("--name: 1 bis 200 Zeichen")
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
    for info in infos:
        out.print(escape(describe_source(info)), highlight=False)
    out.print(
        f"Runde {round_id} „{escape(name.strip())}“ angelegt: {len(offer_records)} Angebote, "
        f"{len(applicant_records)} Bewerbungen."
    )


def office_format(path: Path) -> office.Format:
    """``csv`` or ``xlsx`` from a file name; anything else is a usage error."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".xlsx":
        return "xlsx"
    fail(f"{path.name}: Dateiendung .csv oder .xlsx erwartet")


def write_output(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as error:
        fail(f"{path}: Datei nicht schreibbar ({error.strerror})")
    out.print(f"{escape(str(path))} geschrieben ({len(data):,} Bytes).".replace(",", "."))


@app.command()
def export(
    path: Annotated[Path, typer.Argument(help="Target file: .csv (for Excel) or .xlsx")],
    round_id: Annotated[int, typer.Option("--round", help="Round to export.")],
) -> None:
    """The round's result for Excel: one row per applicant, placement or reason for none."""
    fmt = office_format(path)
    with services.open_session(database()) as session:
        try:
            services.require_round(session, round_id)
        except ApiError as error:
            fail(f"--round: {error.detail}")
        data = office.export_round(session, round_id, fmt)
    write_output(path, data)


@app.command()
def template(
    path: Annotated[Path, typer.Argument(help="Target file, e.g. offers.xlsx or bewerbungen.csv")],
    kind: Annotated[
        office.Kind | None,
        typer.Option("--kind", help="offers or applicants (default: from the file name)."),
    ] = None,
) -> None:
    """An empty CSV/XLSX sheet for offers or applications, German headers, one example row."""
    write_output(path, office.template(kind or template_kind(path), office_format(path)))


def template_kind(path: Path) -> office.Kind:
    """offers/angebote or applicants/bewerbungen, read from the file name."""
    name = path.stem.lower()
    if "offer" in name or "angebot" in name:
        return office.Kind.OFFERS
    if "applic" in name or "bewerb" in name:
        return office.Kind.APPLICANTS
    fail(f"{path.name}: --kind offers oder --kind applicants angeben")


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


users = typer.Typer(help="Issue, list and revoke bearer tokens.", no_args_is_help=True)
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
                actor="cli",
            )
        except ApiError as error:
            fail_api(error)
        session.commit()
        account_id = account.id
    out.print(f"Zugang {account_id} ({role.value}) angelegt. Token (wird nur jetzt angezeigt):")
    print(token)


@users.command("list")
def list_users() -> None:
    """Every token: label, role, binding, dates and state (never the secret)."""
    with services.open_session(database()) as session:
        tokens = services.list_tokens(session)
    table = Table(title="Zugänge", title_justify="left")
    for column in ("id", "Rolle", "Bezeichnung", "Runde", "gebunden an", "zuletzt"):
        table.add_column(column)
    table.add_column("gültig bis", no_wrap=True, min_width=10)
    table.add_column("Status", no_wrap=True, min_width=10)
    for t in tokens:
        bound = t.applicant_id or ", ".join(t.offer_ids)
        last = f"{t.last_used_at:%d.%m.%Y %H:%M}" if t.last_used_at else ""
        until = f"{t.expires_at:%d.%m.%Y}" if t.expires_at else ""
        cells = (t.id, t.role.value, t.label, t.round_id or "", bound, last, until, t.state)
        table.add_row(*(escape(str(cell)) for cell in cells))
    out.print(table)


@users.command("revoke")
def revoke_user(
    account_id: Annotated[int, typer.Argument(help="Zugang (id aus users list)")],
) -> None:
    """Revoke a token at once; its calls get 401."""
    with services.open_session(database()) as session:
        try:
            services.revoke_token(session, account_id, actor="cli")
        except ApiError as error:
            fail(error.detail)
        session.commit()
    out.print(f"Zugang {account_id} widerrufen.")


db = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db, name="db")


@db.command("upgrade")
def db_upgrade() -> None:
    """Migrate the configured database to the newest schema (creates an empty one)."""
    settings = get_settings()
    engine = make_engine(settings.database_url, pool=settings.pool)
    try:
        before, after = upgrade_db(engine)
    finally:
        engine.dispose()
    if before == after:
        out.print(f"Schema ist aktuell (Revision {after}).")
    else:
        out.print(f"Schema aktualisiert: {before or 'keine Revision'} → {after}.")


@db.command("current")
def db_current() -> None:
    """Show the database's schema revision and the newest one this version knows."""
    settings = get_settings()
    engine = make_engine(settings.database_url, pool=settings.pool)
    try:
        revision = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    state = "aktuell" if revision == head else "veraltet: `matcher db upgrade` ausführen"
    out.print(
        f"Revision der Datenbank: {revision or 'keine'} (neueste: {head}; {state})", soft_wrap=True
    )


outbox = typer.Typer(
    help="E-mail outbox: list messages, resend failed ones, send due ones now.",
    no_args_is_help=True,
)
app.add_typer(outbox, name="outbox")


def masked(address: str) -> str:
    """``e***@example.org``: enough to tell messages apart, not to read the address."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}***@{domain}"


@outbox.command("list")
def outbox_list(
    status: Annotated[
        OutboxStatus | None, typer.Option("--status", help="pending, sending, sent or failed")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Newest messages shown.")] = 50,
    show_address: Annotated[
        bool, typer.Option("--show-address", help="Full recipient addresses (personal data).")
    ] = False,
) -> None:
    """Messages of the outbox, newest first; addresses masked unless --show-address.

    Zeit (Berlin): when it was sent, or (pending) when it is tried next.
    """
    with services.open_session(database()) as session:
        messages = outbox_rows.list_messages(session=session, status=status, limit=limit)
    table = Table(title="Postausgang", title_justify="left")
    for column in ("id", "Status", "Art", "An", "Runde", "betrifft", "Versuche", "Zeit", "Fehler"):
        wraps = column in {"An", "betrifft", "Fehler"}
        table.add_column(column, overflow="fold", no_wrap=not wraps)
    for m in messages:
        when = m.sent_at or (m.next_attempt_at if m.status is OutboxStatus.PENDING else None)
        cells = (
            m.id,
            m.status.value,
            m.kind,
            m.recipient if show_address else masked(m.recipient),
            m.round_id or "",
            " → ".join(filter(None, (m.applicant_public_id, m.offer_public_id))),
            m.attempts,
            datum(when) if when else "",
            m.last_error or "",
        )
        table.add_row(*(escape(str(cell)) for cell in cells))
    out.print(table)


@outbox.command("resend")
def outbox_resend(
    message_ids: Annotated[list[int], typer.Argument(help="Ids of failed messages (outbox list)")],
) -> None:
    """Queue failed messages again (due now, attempts counted afresh); all or none."""
    with services.open_session(database()) as session:
        queued = outbox_rows.resend(session=session, message_ids=message_ids)
        refused = sorted(set(message_ids) - set(queued))
        if refused:
            fail(
                "Nur fehlgeschlagene Nachrichten lassen sich erneut senden; nicht fehlgeschlagen "
                f"oder unbekannt: {', '.join(map(str, refused))}. Nichts geändert."
            )
        session.commit()
    out.print(f"{len(queued)} Nachricht(en) wieder eingereiht: {', '.join(map(str, queued))}.")


@outbox.command("send")
def outbox_send() -> None:
    """One dispatch pass now: send every due message (needs MATCHER_SMTP_HOST)."""
    settings = get_settings()
    if not settings.smtp_host:
        fail(
            "Kein Mailserver eingestellt (MATCHER_SMTP_HOST); die Nachrichten bleiben im "
            "Postausgang."
        )
    engine = database()
    try:
        result = Dispatcher(engine, settings).dispatch_once()
    finally:
        engine.dispose()
    out.print(
        f"Gesendet: {len(result.sent)}, später erneut: {len(result.retried)}, "
        f"fehlgeschlagen: {len(result.failed)}."
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Start the HTTP API (docs at /docs); refuses a database at an older schema."""
    import uvicorn

    from api.app import create_app

    database().dispose()  # the schema check, with its message, before the model loads
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
