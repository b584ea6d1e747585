"""The spreadsheet variant of the interchange format: what Excel and LibreOffice really write.

Round trips run over the whole sample round; the encodings and separators are those of German
Excel ("CSV (Trennzeichen-getrennt)" = Windows-1252 with ``;``, "CSV UTF-8" = BOM with ``;``).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

import matcher
from api import office
from matcher import tabular
from matcher.german import FIELD_LABELS

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
OFFERS = matcher.load_offers((FIXTURES / "offers.json").read_bytes())
APPLICANTS = matcher.load_applicants((FIXTURES / "applicants.json").read_bytes())
KINDS = [
    (office.Kind.OFFERS, matcher.Offer, OFFERS),
    (office.Kind.APPLICANTS, matcher.Applicant, APPLICANTS),
]


def problems_of(kind: type[Any], raw: bytes, **kwargs: Any) -> list[matcher.RecordProblem]:
    with pytest.raises(matcher.InvalidRecordsError) as caught:
        matcher.load_table(kind, raw, source="datei", **kwargs)
    return caught.value.problems


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize(("kind", "model", "records"), KINDS, ids=["offers", "applicants"])
def test_sample_round_survives_export_and_reimport(
    fmt: office.Format, kind: office.Kind, model: type[Any], records: list[Any]
) -> None:
    data = office.records_file(kind, records, fmt)
    back, info = matcher.load_table(model, data, source=f"runde.{fmt}")
    assert back == records
    assert info.format == fmt
    if fmt == "csv":
        assert data.startswith(codecs.BOM_UTF8)
        assert (info.encoding, info.delimiter) == ("UTF-8 mit BOM", ";")


def german_excel_csv(records: list[dict[str, Any]], encoding: str) -> bytes:
    """What German Excel saves: German headers, ``;``, German dates, CRLF."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    fields = list(records[0])
    writer.writerow([FIELD_LABELS[f] for f in fields])
    for record in records:
        row = []
        for field in fields:
            value = record[field]
            if isinstance(value, list):
                value = ", ".join(value)
            elif isinstance(value, dict):
                value = ", ".join(f"{k}: {v}" for k, v in value.items())
            elif field in tabular.DATE_FIELDS:
                value = date.fromisoformat(value).strftime("%d.%m.%Y")
            row.append(value)
        writer.writerow(row)
    return buffer.getvalue().encode(encoding)


def _encodable(text: str) -> bool:
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def test_windows_1252_semicolon_csv_with_german_headers_imports() -> None:
    everyone = json.loads((FIXTURES / "applicants.json").read_text("utf-8"))
    # Windows-1252 has no ı or ł: Excel would write "?" there, so take the ones it can encode.
    raw_records = [r for r in everyone if _encodable(json.dumps(r, ensure_ascii=False))]
    assert len(raw_records) > 50
    data = german_excel_csv(raw_records, "cp1252")
    assert "Dienststelle;Funktion".encode("cp1252") in data
    assert "ä".encode("cp1252") in data  # umlauts as single Windows-1252 bytes
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    records, info = matcher.load_table(matcher.Applicant, data, source="bewerbungen.csv")
    wanted = {r["id"] for r in raw_records}
    assert records == [a for a in APPLICANTS if a.id in wanted]
    assert (info.encoding, info.delimiter) == ("Windows-1252", ";")


def test_bom_utf8_csv_imports() -> None:
    raw_records = json.loads((FIXTURES / "offers.json").read_text("utf-8"))
    data = codecs.BOM_UTF8 + german_excel_csv(raw_records, "utf-8")
    records, info = matcher.load_table(matcher.Offer, data, source="angebote.csv")
    assert records == OFFERS
    assert info.encoding == "UTF-8 mit BOM"


