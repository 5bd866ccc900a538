"""``/campaigns`` (owners): each broadcast's and scheduled job's delivery and effect."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.services.campaigns import report as campaign_report
from bot.services.context import Business
from bot.services.people.audit import audit_view
from bot.services.people.roles import Actor, Role
from handlers.middlewares import RequireRole
from handlers.replies import text


async def on_campaigns(message: Message, biz: Business, actor: Actor, key: str) -> None:
    reports = await campaign_report.recent(biz)
    await audit_view(biz, actor, "campaigns", key, shown=len(reports))
    if not reports:
        await message.answer(text(biz, actor, "campaigns.none"))
        return
    await message.answer(
        text(biz, actor, "campaigns.report", reports=reports,
             days=biz.settings.campaigns.report_days)
    )  # fmt: skip


def make_router() -> Router:
    router = Router(name="campaigns")
    router.message.middleware(RequireRole(Role.OWNER))
    router.message.register(on_campaigns, Command("campaigns"))
    return router
