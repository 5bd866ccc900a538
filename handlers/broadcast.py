"""``/broadcast``: the owner's wizard, all buttons (aiogram FSM).

Filters with the live count after each one -> the message (a shipped template or the
owner's own text with placeholders) -> an optional offer -> the preview, rendered for a
real customer of the audience and checked for EVERY customer -> the confirmation (audience,
holdout, what the contact rules leave out, the duration at Telegram's rate) -> the outbox.
A progress message is edited as delivery goes (every ``campaigns.progress_seconds``), with
a button that stops what is not sent yet, and a final report follows.

``start_broadcast(message, biz, actor, state, preset_filter)`` opens the wizard with
filters already set (the /segments buttons: ``{"segment": "at_risk"}``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.background import BackgroundTasks
from bot.services.campaigns import audience, reach
from bot.services.campaigns.broadcast_text import (
    MAX_TEXT,
    MessageError,
    compile_text,
    placeholder_names,
    template_names,
)
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.idempotency import new_conversation_id
from bot.services.money.tiers import tier_of
from bot.services.people.roles import Actor, Role
from handlers.broadcast_lang import same_text, text_given
from handlers.broadcast_send import (
    Data,
    Wizard,
    ask_offer,
    days_step,
    offer_step,
    on_offer_value,
    on_stop,
    pairs,
    send,
    step_button,
)
from handlers.keyboards import BroadcastStep, BroadcastStop, inline_button, inline_markup
from handlers.middlewares import RequireRole
from handlers.replies import clear_buttons, replace_text, text

log = logging.getLogger(__name__)


def _label(biz: Business, actor: Actor, dimension: str, value: Any) -> str:
    if dimension == "tier":
        return tier_of(biz.settings, value).name(actor.locale)
    return biz.texts.plain(actor.locale, "broadcast.value_label", d=dimension, v=value)


def _dimension(biz: Business, actor: Actor, dimension: str) -> str:
    """A filter's name: a profile field by its own label, the rest from the templates."""
    if dimension.startswith(audience.PROFILE_PREFIX):
        code = dimension[len(audience.PROFILE_PREFIX) :]
        field = next(f for f in biz.settings.profile.fields if f.code == code)
        return field.labels.get(actor.locale) or code
    return biz.texts.plain(actor.locale, "broadcast.dimension", d=dimension)


async def _panel(
    biz: Business, actor: Actor, filters: dict[str, Any]
) -> tuple[str, InlineKeyboardMarkup]:
    reached = await reach.reach(biz, filters)
    shown = [
        (_dimension(biz, actor, key), "✓" if value is True else _label(biz, actor, key, value))
        for key, value in filters.items()
    ]
    dims = audience.dimensions(biz.settings)
    choose = [
        inline_button(_dimension(biz, actor, d), BroadcastStep(action="dim", arg=i))
        for i, d in enumerate(dims)
    ]
    flags = [
        step_button(biz, actor, "button_flag", "flag", i, on=bool(filters.get(flag)),
                label=_dimension(biz, actor, flag))
        for i, flag in enumerate(audience.FLAGS)
    ]  # fmt: skip
    markup = inline_markup(
        *pairs(choose),
        *([f] for f in flags),
        [
            step_button(biz, actor, "button_clear", "clear"),
            step_button(biz, actor, "button_next", "next"),
        ],
        [step_button(biz, actor, "button_quit", "quit")],
    )
    body = text(biz, actor, "broadcast.panel", filters=shown, count=reached.audience, reach=reached)
    return body, markup


async def start_broadcast(
    message: Message,
    biz: Business,
    actor: Actor,
    state: FSMContext,
    preset_filter: dict[str, Any] | None = None,
) -> None:
    """Open the wizard (``preset_filter``: filters already chosen, e.g. from /segments).
    A preset that is not a valid filter is refused (ServiceError) and nothing starts."""
    try:
        filters = audience.validate(biz.settings, dict(preset_filter or {}))
    except audience.AudienceError as err:
        raise ServiceError("broadcast_bad_filter", reason=str(err)) from None
    await state.clear()
    await state.set_state(Wizard.filters)
    await state.update_data(filters=filters, wizard=new_conversation_id())
    body, markup = await _panel(biz, actor, filters)
    await message.answer(body, reply_markup=markup)


