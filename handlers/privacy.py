"""A member's data: export (/mydata) and erasure (/forget, after a confirmation)."""

from __future__ import annotations

import json

from aiogram import Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, Message

from bot.services.context import Business
from bot.services.members import privacy
from bot.services.people.roles import Actor
from handlers.keyboards import inline_button, inline_markup
from handlers.replies import clear_buttons, text


class ForgetAnswer(CallbackData, prefix="fg"):
    confirm: bool


async def on_mydata(message: Message, biz: Business, actor: Actor) -> None:
    data = await privacy.export(biz, actor.tg_id)
    document = json.dumps(data, ensure_ascii=False, indent=2).encode()
    await message.answer_document(
        BufferedInputFile(document, filename="my-data.json"),
        caption=text(biz, actor, "customer.mydata"),
    )


async def on_forget(message: Message, biz: Business, actor: Actor) -> None:
    if actor.customer_id is None:
        await message.answer(text(biz, actor, "errors.not_registered"))
        return
    await message.answer(
        text(biz, actor, "customer.forget_confirm", business=biz.settings.business.name),
        reply_markup=inline_markup(
            [
                inline_button(
                    text(biz, actor, "customer.button_forget_yes"), ForgetAnswer(confirm=True)
                ),
                inline_button(
                    text(biz, actor, "customer.button_forget_no"), ForgetAnswer(confirm=False)
                ),
            ]
        ),
    )


async def on_forget_answer(
    query: CallbackQuery,
    callback_data: ForgetAnswer,
    biz: Business,
    actor: Actor,
    key: str,
    state: FSMContext,
) -> None:
    if callback_data.confirm:
        await privacy.forget(biz, key, actor.tg_id)  # a refusal: handlers.errors answers
    await query.answer()
    await clear_buttons(query)
    if not callback_data.confirm:
        if query.message is not None:
            await query.message.answer(text(biz, actor, "customer.forget_kept"))  # type: ignore[union-attr]
        return
    await state.clear()
    if query.message is not None:
        await query.message.answer(text(biz, actor, "customer.forgotten"))  # type: ignore[union-attr]


def make_router() -> Router:
    """A fresh router: one per dispatcher (tests and multi-bot set-ups build several)."""
    router = Router(name="privacy")
    router.message.register(on_mydata, Command("mydata"))
    router.message.register(on_forget, Command("forget"))
    router.callback_query.register(on_forget_answer, ForgetAnswer.filter())
    return router
