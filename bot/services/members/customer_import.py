"""Bringing an existing customer base from a spreadsheet (``loyalty-bot import``).

Columns: ``phone`` (required), ``name``, ``birthday``, ``balance`` and the configured
profile fields by code, in any order and any letter case. Every row is checked the way
sign-up checks the same answer (the phone helper, :func:`answers.parse_birthday`,
:func:`answers.parse_profile_value`, :func:`customers.clean_name`); the balance is a
non-negative whole number of points. One bad row, a phone twice in the file or an
unknown column, and nothing at all is written: the report lists every problem.

Idempotent by phone. A phone nobody has yet becomes a customer with no Telegram account
(like one staff entered at the counter: :func:`signup._attach` links the card when that
person shares the phone in the bot, so they find their balance there). The opening
balance is one ledger entry of kind ``import`` whose idempotency key is a salted hash of
the phone: a second import of the file finds the key and changes nothing, and neither
does one after the customer used /forget (the key holds no phone). A phone that already
belongs to a customer keeps that customer's own answers; their opening balance is
credited once, by the same key.

A dry run (the default) reads and reports exactly what the import would do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import ProfileField, Settings
from bot.db.models import Customer, ForgottenIdentity, LedgerEntry, LedgerKind
from bot.numbers import is_ascii_number
from bot.phones import normalise_phone
from bot.services.context import Business, Progress
from bot.services.errors import ServiceError
from bot.services.members.answers import parse_birthday, parse_profile_value
from bot.services.members.identity import identity_hash, identity_hashes, keyed_hash
from bot.services.members.import_columns import (
    BALANCE,
    BIRTHDAY,
    CARD_CODE,
    NAME,
    PHONE,
    Problem,
    card_codes_in,
    column_names,
    count_rows,
    read_columns,
)
from bot.services.money.ledger import post
from bot.services.people.audit import add_audit
from bot.services.people.customers import clean_name, search_key, unique_card_codes
from bot.spreadsheet import Table, cell_text

KEY_PREFIX = "import:"
CONSENT_VERSION = "import"  # brought from the business's own base, not given in the bot
MAX_BALANCE_DIGITS = 9
BATCH = 500
AUDIT_ROLE = "console"  # the server's operator, not a Telegram user
T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    row: int
    phone: str
    name: str | None
    birthday: date | None
    profile: dict[str, Any]
    balance: int


@dataclass
class ImportReport:
    rows: int = 0  # data rows read (empty rows not counted)
    created: int = 0  # new customers
    credited: int = 0  # customers already here who get their opening balance now
    unchanged: int = 0  # already imported or already here with nothing to credit
    points: int = 0  # opening points the import credits
    problems: list[Problem] = field(default_factory=list)
    applied: bool = False
    columns: list[tuple[str, str]] = field(default_factory=list)  # (header, code); "": ignored


def opening_key(settings: Settings, phone: str) -> str:
    return KEY_PREFIX + identity_hash(settings, phone)


def opening_keys(settings: Settings, phone: str) -> list[str]:
    """Every key this phone's opening balance may be stored under (``identity_hashes``)."""
    return [KEY_PREFIX + h for h in identity_hashes(settings, phone)]


def _records_of(settings: Settings, phone: str) -> list[str]:
    """What the database keeps of an imported phone: its opening keys, and its hashes in
    ``forgotten_identities`` once that customer used /forget."""
    return [*opening_keys(settings, phone), *identity_hashes(settings, phone)]


def opening_key_under(salt: str, phone: str) -> str:
    """The opening balance's key under another salt (re-keying: ``members.rekey``)."""
    return KEY_PREFIX + keyed_hash(salt, phone)


def _balance(text: str) -> int:
    digits = text.replace(" ", "").replace("\xa0", "")
    if not digits:
        return 0
    if digits.startswith("-") and is_ascii_number(digits[1:]):
        raise ServiceError("import_negative_balance", text=text[:20])
    if not is_ascii_number(digits) or len(digits) > MAX_BALANCE_DIGITS:
        raise ServiceError("import_bad_balance", text=text[:20])
    return int(digits)


