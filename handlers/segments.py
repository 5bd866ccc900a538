"""Owner's /segments: customers per RFM segment, lifecycle stage, value and seed 001
strategy (what each strategy means to do, in the source's words), a chart, and one
button per group whose callback names the audience of a broadcast to it.

``SegmentAudience`` is the callback the broadcast wizard is to take over: until it is
wired to /broadcast, a tap answers with a short note saying so.
"""

from __future__ import annotations

import asyncio

from aiogram import Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message

from bot import charts
from bot.services.context import Business
from bot.services.insight import segments
from bot.services.members.client_card import SourceWording, strategy_wordings
from bot.services.people.audit import audit_view
from bot.services.people.roles import Actor, Role
from handlers.broadcast import start_broadcast
from handlers.keyboards import inline_button, inline_markup
from handlers.middlewares import RequireRole
from handlers.replies import text

CHART_FILENAME = "segments.png"
BUTTONS_PER_ROW = 2


class SegmentAudience(CallbackData, prefix="seg"):
    """A broadcast's audience: the customers whose ``dimension`` (one of
    ``segments.DIMENSIONS``) has ``value`` in their latest scores."""

    dimension: str
    value: str


def label_of(
    biz: Business, actor: Actor, dimension: str, value: str, words: dict[str, SourceWording]
) -> str:
    wording = words.get(value) if dimension == "strategy" else None
    return biz.texts.plain(
        actor.locale,
        "owner.segment_label",
        dimension=dimension,
        value=value,
        title=wording.title if wording else None,
    )


def audience_keyboard(
    biz: Business, actor: Actor, counts: segments.SegmentCounts, words: dict[str, SourceWording]
) -> InlineKeyboardMarkup:
    buttons = [
        inline_button(
            biz.texts.plain(
                actor.locale,
                "owner.button_segment",
                dimension=dimension,
                label=label_of(biz, actor, dimension, value, words),
                n=n,
            ),
            SegmentAudience(dimension=dimension, value=value),
        )
        for dimension in segments.DIMENSIONS
        for value, n in counts.by[dimension]
    ]
    return inline_markup(
        *(buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW))
    )


def segments_png(
    biz: Business, actor: Actor, counts: segments.SegmentCounts, words: dict[str, SourceWording]
) -> bytes:
    """Customers per label, one panel per dimension (CPU work: a thread)."""
    return charts.bars_chart(
        biz.texts.plain(actor.locale, "owner.chart_segments_title"),
        [
            charts.Panel(
                biz.texts.plain(actor.locale, "owner.dimension_title", dimension=dimension),
                [label_of(biz, actor, dimension, v, words) for v, _ in counts.by[dimension]],
                [n for _, n in counts.by[dimension]],
            )
            for dimension in segments.DIMENSIONS
        ],
    )


async def on_segments(message: Message, biz: Business, actor: Actor, key: str) -> None:
    counts = await segments.segment_counts(biz)
    await audit_view(biz, actor, "segments", key)
    if not counts.scored:
        await message.answer(text(biz, actor, "owner.segments_none"))
        return
    words = strategy_wordings(actor.locale)
    png = await asyncio.to_thread(segments_png, biz, actor, counts, words)
    await message.answer_photo(
        BufferedInputFile(png, filename=CHART_FILENAME),
        caption=text(biz, actor, "owner.segments_chart", scored=counts.scored),
    )
    await message.answer(
        text(biz, actor, "owner.segments_report", c=counts, strategies=words),
        reply_markup=audience_keyboard(biz, actor, counts, words),
    )


async def on_segment_audience(
    query: CallbackQuery,
    callback_data: SegmentAudience,
    biz: Business,
    actor: Actor,
    state: FSMContext,
) -> None:
    """One tap from a segment to a broadcast: the wizard opens with that group chosen."""
    await query.answer()
    if not isinstance(query.message, Message):
        return  # the /segments message is too old for Telegram to show it
    await start_broadcast(
        query.message, biz, actor, state, {callback_data.dimension: callback_data.value}
    )


def make_router() -> Router:
    """A fresh router: one per dispatcher (tests and multi-bot set-ups build several)."""
    router = Router(name="segments")
    router.message.middleware(RequireRole(Role.OWNER))
    router.callback_query.middleware(RequireRole(Role.OWNER))
    router.message.register(on_segments, Command("segments"))
    router.callback_query.register(on_segment_audience, SegmentAudience.filter())
    return router
