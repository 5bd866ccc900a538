"""Spreadsheets in and out: a header and rows of plain cells, as CSV or XLSX (openpyxl).

CSV injection (a cell a spreadsheet program would run as a formula): in CSV, a text cell
starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
apostrophe (OWASP's advice), so Excel and LibreOffice show it as text; numbers are written
as numbers and never start with those characters except a minus sign, which only numbers
the export computes can carry. In XLSX every text cell is stored with the string type, so
nothing in it is ever a formula and it needs no apostrophe (a phone shows as ``+7…``).
Reading undoes the CSV apostrophe, so a file this module wrote reads back as written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import PurePath
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # openpyxl loads with the first XLSX, not at start-up
    from openpyxl.cell import WriteOnlyCell

Cell = str | int | float | Decimal | date | datetime | bool | None

FORMATS = ("csv", "xlsx")
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"
# Delimiters a spreadsheet program saves CSV with (Excel in Russia: ";").
CSV_DELIMITERS = ",;\t"
# Encodings tried in turn when reading CSV (Excel in Russia saves cp1251).
CSV_ENCODINGS = ("utf-8-sig", "cp1251")
MIME_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class SpreadsheetError(ValueError):
    """A file that is not a readable CSV or XLSX table."""


@dataclass
class Table:
    header: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    first_row: int = 2  # the row number a program shows for rows[0] (the header is above)


def guard(value: Cell) -> Cell:
    """A text cell a spreadsheet program would run as a formula, escaped for CSV."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return ESCAPE + value
    return value


def unguard(text: str) -> str:
    """The text :func:`guard` escaped, as it was."""
    if text.startswith(ESCAPE) and text[1:2] and text[1] in "".join(FORMULA_TRIGGERS):
        return text[1:]
    return text


def csv_text(value: Cell) -> str:
    """How one cell reads in CSV (ISO dates, "true"/"false", nothing for None)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    return str(guard(value))


def cell_text(value: Cell) -> str:
    """A read cell as text: whole-number floats without ".0" (XLSX stores numbers as
    floats), dates as ISO, CSV's formula escape undone, surrounding spaces stripped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return unguard(str(value).strip()).strip()


def write_csv(table: Table) -> bytes:
    """UTF-8 with a byte-order mark: Excel then opens Cyrillic text correctly."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow([csv_text(h) for h in table.header])
    writer.writerows([csv_text(v) for v in row] for row in table.rows)
    return out.getvalue().encode("utf-8-sig")


def write_xlsx(table: Table, title: str = "customers") -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)

    def cells(values: Iterable[Cell]) -> list[WriteOnlyCell]:
        row = []
        for value in values:
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # text, never a formula, whatever it starts with
            row.append(cell)
        return row

    sheet.append(cells(table.header))
    for values in table.rows:
        sheet.append(cells(values))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


WRITERS = {"csv": write_csv, "xlsx": write_xlsx}


def write(table: Table, fmt: str) -> bytes:
    return WRITERS[fmt](table)


def format_of(name: str | PurePath) -> str | None:
    suffix = PurePath(name).suffix.lower().lstrip(".")
    return suffix if suffix in FORMATS else None


def _read_csv(data: bytes) -> list[Sequence[Cell]]:
    for encoding in CSV_ENCODINGS:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - cp1251 decodes almost every byte
        raise SpreadsheetError("the CSV file is neither UTF-8 nor Windows-1251 text")
    first_line = text.split("\n", 1)[0]
    counts = sorted(((first_line.count(d), d) for d in CSV_DELIMITERS), reverse=True)
    # The header's most frequent mark separates ("Пробег, км" in a ";" file is one column);
    # on a tie the sniffer guesses.
    if counts[0][0] > counts[1][0]:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=counts[0][1]))
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            first_line, delimiters=CSV_DELIMITERS
        )
    except csv.Error:
        dialect = csv.excel
    return list(csv.reader(io.StringIO(text, newline=""), dialect))


def _xlsx_rows(data: bytes, *, values: bool) -> list[list[Cell]]:
    """The first sheet's rows: the values the program computed (``values``) or the cells
    as written (a formula as its text)."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=values)
    except Exception as err:  # openpyxl raises many kinds for a file that is not XLSX
        raise SpreadsheetError(f"not a readable XLSX file ({type(err).__name__})") from None
    try:
        return [list(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]
    finally:
        workbook.close()


def _read_xlsx(data: bytes) -> list[Sequence[Cell]]:
    """A formula cell is read as the value the program computed; one saved without that
    value (written by a script, never opened) is refused, not read as blank."""
    computed = _xlsx_rows(data, values=True)
    written = _xlsx_rows(data, values=False)
    for number, (row, raw) in enumerate(zip(computed, written, strict=False), start=1):
        for column, (value, cell) in enumerate(zip(row, raw, strict=False), start=1):
            if value is None and isinstance(cell, str) and cell.startswith("="):
                raise SpreadsheetError(
                    f"row {number}, column {column}: a formula with no computed value; open "
                    "the file in a spreadsheet program and save it, or paste values"
                )
    return list(computed)


READERS = {"csv": _read_csv, "xlsx": _read_xlsx}


def read(data: bytes, fmt: str) -> Table:
    """The first sheet's rows; the first non-empty row is the header; empty rows are kept
    as empty lists so row numbers stay those the owner sees in the program."""
    raw = READERS[fmt](data)
    skipped = 0
    while raw and not any(cell_text(v) for v in raw[0]):
        raw.pop(0)
        skipped += 1
    if not raw:
        raise SpreadsheetError("the file has no header row")
    header = [cell_text(v) for v in raw[0]]
    return Table(header=header, rows=[list(row) for row in raw[1:]], first_row=skipped + 2)
