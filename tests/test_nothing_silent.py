"""Nothing the bot gets is met with silence (handlers/fallback.py): unknown commands and
typos get the closest command the sender has, free text and stickers a hint, stray
buttons an answer; another bot's commands are left alone."""

from __future__ import annotations

import itertools

import pytest
from aiogram.filters import Command
from aiogram.types import BotCommandScopeChat, BotCommandScopeDefault, Update

from bot.services.people.roles import Role
from bot.testing.telegram_double import buttons
from handlers.menu import COMMANDS_BY_ROLE
from tests.support.flows import hire, join
from tests.support.harness import App

MEMBER, CASHIER, STRANGER = 5001, 6001, 5009


async def test_unknown_commands_and_typos_point_to_help(app: App) -> None:
    member = app.user(MEMBER, "en")
    await join(app, member)
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    before = await app.counts()
    cases = [
        (member, "/balanse", "Did you mean /balance?"),
        (member, "/", "I don't know /."),
        (member, "/HISTORY", "Did you mean /history?"),
        (cashier, "/purchse 100", "Did you mean /purchase?"),
    ]
    for who, typed, expected in cases:
        await who.send(typed)
        reply = app.fake.last(who.user_id).text
        assert expected in reply and "/help" in reply, (typed, reply)
    await member.send("/purchse 100")  # a customer is not told staff commands exist
    assert "/purchase" not in app.fake.last(MEMBER).text
    await member.send("/" + "x" * 500)
    assert len(app.fake.last(MEMBER).text) < 200
    assert await app.counts() == before


async def test_another_bots_commands_are_left_alone(app: App) -> None:
    member = app.user(MEMBER, "en")
    await join(app, member)
    sent = len(app.fake.sent(MEMBER))
    await member.send("/card@other_bot")
    await member.send("/nonsense@other_bot")
    assert len(app.fake.sent(MEMBER)) == sent
    await member.send(f"/card@{app.fake.username}")  # ours: the card
    assert app.fake.last(MEMBER).method == "sendPhoto"


async def test_free_text_and_stickers_get_a_hint(app: App) -> None:
    member = app.user(MEMBER, "en")
    await join(app, member)
    await member.send("hello?")  # a member's own words go to the owners (issue 20)
    assert "passed your message on" in app.fake.last(MEMBER).text
    sticker = member.build_message("x").model_dump(mode="json", exclude_none=True)
    sticker["message"].pop("text")
    sticker["message"]["sticker"] = {
        "file_id": "s1", "file_unique_id": "u1", "type": "regular",
        "width": 512, "height": 512, "is_animated": False, "is_video": False,
    }  # fmt: skip
    await member.feed(Update.model_validate(sticker))
    assert "/card" in app.fake.last(MEMBER).text
    stranger = app.user(STRANGER, "en")
    await stranger.send("how do I join?")
    assert "/start" in app.fake.last(STRANGER).text


@pytest.mark.parametrize("data", ["zz:1", "rd:y:not-a-number", "ca:purchase:0", ""])
async def test_every_button_press_is_answered(app: App, data: str) -> None:
    member = app.user(MEMBER, "en")
    await join(app, member)
    before = len(app.fake.calls("answerCallbackQuery"))
    await member.click(data)
    answers = app.fake.calls("answerCallbackQuery")[before:]
    assert len(answers) == 1
    assert answers[0].params.get("text"), "answered with a word, not just stopped"


def _registered_commands(app: App) -> set[str]:
    found: set[str] = set()
    routers = [app.dp]
    while routers:
        router = routers.pop()
        routers.extend(router.sub_routers)
        for handler in router.message.handlers:
            for flt in handler.filters or ():
                if isinstance(flt.callback, Command):
                    found.update(str(c) for c in flt.callback.commands)
    return found


async def test_the_command_table_is_what_the_routers_register(app: App) -> None:
    assert _registered_commands(app) == set(COMMANDS_BY_ROLE[Role.OWNER])


def test_each_role_has_its_own_commands_and_those_below() -> None:
    order = [Role.STRANGER, Role.CUSTOMER, Role.STAFF, Role.OWNER]
    for lower, higher in itertools.pairwise(order):
        assert set(COMMANDS_BY_ROLE[lower]) <= set(COMMANDS_BY_ROLE[higher])
    assert "purchase" not in COMMANDS_BY_ROLE[Role.CUSTOMER]


async def _menu(app: App, chat_id: int | None, language: str | None = None) -> list[str]:
    scope = BotCommandScopeChat(chat_id=chat_id) if chat_id else BotCommandScopeDefault()
    commands = await app.bot.get_my_commands(scope=scope, language_code=language)
    return [c.command for c in commands]


async def test_each_role_sees_its_own_command_menu(app: App) -> None:
    """Customers everyone's menu (in each language); the owner the whole menu from the
    start; a staff member the staff menu once they join, and the customers' again once
    the owner removes them."""
    await app.dp.emit_startup(bot=app.bot, **app.dp.workflow_data)
    assert await _menu(app, None, "ru") == list(COMMANDS_BY_ROLE[Role.CUSTOMER])
    menu_en = await app.bot.get_my_commands(language_code="en")
    assert menu_en[1].description == "Your card: QR code for the counter"
    assert await _menu(app, app.owner.user_id, "en") == list(COMMANDS_BY_ROLE[Role.OWNER])
    cashier = app.user(CASHIER, "en")
    assert await _menu(app, CASHIER, "en") == []  # Telegram falls back to the default
    await hire(app, cashier)
    assert await _menu(app, CASHIER, "en") == list(COMMANDS_BY_ROLE[Role.STAFF])
    await app.owner.send("/staff")
    listing = app.fake.last(app.owner.user_id)
    await app.owner.click(buttons(listing)[0][1], listing)
    assert await _menu(app, CASHIER, "en") == []
    assert await _menu(app, CASHIER, "ru") == []


async def test_used_buttons_go_away(app: App) -> None:
    """Consent, sign-up skips and the language choice take their buttons away once used
    (the redemption request's are tested with it)."""
    member = app.user(MEMBER, "en")
    await join(app, member)  # consent agreed, optional questions skipped
    await member.send("/language")
    choice = app.fake.last(MEMBER)
    await member.click(buttons(choice)[0][1], choice)
    cleared = {
        c.params["message_id"]
        for c in app.fake.calls("editMessageReplyMarkup")
        if c.params.get("reply_markup") in (None, "", {}) and int(c.params["chat_id"]) == MEMBER
    }
    asked_with_buttons = [
        c.response["result"]["message_id"]
        for c in app.fake.sent(MEMBER)
        if c.method == "sendMessage" and buttons(c)
    ]
    assert asked_with_buttons and set(asked_with_buttons) <= cleared
