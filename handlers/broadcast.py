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

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.background import BackgroundTasks
from bot.numbers import is_ascii_number
from bot.services import audience, broadcasts
from bot.services.broadcast_text import (
    MAX_TEXT,
    MessageError,
    MessageSpec,
    compile_text,
    placeholder_names,
    template_names,
)
from bot.services.context import Business
from bot.services.errors import ServiceError
from bot.services.roles import Actor, Role
from bot.services.tiers import tier_of
from handlers.keyboards import BroadcastStep, BroadcastStop, inline_button, inline_markup
from handlers.middlewares import RequireRole
from handlers.replies import clear_buttons, replace_text, text

log = logging.getLogger(__name__)


class Wizard(StatesGroup):
    filters = State()
    text = State()  # waiting for the owner's own text
    offer_value = State()  # waiting for the number of points or percent
    ready = State()  # the confirmation (or the failed check) is shown


def _button(biz: Business, actor: Actor, key: str, action: str, arg: int = 0,
            **context: Any) -> InlineKeyboardButton:  # fmt: skip
    return inline_button(
        biz.texts.plain(actor.locale, f"broadcast.{key}", **context),
        BroadcastStep(action=action, arg=arg),
    )


def _pairs(buttons: list[InlineKeyboardButton]) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


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
    count = await audience.count(biz, filters)
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
        _button(biz, actor, "button_flag", "flag", i, on=bool(filters.get(flag)),
                label=_dimension(biz, actor, flag))
        for i, flag in enumerate(audience.FLAGS)
    ]  # fmt: skip
    markup = inline_markup(
        *_pairs(choose),
        *([f] for f in flags),
        [_button(biz, actor, "button_clear", "clear"), _button(biz, actor, "button_next", "next")],
        [_button(biz, actor, "button_quit", "quit")],
    )
    return text(biz, actor, "broadcast.panel", filters=shown, count=count), markup


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
    await state.update_data(filters=filters)
    body, markup = await _panel(biz, actor, filters)
    await message.answer(body, reply_markup=markup)


async def on_broadcast(message: Message, biz: Business, actor: Actor, state: FSMContext) -> None:
    await start_broadcast(message, biz, actor, state)


async def _show_panel(query: CallbackQuery, biz: Business, actor: Actor, state: FSMContext) -> None:
    await state.set_state(Wizard.filters)
    data = await state.get_data()
    body, markup = await _panel(biz, actor, data.get("filters", {}))
    await replace_text(query, body, markup)


Step = Callable[[CallbackQuery, BroadcastStep, Business, Actor, FSMContext, dict[str, Any]],
                Awaitable[None]]  # fmt: skip


async def _pick_dimension(query, step, biz, actor, state, data) -> None:  # type: ignore[no-untyped-def]
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
        inline_markup(*_pairs(buttons), [_button(biz, actor, "button_back", "back")]),
    )


async def _set_option(query, step, biz, actor, state, data) -> None:  # type: ignore[no-untyped-def]
    values, dimension = data.get("choices") or [], data.get("dimension")
    if dimension is None or step.arg >= len(values):
        return
    filters = {**data.get("filters", {}), dimension: values[step.arg]}
    await state.update_data(filters=audience.validate(biz.settings, filters))
    await _show_panel(query, biz, actor, state)


async def _toggle(query, step, biz, actor, state, data) -> None:  # type: ignore[no-untyped-def]
    if step.arg >= len(audience.FLAGS):
        return
    flag = audience.FLAGS[step.arg]
    filters = dict(data.get("filters", {}))
    if filters.pop(flag, None) is None:
        filters[flag] = True
    await state.update_data(filters=filters)
    await _show_panel(query, biz, actor, state)


async def _clear(query, step, biz, actor, state, data) -> None:  # type: ignore[no-untyped-def]
    await state.update_data(filters={})
    await _show_panel(query, biz, actor, state)


async def _back(query, step, biz, actor, state, data) -> None:  # type: ignore[no-untyped-def]
    await _show_panel(query, biz, actor, state)


