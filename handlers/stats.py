"""Owner's /stats (and its old name /kpi): the period's figures, a weekly chart, and
buttons for other periods; ``/stats staff [days]``: satisfaction (CSAT) per staff member.
The chart is drawn in a worker thread (``asyncio.to_thread``) and sent first, so the
report with its buttons is the last message in the chat."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Annotated

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message
from pydantic import Field

from bot import charts
from bot.numbers import is_ascii_number
from bot.services.context import Business
from bot.services.insight import (
    feedback_stats,
    kpis,
    retention,
    satisfaction,
    staff_activity,
    stats,
)
from bot.services.people import owners
from bot.services.people.audit import audit_view
from bot.services.people.roles import Actor, Role
from handlers.keyboards import inline_button, inline_markup
from handlers.middlewares import RequireRole
from handlers.replies import text

DEFAULT_DAYS = 30
PERIOD_BUTTONS = (7, 30, 90, 365)
STATS_COMMANDS = ("stats", "kpi")  # /kpi: the command's name before /stats
STAFF_VIEW = "staff"  # /stats staff [days]
CHART_FILENAME = "stats.png"


class StatsPeriod(CallbackData, prefix="stp"):
    days: Annotated[int, Field(ge=1, le=kpis.MAX_PERIOD_DAYS)]


def parse_days(arg: str | None) -> int | None:
    """``/stats [days]``: empty means the default; anything but 1..MAX digits is None."""
    arg = (arg or "").strip()
    if not arg:
        return DEFAULT_DAYS
    if not is_ascii_number(arg) or len(arg) > len(str(kpis.MAX_PERIOD_DAYS)):
        return None
    days = int(arg)
    return days if 1 <= days <= kpis.MAX_PERIOD_DAYS else None


def period_keyboard(biz: Business, actor: Actor) -> InlineKeyboardMarkup:
    return inline_markup(
        [
            inline_button(
                biz.texts.plain(actor.locale, "owner.button_period", days=days),
                StatsPeriod(days=days),
            )
            for days in PERIOD_BUTTONS
        ]
    )


def weekly_png(biz: Business, actor: Actor, report: stats.StatsReport) -> bytes:
    """The chart of purchases, revenue and new members per week (CPU work: a thread)."""
    label = biz.texts.plain
    weekly = report.weekly
    number = partial(biz.texts.number, actor.locale)
    return charts.weekly_chart(
        label(actor.locale, "owner.chart_stats_title", days=report.days),
        [label(actor.locale, "owner.chart_week", start=start) for start in weekly.starts],
        [
            charts.Panel(
                label(actor.locale, "owner.chart_purchases"), [], weekly.purchases, tick=number
            ),
            charts.Panel(
                label(actor.locale, "owner.chart_revenue"),
                [],
                [float(v) for v in weekly.revenue],
                whole=False,
                tick=number,
            ),
            charts.Panel(
                label(actor.locale, "owner.chart_new_members"), [], weekly.new_members, tick=number
            ),
        ],
    )


async def send_stats(message: Message, biz: Business, actor: Actor, days: int) -> None:
    report = await stats.stats_report(biz, days)
    weekly = report.weekly
    if any(weekly.purchases) or any(weekly.new_members):
        png = await asyncio.to_thread(weekly_png, biz, actor, report)
        await message.answer_photo(
            BufferedInputFile(png, filename=CHART_FILENAME),
            caption=text(biz, actor, "owner.stats_chart", days=days),
        )
    body = text(
        biz, actor, "owner.stats_report", s=report, window=biz.settings.scoring.active_window_days
    )
    await message.answer(
        body + await whatif_text(biz, actor), reply_markup=period_keyboard(biz, actor)
    )


async def whatif_text(biz: Business, actor: Actor) -> str:
    """The +5 points of retention what-if from the last scoring, as a paragraph to append
    (bot.services.insight.retention); empty before the first scoring."""
    whatif = await retention.last_whatif(biz)
    if whatif is None:
        return ""
    return "\n\n" + text(biz, actor, "owner.stats_whatif", w=whatif)


async def send_staff_view(
    message: Message, command: CommandObject, biz: Business, actor: Actor, key: str, arg: str
) -> None:
    """CSAT per staff member who served the surveyed purchases
    (bot.services.insight.satisfaction)."""
    days = parse_days(arg)
    if days is None:
        await message.answer(text(biz, actor, "errors.usage_stats_staff", command=command.command))
        return
    start, end = kpis.period_bounds(biz, days)
    rows = await satisfaction.csat_by_staff(biz, start, end)
    nps = await feedback_stats.nps_by_staff(biz, start, end)
    owner_ids = await owners.owner_ids(biz)
    await audit_view(biz, actor, f"{command.command}_staff", key, days=days)
    await send_staff_activity(message, biz, actor, days, owner_ids)
    await message.answer(
        text(biz, actor, "owner.stats_staff", staff=rows, days=days, owners=owner_ids, nps=nps)
    )


async def send_staff_activity(
    message: Message, biz: Business, actor: Actor, days: int, owner_ids: set[int]
) -> None:
    """Purchases, amount, refunds, redemptions, anomaly alerts and CSAT per staff member
    (bot.services.insight.staff_activity)."""
    start, end = kpis.period_bounds(biz, days)
    rows = await staff_activity.staff_activity(biz, start, end)
    await message.answer(
        text(biz, actor, "controls.stats_staff_activity", staff=rows, days=days, owners=owner_ids)
    )


async def on_stats(
    message: Message, command: CommandObject, biz: Business, actor: Actor, key: str
) -> None:
    first, _, rest = (command.args or "").strip().partition(" ")
    if first.casefold() == STAFF_VIEW:
        await send_staff_view(message, command, biz, actor, key, rest)
        return
    days = parse_days(command.args)
    if days is None:
        await message.answer(text(biz, actor, "errors.usage_stats"))
        return
    await audit_view(biz, actor, command.command, key, days=days)
    await send_stats(message, biz, actor, days)


async def on_stats_period(
    query: CallbackQuery, callback_data: StatsPeriod, biz: Business, actor: Actor, key: str
) -> None:
    await query.answer()
    if not isinstance(query.message, Message):  # older than 48 hours: nothing to answer under
        return
    await audit_view(biz, actor, "stats", key, days=callback_data.days)
    await send_stats(query.message, biz, actor, callback_data.days)


def make_router() -> Router:
    """A fresh router: one per dispatcher (tests and multi-bot set-ups build several)."""
    router = Router(name="stats")
    router.message.middleware(RequireRole(Role.OWNER))
    router.callback_query.middleware(RequireRole(Role.OWNER))
    router.message.register(on_stats, Command(*STATS_COMMANDS))
    router.callback_query.register(on_stats_period, StatsPeriod.filter())
    return router