def _entry(
    settings: Settings,
    today: date,
    number: int,
    cells: dict[str, str],
    phone: str | None,
    fields: Sequence[ProfileField],
    headers: dict[str, str],
) -> tuple[Entry | None, list[Problem]]:
    """One row as sign-up would take it (``phone`` normalised, None when it is not a
    phone), or every refusal sign-up would answer for it (the owner fixes them at once),
    each naming its column (``headers``: as the file names them) and the cell."""
    problems: list[Problem] = []

    def refuse(column: str, code: str, params: dict[str, Any] | None = None) -> None:
        cell = cells.get(column, "")
        problems.append(Problem(number, code, params or {}, headers.get(column), cell[:60]))

    def take(column: str, parse: Callable[..., T], *args: Any) -> T | None:
        try:
            return parse(cells[column], *args)
        except ServiceError as err:
            refuse(column, err.code, err.params)
            return None

    if not cells.get(PHONE):
        refuse(PHONE, "import_no_phone")
    elif phone is None:
        refuse(PHONE, "bad_phone")
    name = take(NAME, clean_name) if cells.get(NAME) else None
    born = take(BIRTHDAY, parse_birthday, today, settings) if cells.get(BIRTHDAY) else None
    profile = {
        f.code: take(f.code, lambda text, f=f: parse_profile_value(f, text, today))
        for f in fields
        if cells.get(f.code)
    }
    balance = take(BALANCE, _balance) if cells.get(BALANCE) else 0
    if problems or phone is None or balance is None:
        return None, problems
    return Entry(number, phone, name, born, profile, balance), []


@dataclass
class Checked:
    entries: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    columns: list[tuple[str, str]] = field(default_factory=list)
    own_cards: int = 0  # rows of cards already here (the bot's own export): unchanged


def check(
    table: Table,
    settings: Settings,
    today: date,
    names: dict[str, str] | None = None,
    known_cards: frozenset[str] = frozenset(),
) -> tuple[list[Entry], list[Problem]]:
    """Every row checked; the entries are worth writing only when no problem is found."""
    checked = check_table(table, settings, today, names, known_cards)
    return checked.entries, checked.problems


def check_table(
    table: Table,
    settings: Settings,
    today: date,
    names: dict[str, str] | None = None,
    known_cards: frozenset[str] = frozenset(),
) -> Checked:
    """:func:`check`, with the columns as read and the rows of ``known_cards`` (cards
    already here: a row of the bot's own export) counted and read past."""
    where, columns, problems = read_columns(table, settings, names or column_names(settings))
    checked = Checked(problems=problems, columns=columns)
    if PHONE not in where:
        return checked
    headers = {code: raw for raw, code in columns if code}
    fields = [f for f in settings.profile.fields if f.code in where]
    first_row: dict[str, int] = {}
    for offset, raw in enumerate(table.rows):
        number = table.first_row + offset
        cells = {
            column: cell_text(raw[index] if index < len(raw) else None)
            for column, index in where.items()
        }
        if not any(cell_text(v) for v in raw):
            continue  # an empty line
        if cells.get(CARD_CODE, "").upper() in known_cards:
            checked.own_cards += 1
            continue
        region = settings.business.phone_region
        phone = normalise_phone(cells[PHONE], region) if cells[PHONE] else None
        if phone is not None and phone in first_row:
            checked.problems.append(Problem(
                number, "import_duplicate_phone", {"first_row": first_row[phone]},
                headers[PHONE], cells[PHONE][:60],
            ))  # fmt: skip
            continue
        if phone is not None:
            first_row[phone] = number
        entry, found = _entry(settings, today, number, cells, phone, fields, headers)
        checked.problems.extend(found)
        if entry is not None:
            checked.entries.append(entry)
    return checked


async def _existing(
    session: AsyncSession, settings: Settings, batch: Sequence[Entry], lock: bool
) -> tuple[dict[str, Customer], set[str]]:
    """The customers who have these phones (row-locked on PostgreSQL when their balance
    may change) and the opening-balance keys already in the ledger."""
    phones = [e.phone for e in batch]
    query = select(Customer).where(Customer.phone.in_(phones))
    customers = await session.scalars(query.with_for_update() if lock else query)
    keys = [key for p in phones for key in opening_keys(settings, p)]
    done = await session.scalars(
        select(LedgerEntry.idempotency_key).where(LedgerEntry.idempotency_key.in_(keys))
    )
    hashes = [h for p in phones for h in identity_hashes(settings, p)]
    erased = await session.scalars(
        select(ForgottenIdentity.id_hash).where(ForgottenIdentity.id_hash.in_(hashes))
    )
    return {c.phone: c for c in customers if c.phone}, {*done, *erased}


