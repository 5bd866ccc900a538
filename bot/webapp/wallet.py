"""The customer's wallet: the card's QR and code, balance, tier and the next one, points
about to expire, history, offers, language and the offers opt-in; all from
``bot.services.members.profile``, the same reads as /card, /balance, /history, /offers
and /settings, and the same write (``update_preferences``) as the chat's buttons."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import segno
from aiogram import Bot
from aiogram.utils.deep_linking import create_start_link
from aiohttp import web
from markupsafe import Markup

from bot.config import SUPPORTED_LOCALES
from bot.services.context import Business
from bot.services.members import profile
from bot.webapp.auth import WebUser
from bot.webapp.pages import BadRequest, Route, body, chat_text, endpoint, fragment, write_key
from handlers.deep_links import CARD_LINK_PREFIX

QR_SCALE = 6
QR_CACHE = 4096  # cards whose QR is kept drawn: encoding one costs ~40 ms of CPU


@lru_cache(maxsize=QR_CACHE)
def qr_svg(link: str) -> Markup:
    """The card's QR (the staff deep link, as /card's PNG) as inline SVG: black on white
    whatever the theme, so a scanner reads it off a dark screen too."""
    svg = segno.make(link, error="m").svg_inline(
        scale=QR_SCALE, border=4, dark="#000", light="#fff", svgclass="qr", omitsize=True
    )
    return Markup(svg)


async def wallet_page(biz: Business, bot: Bot, user: WebUser) -> web.Response:
    tg_id = user.actor.tg_id
    if user.actor.customer_id is None:
        return fragment(biz, user, "wallet.not_member")
    card = await profile.card(biz, tg_id)
    summary = await profile.balance(biz, tg_id)
    offers = await profile.offers(biz, tg_id)
    history = await profile.history(biz, tg_id, 0)
    prefs = await profile.preferences(biz, tg_id)
    link = await create_start_link(bot, f"{CARD_LINK_PREFIX}{card.card_code}")
    return fragment(
        biz, user, "wallet.page",
        card=card, s=summary, prefs=prefs, locales=SUPPORTED_LOCALES, qr=qr_svg(link),
        balance=chat_text(biz, user, "customer.balance", s=summary),
        offers=chat_text(biz, user, "customer.offers", o=offers),
        history=chat_text(biz, user, "customer.history", h=history),
    )  # fmt: skip


def routes(biz: Business, bot: Bot) -> dict[str, Route]:
    async def page(request: web.Request, user: WebUser) -> web.Response:
        return await wallet_page(biz, bot, user)

    async def preferences(request: web.Request, user: WebUser) -> web.Response:
        """The opt-in toggle or a language: the chat's own write, once per key."""
        data = await body(request)
        key = write_key(user, data)
        language, marketing = data.get("language"), data.get("marketing")
        if language is not None and language not in SUPPORTED_LOCALES:
            raise BadRequest("bad language")
        if marketing is not None and marketing not in ("on", "off"):
            raise BadRequest("bad marketing")
        if user.actor.customer_id is None or (language is None and marketing is None):
            raise BadRequest("nothing to change")
        outcome = await profile.update_preferences(
            biz, key, user.actor.tg_id, language=language,
            marketing_opt_in=None if marketing is None else marketing == "on",
        )  # fmt: skip
        locale = outcome.result.language
        moved = replace(user, actor=replace(user.actor, locale=locale))
        return await wallet_page(biz, bot, moved)

    return {
        "wallet": endpoint(biz, bot.token, None, page),
        "wallet/preferences": endpoint(biz, bot.token, None, preferences),
    }


