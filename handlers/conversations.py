"""A member's own words to the business, and the answer from the owners (or staff, by
config): free text with no question open is passed on; the Reply button under it opens a
one-message answer that reaches the customer. Registered after sign-up (whose open
questions take text first) and before the fallback (whose hint it replaces for members)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.filters import StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from bot.services.context import Business
from bot.services.people import conversations
from bot.services.people.roles import Actor, Role
from handlers.keyboards import DbId
from handlers.replies import text


class ConversationReply(CallbackData, prefix=conversations.CONVERSATION_PREFIX):
    """The button conversations.reply_keyboard queues: ``cv:<conversation id>``."""

    conversation_id: DbId


class Replying(StatesGroup):
    answer = State()


async def on_member_text(message: Message, biz: Business, actor: Actor, key: str) -> None:
    """A customer's free text goes to the business; anyone else gets the fallback's hint."""
    if actor.role != Role.CUSTOMER or not biz.settings.conversations.enabled:
        raise SkipHandler
    await conversations.forward_from_customer(biz, key, actor.tg_id, message.text or "")
    await message.answer(
        text(biz, actor, "customer.question_passed_on", business=biz.settings.business.name)
    )


async def on_reply_button(
    query: CallbackQuery,
    callback_data: ConversationReply,
    biz: Business,
    actor: Actor,
    state: FSMContext,
) -> None:
    if not await conversations.may_answer(biz, actor, callback_data.conversation_id):
        await query.answer(biz.texts.plain(actor.locale, "errors.not_available"), show_alert=True)
        return
    name = await conversations.customer_name(biz, callback_data.conversation_id)
    await query.answer()
    if name is None:
        await query.message.answer(text(biz, actor, "errors.conversation_gone"))  # type: ignore[union-attr]
        return
    await state.set_state(Replying.answer)
    await state.update_data(conversation_id=callback_data.conversation_id)
    await query.message.answer(text(biz, actor, "owner.reply_prompt", name=name))  # type: ignore[union-attr]


async def on_reply_text(
    message: Message, biz: Business, actor: Actor, key: str, state: FSMContext
) -> None:
    """The answer; a refusal (too long) leaves the step open to try again."""
    data = await state.get_data()
    outcome = await conversations.answer(
        biz, actor, key, int(data["conversation_id"]), message.text or ""
    )
    await state.clear()
    await message.answer(text(biz, actor, "owner.reply_sent", name=outcome.result.customer_name))


def make_router() -> Router:
    """A fresh router: one per dispatcher (tests and multi-bot set-ups build several)."""
    router = Router(name="conversations")
    not_command = ~F.text.startswith("/")
    router.callback_query.register(on_reply_button, ConversationReply.filter())
    router.message.register(on_reply_text, StateFilter(Replying.answer), F.text, not_command)
    router.message.register(on_member_text, StateFilter(None), F.text, not_command)
    return router