async def _ask_message(query, step, biz, actor, state, data) -> None:  # type: ignore[no-untyped-def]
    if await audience.count(biz, data.get("filters", {})) == 0:
        await query.answer(text(biz, actor, "broadcast.nobody"), show_alert=True)
        return
    templates = template_names(biz, actor.locale)
    await state.update_data(templates=templates)
    buttons = [
        _button(biz, actor, f"template_title_{name}", "tpl", i) for i, name in enumerate(templates)
    ]
    await replace_text(
        query,
        text(biz, actor, "broadcast.ask_message", names=placeholder_names(biz)),
        inline_markup(
            *([b] for b in buttons),
            [_button(biz, actor, "button_own_text", "own")],
            [
                _button(biz, actor, "button_back", "back"),
                _button(biz, actor, "button_quit", "quit"),
            ],
        ),
    )


async def _choose_template(query, step, biz, actor, state, data) -> None:  # type: ignore[no-untyped-def]
    templates = data.get("templates") or []
    if step.arg >= len(templates):
        return
    await state.update_data(message={"kind": "template", "body": templates[step.arg]})
    await _ask_offer(query, biz, actor)


async def _own_text(query, step, biz, actor, state, data) -> None:  # type: ignore[no-untyped-def]
    await state.set_state(Wizard.text)
    await clear_buttons(query)
    if query.message is not None:
        await query.message.answer(  # type: ignore[union-attr]
            text(biz, actor, "broadcast.ask_text", names=placeholder_names(biz))
        )


async def _ask_offer(query: CallbackQuery | Message, biz: Business, actor: Actor) -> None:
    body = text(biz, actor, "broadcast.ask_offer")
    markup = inline_markup(
        [_button(biz, actor, "button_no_offer", "offer", 0)],
        [_button(biz, actor, "button_points", "offer", 1),
         _button(biz, actor, "button_percent", "offer", 2)],
        [_button(biz, actor, "button_quit", "quit")],
    )  # fmt: skip
    if isinstance(query, Message):
        await query.answer(body, reply_markup=markup)
    else:
        await replace_text(query, body, markup)


OFFER_KINDS = (None, "points", "percent")
OFFER_LIMITS = {"points": broadcasts.MAX_POINTS, "percent": 100}


async def _offer(query, step, biz, actor, state, data) -> None:  # type: ignore[no-untyped-def]
    if step.arg >= len(OFFER_KINDS) or "message" not in data:
        return
    kind = OFFER_KINDS[step.arg]
    if kind is None:
        await state.update_data(offer=None)
        await clear_buttons(query)
        await _prepare(query.message, biz, actor, state)
        return
    await state.set_state(Wizard.offer_value)
    await state.update_data(offer_kind=kind)
    await replace_text(
        query, text(biz, actor, "broadcast.ask_offer_value", kind=kind, limit=OFFER_LIMITS[kind])
    )


async def _days(query, step, biz, actor, state, data) -> None:  # type: ignore[no-untyped-def]
    kind, value = data.get("offer_kind"), data.get("offer_value")
    if step.arg >= len(broadcasts.OFFER_DAYS) or kind is None or value is None:
        return
    offer = {"kind": kind, "value": value, "days": broadcasts.OFFER_DAYS[step.arg]}
    await state.update_data(offer=offer)
    await clear_buttons(query)
    await _prepare(query.message, biz, actor, state)


def _draft(data: dict[str, Any]) -> broadcasts.Draft:
    return broadcasts.Draft(
        filters=data.get("filters", {}), message=data["message"], offer=data.get("offer")
    )


