"""The /broadcast wizard's own text in each language its audience reads.

After the owner's text (written in the owner's language), each other language the
reachable audience reads is asked for in turn: the owner sends that language's text, or
presses the button that sends those customers the owner's text. The confirmation then
says how many get which language (``broadcasts.Preparation.languages``).
"""

from __future__ import annotations

from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.services.campaigns import broadcasts
from bot.services.campaigns.broadcast_text import MessageSpec
from bot.services.context import Business
from bot.services.people.roles import Actor
from handlers.broadcast_send import Data, Wizard, ask_offer, step_button
from handlers.keyboards import BroadcastStep, inline_markup
from handlers.replies import clear_buttons, text


async def text_given(
    message: Message, biz: Business, actor: Actor, state: FSMContext, body: str
) -> None:
    """A valid text: the owner's own (a new message) or the language asked for."""
    data = await state.get_data()
    pending = data.get("text_lang")
    if pending and data.get("message"):
        spec = MessageSpec.model_validate(data["message"])
        spec = spec.model_copy(update={"texts": {**spec.texts, pending: body}})
    else:
        spec = MessageSpec(kind="text", body=body, language=actor.locale)
        await state.update_data(skipped_langs=[])
    await state.update_data(message=spec.model_dump(), text_lang=None)
    await next_language(message, biz, actor, state)


async def next_language(target: Message, biz: Business, actor: Actor, state: FSMContext) -> None:
    """Ask for the next language the audience reads that has no text yet; then the offer."""
    data = await state.get_data()
    spec = MessageSpec.model_validate(data["message"])
    skipped = data.get("skipped_langs") or []
    total, counts = await broadcasts.readers(biz, data.get("filters", {}))
    missing = [
        locale for locale in counts
        if locale != spec.language and locale not in spec.texts and locale not in skipped
    ]  # fmt: skip
    if not missing:
        await state.set_state(Wizard.filters)  # the offer buttons are valid from here
        await ask_offer(target, biz, actor)
        return
    lang = missing[0]
    await state.set_state(Wizard.text)
    await state.update_data(text_lang=lang)
    await target.answer(
        text(biz, actor, "broadcast.ask_language", lang=lang, count=counts[lang], total=total,
             own=spec.language),
        reply_markup=inline_markup(
            [step_button(biz, actor, "button_same_text", "same", own=spec.language)],
            [step_button(biz, actor, "button_quit", "quit")],
        ),
    )  # fmt: skip


async def same_text(
    query: CallbackQuery, step: BroadcastStep, biz: Business, actor: Actor, state: FSMContext,
    data: Data,
) -> None:  # fmt: skip
    """The language asked for gets the owner's text."""
    lang = data.get("text_lang")
    if not lang or not data.get("message"):
        return
    skipped = [*(data.get("skipped_langs") or []), lang]
    await state.update_data(skipped_langs=skipped, text_lang=None)
    await clear_buttons(query)
    if isinstance(query.message, Message):
        await next_language(query.message, biz, actor, state)