def _new_customer(biz: Business, entry: Entry, card_code: str) -> Customer:
    now = biz.clock.now()
    return Customer(
        card_code=card_code,
        phone=entry.phone,
        name=entry.name,
        name_key=search_key(entry.name) if entry.name else None,
        birthday=entry.birthday,
        profile=entry.profile or None,
        language=biz.texts.default_locale,
        balance=0,
        consent_version=CONSENT_VERSION,
        created_at=now,
    )


async def _plan(
    session: AsyncSession,
    biz: Business,
    entries: Sequence[Entry],
    report: ImportReport,
    progress: Progress | None,
) -> None:
    """Count what happens to each entry and, when the import is applied, do it: a batch
    of customers inserted with one flush, then their opening balances."""
    settings, now = biz.settings, biz.clock.now()
    for start in range(0, len(entries), BATCH):
        batch = entries[start : start + BATCH]
        customers, done = await _existing(session, settings, batch, lock=report.applied)
        to_credit: list[tuple[Entry, Customer | None]] = []
        for entry in batch:
            customer = customers.get(entry.phone)
            if not done.isdisjoint(_records_of(settings, entry.phone)) or (
                customer is not None and not entry.balance
            ):
                report.unchanged += 1
                continue
            if customer is None:
                report.created += 1
            else:
                report.credited += 1
            report.points += entry.balance
            to_credit.append((entry, customer))
        if report.applied and to_credit:
            await _write(session, biz, to_credit, now)
        if progress is not None:
            await progress(min(start + BATCH, len(entries)), len(entries))


async def _write(
    session: AsyncSession,
    biz: Business,
    to_credit: Sequence[tuple[Entry, Customer | None]],
    now: datetime,
) -> None:
    new = [entry for entry, customer in to_credit if customer is None]
    codes = iter(await unique_card_codes(session, len(new)))
    created = {entry.phone: _new_customer(biz, entry, next(codes)) for entry in new}
    session.add_all(created.values())
    await session.flush()
    for entry, customer in to_credit:
        if entry.balance:
            post(
                session,
                customer or created[entry.phone],
                kind=LedgerKind.IMPORT,
                points=entry.balance,
                key=opening_key(biz.settings, entry.phone),
                now=now,
                author_tg_id=None,
                reason="import",
            )
    await session.flush()
    session.expunge_all()  # written: keep the session small over thousands of rows


async def _cards_here(biz: Business, codes: set[str]) -> frozenset[str]:
    found: set[str] = set()
    listed = sorted(codes)
    async with biz.db.read() as session:
        for start in range(0, len(listed), BATCH):
            chunk = listed[start : start + BATCH]
            query = select(Customer.card_code).where(Customer.card_code.in_(chunk))
            found.update(await session.scalars(query))
    return frozenset(found)


async def run_import(
    biz: Business,
    table: Table,
    *,
    apply: bool,
    progress: Progress | None = None,
    labels: dict[str, list[str]] | None = None,
) -> ImportReport:
    """Check every row; with ``apply`` and no problem, write it all in one transaction.
    ``labels``: the core columns' names in the business's languages (the templates')."""
    today = biz.clock.now().astimezone(biz.settings.business.zone).date()
    names = column_names(biz.settings, labels)
    known_cards = await _cards_here(biz, card_codes_in(table, names))
    checked = check_table(table, biz.settings, today, names, known_cards)
    report = ImportReport(rows=count_rows(table), problems=checked.problems)
    report.columns = checked.columns
    report.unchanged = checked.own_cards
    entries = checked.entries
    if report.problems:
        return report
    if not apply:
        async with biz.db.read() as session:
            await _plan(session, biz, entries, report, progress)
        return report
    report.applied = True
    try:
        await _apply(biz, entries, report, progress)
    except IntegrityError:  # a concurrent import wrote these phones first (PostgreSQL)
        raise ServiceError("import_concurrent") from None
    return report


async def _apply(
    biz: Business, entries: Sequence[Entry], report: ImportReport, progress: Progress | None
) -> None:
    async with biz.db.write() as session:
        await _plan(session, biz, entries, report, progress)
        add_audit(
            session,
            now=biz.clock.now(),
            actor_tg_id=None,
            actor_role=AUDIT_ROLE,
            action="customer_import",
            details={
                "rows": report.rows,
                "created": report.created,
                "credited": report.credited,
                "points": report.points,
            },
        )
