"""Spreadsheet variant of the interchange format: CSV as Excel and LibreOffice write it, and XLSX.

Coordinators keep offers and applications in Excel. A file is read the way such files really
come: XLSX (first sheet or a named one), or CSV separated by ``;`` (German Excel) or ``,``,
encoded as UTF-8 with or without BOM, Windows-1252 (Excel's "CSV") or UTF-16 (Excel's "Unicode
text"); which encoding and separator were found is reported back. Column headers are the
interchange names or their German labels (``matcher.german.FIELD_LABELS``: one mapping, used
for messages too), lists are ``a; b``, languages ``de:C2; en:B1``, dates ``2027-05-03`` or
``03.05.2027``. After that the rows go through the same ``parse_records`` as a JSON file: all
records or none, every problem named by record and field.

Writing (exports, templates) uses the same vocabulary: German headers, ``;`` and a BOM so German
Excel opens the CSV in columns with correct umlauts, dates as ``TT.MM.JJJJ``. Every text cell
that a spreadsheet would run as a formula is neutralised (OWASP "CSV injection": a leading
``= + - @``, tab or carriage return gets a ``'`` in front); reading removes exactly that quote
again, so an exported file re-imports to identical records.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import islice
from typing import Any, Literal, TypeAlias, TypeVar

from matcher.errors import InvalidRecordsError, RecordProblem
from matcher.german import FIELD_LABELS
from matcher.records import Applicant, Offer, parse_records

# csv's default cap (128 KiB per field) would end an over-long motivation with csv.Error instead
# of a validation problem naming its record and field; uploads are capped far below this.
csv.field_size_limit(max(csv.field_size_limit(), 64 * 1024 * 1024))

#: A cell as read from or written to a sheet.
Cell: TypeAlias = str | int | float | bool | date | None
RecordT = TypeVar("RecordT", Offer, Applicant)

#: Sheet titles read by default for each kind of record (the first is the one written).
SHEET_TITLES: dict[str, tuple[str, ...]] = {
    "Offer": ("Angebote", "offers"),
    "Applicant": ("Bewerbungen", "applicants"),
}
#: A text starting with one of these is run as a formula by Excel or LibreOffice.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
LIST_FIELDS = frozenset({"working_languages", "tags", "preferred_cities", "wishes"})
INT_FIELDS = frozenset({"capacity", "min_weeks", "max_weeks", "weeks_wanted"})
DATE_FIELDS = frozenset({"available_from", "available_until"})
#: Euro amounts: a decimal comma („1.250,50“) as German Excel writes it, or a point.
NUMBER_FIELDS = frozenset({"travel_cost", "weekly_cost"})
_DECIMAL = re.compile(r"\d{1,3}(\.\d{3})+(,\d+)?|\d{1,12}([.,]\d+)?")
_LIST_SEPARATORS = re.compile(r"[;,]")
_GERMAN_DATE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")
_INTEGER = re.compile(r"[+-]?\d{1,18}")  # longer: text, refused by validation
_XLSX_MAGIC = b"PK\x03\x04"
_XLS_MAGIC = b"\xd0\xcf\x11\xe0"
_DELIMITERS = (";", ",", "\t")


@dataclass(frozen=True)
class SourceInfo:
    """How a file was read: shown to the coordinator after an import."""

    source: str
    format: Literal["csv", "xlsx"]
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None


@dataclass(frozen=True)
class Sheet:
    """A file's table: its header row and the rows below it, cells as read."""

    header: list[str]
    rows: list[list[Cell]]
    info: SourceInfo