async def on_broadcast(message: Message, biz: Business, actor: Actor, state: FSMContext) -> None:
    await start_broadcast(message, biz, actor, state)


async def _show_panel(query: CallbackQuery, biz: Business, actor: Actor, state: FSMContext) -> None:
    await state.set_state(Wizard.filters)
    data = await state.get_data()
    body, markup = await _panel(biz, actor, data.get("filters", {}))
    await replace_text(query, body, markup)


Step = Callable[[CallbackQuery, BroadcastStep, Business, Actor, FSMContext, Data], Awaitable[None]]


async def _pick_dimension(
    query: CallbackQuery, step: BroadcastStep, biz: Business, actor: Actor, state: FSMContext,
    data: Data,
) -> None:  # fmt: skip
    dims = audience.dimensions(biz.settings)
    if step.arg >= len(dims):
        return
    dimension = dims[step.arg]
    values = await audience.choices(biz, dimension)
    await state.update_data(dimension=dimension, choices=values)
    label = _dimension(biz, actor, dimension)
    buttons = [
        inline_button(_label(biz, actor, dimension, v), BroadcastStep(action="opt", arg=i))
        for i, v in enumerate(values)
    ]
    key = "broadcast.ask_value" if values else "broadcast.no_values"
    await replace_text(
        query,
        text(biz, actor, key, label=label),
        inline_markup(*pairs(buttons), [step_button(biz, actor, "button_back", "back")]),
    )


async def _set_option(
    query: CallbackQuery, step: BroadcastStep, biz: Business, actor: Actor, state: FSMContext,
    data: Data,
) -> None:  # fmt: skip
    values, dimension = data.get("choices") or [], data.get("dimension")
    if dimension is None or step.arg >= len(values):
        return
    filters = {**data.get("filters", {}), dimension: values[step.arg]}
    await state.update_data(filters=audience.validate(biz.settings, filters))
    await _show_panel(query, biz, actor, state)


async def _toggle(
    query: CallbackQuery, step: BroadcastStep, biz: Business, actor: Actor, state: FSMContext,
    data: Data,
) -> None:  # fmt: skip
    if step.arg >= len(audience.FLAGS):
        return
    flag = audience.FLAGS[step.arg]
    filters = dict(data.get("filters", {}))
    if filters.pop(flag, None) is None:
        filters[flag] = True
    await state.update_data(filters=filters)
    await _show_panel(query, biz, actor, state)


async def _clear(
    query: CallbackQuery, step: BroadcastStep, biz: Business, actor: Actor, state: FSMContext,
    data: Data,
) -> None:  # fmt: skip
    await state.update_data(filters={})
    await _show_panel(query, biz, actor, state)


async def _back(
    query: CallbackQuery, step: BroadcastStep, biz: Business, actor: Actor, state: FSMContext,
    data: Data,
) -> None:  # fmt: skip
    await _show_panel(query, biz, actor, state)


async def _ask_message(
    query: CallbackQuery, step: BroadcastStep, biz: Business, actor: Actor, state: FSMContext,
    data: Data,
) -> None:  # fmt: skip
    if await audience.count(biz, data.get("filters", {})) == 0:
        await query.answer(text(biz, actor, "broadcast.nobody"), show_alert=True)
        return
    templates = template_names(biz, actor.locale)
    await state.update_data(templates=templates)
    buttons = [
        step_button(biz, actor, f"template_title_{name}", "tpl", i)
        for i, name in enumerate(templates)
    ]
    await replace_text(
        query,
        text(biz, actor, "broadcast.ask_message", names=placeholder_names(biz)),
        inline_markup(
            *([b] for b in buttons),
            [step_button(biz, actor, "button_own_text", "own")],
            [
                step_button(biz, actor, "button_back", "back"),
                step_button(biz, actor, "button_quit", "quit"),
            ],
        ),
    )


async def _choose_template(
    query: CallbackQuery, step: BroadcastStep, biz: Business, actor: Actor, state: FSMContext,
    data: Data,
) -> None:  # fmt: skip
    templates = data.get("templates") or []
    if step.arg >= len(templates):
        return
    await state.update_data(message={"kind": "template", "body": templates[step.arg]})
    await ask_offer(query, biz, actor)


