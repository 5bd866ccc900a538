"""The end of the /broadcast wizard (``handlers/broadcast.py`` has the steps before it):
the optional offer, the check over the whole audience with the preview and the
confirmation, the send, the progress message edited as the outbox delivers and its stop
button, the final report. The wizard's states and its button helper live here too, as
both halves use them.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiogram.exceptions import TelegramBadRequest
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.background import BackgroundTasks
from bot.numbers import is_ascii_number
from bot.services.campaigns import broadcasts, control
from bot.services.context import Business
from bot.services.idempotency import conversation_key
from bot.services.money import offers
from bot.services.people.roles import Actor
from handlers.keyboards import BroadcastStep, BroadcastStop, inline_button, inline_markup
from handlers.replies import clear_buttons, replace_text, text

Data = dict[str, Any]


class Wizard(StatesGroup):
    filters = State()
    text = State()  # waiting for the owner's own text
    offer_value = State()  # waiting for the number of points or percent
    ready = State()  # the confirmation (or the failed check) is shown


def step_button(biz: Business, actor: Actor, key: str, action: str, arg: int = 0,
            **context: Any) -> InlineKeyboardButton:  # fmt: skip
    return inline_button(
        biz.texts.plain(actor.locale, f"broadcast.{key}", **context),
        BroadcastStep(action=action, arg=arg),
    )


def pairs(buttons: list[InlineKeyboardButton]) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


async def ask_offer(query: CallbackQuery | Message, biz: Business, actor: Actor) -> None:
    body = text(biz, actor, "broadcast.ask_offer")
    markup = inline_markup(
        [step_button(biz, actor, "button_no_offer", "offer", 0)],
        [step_button(biz, actor, "button_points", "offer", 1),
         step_button(biz, actor, "button_percent", "offer", 2)],
        [step_button(biz, actor, "button_quit", "quit")],
    )  # fmt: skip
    if isinstance(query, Message):
        await query.answer(body, reply_markup=markup)
    else:
        await replace_text(query, body, markup)


OFFER_KINDS = (None, "points", "percent")
OFFER_LIMITS = {"points": broadcasts.MAX_POINTS, "percent": int(offers.MAX_PERCENT)}


async def offer_step(
    query: CallbackQuery, step: BroadcastStep, biz: Business, actor: Actor, state: FSMContext,
    data: Data,
) -> None:  # fmt: skip
    if step.arg >= len(OFFER_KINDS) or "message" not in data:
        return
    kind = OFFER_KINDS[step.arg]
    if kind is None:
        await state.update_data(offer=None)
        await clear_buttons(query)
        await confirm(query.message, biz, actor, state)
        return
    await state.set_state(Wizard.offer_value)
    await state.update_data(offer_kind=kind)
    await replace_text(
        query, text(biz, actor, "broadcast.ask_offer_value", kind=kind, limit=OFFER_LIMITS[kind])
    )


async def days_step(
    query: CallbackQuery, step: BroadcastStep, biz: Business, actor: Actor, state: FSMContext,
    data: Data,
) -> None:  # fmt: skip
    kind, value = data.get("offer_kind"), data.get("offer_value")
    choices = biz.settings.campaigns.offer_days
    if step.arg >= len(choices) or kind is None or value is None:
        return
    offer = {"kind": kind, "value": value, "days": choices[step.arg]}
    await state.update_data(offer=offer)
    await clear_buttons(query)
    await confirm(query.message, biz, actor, state)


async def on_offer_value(message: Message, biz: Business, actor: Actor, state: FSMContext) -> None:
    data = await state.get_data()
    kind = data.get("offer_kind")
    typed = (message.text or "").strip()
    limit = OFFER_LIMITS.get(kind or "", 0)
    value = int(typed) if is_ascii_number(typed) and len(typed) <= 6 else 0
    if not 1 <= value <= limit:
        await message.answer(text(biz, actor, "broadcast.ask_offer_value", kind=kind, limit=limit))
        return
    await state.update_data(offer_value=value)
    await message.answer(
        text(biz, actor, "broadcast.ask_offer_days"),
        reply_markup=inline_markup(
            [step_button(biz, actor, "button_days", "days", i, days=d)
             for i, d in enumerate(biz.settings.campaigns.offer_days)],
            [step_button(biz, actor, "button_quit", "quit")],
        ),
    )  # fmt: skip


def draft_of(data: Data) -> broadcasts.Draft:
    return broadcasts.Draft(
        filters=data.get("filters", {}), message=data["message"], offer=data.get("offer")
    )


async def confirm(target: Any, biz: Business, actor: Actor, state: FSMContext) -> None:
    """Check the message for the whole audience; a preview and the confirmation, or the
    failures and a way back to the message."""
    if not isinstance(target, Message):
        return
    data = await state.get_data()
    draft = draft_of(data)
    await state.set_state(Wizard.ready)
    status = await target.answer(text(biz, actor, "broadcast.checking"))
    prep = await broadcasts.prepare(biz, draft)
    back = [
        step_button(biz, actor, "button_edit", "edit"),
        step_button(biz, actor, "button_quit", "quit"),
    ]
    if prep.audience == 0 or prep.sample is None:
        await status.edit_text(text(biz, actor, "broadcast.nobody"),
                               reply_markup=inline_markup(back))  # fmt: skip
        return
    if prep.reachable == 0:  # never a Send button for nobody
        await status.edit_text(text(biz, actor, "broadcast.nobody_reachable", p=prep),
                               reply_markup=inline_markup(back))  # fmt: skip
        return
    if not prep.check.ok:
        await status.edit_text(
            text(biz, actor, "broadcast.check_failed", r=prep.check),
            reply_markup=inline_markup(back),
        )
        return
    await status.edit_text(text(biz, actor, "broadcast.preview_caption", name=prep.sample.name))
    await target.answer(broadcasts.preview_text(biz, draft, prep.sample, prep.sample.language))
    for other in prep.other_samples:  # the text in each other language, as its reader gets it
        await target.answer(text(biz, actor, "broadcast.preview_caption", name=other.name))
        await target.answer(broadcasts.preview_text(biz, draft, other, other.language))
    rule = biz.settings.outbox.kinds[broadcasts.KIND]
    await target.answer(
        text(biz, actor, "broadcast.confirm", p=prep, offer=draft.offer,
             rate=biz.settings.outbox.rate_per_second,
             quiet=rule.waits_for_morning and prep.starts_at > biz.clock.now()),
        reply_markup=inline_markup([step_button(biz, actor, "button_send", "send")], back),
    )  # fmt: skip


async def send(
    query: CallbackQuery,
    biz: Business,
    actor: Actor,
    state: FSMContext,
    key: str,
    background: BackgroundTasks,
) -> None:
    data = await state.get_data()
    # once per wizard, not per tap: a double-tapped Send is two callbacks, one launch
    once = conversation_key(data["wizard"]) if data.get("wizard") else key
    outcome = await broadcasts.launch(biz, actor, once, draft_of(data))  # a refusal keeps it
    await state.clear()
    await query.answer()
    await clear_buttons(query)
    if not isinstance(query.message, Message):
        return
    result = outcome.result
    await query.message.answer(text(biz, actor, "broadcast.launched", r=result))
    progress = await control.progress(biz, result.campaign_id)
    status = await query.message.answer(
        text(biz, actor, "broadcast.progress", p=progress),
        reply_markup=stop_markup(biz, actor, result.campaign_id),
    )
    if not outcome.duplicate:
        background.start(
            watch(status, biz, actor, result.campaign_id), name=f"broadcast-{result.campaign_id}"
        )


def stop_markup(biz: Business, actor: Actor, campaign_id: int) -> InlineKeyboardMarkup:
    return inline_markup(
        [inline_button(biz.texts.plain(actor.locale, "broadcast.button_stop"),
                       BroadcastStop(campaign_id=campaign_id))]
    )  # fmt: skip


async def watch(status: Message, biz: Business, actor: Actor, campaign_id: int) -> None:
    """Edit the progress message as the outbox delivers (throttled), then the report."""
    shown = None
    while True:
        await asyncio.sleep(biz.settings.campaigns.progress_seconds)
        progress = await control.progress(biz, campaign_id)
        if progress.finished:
            break
        if progress.counts != shown:
            shown = progress.counts
            with contextlib.suppress(TelegramBadRequest):
                await status.edit_text(
                    text(biz, actor, "broadcast.progress", p=progress),
                    reply_markup=stop_markup(biz, actor, campaign_id),
                )
    with contextlib.suppress(TelegramBadRequest):
        await status.edit_text(text(biz, actor, "broadcast.progress", p=progress))
    await status.answer(text(biz, actor, "broadcast.done", p=progress))


async def on_stop(
    query: CallbackQuery, callback_data: BroadcastStop, biz: Business, actor: Actor, key: str
) -> None:
    outcome = await control.cancel(biz, actor, key, callback_data.campaign_id)
    await query.answer()
    if query.message is not None:
        await query.message.answer(  # type: ignore[union-attr]
            text(biz, actor, "broadcast.stopped", c=outcome.result)
        )
