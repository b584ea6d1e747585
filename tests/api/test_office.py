"""Office files through the API and the CLI: Excel export, CSV/XLSX import, templates.

The LibreOffice check opens the exported CSV with Debian's ``soffice`` (headless) the way a
coordinator opens it in Calc, and reads back the workbook it writes; it skips, saying so, on a
machine without LibreOffice (the README records the same check done by hand).
"""

from __future__ import annotations

import codecs
import csv
import io
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

import matcher
from api import office
from api.cli import app
from matcher import tabular
from tests.api.conftest import Api, Record

SOFFICE = shutil.which("soffice")
FORMULA_NAME = '=HYPERLINK("http://example.org/böse","Klick")'


def csv_rows(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(codecs.BOM_UTF8)
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))


@pytest.fixture
def decided_round(api: Api, offers_data: list[Record], applicants_data: list[Record]) -> int:
    """Few places for many applicants, a run, one proposal confirmed: every kind of row."""
    applicants = applicants_data[:12]
    applicants[0]["name"] = FORMULA_NAME
    round_id = api.new_round(offers_data[:4], applicants, name="Export")
    api.run(round_id)
    first = api.placements(round_id, "proposed")[0]
    api.ok("POST", f"/api/rounds/{round_id}/placements/{first['id']}/confirm", json={})
    return round_id