async def _own_text(
    query: CallbackQuery, step: BroadcastStep, biz: Business, actor: Actor, state: FSMContext,
    data: Data,
) -> None:  # fmt: skip
    await state.set_state(Wizard.text)
    await state.update_data(text_lang=None, skipped_langs=[])
    await clear_buttons(query)
    if query.message is not None:
        await query.message.answer(  # type: ignore[union-attr]
            text(biz, actor, "broadcast.ask_text", names=placeholder_names(biz))
        )


async def _edit(
    query: CallbackQuery, step: BroadcastStep, biz: Business, actor: Actor, state: FSMContext,
    data: Data,
) -> None:  # fmt: skip
    await state.set_state(Wizard.filters)
    await _ask_message(query, step, biz, actor, state, data)


async def _quit(
    query: CallbackQuery, step: BroadcastStep, biz: Business, actor: Actor, state: FSMContext,
    data: Data,
) -> None:  # fmt: skip
    await state.clear()
    await replace_text(query, text(biz, actor, "broadcast.quit"))


STEPS: dict[str, tuple[tuple[State, ...], Step]] = {
    # action: (the states it is valid in, what it does)
    "dim": ((Wizard.filters,), _pick_dimension),
    "opt": ((Wizard.filters,), _set_option),
    "flag": ((Wizard.filters,), _toggle),
    "clear": ((Wizard.filters,), _clear),
    "back": ((Wizard.filters,), _back),
    "next": ((Wizard.filters,), _ask_message),
    "tpl": ((Wizard.filters,), _choose_template),
    "own": ((Wizard.filters,), _own_text),
    "same": ((Wizard.text,), same_text),
    "offer": ((Wizard.filters, Wizard.text), offer_step),
    "days": ((Wizard.offer_value,), days_step),
    "edit": ((Wizard.ready,), _edit),
    "quit": ((Wizard.filters, Wizard.text, Wizard.offer_value, Wizard.ready), _quit),
}


async def on_step(
    query: CallbackQuery,
    callback_data: BroadcastStep,
    biz: Business,
    actor: Actor,
    state: FSMContext,
    key: str,
    background: BackgroundTasks,
) -> None:
    current = await state.get_state()
    if callback_data.action == "send" and current == Wizard.ready.state:
        await send(query, biz, actor, state, key, background)
        return
    entry = STEPS.get(callback_data.action)
    if entry is None or current not in {s.state for s in entry[0]}:
        await query.answer(text(biz, actor, "broadcast.expired"), show_alert=True)
        return
    await entry[1](query, callback_data, biz, actor, state, await state.get_data())
    with contextlib.suppress(TelegramBadRequest):  # already answered (an alert)
        await query.answer()


async def on_text(message: Message, biz: Business, actor: Actor, state: FSMContext) -> None:
    """The owner's own text, or its version in a language the audience reads: it must
    compile; placeholders are checked at the preview."""
    body = (message.text or "").strip()
    if not body or len(body) > MAX_TEXT:
        await message.answer(text(biz, actor, "broadcast.text_too_long", limit=MAX_TEXT))
        return
    try:
        compile_text(body)
    except MessageError as err:
        await message.answer(text(biz, actor, "broadcast.text_broken", error=str(err)))
        return
    await text_given(message, biz, actor, state, body)


def make_router() -> Router:
    """A fresh router: one per dispatcher (tests and multi-bot set-ups build several)."""
    router = Router(name="broadcast")
    router.message.middleware(RequireRole(Role.OWNER))
    router.callback_query.middleware(RequireRole(Role.OWNER))
    router.message.register(on_broadcast, Command("broadcast"))
    router.callback_query.register(on_step, BroadcastStep.filter())
    router.callback_query.register(on_stop, BroadcastStop.filter())
    not_command = ~F.text.startswith("/")
    router.message.register(on_text, StateFilter(Wizard.text), F.text, not_command)
    router.message.register(on_offer_value, StateFilter(Wizard.offer_value), F.text, not_command)
    return router
