"""The owner's export of every customer: balance, tier, profile fields and scores, one row
each (``/export`` in the bot, ``loyalty-bot export`` on the server).

Customers who used /forget stay in the file (their points and purchases are in the
books), with no personal data: phone, name, birthday and profile are blank whatever the
row holds, and ``erased`` says why. Telegram ids are not exported, only whether the card
is linked to a Telegram account. Times are in the business's time zone.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.config import Settings
from bot.db.models import Customer, CustomerScore
from bot.money import points_value
from bot.services.context import Business, Progress
from bot.services.money.tiers import tier_of
from bot.spreadsheet import Cell, Table

BATCH = 500

CUSTOMER_COLUMNS = (
    "card_code", "phone", "name", "birthday", "language", "joined_at", "in_telegram",
    "erased", "marketing_opt_in", "balance", "balance_value", "tier",
)  # fmt: skip
SCORE_COLUMNS = (
    "scored_at", "purchases", "total_spend", "average_check", "days_since_first",
    "days_since_last", "rfm_code", "segment", "lifecycle", "value", "strategy", "clv",
    "p_alive", "expected_purchases", "rating_points", "rating_category",
)  # fmt: skip
# Score columns that are the table's own (the rest are renamed or rounded below).
_SCORE_ATTRIBUTES = SCORE_COLUMNS[1:]
FLOAT_PLACES = 4


def header(settings: Settings) -> list[str]:
    """Customer columns, the configured profile fields by code, then the scores."""
    profile = [f.code for f in settings.profile.fields]
    return [*CUSTOMER_COLUMNS, *profile, *SCORE_COLUMNS]


def _local(moment: datetime | None, zone: ZoneInfo) -> datetime | None:
    """Naive local time: spreadsheets have no time zones (openpyxl refuses aware ones)."""
    return moment.astimezone(zone).replace(tzinfo=None) if moment is not None else None


def _score_cells(score: CustomerScore | None, zone: ZoneInfo) -> list[Cell]:
    if score is None:
        return [None] * len(SCORE_COLUMNS)
    cells: list[Cell] = [_local(score.computed_at, zone)]
    for column in _SCORE_ATTRIBUTES:
        value = getattr(score, column)
        cells.append(round(value, FLOAT_PLACES) if isinstance(value, float) else value)
    return cells


def row(settings: Settings, customer: Customer, score: CustomerScore | None) -> list[Cell]:
    zone = settings.business.zone
    erased = customer.erased_at is not None
    profile = {} if erased else dict(customer.profile or {})
    cells: list[Cell] = [
        customer.card_code,
        None if erased else customer.phone,
        None if erased else customer.name,
        None if erased else customer.birthday,
        customer.language,
        _local(customer.created_at, zone),
        customer.telegram_id is not None,
        erased,
        customer.marketing_opt_in,
        customer.balance,
        points_value(customer.balance, settings.loyalty.point_value),
        tier_of(settings, customer.tier).code,
    ]
    cells.extend(profile.get(f.code) for f in settings.profile.fields)
    cells.extend(_score_cells(score, zone))
    return cells


async def customer_table(biz: Business, progress: Progress | None = None) -> Table:
    """Every customer in id order, read in batches (a report after each)."""
    settings = biz.settings
    table = Table(header=header(settings))
    async with biz.db.read() as session:
        total = int(await session.scalar(select(func.count()).select_from(Customer)) or 0)
    last_id = 0
    while True:
        async with biz.db.read() as session:
            result = await session.execute(
                select(Customer, CustomerScore)
                .outerjoin(CustomerScore, CustomerScore.customer_id == Customer.id)
                .where(Customer.id > last_id)
                .order_by(Customer.id)
                .limit(BATCH)
            )
            batch = [(customer, score) for customer, score in result]
        if not batch:
            break
        table.rows.extend(row(settings, customer, score) for customer, score in batch)
        last_id = batch[-1][0].id
        if progress is not None:
            await progress(len(table.rows), max(total, len(table.rows)))
    return table
