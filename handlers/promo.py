"""The owner's ``/promo``: start a time-limited promotion (tag or all, factor, from–to),
after a preview of its cost and a confirm button; ``/promo stop NAME`` ends one; ``/promo``
alone lists the running ones (bot.services.rules.promos)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, Message

from bot.config import Settings
from bot.services.context import Business
from bot.services.people.roles import Actor
from bot.services.rules.promos import (
    PromoRequest,
    preview_promo,
    running_promos,
    start_promo,
    stop_promo,
)
from handlers.commands import CommandError
from handlers.keyboards import inline_button, inline_markup
from handlers.replies import text

ALL = ("all", "все", "всё")
STOP = ("stop", "стоп")
FACTOR = re.compile(r"^[x×хХ]?(\d{1,3}([.,]\d{1,2})?)$")
STAMP = "%Y%m%d%H%M"


class PromoConfirm(CallbackData, prefix="promo"):
    """The preview's button: the request itself, the tag as an index into the config's."""

    tag: int  # -1: every purchase
    factor: str
    starts: str  # STAMP, local
    ends: str


def _moment(tokens: list[str], end: bool) -> tuple[datetime, list[str]]:
    """``DD.MM.YYYY [HH:MM]`` from the front of ``tokens``; a date alone is its start, or
    (``end``) the next midnight."""
    if not tokens:
        raise CommandError("usage_promo")
    try:
        day = datetime.strptime(tokens[0], "%d.%m.%Y")
        if len(tokens) > 1 and re.fullmatch(r"\d{1,2}:\d\d", tokens[1]):
            hours, minutes = map(int, tokens[1].split(":"))
            return day.replace(hour=hours, minute=minutes), tokens[2:]
    except ValueError:
        raise CommandError("usage_promo") from None
    return (day + timedelta(days=1) if end else day), tokens[1:]


def parse_promo(args: str | None, settings: Settings) -> PromoRequest:
    """``<tag|all> <factor> <from> [HH:MM] <to> [HH:MM]``, dates as DD.MM.YYYY."""
    tokens = (args or "").split()
    if len(tokens) < 4:
        raise CommandError("usage_promo")
    tag, factor = tokens[0].casefold(), FACTOR.match(tokens[1])
    if tag not in ALL and not settings.is_service_tag(tag):
        known = ", ".join(settings.loyalty.service_tags) or "-"
        raise CommandError("promo_unknown_tag", tag=tokens[0][:40], known=known)
    if factor is None:
        raise CommandError("usage_promo")
    try:
        value = Decimal(factor.group(1).replace(",", "."))
    except InvalidOperation:
        raise CommandError("usage_promo") from None
    starts, rest = _moment(tokens[2:], end=False)
    ends, rest = _moment(rest, end=True)
    if rest:
        raise CommandError("usage_promo")
    return PromoRequest(tag=None if tag in ALL else tag, factor=value, starts=starts, ends=ends)


def _button_data(settings: Settings, request: PromoRequest) -> PromoConfirm:
    tags = settings.loyalty.service_tags
    return PromoConfirm(
        tag=tags.index(request.tag) if request.tag else -1, factor=str(request.factor),
        starts=request.starts.strftime(STAMP), ends=request.ends.strftime(STAMP),
    )  # fmt: skip


def _request_of(settings: Settings, data: PromoConfirm) -> PromoRequest:
    tags = settings.loyalty.service_tags
    if not -1 <= data.tag < len(tags):
        raise CommandError("promo_unknown_tag", tag=str(data.tag), known=", ".join(tags))
    return PromoRequest(
        tag=tags[data.tag] if data.tag >= 0 else None, factor=Decimal(data.factor),
        starts=datetime.strptime(data.starts, STAMP), ends=datetime.strptime(data.ends, STAMP),
    )  # fmt: skip


async def on_promo(
    message: Message, command: CommandObject, biz: Business, actor: Actor, key: str
) -> None:
    tokens = (command.args or "").split()
    if not tokens:
        promos = await running_promos(biz)
        await message.answer(text(biz, actor, "owner.promo_list", promos=promos))
        return
    if tokens[0].casefold() in STOP:
        if len(tokens) != 2:
            raise CommandError("usage_promo")
        done = await stop_promo(biz, actor.tg_id, key, tokens[1])
        await message.answer(text(biz, actor, "owner.promo_stopped", r=done.result))
        return
    request = parse_promo(command.args, biz.settings)
    preview = await preview_promo(biz, request)
    confirm = inline_button(text(biz, actor, "owner.button_promo_start"),
                            _button_data(biz.settings, request))  # fmt: skip
    await message.answer(
        text(biz, actor, "owner.promo_preview", p=preview), reply_markup=inline_markup([confirm])
    )


async def on_promo_confirm(
    query: CallbackQuery, callback_data: PromoConfirm, biz: Business, actor: Actor, key: str
) -> None:
    done = await start_promo(biz, actor.tg_id, key, _request_of(biz.settings, callback_data))
    await query.answer()
    if query.message is not None:
        await query.message.answer(text(biz, actor, "owner.promo_started", r=done.result))


def register(router: Router) -> None:
    """On the owner's router (its role gate)."""
    router.message.register(on_promo, Command("promo"))
    router.callback_query.register(on_promo_confirm, PromoConfirm.filter())
