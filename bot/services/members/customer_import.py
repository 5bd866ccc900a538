"""Bringing an existing customer base from a spreadsheet (``loyalty-bot import``).

Columns: ``phone`` (required), ``name``, ``birthday``, ``balance`` and the configured
profile fields by code, in any order and any letter case. Every row is checked the way
sign-up checks the same answer (the phone helper, :func:`signup.parse_birthday`,
:func:`signup.parse_profile_value`, :func:`customers.clean_name`); the balance is a
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
from bot.services.members.identity import identity_hash, identity_hashes, keyed_hash
from bot.services.members.signup import parse_birthday, parse_profile_value
from bot.services.money.ledger import post
from bot.services.people.audit import add_audit
from bot.services.people.customers import clean_name, search_key, unique_card_codes
from bot.spreadsheet import Table, cell_text

PHONE, NAME, BIRTHDAY, BALANCE = "phone", "name", "birthday", "balance"
CORE_COLUMNS = (PHONE, NAME, BIRTHDAY, BALANCE)
KEY_PREFIX = "import:"
CONSENT_VERSION = "import"  # brought from the business's own base, not given in the bot
MAX_BALANCE_DIGITS = 9
BATCH = 500
AUDIT_ROLE = "console"  # the server's operator, not a Telegram user
T = TypeVar("T")


@dataclass(frozen=True)
class Problem:
    """One refusal: ``row`` is the spreadsheet's row number (1: the header)."""

    row: int
    code: str
    params: dict[str, Any] = field(default_factory=dict)


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


def _columns(table: Table, settings: Settings) -> tuple[dict[str, int], list[Problem]]:
    """Which known column is where; unknown and repeated names are refused."""
    known = {*CORE_COLUMNS, *(f.code for f in settings.profile.fields)}
    where: dict[str, int] = {}
    unknown: list[str] = []
    problems: list[Problem] = []
    for index, raw in enumerate(table.header):
        name = raw.strip().casefold()
        if not name:
            if any(len(r) > index and cell_text(r[index]) for r in table.rows):
                unknown.append(f"#{index + 1}")
            continue
        if name not in known:
            unknown.append(raw)
        elif name in where:
            problems.append(Problem(1, "import_repeated_column", {"column": raw}))
        else:
            where[name] = index
    if unknown:
        problems.append(Problem(1, "import_unknown_columns", {"columns": unknown}))
    if PHONE not in where:
        problems.append(Problem(1, "import_no_phone_column"))
    return where, problems


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
) -> tuple[Entry | None, list[Problem]]:
    """One row as sign-up would take it (``phone`` normalised, None when it is not a
    phone), or every refusal sign-up would answer for it (the owner fixes them at once)."""
    problems: list[Problem] = []

    def take(parse: Callable[..., T], *args: Any) -> T | None:
        try:
            return parse(*args)
        except ServiceError as err:
            problems.append(Problem(number, err.code, err.params))
            return None

    if not cells.get(PHONE):
        problems.append(Problem(number, "import_no_phone"))
    elif phone is None:
        problems.append(Problem(number, "bad_phone"))
    name = take(clean_name, cells[NAME]) if cells.get(NAME) else None
    born = take(parse_birthday, cells[BIRTHDAY], today, settings) if cells.get(BIRTHDAY) else None
    profile = {
        f.code: take(parse_profile_value, f, cells[f.code], today)
        for f in fields
        if cells.get(f.code)
    }
    balance = take(_balance, cells.get(BALANCE, ""))
    if problems or phone is None or balance is None:
        return None, problems
    return Entry(number, phone, name, born, profile, balance), []


def check(table: Table, settings: Settings, today: date) -> tuple[list[Entry], list[Problem]]:
    """Every row checked; the entries are worth writing only when no problem is found."""
    where, problems = _columns(table, settings)
    if PHONE not in where:
        return [], problems
    fields = [f for f in settings.profile.fields if f.code in where]
    region = settings.business.phone_region
    entries: list[Entry] = []
    first_row: dict[str, int] = {}
    for offset, raw in enumerate(table.rows):
        number = table.first_row + offset
        cells = {
            column: cell_text(raw[index] if index < len(raw) else None)
            for column, index in where.items()
        }
        if not any(cell_text(v) for v in raw):
            continue  # an empty line
        phone = normalise_phone(cells[PHONE], region) if cells[PHONE] else None
        if phone is not None and phone in first_row:
            problems.append(
                Problem(number, "import_duplicate_phone", {"first_row": first_row[phone]})
            )
            continue
        if phone is not None:
            first_row[phone] = number
        entry, found = _entry(settings, today, number, cells, phone, fields)
        problems.extend(found)
        if entry is not None:
            entries.append(entry)
    return entries, problems


def count_rows(table: Table) -> int:
    return sum(1 for raw in table.rows if any(cell_text(v) for v in raw))


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


async def run_import(
    biz: Business, table: Table, *, apply: bool, progress: Progress | None = None
) -> ImportReport:
    """Check every row; with ``apply`` and no problem, write it all in one transaction."""
    today = biz.clock.now().astimezone(biz.settings.business.zone).date()
    entries, problems = check(table, biz.settings, today)
    report = ImportReport(rows=count_rows(table), problems=problems)
    if problems:
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
