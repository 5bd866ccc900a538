"""The bot as tests drive it: real dispatcher and database, recording Bot API double."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher
from sqlalchemy import func, select

from bot.app import PLACEHOLDER_TOKEN, build_bot, build_business, build_dispatcher
from bot.clock import FrozenClock
from bot.config import Settings
from bot.db.engine import Database
from bot.db.models import Base, Customer, LedgerEntry
from bot.delivery.sender import OutboxSender
from bot.services.context import Business
from bot.services.people.staff import sync_outlets
from bot.testing.telegram_double import ChatUser, FakeTelegram, RecordingSession

OWNER_ID = 1000


@dataclass
class App:
    biz: Business
    fake: FakeTelegram
    bot: Bot
    dp: Dispatcher
    sender: OutboxSender
    clock: FrozenClock

    @classmethod
    async def start(
        cls, settings: Settings, db: Database, clock: FrozenClock, dp: Dispatcher | None = None
    ) -> App:
        biz = build_business(settings, db=db, clock=clock)
        await sync_outlets(biz)
        fake = FakeTelegram(token=PLACEHOLDER_TOKEN)
        # Built as production builds it (HTML parse mode), so the double checks every
        # message is valid Telegram HTML.
        bot = build_bot(settings, session=RecordingSession(fake))
        dispatcher = dp or build_dispatcher(biz)
        return cls(
            biz=biz, fake=fake, bot=bot, dp=dispatcher, sender=OutboxSender(biz, bot), clock=clock
        )

    def variant(self, settings: Settings | None = None, override_dir: Path | None = None) -> App:
        """The same database, clock and Bot API double under other settings or templates."""
        biz = build_business(
            settings or self.biz.settings,
            db=self.biz.db,
            clock=self.clock,
            override_dir=override_dir,
        )
        return App(
            biz=biz,
            fake=self.fake,
            bot=self.bot,
            dp=build_dispatcher(biz),
            sender=OutboxSender(biz, self.bot),
            clock=self.clock,
        )

    async def close(self) -> None:
        await self.bot.session.close()

    def user(self, user_id: int, language: str = "ru", name: str = "Test") -> ChatUser:
        return ChatUser(self.dp, self.bot, user_id, first_name=name, language_code=language)

    @property
    def owner(self) -> ChatUser:
        return self.user(OWNER_ID, "en", "Owner")

    async def deliver(self) -> int:
        """Send everything queued in the outbox through the double."""
        return await self.sender.drain()

    async def counts(self, *, include_audit: bool = False) -> dict[str, int]:
        return await table_counts(self.biz.db, include_audit=include_audit)

    async def balance_consistent(self) -> bool:
        return await ledger_consistent(self.biz.db)

    async def customer(self, **where: Any) -> Customer | None:
        return await find_customer(self.biz.db, **where)


async def table_counts(db: Database, *, include_audit: bool = False) -> dict[str, int]:
    """Row counts of every table: 'nothing was written' compares two of these."""
    result: dict[str, int] = {}
    async with db.read() as session:
        for table in Base.metadata.sorted_tables:
            if table.name == "audit_log" and not include_audit:
                continue
            count = await session.scalar(select(func.count()).select_from(table))
            result[table.name] = int(count or 0)
    return result


async def ledger_consistent(db: Database) -> bool:
    """Every cached balance equals the sum of its ledger entries, and none is negative."""
    async with db.read() as session:
        sums = dict(
            (
                await session.execute(
                    select(LedgerEntry.customer_id, func.sum(LedgerEntry.points)).group_by(
                        LedgerEntry.customer_id
                    )
                )
            ).all()
        )
        rows = (await session.execute(select(Customer.id, Customer.balance))).all()
    return all(balance == int(sums.get(cid, 0)) and balance >= 0 for cid, balance in rows)


async def find_customer(db: Database, **where: Any) -> Customer | None:
    async with db.read() as session:
        return await session.scalar(select(Customer).filter_by(**where))