def neutralise(value: str) -> str:
    """OWASP's rule against formula injection: a leading ``'`` before a formula character."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def restore(value: str) -> str:
    """Undo ``neutralise`` (and only that): the quote in front of a formula character goes."""
    return value[1:] if value.startswith("'") and value[1:].startswith(FORMULA_TRIGGERS) else value


def _file_problem(source: str, message: str) -> InvalidRecordsError:
    return InvalidRecordsError([RecordProblem(source, None, None, "", message)])


# --- reading ------------------------------------------------------------------------------------


def read_sheet(
    raw: bytes, *, source: str, sheet: str | None = None, prefer: Sequence[str] = ()
) -> Sheet:
    """The table of a CSV or XLSX file (told apart by content, not by name).

    XLSX: the sheet named ``sheet``; without one, the first sheet titled like one of ``prefer``
    (case ignored), else the first sheet.
    """
    if raw.startswith(_XLS_MAGIC):
        raise _file_problem(
            source, "Das alte Excel-Format .xls wird nicht gelesen; bitte als .xlsx speichern."
        )
    if raw.startswith(_XLSX_MAGIC):
        return _read_xlsx(raw, source=source, sheet=sheet, prefer=prefer)
    return _read_csv(raw, source=source)


def decode_text(raw: bytes, *, source: str) -> tuple[str, str]:
    """The text of a CSV file and the name of its encoding (UTF-8 first, then Windows-1252)."""
    try:
        if raw.startswith(codecs.BOM_UTF8):
            return raw[len(codecs.BOM_UTF8) :].decode("utf-8"), "UTF-8 mit BOM"
        if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return raw.decode("utf-16"), "UTF-16"
        return raw.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError as error:
        raise _file_problem(
            source,
            f"Die Datei ist weder UTF-8 noch Windows-1252 (Byte {error.start}); "
            "bitte als „CSV UTF-8“ speichern.",
        ) from None


def sniff_delimiter(text: str) -> str:
    """``;``, ``,`` or tab: whichever occurs most often in the header line outside quotes.

    The header alone decides because cells below may hold lists written with ``;`` or ``,``.
    """
    header = next((line for line in text.splitlines() if line.strip()), "")
    unquoted = re.sub(r'"[^"]*"', "", header)
    counts = {delimiter: unquoted.count(delimiter) for delimiter in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


#: Most rows a sheet may have (the JSON import's limit too); a small XLSX file can unpack to
#: millions of rows, which would otherwise all be read into memory.
MAX_ROWS = 20_000


def _take_rows(rows: Iterator[list[Any]], source: str) -> list[list[Any]]:
    taken = list(islice(rows, MAX_ROWS + 2))  # the header row and one too many
    if len(taken) > MAX_ROWS + 1:
        raise _file_problem(
            source, f"Die Tabelle hat mehr als {MAX_ROWS:,} Zeilen.".replace(",", ".")
        )
    return taken


def _read_csv(raw: bytes, *, source: str) -> Sheet:
    text, encoding = decode_text(raw, source=source)
    delimiter = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        rows: list[list[Cell]] = _take_rows((list(row) for row in reader), source)
    except csv.Error as error:
        raise _file_problem(
            source, f"Die CSV-Datei ist in Zeile {reader.line_num} nicht lesbar ({error})."
        ) from None
    header = [str(cell) for cell in rows[0]] if rows else []
    info = SourceInfo(source, "csv", encoding=encoding, delimiter=delimiter)
    return Sheet(header, rows[1:], info)


def _read_xlsx(raw: bytes, *, source: str, sheet: str | None, prefer: Sequence[str]) -> Sheet:
    from openpyxl import load_workbook

    unreadable = _file_problem(source, "Die Datei ist keine lesbare XLSX-Datei.")
    # A damaged upload can fail anywhere in openpyxl's zip and XML parsers (ParseError,
    # IndexError, ValueError, …); whatever it raises, the file is at fault, not the server.
    try:
        workbook = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception:
        raise unreadable from None
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            names = ", ".join(f"„{name}“" for name in workbook.sheetnames)
            raise _file_problem(source, f"Tabellenblatt „{sheet}“ fehlt (vorhanden: {names}).")
        wanted = {title.casefold() for title in prefer}
        fitting = [name for name in workbook.sheetnames if name.casefold() in wanted]
        chosen = sheet or (fitting[0] if fitting else None)
        worksheet = workbook[chosen] if chosen is not None else workbook.worksheets[0]
        rows = _take_rows((list(row) for row in worksheet.iter_rows(values_only=True)), source)
        title = worksheet.title
    except InvalidRecordsError:
        raise
    except Exception:
        raise unreadable from None
    finally:
        workbook.close()
    header = ["" if cell is None else str(cell) for cell in rows[0]] if rows else []
    return Sheet(
        header, [_xlsx_row(row) for row in rows[1:]], SourceInfo(source, "xlsx", sheet=title)
    )


def _xlsx_row(row: Sequence[Any]) -> list[Cell]:
    cells: list[Cell] = []
    for value in row:
        if isinstance(value, datetime):
            value = value.date()
        elif not isinstance(value, str | int | float | bool | date | type(None)):
            value = str(value)
        cells.append(value)
    return cells


def header_fields(
    header: Sequence[str], kind: type[Offer] | type[Applicant], *, source: str
) -> list[str | None]:
    """The interchange field of each column (None: a column the format does not know)."""
    known = {name.casefold(): name for name in kind.model_fields}
    known |= {FIELD_LABELS[name].casefold(): name for name in kind.model_fields}
    fields = [known.get(" ".join(title.split()).casefold()) for title in header]
    problems = [
        RecordProblem(source, None, None, name, f"Spalte „{FIELD_LABELS[name]}“ ({name}) fehlt.")
        for name, info in kind.model_fields.items()
        if info.is_required() and name not in fields
    ]
    problems += [
        RecordProblem(source, None, None, name, f"Spalte „{FIELD_LABELS[name]}“ kommt doppelt vor.")
        for name in dict.fromkeys(f for f in fields if f is not None and fields.count(f) > 1)
    ]
    if problems:
        raise InvalidRecordsError(problems)
    return fields


def cell_value(field: str, cell: Cell) -> Any:
    """One cell as the JSON value of its field; a value that does not fit is left to validation."""
    if isinstance(cell, str):
        cell = restore(cell).strip()
    if cell is None or cell == "":
        return None
    if isinstance(cell, date):
        return cell.isoformat() if field in DATE_FIELDS else cell.strftime("%d.%m.%Y")
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    if field in INT_FIELDS:
        return int(cell) if isinstance(cell, str) and _INTEGER.fullmatch(cell) else cell
    if field in NUMBER_FIELDS and isinstance(cell, int | float):
        return cell
    if field in NUMBER_FIELDS and isinstance(cell, str) and (match := _DECIMAL.fullmatch(cell)):
        german = "," in cell or match.group(1) is not None  # thousands dots, decimal comma
        return float(cell.replace(".", "").replace(",", ".") if german else cell)
    text = str(cell)
    if field in LIST_FIELDS:
        return [item.strip() for item in _LIST_SEPARATORS.split(text) if item.strip()]
    if field == "languages":
        return _languages(text)
    if field in DATE_FIELDS and (match := _GERMAN_DATE.fullmatch(text)):
        day, month, year = match.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return text


def _languages(text: str) -> Any:
    """``de:C2; en:B1`` → ``{"de": "C2", "en": "B1"}``; anything else stays text (→ a problem)."""
    pairs = [item.split(":", 1) for item in _LIST_SEPARATORS.split(text) if item.strip()]
    if not pairs or any(len(pair) != 2 for pair in pairs):
        return text
    return {code.strip(): level.strip().upper() for code, level in pairs}


def sheet_records(sheet: Sheet, kind: type[Offer] | type[Applicant]) -> list[dict[str, Any]]:
    """Rows as JSON-like records (blank rows skipped); extra filled cells are problems."""
    source = sheet.info.source
    fields = header_fields(sheet.header, kind, source=source)
    records: list[dict[str, Any]] = []
    problems: list[RecordProblem] = []
    for row in sheet.rows:
        if all(cell is None or str(cell).strip() == "" for cell in row):
            continue
        extra = [cell for cell in row[len(fields) :] if cell is not None and str(cell).strip()]
        if extra:
            problems.append(
                RecordProblem(
                    source,
                    len(records),
                    None,
                    "",
                    f"Die Zeile hat {len(fields) + len(extra)} gefüllte Zellen, "
                    f"die Kopfzeile nur {len(fields)} Spalten.",
                )
            )
        values = {
            field: cell_value(field, cell)
            for field, cell in zip(fields, row, strict=False)
            if field
        }
        records.append({field: value for field, value in values.items() if value is not None})
    if problems:
        raise InvalidRecordsError(problems)
    return records


def load_table(
    kind: type[RecordT], raw: bytes, *, source: str, sheet: str | None = None
) -> tuple[list[RecordT], SourceInfo]:
    """Validated records of a CSV or XLSX file, and how it was read; all or nothing.

    Without ``sheet``, a workbook's sheet titled like the kind (``Angebote``/``offers``,
    ``Bewerbungen``/``applicants``) is read, else its first: one workbook can hold both.
    """
    table = read_sheet(raw, source=source, sheet=sheet, prefer=SHEET_TITLES[kind.__name__])
    return parse_records(kind, sheet_records(table, kind), source=source), table.info


# --- writing ------------------------------------------------------------------------------------


def record_header(kind: type[Offer] | type[Applicant]) -> list[str]:
    """German column headers of a record kind, in the interchange format's field order."""
    return [FIELD_LABELS[name] for name in kind.model_fields]