def test_export_for_excel_has_german_rows_dates_mentor_and_reasons(
    api: Api, decided_round: int, offers_data: list[Record], applicants_data: list[Record]
) -> None:
    response = api.get(f"/api/rounds/{decided_round}/export.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert f'filename="runde-{decided_round}.csv"' in response.headers["content-disposition"]
    assert b"\r\n" in response.content  # Excel's line ends
    assert response.content.split(b"\r\n")[0].decode("utf-8-sig").split(";") == list(
        office.EXPORT_HEADER
    )
    rows = csv_rows(response.content)
    applicants = {a["id"]: a for a in applicants_data[:12]}
    offers = {o["id"]: o for o in offers_data[:4]}
    assert [r["Bewerbung"] for r in rows] == list(applicants)
    assert rows[0]["Name"] == "'" + FORMULA_NAME  # neutralised, not a formula
    run = api.ok("GET", f"/api/rounds/{decided_round}/runs")[0]
    reasons = {u["applicant_id"]: u["reason"] for u in run["result"]["unplaced"]}
    assert reasons, "the round was built to leave applicants without a place"
    labels = {
        p["applicant_id"]: p["strength"]
        for p in api.placements(decided_round)
        if p["status"] in {"proposed", "confirmed"}
    }
    statuses = {r["Status"] for r in rows}
    assert statuses == {"bestätigt", "vorgeschlagen", "ohne Platz"}
    for row in rows:
        applicant = applicants[row["Bewerbung"]]
        assert row["E-Mail"] == applicant["email"]
        assert row["Dienststelle"] == applicant["home_organisation"]
        if row["Status"] == "ohne Platz":
            assert row["Grund (ohne Platz)"] == reasons[row["Bewerbung"]]
            assert row["Angebot"] == row["Beginn"] == row["Passung"] == ""
            continue
        assert row["Passung"] == labels[row["Bewerbung"]]
        assert row["Passung"] in {"sehr gut", "gut", "schwach"}
        offer = offers[row["Angebot"]]
        start = max(
            date.fromisoformat(applicant["available_from"]),
            date.fromisoformat(offer["available_from"]),
        )
        end = start + timedelta(days=7 * applicant["weeks_wanted"] - 1)
        assert (row["Beginn"], row["Ende"]) == (f"{start:%d.%m.%Y}", f"{end:%d.%m.%Y}")
        assert (row["Mentor/in"], row["E-Mail Mentor/in"]) == (
            offer["mentor_name"],
            offer["mentor_email"],
        )
        assert row["Rückmeldung Mentor/in"] == "offen"
        assert row["Grund (ohne Platz)"] == ""
        assert "," in row["Score"]  # decimal comma for German Excel

    xlsx = api.get(f"/api/rounds/{decided_round}/export.xlsx")
    assert xlsx.headers["content-type"] == office.MEDIA_TYPES["xlsx"]
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None and sheet.freeze_panes == "A2"
    assert [c.value for c in sheet[1]] == list(office.EXPORT_HEADER)
    assert all(sheet.column_dimensions[letter].width for letter in "ABCDEFGHIJKLMNOPQRS")
    values = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [v[0] for v in values] == [r["Bewerbung"] for r in rows]
    assert values[0][1] == "'" + FORMULA_NAME
    placed = next(v for v in values if v[5] == "bestätigt")
    assert placed[10].date().strftime("%d.%m.%Y") == next(
        r["Beginn"] for r in rows if r["Bewerbung"] == placed[0]
    )
    assert placed[office.EXPORT_HEADER.index("Passung")] == labels[placed[0]]


@pytest.mark.skipif(
    SOFFICE is None, reason="LibreOffice (soffice) is not installed; README: manual check"
)
def test_libreoffice_opens_the_export_in_columns_with_umlauts(
    api: Api, decided_round: int, tmp_path: Path
) -> None:
    """Calc reads the CSV as a user's import dialog would (``;``, UTF-8) and keeps every cell."""
    exported = tmp_path / "runde.csv"
    exported.write_bytes(api.get(f"/api/rounds/{decided_round}/export.csv").content)
    assert SOFFICE is not None
    subprocess.run(
        [
            SOFFICE,
            "--headless",
            f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",
            "--infilter=CSV:59,34,76,1",
            "--convert-to",
            "xlsx",
            "--outdir",
            str(tmp_path / "out"),
            str(exported),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    sheet = load_workbook(tmp_path / "out" / "runde.xlsx").active
    assert sheet is not None
    table = [
        ["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)
    ]
    assert table[0] == list(office.EXPORT_HEADER)  # columns, not one column with semicolons
    rows = csv_rows(exported.read_bytes())
    for got, row in zip(table[1:], rows, strict=True):
        for cell, (title, value) in zip(got, row.items(), strict=True):
            if title not in {"Wochen", "Score"}:  # Calc reads those as numbers
                assert cell == value, (title, cell, value)
    assert any("ä" in cell or "ü" in cell or "ß" in cell for cell in table[1])


def test_xlsx_and_german_csv_import_report_how_they_were_read(
    api: Api, offers_data: list[Record], applicants_data: list[Record]
) -> None:
    round_id = api.new_round(name="Excel")
    offers = matcher.parse_records(matcher.Offer, offers_data[:5])
    applicants = matcher.parse_records(matcher.Applicant, applicants_data[:6])
    german_csv = office.records_file(office.Kind.APPLICANTS, applicants, "csv")
    windows = german_csv.decode("utf-8-sig").encode("cp1252", errors="replace")
    response = api.post(
        f"/api/rounds/{round_id}/import/csv",
        files={
            "offers": (
                "Angebote 2027.xlsx",
                office.records_file(office.Kind.OFFERS, offers, "xlsx"),
                "application/octet-stream",
            ),
            "applicants": ("bewerbungen.csv", windows, "text/csv"),
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["offers"], body["applicants"]) == (5, 6)
    assert body["files"] == [
        {
            "source": "Angebote 2027.xlsx",
            "format": "xlsx",
            "encoding": None,
            "delimiter": None,
            "sheet": "Angebote",
        },
        {
            "source": "bewerbungen.csv",
            "format": "csv",
            "encoding": "Windows-1252",
            "delimiter": ";",
            "sheet": None,
        },
    ]
    stored = api.ok("GET", f"/api/rounds/{round_id}/offers")
    assert [o["id"] for o in stored] == [o.id for o in offers]

    wrong_sheet = api.post(
        f"/api/rounds/{round_id}/import/csv",
        params={"sheet": "Tabelle1"},
        files={"offers": ("o.xlsx", office.records_file(office.Kind.OFFERS, offers, "xlsx"), "x")},
    )
    assert wrong_sheet.status_code == 422
    assert wrong_sheet.json()["errors"][0]["message"].startswith("Tabellenblatt „Tabelle1“ fehlt")


@pytest.mark.parametrize(("kind", "fmt"), [("offers", "xlsx"), ("applicants", "csv")])
def test_templates_download(api: Api, kind: str, fmt: office.Format) -> None:
    response = api.get(f"/api/templates/{kind}.{fmt}")
    assert response.status_code == 200
    assert response.headers["content-type"] == office.MEDIA_TYPES[fmt]
    model = matcher.Offer if kind == "offers" else matcher.Applicant
    records, _ = matcher.load_table(model, response.content, source=f"t.{fmt}")
    assert len(records) == 1


def test_unknown_template_or_format_is_a_german_422(api: Api) -> None:
    for url in (
        "/api/templates/mentors.csv",
        "/api/templates/offers.ods",
        "/api/rounds/1/export.pdf",
    ):
        response = api.get(url)
        assert response.status_code == 422, url
        message = response.json()["errors"][0]["message"]
        assert "muss einer dieser Werte sein" in message, message


# --- command line -------------------------------------------------------------------------------


def invoke(runner: CliRunner, *arguments: str) -> Any:
    return runner.invoke(app, list(arguments))


def test_cli_template_import_and_export_round_trip(
    runner: CliRunner,
    database_url: str,
    tmp_path: Path,
    offers_data: list[Record],
    applicants_data: list[Record],
) -> None:
    offers_file, applicants_file = tmp_path / "offers.xlsx", tmp_path / "bewerbungen.csv"
    for path in (offers_file, applicants_file):
        result = invoke(runner, "template", str(path))
        assert result.exit_code == 0, result.output
        assert "geschrieben" in result.output
    assert tabular.read_sheet(offers_file.read_bytes(), source="o").header[0] == "Kennung"
    offers = matcher.parse_records(matcher.Offer, offers_data[:3])
    applicants_data[3]["languages"] = {"fi": "C2"}  # no offer of the three works in Finnish
    applicants = matcher.parse_records(matcher.Applicant, applicants_data[:4])
    offers_file.write_bytes(office.records_file(office.Kind.OFFERS, offers, "xlsx"))
    applicants_file.write_bytes(office.records_file(office.Kind.APPLICANTS, applicants, "csv"))

    result = invoke(
        runner,
        "import",
        "--name",
        "Aus Excel",
        "--offers",
        str(offers_file),
        "--applicants",
        str(applicants_file),
    )
    assert result.exit_code == 0, result.output
    assert "offers.xlsx: XLSX, Tabellenblatt „Angebote“" in result.output
    assert "bewerbungen.csv: CSV, UTF-8 mit BOM, Trennzeichen „;“" in result.output
    assert "3 Angebote, 4 Bewerbungen" in result.output

    for name in ("ergebnis.csv", "ergebnis.xlsx"):
        result = invoke(runner, "export", "--round", "1", str(tmp_path / name))
        assert result.exit_code == 0, result.output
    rows = csv_rows((tmp_path / "ergebnis.csv").read_bytes())
    assert [r["Bewerbung"] for r in rows] == [a.id for a in applicants]
    reasons = {r["Bewerbung"]: r["Grund (ohne Platz)"] for r in rows}
    assert reasons[applicants[3].id].startswith("Kein zulässiges Angebot: von 3 Angeboten")
    assert "Sprache bei 3" in reasons[applicants[3].id]
    for reason in reasons.values():  # no run yet, no placement: nothing assigned
        assert reason == office.NO_RUN_YET or reason.startswith("Kein zulässiges Angebot")
    sheet = tabular.read_sheet((tmp_path / "ergebnis.xlsx").read_bytes(), source="e")
    assert sheet.header == list(office.EXPORT_HEADER) and len(sheet.rows) == 4


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["template", "vorlage.csv"], "--kind offers oder --kind applicants"),
        (["template", "offers.ods"], "Dateiendung .csv oder .xlsx"),
        (["export", "--round", "99", "x.csv"], "--round: Runde 99"),
        (
            ["users", "create", "--role", "applicant", "--applicant", "A-001"],
            "--round: „Runde“ fehlt.",
        ),
    ],
)
def test_cli_mistakes_are_german_and_name_the_option(
    runner: CliRunner, database_url: str, tmp_path: Path, arguments: list[str], expected: str
) -> None:
    paths = [str(tmp_path / a) if a.endswith((".csv", ".ods")) else a for a in arguments]
    result = invoke(runner, *paths)
    assert result.exit_code == 2, result.output
    assert expected in result.output, result.output
    assert "round_id" not in result.output


def test_cli_import_of_a_broken_sheet_names_record_and_field_in_german(
    runner: CliRunner,
    database_url: str,
    tmp_path: Path,
    offers_data: list[Record],
    applicants_data: list[Record],
) -> None:
    offers = matcher.parse_records(matcher.Offer, offers_data[:2])
    broken = [offers[0].model_copy(update={"capacity": -1}), offers[1]]
    offers_file, applicants_file = tmp_path / "angebote.csv", tmp_path / "bewerbungen.xlsx"
    offers_file.write_bytes(office.records_file(office.Kind.OFFERS, broken, "csv"))
    applicants = matcher.parse_records(matcher.Applicant, applicants_data[:2])
    applicants_file.write_bytes(office.records_file(office.Kind.APPLICANTS, applicants, "xlsx"))
    result = invoke(
        runner,
        "import",
        "--name",
        "Kaputt",
        "--offers",
        str(offers_file),
        "--applicants",
        str(applicants_file),
    )
    assert result.exit_code == 2, result.output
    where = f"angebote.csv: Datensatz '{offers[0].id}', Feld 'capacity'"
    assert f"{where}: „Plätze“ muss mindestens 0 sein." in result.output
    assert "nichts gespeichert" in result.output
