"""A member's own commands: card, balance, history, offers, language, settings, and the
buttons that confirm or decline paying with points."""

from __future__ import annotations

from typing import Annotated

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    WebAppInfo,
)
from aiogram.utils.deep_linking import create_start_link
from pydantic import Field

from bot.config import SUPPORTED_LOCALES
from bot.services.context import Business
from bot.services.counter.redemptions import decide_redemption
from bot.services.members import profile
from bot.services.people import chat_settings
from bot.services.people.roles import Actor, Role
from handlers.bonds import NewCarButton, on_new_car, send_card_bonds
from handlers.deep_links import CARD_LINK_PREFIX, REFERRAL_PREFIX
from handlers.keyboards import RedeemAnswer, inline_button, inline_markup
from handlers.replies import clear_buttons, replace_text, text


class HistoryPageButton(CallbackData, prefix="hp"):
    page: Annotated[int, Field(ge=0, le=100_000)]


class LanguageChoice(CallbackData, prefix="lang"):
    code: str


class MarketingChoice(CallbackData, prefix="mkt"):
    on: bool


def open_app_keyboard(biz: Business, actor: Actor) -> InlineKeyboardMarkup | None:
    """The wallet in the Mini App, when it is on (``web.public_url``)."""
    url = biz.settings.web.mini_app_url
    if url is None:
        return None
    label = biz.texts.plain(actor.locale, "web/app.card_button")
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=label, web_app=WebAppInfo(url=url))]]
    )


async def on_card(message: Message, bot: Bot, biz: Business, actor: Actor) -> None:
    card = await profile.card(biz, actor.tg_id)
    staff_link = await create_start_link(bot, f"{CARD_LINK_PREFIX}{card.card_code}")
    invite_link = await create_start_link(bot, f"{REFERRAL_PREFIX}{card.card_code}")
    referral = biz.settings.referral
    await message.answer_photo(
        BufferedInputFile(profile.qr_png(staff_link), filename=f"card-{card.card_code}.png"),
        caption=text(
            biz,
            actor,
            "customer.card",
            card_code=card.card_code,
            name=card.name,
            invite_link=invite_link,
            referrer_points=referral.referrer_points,
            referred_points=referral.referred_points,
            min_purchase=referral.min_purchase,
        ),
        reply_markup=open_app_keyboard(biz, actor),
    )
    await send_card_bonds(message, biz, actor)


async def on_balance(message: Message, biz: Business, actor: Actor) -> None:
    summary = await profile.balance(biz, actor.tg_id)
    await message.answer(text(biz, actor, "customer.balance", s=summary))


def _history_keyboard(page: profile.HistoryPage) -> InlineKeyboardMarkup | None:
    """Older pages to the right: newest first."""
    row = []
    if page.page > 0:
        row.append(inline_button("«", HistoryPageButton(page=page.page - 1)))
    if page.page + 1 < page.pages:
        row.append(inline_button("»", HistoryPageButton(page=page.page + 1)))
    return inline_markup(row) if row else None


async def on_history(message: Message, biz: Business, actor: Actor) -> None:
    page = await profile.history(biz, actor.tg_id, 0)
    await message.answer(
        text(biz, actor, "customer.history", h=page), reply_markup=_history_keyboard(page)
    )


async def on_history_page(
    query: CallbackQuery, callback_data: HistoryPageButton, biz: Business, actor: Actor
) -> None:
    page = await profile.history(biz, actor.tg_id, callback_data.page)
    await query.answer()
    await replace_text(query, text(biz, actor, "customer.history", h=page), _history_keyboard(page))


async def on_offers(message: Message, biz: Business, actor: Actor) -> None:
    offers = await profile.offers(biz, actor.tg_id)
    await message.answer(text(biz, actor, "customer.offers", o=offers))


async def on_language(message: Message, biz: Business, actor: Actor) -> None:
    await message.answer(
        text(biz, actor, "customer.choose_language"),
        reply_markup=inline_markup(
            [
                inline_button(
                    text(biz, actor, f"customer.language_{code}"), LanguageChoice(code=code)
                )
                for code in SUPPORTED_LOCALES
            ]
        ),
    )


async def on_language_choice(
    query: CallbackQuery, callback_data: LanguageChoice, biz: Business, actor: Actor, key: str
) -> None:
    if actor.customer_id is None and actor.may(Role.STAFF):  # no card: their own settings
        chosen = await chat_settings.set_language(biz, key, actor.tg_id, callback_data.code)
        locale = chosen.result.language
    else:
        outcome = await profile.update_preferences(
            biz, key, actor.tg_id, language=callback_data.code
        )
        locale = outcome.result.language
    await query.answer()
    await clear_buttons(query)
    if query.message is not None:
        await query.message.answer(biz.texts.render(locale, "customer.language_set"))  # type: ignore[union-attr]


def _settings_keyboard(biz: Business, actor: Actor, on: bool) -> InlineKeyboardMarkup:
    label = "customer.button_marketing_off" if on else "customer.button_marketing_on"
    return inline_markup([inline_button(text(biz, actor, label), MarketingChoice(on=not on))])


async def on_settings(message: Message, biz: Business, actor: Actor) -> None:
    if actor.customer_id is None and actor.may(Role.STAFF):  # no card: language and role
        await message.answer(text(biz, actor, "staff.settings", role=actor.role.value))
        return
    prefs = await profile.preferences(biz, actor.tg_id)
    await message.answer(
        text(biz, actor, "customer.settings", p=prefs),
        reply_markup=_settings_keyboard(biz, actor, prefs.marketing_opt_in),
    )


async def on_marketing_choice(
    query: CallbackQuery, callback_data: MarketingChoice, biz: Business, actor: Actor, key: str
) -> None:
    outcome = await profile.update_preferences(
        biz, key, actor.tg_id, marketing_opt_in=callback_data.on
    )
    await query.answer()
    await replace_text(
        query,
        text(biz, actor, "customer.settings", p=outcome.result),
        _settings_keyboard(biz, actor, outcome.result.marketing_opt_in),
    )


DECISION_TEXT = {
    "confirmed": "customer.decision_confirmed",
    "declined": "customer.decision_declined",
    "expired": "customer.decision_expired",
    "failed": "customer.decision_failed",
}


async def on_redeem_answer(
    query: CallbackQuery, callback_data: RedeemAnswer, biz: Business, actor: Actor, key: str
) -> None:
    outcome = await decide_redemption(
        biz, actor.tg_id, key, callback_data.redemption_id, accept=callback_data.answer == "y"
    )
    await query.answer()
    if query.message is not None and not outcome.duplicate:
        await clear_buttons(query)
        await query.message.answer(text(biz, actor, DECISION_TEXT[outcome.result.state]))  # type: ignore[union-attr]


def make_router() -> Router:
    """A fresh router: one per dispatcher (tests and multi-bot set-ups build several)."""
    router = Router(name="member")
    router.message.register(on_card, Command("card"))
    router.message.register(on_balance, Command("balance"))
    router.message.register(on_history, Command("history"))
    router.message.register(on_offers, Command("offers"))
    router.message.register(on_language, Command("language"))
    router.message.register(on_settings, Command("settings"))
    router.callback_query.register(on_history_page, HistoryPageButton.filter())
    router.callback_query.register(on_language_choice, LanguageChoice.filter())
    router.callback_query.register(on_marketing_choice, MarketingChoice.filter())
    router.callback_query.register(on_redeem_answer, RedeemAnswer.filter())
    router.callback_query.register(on_new_car, NewCarButton.filter())
    return router