async def _prepare(target: Any, biz: Business, actor: Actor, state: FSMContext) -> None:
    """Check the message for the whole audience; a preview and the confirmation, or the
    failures and a way back to the message."""
    if not isinstance(target, Message):
        return
    data = await state.get_data()
    draft = _draft(data)
    await state.set_state(Wizard.ready)
    status = await target.answer(text(biz, actor, "broadcast.checking"))
    prep = await broadcasts.prepare(biz, draft)
    back = [_button(biz, actor, "button_edit", "edit"), _button(biz, actor, "button_quit", "quit")]
    if prep.audience == 0 or prep.sample is None:
        await status.edit_text(text(biz, actor, "broadcast.nobody"),
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
    rule = biz.settings.outbox.kinds[broadcasts.KIND]
    await target.answer(
        text(biz, actor, "broadcast.confirm", p=prep, offer=draft.offer,
             rate=biz.settings.outbox.rate_per_second,
             quiet=rule.waits_for_morning and prep.starts_at > biz.clock.now()),
        reply_markup=inline_markup([_button(biz, actor, "button_send", "send")], back),
    )  # fmt: skip


async def _edit(query, step, biz, actor, state, data) -> None:  # type: ignore[no-untyped-def]
    await state.set_state(Wizard.filters)
    await _ask_message(query, step, biz, actor, state, data)


async def _quit(query, step, biz, actor, state, data) -> None:  # type: ignore[no-untyped-def]
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
    "offer": ((Wizard.filters, Wizard.text), _offer),
    "days": ((Wizard.offer_value,), _days),
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
        await _send(query, biz, actor, state, key, background)
        return
    entry = STEPS.get(callback_data.action)
    if entry is None or current not in {s.state for s in entry[0]}:
        await query.answer(text(biz, actor, "broadcast.expired"), show_alert=True)
        return
    await entry[1](query, callback_data, biz, actor, state, await state.get_data())
    with contextlib.suppress(TelegramBadRequest):  # already answered (an alert)
        await query.answer()


async def on_text(message: Message, biz: Business, actor: Actor, state: FSMContext) -> None:
    """The owner's own text: it must compile; placeholders are checked at the preview."""
    body = (message.text or "").strip()
    if not body or len(body) > MAX_TEXT:
        await message.answer(text(biz, actor, "broadcast.text_too_long", limit=MAX_TEXT))
        return
    try:
        compile_text(body)
    except MessageError as err:
        await message.answer(text(biz, actor, "broadcast.text_broken", error=str(err)))
        return
    await state.update_data(message=MessageSpec(kind="text", body=body).model_dump())
    await state.set_state(Wizard.filters)  # the offer buttons are valid from here
    await _ask_offer(message, biz, actor)


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
            [_button(biz, actor, "button_days", "days", i, days=d)
             for i, d in enumerate(broadcasts.OFFER_DAYS)],
            [_button(biz, actor, "button_quit", "quit")],
        ),
    )  # fmt: skip


async def _send(
    query: CallbackQuery,
    biz: Business,
    actor: Actor,
    state: FSMContext,
    key: str,
    background: BackgroundTasks,
) -> None:
    draft = _draft(await state.get_data())
    outcome = await broadcasts.launch(biz, actor, key, draft)  # a refusal keeps the wizard
    await state.clear()
    await query.answer()
    await clear_buttons(query)
    if not isinstance(query.message, Message):
        return
    result = outcome.result
    await query.message.answer(text(biz, actor, "broadcast.launched", r=result))
    progress = await broadcasts.progress(biz, result.campaign_id)
    status = await query.message.answer(
        text(biz, actor, "broadcast.progress", p=progress),
        reply_markup=_stop_markup(biz, actor, result.campaign_id),
    )
    if not outcome.duplicate:
        background.start(
            watch(status, biz, actor, result.campaign_id), name=f"broadcast-{result.campaign_id}"
        )


def _stop_markup(biz: Business, actor: Actor, campaign_id: int) -> InlineKeyboardMarkup:
    return inline_markup(
        [inline_button(biz.texts.plain(actor.locale, "broadcast.button_stop"),
                       BroadcastStop(campaign_id=campaign_id))]
    )  # fmt: skip


async def watch(status: Message, biz: Business, actor: Actor, campaign_id: int) -> None:
    """Edit the progress message as the outbox delivers (throttled), then the report."""
    shown = None
    while True:
        await asyncio.sleep(biz.settings.campaigns.progress_seconds)
        progress = await broadcasts.progress(biz, campaign_id)
        if progress.finished:
            break
        if progress.counts != shown:
            shown = progress.counts
            with contextlib.suppress(TelegramBadRequest):
                await status.edit_text(
                    text(biz, actor, "broadcast.progress", p=progress),
                    reply_markup=_stop_markup(biz, actor, campaign_id),
                )
    with contextlib.suppress(TelegramBadRequest):
        await status.edit_text(text(biz, actor, "broadcast.progress", p=progress))
    await status.answer(text(biz, actor, "broadcast.done", p=progress))


async def on_stop(
    query: CallbackQuery, callback_data: BroadcastStop, biz: Business, actor: Actor, key: str
) -> None:
    outcome = await broadcasts.cancel(biz, actor, key, callback_data.campaign_id)
    await query.answer()
    if query.message is not None:
        await query.message.answer(  # type: ignore[union-attr]
            text(biz, actor, "broadcast.stopped", c=outcome.result)
        )


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
