"""A staff member's or owner's own settings (their language), for people with no customer
card: owners listed in config and staff have no other place to keep them."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import SUPPORTED_LOCALES
from bot.db.models import ChatSettings, Customer
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.idempotency import Outcome, run_once


class ChatLanguage(BaseModel):
    language: str


async def language_in(session: AsyncSession, tg_id: int) -> str | None:
    """The language this person chose: on their own settings, else on their customer
    card; None when they never chose one (their Telegram app's language applies)."""
    chosen = await session.scalar(
        select(ChatSettings.language).where(ChatSettings.telegram_id == tg_id)
    )
    if chosen is not None:
        return chosen
    return await session.scalar(select(Customer.language).where(Customer.telegram_id == tg_id))


async def set_language(biz: Business, key: str, tg_id: int, language: str) -> Outcome[ChatLanguage]:
    if language not in SUPPORTED_LOCALES:
        raise ServiceError("unknown_language", language=language[:8])
    now = biz.clock.now()

    async def work(session: AsyncSession) -> ChatLanguage:
        row = await session.get(ChatSettings, tg_id)
        if row is None:
            session.add(ChatSettings(telegram_id=tg_id, language=language, updated_at=now))
        else:
            row.language, row.updated_at = language, now
        return ChatLanguage(language=language)

    return await run_once(biz.db, biz.clock, key, ChatLanguage, work)