def test_comma_csv_with_interchange_headers_and_lists_in_quotes() -> None:
    buffer = io.StringIO()
    raw_records = json.loads((FIXTURES / "offers.json").read_text("utf-8"))[:3]
    writer = csv.DictWriter(buffer, fieldnames=list(raw_records[0]))
    writer.writeheader()
    for record in raw_records:
        writer.writerow({k: ";".join(v) if isinstance(v, list) else v for k, v in record.items()})
    records, info = matcher.load_table(matcher.Offer, buffer.getvalue().encode(), source="o.csv")
    assert records == OFFERS[:3]
    assert (info.encoding, info.delimiter) == ("UTF-8", ",")


def test_utf16_tab_separated_unicode_text_imports() -> None:
    """Excel's "Unicode-Text": UTF-16 with BOM, tab-separated."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter="\t")
    writer.writerow(tabular.record_header(matcher.Offer))
    writer.writerow(tabular.record_row(OFFERS[0]))
    as_tabs = buffer.getvalue()
    records, info = matcher.load_table(matcher.Offer, as_tabs.encode("utf-16"), source="o.txt")
    assert records == OFFERS[:1]
    assert (info.encoding, info.delimiter) == ("UTF-16", "\t")


def test_xlsx_with_real_dates_numbers_blank_rows_and_a_named_sheet() -> None:
    workbook = Workbook()
    first = workbook.active
    assert first is not None
    first.title = "Hinweise"
    first.append(["Bitte das Blatt „Bewerbungen“ ausfüllen."])
    sheet = workbook.create_sheet("Bewerbungen")
    fields = list(matcher.Applicant.model_fields)
    sheet.append([FIELD_LABELS[f] for f in fields])
    for applicant in APPLICANTS[:4]:
        sheet.append([_xlsx_value(getattr(applicant, f)) for f in fields])
        sheet.append([None] * len(fields))  # blank rows are skipped
    buffer = io.BytesIO()
    workbook.save(buffer)
    records, info = matcher.load_table(
        matcher.Applicant, buffer.getvalue(), source="b.xlsx", sheet="Bewerbungen"
    )
    assert records == APPLICANTS[:4]
    assert info.sheet == "Bewerbungen"
    missing = problems_of(matcher.Applicant, buffer.getvalue(), sheet="Tabelle1")
    assert (
        missing[0].message
        == "Tabellenblatt „Tabelle1“ fehlt (vorhanden: „Hinweise“, „Bewerbungen“)."
    )


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, list):
        return "; ".join(value)
    if isinstance(value, dict):
        return "; ".join(f"{k}:{v}" for k, v in value.items())
    return value  # dates stay dates, weeks stay numbers


def test_german_dates_and_iso_dates_both_read() -> None:
    assert tabular.cell_value("available_from", "03.05.2027") == "2027-05-03"
    assert tabular.cell_value("available_from", "3.5.2027") == "2027-05-03"
    assert tabular.cell_value("available_until", "2027-05-03") == "2027-05-03"
    assert tabular.cell_value("available_until", date(2027, 5, 3)) == "2027-05-03"
    assert tabular.cell_value("weeks_wanted", 4.0) == 4
    assert tabular.cell_value("weeks_wanted", "9" * 5000) == "9" * 5000  # int() would raise
    assert tabular.cell_value("languages", "de: c2, en:B1") == {"de": "C2", "en": "B1"}


def test_bad_dates_in_a_sheet_name_record_and_field_in_german() -> None:
    data = german_excel_csv(json.loads((FIXTURES / "offers.json").read_text("utf-8"))[:1], "utf-8")
    broken = data.replace(b"01.03.2027", b"31.02.2027")
    [problem] = problems_of(matcher.Offer, broken)
    assert (problem.record_id, problem.field) == (OFFERS[0].id, "available_from")
    assert problem.message == "„Verfügbar ab“: '2027-02-31' ist kein Datum der Form JJJJ-MM-TT."


def test_file_level_problems_are_german() -> None:
    no_columns = problems_of(matcher.Offer, b"Kennung;Stadt\r\nH-1;Wien\r\n")
    assert {p.field for p in no_columns} >= {"capacity", "title", "description"}
    assert "Spalte „Plätze“ (capacity) fehlt." in [p.message for p in no_columns]
    header = ";".join(tabular.record_header(matcher.Offer))
    twice = problems_of(matcher.Offer, f"{header};Plätze\r\n".encode())
    assert [p.message for p in twice] == ["Spalte „Plätze“ kommt doppelt vor."]
    assert "weder UTF-8 noch Windows-1252" in problems_of(matcher.Offer, b"id\x81\n")[0].message
    assert ".xls" in problems_of(matcher.Offer, b"\xd0\xcf\x11\xe0" + b"\0" * 100)[0].message
    assert problems_of(matcher.Offer, b"PK\x03\x04kaputt")[0].message == (
        "Die Datei ist keine lesbare XLSX-Datei."
    )


def test_a_row_longer_than_the_header_is_a_problem_not_a_crash() -> None:
    header = tabular.record_header(matcher.Offer)
    data = tabular.write_csv(header, [tabular.record_row(OFFERS[0])])
    longer = data.rstrip(b"\r\n") + b";zu viel\r\n"
    [problem] = problems_of(matcher.Offer, longer)
    assert problem.index == 0 and f"Kopfzeile nur {len(header)} Spalten" in problem.message
    trailing_empty = data.rstrip(b"\r\n") + b";;;\r\n"  # Excel pads rows like this
    assert matcher.load_table(matcher.Offer, trailing_empty, source="o.csv")[0] == OFFERS[:1]


def test_every_record_field_has_one_german_header() -> None:
    fields = [*matcher.Offer.model_fields, *matcher.Applicant.model_fields]
    assert all(field in FIELD_LABELS for field in fields)
    labels = [FIELD_LABELS[field] for field in dict.fromkeys(fields)]
    assert len({label.casefold() for label in labels}) == len(labels)
    assert FIELD_LABELS["home_organisation"] == "Dienststelle"


@pytest.mark.parametrize(
    "formula",
    [
        "=1+1",
        "+41",
        "-2+3",
        "@SUM(A1)",
        "\tx",
        "\rx",
        '=HYPERLINK("http://x")',
        "=cmd|' /C calc'!A0",
    ],
)
def test_formulas_are_neutralised_in_csv_and_xlsx(formula: str) -> None:
    rows: list[list[tabular.Cell]] = [[formula, "harmlos"]]
    written = tabular.write_csv(["Name", "Stadt"], rows).decode("utf-8-sig")
    cells = list(csv.reader(io.StringIO(written, newline=""), delimiter=";"))[1]
    assert cells[0] == "'" + formula
    book = load_workbook(io.BytesIO(tabular.write_xlsx(["Name", "Stadt"], rows)))
    cell = book.active["A2"]  # type: ignore[index]
    # XML turns a stored carriage return into a line feed; the quote in front is what counts.
    assert cell.data_type == "s" and cell.value == ("'" + formula).replace("\r", "\n")


@given(st.text(max_size=20))
def test_neutralise_is_undone_exactly_by_restore(text: str) -> None:
    assert tabular.restore(tabular.neutralise(text)) == text
    assert not tabular.neutralise(text).startswith(tabular.FORMULA_TRIGGERS)


def test_a_neutralised_name_reimports_unchanged() -> None:
    hostile = APPLICANTS[0].model_copy(update={"name": '=HYPERLINK("http://böse.example")'})
    data = office.records_file(office.Kind.APPLICANTS, [hostile], "csv")
    assert b"'=HYPERLINK" in data
    assert matcher.load_table(matcher.Applicant, data, source="a.csv")[0] == [hostile]


def test_xlsx_has_bold_frozen_header_and_fitted_columns() -> None:
    data = office.records_file(office.Kind.OFFERS, OFFERS, "xlsx")
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    assert sheet.freeze_panes == "A2"
    assert [c.value for c in sheet[1]] == tabular.record_header(matcher.Offer)
    assert all(c.font.bold for c in sheet[1])
    assert sheet["K2"].number_format == "DD.MM.YYYY" and sheet["K2"].is_date
    widths = {letter: dim.width for letter, dim in sheet.column_dimensions.items()}
    assert widths["A"] < 12 and widths["F"] == tabular.MAX_COLUMN_WIDTH  # id vs description


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("kind", list(office.Kind))
def test_templates_carry_german_headers_and_an_importable_example(
    kind: office.Kind, fmt: office.Format
) -> None:
    model = matcher.Offer if kind is office.Kind.OFFERS else matcher.Applicant
    records, _ = matcher.load_table(model, office.template(kind, fmt), source=f"t.{fmt}")
    assert [r.id for r in records] == [office.EXAMPLES[kind]["id"]]
    header = tabular.read_sheet(office.template(kind, fmt), source="t").header
    assert header == [FIELD_LABELS[f] for f in model.model_fields]


def test_a_sheet_beyond_the_row_limit_is_refused_before_it_is_read_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tabular, "MAX_ROWS", 3)
    header = tabular.record_header(matcher.Offer)
    for count, fits in ((3, True), (4, False)):
        rows = [tabular.record_row(offer) for offer in OFFERS[:count]]
        for data in (tabular.write_csv(header, rows), tabular.write_xlsx(header, rows)):
            if fits:
                assert matcher.load_table(matcher.Offer, data, source="x")[0] == OFFERS[:count]
            else:
                [problem] = problems_of(matcher.Offer, data)
                assert problem.message == "Die Tabelle hat mehr als 3 Zeilen."


def _damaged(victim: str, payload: str) -> bytes:
    """The offers template with one part of the zip replaced by ``payload``."""
    original = zipfile.ZipFile(io.BytesIO(office.template(office.Kind.OFFERS, "xlsx")))
    parts = {name: original.read(name) for name in original.namelist()}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as damaged:
        for name, data in parts.items():
            damaged.writestr(name, payload if name == victim else data)
    return buffer.getvalue()


BAD_ROW = (
    "<?xml version='1.0'?><worksheet xmlns='http://schemas.openxmlformats.org/spreadsheetml/"
    "2006/main'><sheetData><row r='x'><c r='A1' t='s'><v>99</v></c></row></sheetData></worksheet>"
)


@pytest.mark.parametrize(
    "victim",
    [
        "xl/workbook.xml",
        "xl/worksheets/sheet1.xml",
        "xl/styles.xml",
        "[Content_Types].xml",
        "xl/_rels/workbook.xml.rels",
    ],
)
@pytest.mark.parametrize("payload", ["", "<kein xml", BAD_ROW])
def test_a_damaged_xlsx_is_a_file_problem_never_a_crash(victim: str, payload: str) -> None:
    try:
        matcher.load_table(matcher.Offer, _damaged(victim, payload), source="kaputt.xlsx")
    except matcher.InvalidRecordsError as error:  # any other exception fails the test
        assert error.problems[0].source == "kaputt.xlsx"


def test_a_json_file_with_an_endless_number_is_a_file_problem() -> None:
    with pytest.raises(matcher.InvalidRecordsError) as caught:
        matcher.load_offers(b'[{"capacity": ' + b"9" * 5000 + b"}]", source="o.json")
    assert caught.value.problems[0].message == "Die Datei enthält eine Zahl mit zu vielen Ziffern."


def test_one_workbook_holds_both_kinds_on_their_named_sheets() -> None:
    workbook = Workbook()
    notes = workbook.active
    assert notes is not None
    notes.title = "Hinweise"
    for title, records in (("Bewerbungen", APPLICANTS[:3]), ("Angebote", OFFERS[:2])):
        sheet = workbook.create_sheet(title)
        sheet.append(tabular.record_header(type(records[0])))
        for record in records:
            sheet.append(tabular.record_row(record))
    buffer = io.BytesIO()
    workbook.save(buffer)
    offers, info = matcher.load_table(matcher.Offer, buffer.getvalue(), source="runde.xlsx")
    applicants, _ = matcher.load_table(matcher.Applicant, buffer.getvalue(), source="runde.xlsx")
    assert (offers, applicants, info.sheet) == (OFFERS[:2], APPLICANTS[:3], "Angebote")
