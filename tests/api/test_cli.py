"""The ``matcher`` command: JSON contracts, bad input, the demo, --help everywhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
import typer.main
from sqlmodel import Session
from typer.testing import CliRunner

from api.cli import app
from models import crud
from models.db import init_db, make_engine
from tests.hardening.test_messages_de import english_words

COMMANDS = ["demo", "rank", "assign", "evaluate", "import", "export", "template"]


def table_counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    init_db(engine)
    with Session(engine) as session:
        return crud.table_counts(session=session)


@pytest.mark.parametrize("command", [[], *[[name] for name in COMMANDS]])
def test_every_command_has_help(runner: CliRunner, command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_rank_json_lists_feasible_offers_best_first(
    runner: CliRunner, database_url: str, small_round: tuple[Path, Path]
) -> None:
    applicants, offers = small_round
    result = runner.invoke(
        app,
        ["rank", "--applicants", str(applicants), "--offers", str(offers), "--top", "3", "--json"],
    )
    assert result.exit_code == 0, result.output
    rankings = json.loads(result.stdout)["rankings"]
    assert [r["applicant_id"] for r in rankings] == [
        a["id"] for a in json.loads(applicants.read_text("utf-8"))
    ]
    for ranking in rankings:
        scores = [s["score"] for s in ranking["suggestions"]]
        assert scores == sorted(scores, reverse=True)
        assert len(scores) <= 3
        for suggestion in ranking["suggestions"]:
            assert suggestion["feasible"] is True
            assert suggestion["reasons"] == []
            assert "Arbeitssprache" in suggestion["explanation"]
            assert set(suggestion) >= {"offer_id", "score", "feasible", "reasons", "explanation"}


def test_rank_topic_only_ranks_every_offer_and_marks_infeasible(
    runner: CliRunner, database_url: str, small_round: tuple[Path, Path]
) -> None:
    applicants, offers = small_round
    n_offers = len(json.loads(offers.read_text("utf-8")))
    result = runner.invoke(
        app,
        [
            "rank",
            "--applicants",
            str(applicants),
            "--offers",
            str(offers),
            "--top",
            str(n_offers),
            "--topic-only",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    for ranking in json.loads(result.stdout)["rankings"]:
        suggestions = ranking["suggestions"]
        assert len(suggestions) == n_offers
        infeasible = [s for s in suggestions if not s["feasible"]]
        assert infeasible, "the sample round has offers nobody can take (capacity 0)"
        assert all(s["reasons"] for s in infeasible)


def test_assign_json_respects_capacity_and_matches_rank_scores(
    runner: CliRunner, database_url: str, small_round: tuple[Path, Path]
) -> None:
    applicants, offers = small_round
    files = ["--applicants", str(applicants), "--offers", str(offers)]
    assigned = runner.invoke(app, ["assign", *files, "--mode", "max-placed", "--json"])
    assert assigned.exit_code == 0, assigned.output
    result = json.loads(assigned.stdout)
    assert set(result) == {"assignments", "unassigned", "alternates", "total_score"} | COST_KEYS
    capacity = {o["id"]: o["capacity"] for o in json.loads(offers.read_text("utf-8"))}
    placed = [a["offer_id"] for a in result["assignments"]]
    assert all(placed.count(offer) <= capacity[offer] for offer in placed)
    ids = [a["applicant_id"] for a in result["assignments"]] + [
        u["applicant_id"] for u in result["unassigned"]
    ]
    assert sorted(ids) == sorted(a["id"] for a in json.loads(applicants.read_text("utf-8")))
    assert result["total_score"] == pytest.approx(
        sum(a["score"] for a in result["assignments"]), abs=1e-5
    )

    ranked = runner.invoke(app, ["rank", *files, "--top", "100", "--json"])
    rank_score = {
        (r["applicant_id"], s["offer_id"]): s["score"]
        for r in json.loads(ranked.stdout)["rankings"]
        for s in r["suggestions"]
    }
    for a in result["assignments"]:
        assert a["score"] == rank_score[(a["applicant_id"], a["offer_id"])]


COST_KEYS = {
    "total_cost",
    "budget",
    "budget_left",
    "cost_per_city",
    "cost_per_agency",
    "fit_lost_to_budget",
    "gap",
}


def test_assign_json_keeps_budget_and_quotas(
    runner: CliRunner, database_url: str, small_round: tuple[Path, Path]
) -> None:
    applicants, offers = small_round
    records = json.loads(offers.read_text("utf-8"))
    files = ["--applicants", str(applicants), "--offers", str(offers)]
    free = json.loads(runner.invoke(app, ["assign", *files, "--json"]).stdout)
    assert free["budget"] is None and free["total_cost"] == sum(
        a["cost"] for a in free["assignments"]
    )
    budget = round(0.6 * free["total_cost"])
    city = records[0]["city"]
    limited = runner.invoke(
        app,
        [
            *("assign", *files, "--budget", str(budget), "--agency-quota", "2"),
            *("--city-quota", f"{city}=1", "--json"),
        ],
    )
    assert limited.exit_code == 0, limited.output
    result = json.loads(limited.stdout)
    assert result["total_cost"] == pytest.approx(sum(a["cost"] for a in result["assignments"]))
    assert result["total_cost"] <= budget == result["budget"]
    assert result["budget_left"] == pytest.approx(budget - result["total_cost"])
    assert result["gap"] <= 1e-6
    city_of = {o["id"]: o["city"] for o in records}
    assert sum(city_of[a["offer_id"]] == city for a in result["assignments"]) <= 1
    reasons = " ".join(u["reason"] for u in result["unassigned"])
    assert "Budget ausgeschöpft" in reasons or "Quote für" in reasons


@pytest.mark.parametrize(
    "option", [["--city-quota", "Wien"], ["--budget", "-5"], ["--city-cost", "Wien=teuer"]]
)
def test_bad_budget_or_quota_is_a_clear_error(
    runner: CliRunner, database_url: str, small_round: tuple[Path, Path], option: list[str]
) -> None:
    applicants, offers = small_round
    files = ["--applicants", str(applicants), "--offers", str(offers)]
    result = runner.invoke(app, ["assign", *files, *option])
    assert result.exit_code == 2
    assert "Fehler:" in result.stderr


def test_invalid_offer_names_record_and_field_and_stores_nothing(
    runner: CliRunner, database_url: str, small_round: tuple[Path, Path], tmp_path: Path
) -> None:
    applicants, offers = small_round
    records = json.loads(offers.read_text("utf-8"))
    records[3]["capacity"] = -1
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(records), "utf-8")
    before = table_counts(database_url)
    result = runner.invoke(
        app, ["assign", "--applicants", str(applicants), "--offers", str(broken)]
    )
    assert result.exit_code == 2
    assert records[3]["id"] in result.stderr
    assert "capacity" in result.stderr
    assert table_counts(database_url) == before


def test_missing_file_is_a_clear_error(
    runner: CliRunner, database_url: str, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.json"
    result = runner.invoke(app, ["rank", "--applicants", str(missing), "--offers", str(missing)])
    assert result.exit_code == 2
    assert "nope.json" in result.stderr


def test_demo_prints_table_and_summary_and_reuses_embeddings(
    runner: CliRunner, database_url: str
) -> None:
    first = runner.invoke(app, ["demo"])
    assert first.exit_code == 0, first.output
    assert "Zuordnung (max-placed)" in first.stdout
    assert "Platziert:" in first.stdout and "ohne Platz:" in first.stdout
    assert "Kein zulässiges Angebot" in first.stdout
    assert "Budget ausgeschöpft" in first.stdout and "Kosten:" in first.stdout
    second = runner.invoke(app, ["demo"])
    assert second.exit_code == 0, second.output
    assert "Neu eingebettete Texte: 0" in second.stdout
    summary = [line for line in first.stdout.splitlines() if line.startswith("Platziert:")]
    assert summary == [line for line in second.stdout.splitlines() if line.startswith("Platziert:")]


def test_users_create_prints_a_token_that_authenticates(
    runner: CliRunner, database_url: str
) -> None:
    from api.auth import authenticate
    from models.tables import Role

    result = runner.invoke(app, ["users", "create", "--role", "coordinator", "--label", "K"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert len(token) >= 43  # 32 random bytes, url-safe base64
    engine = make_engine(database_url)
    with Session(engine) as session:
        principal = authenticate(session, token)
        assert principal is not None and principal.role is Role.COORDINATOR
        assert authenticate(session, token + "x") is None


def test_users_create_for_unknown_applicant_is_a_clear_error(
    runner: CliRunner, database_url: str
) -> None:
    result = runner.invoke(
        app, ["users", "create", "--role", "applicant", "--round", "99", "--applicant", "A-1"]
    )
    assert result.exit_code == 2
    assert "Runde 99" in result.stderr


def _commands(group: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    """Every (sub)command of the CLI with the words that call it; groups too."""
    yield path, group
    for name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, [*path, name])


def _usage_mistakes() -> Iterator[tuple[list[str], str]]:
    """(command line, what the message must name) for each kind of usage error, everywhere."""
    for path, command in _commands(typer.main.get_command(app), []):
        yield [*path, "--gibt-es-nicht"], "--gibt-es-nicht"
        if hasattr(command, "commands"):
            yield [*path, "gibtsnicht"], "gibtsnicht"
            continue
        required = [p for p in command.params if p.required]
        if required:
            first = required[0]
            shown = first.opts[0] if first.param_type_name == "option" else first.name.upper()
            yield path, shown
        for param in command.params:
            if param.param_type_name != "option":
                continue
            option, kind = param.opts[0], param.type_descriptor.annotation
            if param.is_flag:
                yield [*path, f"{option}=3"], option
                continue
            yield [*path, option], option  # the value is missing
            if kind in (int, int | None, float, float | None) or (
                isinstance(kind, type) and issubclass(kind, Enum)
            ):
                yield [*path, option, "x"], option
    yield ["exprot"], "export"  # misspelt: the message suggests the command
    yield ["export", "--round", "1", "a.csv", "b.csv"], "b.csv"
    yield ["db", "current", "überzählig"], "überzählig"


USAGE_MISTAKES = list(_usage_mistakes())


@pytest.mark.parametrize(
    ("arguments", "named"), USAGE_MISTAKES, ids=[" ".join(a) or "-" for a, _ in USAGE_MISTAKES]
)
def test_every_usage_error_is_german_and_names_the_option(
    runner: CliRunner, database_url: str, arguments: list[str], named: str
) -> None:
    """Click's own usage errors (missing, unknown, bad values) in German, exit code 2."""
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Fehler: "), result.output
    assert named in result.output
    sentence = result.output.split(" Hilfe: ")[0]  # the help hint names commands (`list`)
    assert english_words(sentence) == [], result.output
    assert "Usage" not in result.output and "Try" not in result.output


def test_usage_errors_cover_every_kind() -> None:
    """The walk reaches each kind of mistake the parser reports, not only unknown options."""
    kinds = {a[-1] if a else "" for a, _ in USAGE_MISTAKES}
    assert {"--gibt-es-nicht", "gibtsnicht", "x", "--round", "--json=3"} <= kinds
    assert ["users", "create"] in [a for a, _ in USAGE_MISTAKES]  # --role missing