def record_row(record: Offer | Applicant) -> list[Cell]:
    """One record as sheet cells: lists as ``a; b``, languages as ``de:C2; en:B1``."""
    cells: list[Cell] = []
    for name in type(record).model_fields:
        value = getattr(record, name)
        if isinstance(value, list):
            value = "; ".join(value)
        elif isinstance(value, dict):
            value = "; ".join(f"{code}:{level}" for code, level in value.items())
        cells.append(value)
    return cells


def _csv_cell(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "ja" if cell else "nein"
    if isinstance(cell, date):
        return cell.strftime("%d.%m.%Y")
    if isinstance(cell, float):
        return f"{cell:.2f}".replace(".", ",")
    if isinstance(cell, int):
        return str(cell)
    return neutralise(cell)


def write_csv(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    """CSV for German Excel: UTF-8 with BOM, ``;``, CRLF, dates TT.MM.JJJJ, decimal comma."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([neutralise(title) for title in header])
    writer.writerows([_csv_cell(cell) for cell in row] for row in rows)
    return codecs.BOM_UTF8 + buffer.getvalue().encode("utf-8")


#: Widest column of a written sheet, in characters; longer texts wrap in the cell.
MAX_COLUMN_WIDTH = 60


def write_xlsx(
    header: Sequence[str], rows: Iterable[Sequence[Cell]], *, title: str = "Tabelle"
) -> bytes:
    """An XLSX workbook of one sheet: bold header row, frozen below it, columns sized to fit."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    worksheet = workbook.active
    assert worksheet is not None  # a new workbook always has its first sheet
    worksheet.title = title[:31]
    worksheet.append([neutralise(name) for name in header])
    for cell in worksheet[1]:
        cell.font = Font(bold=True)
    widths = [len(name) for name in header]
    for row in rows:
        values = [_xlsx_cell(cell) for cell in row]
        worksheet.append(values)
        for index, value in enumerate(values):
            widths[index] = max(widths[index], _display_width(value))
    for row_cells in worksheet.iter_rows(min_row=2):
        for cell in row_cells:
            if isinstance(cell.value, date):
                cell.number_format = "DD.MM.YYYY"
    for index, width in enumerate(widths, start=1):
        worksheet.column_dimensions[get_column_letter(index)].width = min(
            width + 2, MAX_COLUMN_WIDTH
        )
    worksheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _xlsx_cell(cell: Cell) -> Cell:
    if isinstance(cell, str):
        return neutralise(cell)
    return cell


def _display_width(value: Cell) -> int:
    if value is None:
        return 0
    if isinstance(value, date):
        return 10
    return len(str(value))
