"""Which columns `loyalty-bot import` reads: the codes, the core columns' names in the
business's languages, the profile fields' labels, and the bot's own export's headers
(a file the bot exported comes back as a no-op)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.config import Settings
from bot.services.members.customer_export import CUSTOMER_COLUMNS, SCORE_COLUMNS
from bot.spreadsheet import Table, cell_text

PHONE, NAME, BIRTHDAY, BALANCE = "phone", "name", "birthday", "balance"
CORE_COLUMNS = (PHONE, NAME, BIRTHDAY, BALANCE)
CARD_CODE = "card_code"  # the bot's own export: a row of a card already here changes nothing
# The export's other columns are the bot's own figures: accepted, and not imported.
EXPORT_ONLY = tuple(c for c in (*CUSTOMER_COLUMNS, *SCORE_COLUMNS) if c not in CORE_COLUMNS)
IGNORED = ""  # the code of a column that is read past


@dataclass(frozen=True)
class Problem:
    """One refusal: ``row`` is the spreadsheet's row number (1: the header); ``column``
    the header as the file names it and ``value`` the cell, when one cell is at fault."""

    row: int
    code: str
    params: dict[str, Any] = field(default_factory=dict)
    column: str | None = None
    value: str | None = None


def _normal(header: str) -> str:
    return " ".join(header.replace("_", " ").split()).casefold()


def column_names(settings: Settings, labels: dict[str, list[str]] | None = None) -> dict[str, str]:
    """Every header the import understands -> its column: the codes, ``labels`` (the
    core columns' names in each language), the profile fields' labels, and the export's
    own headers (``card_code``; the rest read past)."""
    names = {_normal(code): code for code in CORE_COLUMNS}
    for code, words in (labels or {}).items():
        names.update({_normal(word): code for word in words})
    short: dict[str, set[str]] = {}  # "Марка" for "Марка автомобиля", "Пробег" for "Пробег, км"
    for f in settings.profile.fields:
        names.update({_normal(label): f.code for label in f.labels.values()})
        names[_normal(f.code)] = f.code
        for label in f.labels.values():
            short.setdefault(_normal(label.replace(",", " ")).split(" ")[0], set()).add(f.code)
    for word, codes in short.items():
        if len(codes) == 1:  # a first word two fields share names neither
            names.setdefault(word, codes.pop())
    names[_normal(CARD_CODE)] = CARD_CODE
    names.update({_normal(c): IGNORED for c in EXPORT_ONLY if c != CARD_CODE})
    return names


def read_columns(
    table: Table, settings: Settings, names: dict[str, str]
) -> tuple[dict[str, int], list[tuple[str, str]], list[Problem]]:
    """Which known column is where, and each header with the column it is; unknown and
    repeated names are refused (the refusal names the columns the import knows)."""
    where: dict[str, int] = {}
    accepted: list[tuple[str, str]] = []
    unknown: list[str] = []
    problems: list[Problem] = []
    for index, raw in enumerate(table.header):
        if not raw.strip():
            if any(len(r) > index and cell_text(r[index]) for r in table.rows):
                unknown.append(f"#{index + 1}")
            continue
        code = names.get(_normal(raw))
        if code is None:
            unknown.append(raw)
        elif code and code in where:
            problems.append(Problem(1, "import_repeated_column", {"column": raw}))
        else:
            accepted.append((raw.strip(), code))
            if code:
                where[code] = index
    if unknown:
        known = [*CORE_COLUMNS, *(f.code for f in settings.profile.fields)]
        problems.append(Problem(1, "import_unknown_columns", {"columns": unknown, "known": known}))
    if PHONE not in where:
        problems.append(Problem(1, "import_no_phone_column"))
    return where, accepted, problems


def card_codes_in(table: Table, names: dict[str, str]) -> set[str]:
    """The card codes a file names (the bot's own export has them)."""
    index = next(
        (i for i, raw in enumerate(table.header) if names.get(_normal(raw)) == CARD_CODE), None
    )
    if index is None:
        return set()
    cells = (cell_text(r[index]) for r in table.rows if len(r) > index)
    return {cell.upper() for cell in cells if cell}


def count_rows(table: Table) -> int:
    return sum(1 for raw in table.rows if any(cell_text(v) for v in raw))
