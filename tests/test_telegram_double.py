"""Tests proving the Telegram double behaves like the Bot API for a real aiogram Dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from time import monotonic

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)

from bot.testing.telegram_double import (
    BotAPIServer,
    ChatUser,
    FakeTelegram,
    RecordingSession,
    buttons,
    find_button,
    recording_bot,
    wait_until,
)

USER_ID = 1001

MENU = InlineKeyboardMarkup(
    inline_keyboard=[
        [InlineKeyboardButton(text="🎁 Balance", callback_data="menu:balance")],
        [InlineKeyboardButton(text="Site", url="https://example.com")],
    ]
)


def build_dispatcher() -> Dispatcher:
    """A tiny bot: deep-link start, start, photo, contact, callback and echo handlers."""
    router = Router()

    @router.message(CommandStart(deep_link=True))
    async def deep_start(message: Message, command: CommandObject) -> None:
        await message.answer(f"deep:{command.args}")

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        await message.answer("<b>Welcome</b>", parse_mode="HTML", reply_markup=MENU)

    @router.message(Command("card"))
    async def card(message: Message) -> None:
        photo = BufferedInputFile(b"\x89PNG" + b"0" * 1020, filename="card.png")
        await message.answer_photo(photo, caption="Your card", reply_markup=MENU)

    @router.message(Command("report"))
    async def report(message: Message) -> None:
        document = BufferedInputFile(b"a,b\n1,2\n", filename="report.csv")
        await message.answer_document(document)

    @router.message(F.contact)
    async def contact(message: Message) -> None:
        assert message.contact is not None and message.from_user is not None
        own = message.contact.user_id == message.from_user.id
        await message.answer(f"phone:{message.contact.phone_number}:{own}")

    @router.callback_query(F.data == "menu:balance")
    async def balance(callback: CallbackQuery) -> None:
        await callback.answer("ok")
        assert isinstance(callback.message, Message)
        await callback.message.edit_text("Balance: 10", reply_markup=MENU)

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(message.text or "")

    dp = Dispatcher()
    dp.include_router(router)
    return dp


@pytest.fixture
def fake() -> FakeTelegram:
    """A fresh Bot API double."""
    return FakeTelegram()


@pytest.fixture(params=["recording", "http"])
async def bot(request: pytest.FixtureRequest, fake: FakeTelegram) -> AsyncIterator[Bot]:
    """A real Bot talking to ``fake`` in-process or over local HTTP."""
    if request.param == "recording":
        yield recording_bot(fake)
        return
    async with BotAPIServer(fake) as server:
        real_bot = server.bot()
        try:
            yield real_bot
        finally:
            await real_bot.session.close()


@pytest.fixture
def user(bot: Bot) -> ChatUser:
    """A private-chat user of the tiny bot."""
    return ChatUser(build_dispatcher(), bot, USER_ID, username="tester")


async def test_echo_and_recorded_call(user: ChatUser, fake: FakeTelegram) -> None:
    await user.send("hello")
    call = fake.last(USER_ID)
    assert call.method == "sendMessage"
    assert call.params == {"chat_id": USER_ID, "text": "hello"}
    assert call.result["from"]["id"] == fake.bot_id
    assert fake.texts(USER_ID) == ["hello"]
    assert fake.sent(chat_id=999) == []


async def test_deep_link_reaches_handler(user: ChatUser, fake: FakeTelegram) -> None:
    update = user.build_message("/start c_ABC")
    assert update.message is not None and update.message.entities is not None
    assert update.message.entities[0].type == "bot_command"
    assert update.message.entities[0].length == len("/start")
    await user.feed(update)
    assert fake.texts() == ["deep:c_ABC"]


async def test_start_keyboard_and_callback_edit(user: ChatUser, fake: FakeTelegram) -> None:
    await user.send("/start")
    welcome = fake.last()
    assert welcome.params["reply_markup"] == MENU.model_dump(exclude_none=True)
    assert welcome.result["text"] == "Welcome"  # HTML parsed like Telegram
    assert buttons(welcome) == [("🎁 Balance", "menu:balance"), ("Site", "https://example.com")]
    assert find_button(welcome, "Site") == "https://example.com"
    with pytest.raises(AssertionError, match="menu:balance"):
        find_button(welcome, "Nope")

    await user.click(find_button(welcome, "Balance"), message=welcome)
    answer = fake.calls("answerCallbackQuery")[-1]
    assert answer.params["text"] == "ok"
    edit = fake.last()
    assert edit.method == "editMessageText"
    assert edit.params["message_id"] == welcome.result["message_id"]
    assert edit.result["text"] == "Balance: 10"
    # Same content again -> Telegram's famous "message is not modified".
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await user.click("menu:balance", message=edit)


async def test_photo_and_document_uploads(user: ChatUser, fake: FakeTelegram) -> None:
    await user.send("/card")
    photo = fake.last()
    assert photo.method == "sendPhoto"
    assert photo.params["photo"] == {"filename": "card.png", "size": 1024}
    assert photo.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "menu:balance"
    assert photo.result["photo"][0]["file_size"] == 1024
    assert fake.texts() == ["Your card"]

    await user.send("/report")
    document = fake.last()
    assert document.params["document"] == {"filename": "report.csv", "size": 8}
    assert document.uploads == {"document": b"a,b\n1,2\n"}, "the bytes, for checking files"
    assert photo.uploads["photo"].startswith(b"\x89PNG")
    assert document.result["document"]["file_name"] == "report.csv"
    assert document.result["document"]["mime_type"] == "text/csv"


async def test_contact(user: ChatUser, fake: FakeTelegram) -> None:
    await user.send_contact("+79001234567")
    await user.send_contact("+79007654321", contact_user_id=None, first_name="Other")
    assert fake.texts() == ["phone:+79001234567:True", "phone:+79007654321:False"]


async def test_synthetic_callback_message(user: ChatUser, fake: FakeTelegram) -> None:
    update = user.build_callback("menu:balance")
    assert update.callback_query is not None
    assert isinstance(update.callback_query.message, Message)
    await user.feed(update)
    assert fake.last().method == "editMessageText"


async def test_retry_after_and_forbidden(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    with pytest.raises(TelegramRetryAfter) as error:
        await bot.send_message(USER_ID, "x")
    assert error.value.retry_after == 7
    assert not fake.requests[-1].ok and fake.sent() == []
    await bot.send_message(USER_ID, "x")  # only the next call failed

    fake.block_chat(USER_ID)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(USER_ID, "y")
    await bot.send_message(USER_ID + 1, "other chats still work")
    fake.unblock_chat(USER_ID)
    await bot.send_message(USER_ID, "z")
    assert fake.texts() == ["x", "other chats still work", "z"]


async def test_fail_next_filters_by_chat_and_counts(bot: Bot, fake: FakeTelegram) -> None:
    fake.fail_next("sendMessage", 400, "Bad Request: chat not found", times=2, chat_id=5)
    await bot.send_message(6, "fine")
    for _ in range(2):
        with pytest.raises(TelegramBadRequest, match="chat not found"):
            await bot.send_message(5, "nope")
    await bot.send_message(5, "recovered")
    assert fake.texts() == ["fine", "recovered"]


async def test_bot_api_validation(bot: Bot, fake: FakeTelegram) -> None:
    with pytest.raises(TelegramBadRequest, match='Unsupported start tag "br"'):
        await bot.send_message(USER_ID, "a<br>b", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="reserved"):
        await bot.send_message(USER_ID, "Total: 5.00", parse_mode="MarkdownV2")
    long_data = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="x" * 65)]]
    )
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(USER_ID, "hi", reply_markup=long_data)
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Start", description="Go")])
    assert await bot.set_my_commands([BotCommand(command="start", description="Go")])
    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    assert await bot.delete_my_commands()
    assert await bot.delete_webhook(drop_pending_updates=True)
    me = await bot.get_me()
    assert (me.id, me.username) == (fake.bot_id, fake.username)


async def test_same_params_through_both_transports() -> None:
    fake = FakeTelegram()
    photo = BufferedInputFile(b"12345", filename="a.jpg")
    async with BotAPIServer(fake) as server:
        for bot in (recording_bot(fake), server.bot()):
            async with bot:
                await bot.send_photo(7, photo, caption="c", reply_markup=MENU)
                await bot.send_message(7, "123", disable_notification=True)
    first, second = fake.requests[0::2], fake.requests[1::2]
    assert [c.params for c in fake.requests[:2]] == [c.params for c in fake.requests[2:]]
    assert first[0].params["photo"] == {"filename": "a.jpg", "size": 5}
    assert [c.uploads for c in fake.calls("sendPhoto")] == [{"photo": b"12345"}] * 2
    assert [fake.uploaded(c) for c in first] == [b"12345", b"12345"]  # the bytes, both ways
    assert second[0].params == {"chat_id": 7, "text": "123", "disable_notification": True}


async def test_http_server_accepts_json_and_urlencoded(fake: FakeTelegram) -> None:
    async with BotAPIServer(fake) as server, aiohttp.ClientSession() as http:
        base = f"{server.url}/bot{fake.token}"
        async with http.post(f"{base}/sendMessage", json={"chat_id": 3, "text": "j"}) as resp:
            assert (resp.status, (await resp.json())["result"]["text"]) == (200, "j")
        async with http.post(f"{base}/sendmessage", data={"chat_id": "3", "text": "42"}) as resp:
            assert resp.status == 200
        async with http.get(f"{server.url}/bot1:wrong/getMe") as resp:
            assert resp.status == 401
        fake.set_latency(0.05)
        started = monotonic()
        async with http.get(f"{base}/getMe") as resp:
            assert (await resp.json())["result"]["username"] == fake.username
        assert monotonic() - started >= 0.05
    assert [c.params for c in fake.requests[:2]] == [
        {"chat_id": 3, "text": "j"},
        {"chat_id": 3, "text": "42"},
    ]
    assert fake.requests[1].method == "sendMessage"  # method names are case-insensitive


async def test_wrong_token_is_unauthorized(fake: FakeTelegram) -> None:
    bot = Bot("42:other", session=RecordingSession(fake))
    with pytest.raises(TelegramUnauthorizedError):
        await bot.get_me()


async def test_get_updates_offset_limit_and_long_poll(fake: FakeTelegram) -> None:
    ids = [fake.push_update(ChatUser(Dispatcher(), recording_bot(fake), 1).build_message(t))
           ["update_id"] for t in ("a", "b", "c")]  # fmt: skip
    status, payload = fake.handle("getUpdates", {"limit": 2})
    assert status == 200 and [u["update_id"] for u in payload["result"]] == ids[:2]
    _, payload = fake.handle("getUpdates", {"offset": ids[1] + 1})
    assert [u["update_id"] for u in payload["result"]] == ids[2:]
    assert fake.pending_updates == 1
    _, payload = fake.handle("getUpdates", {"offset": ids[2] + 1})
    assert payload["result"] == [] and fake.pending_updates == 0

    started = monotonic()
    _, payload = await fake.handle_async("getUpdates", {"timeout": 0.1})
    assert payload["result"] == [] and 0.09 <= monotonic() - started < 0.5

    poll = asyncio.create_task(fake.handle_async("getUpdates", {"timeout": 5}))
    await asyncio.sleep(0.02)
    started = monotonic()
    fake.push_update({"message": {"message_id": 1, "date": 1, "chat": {"id": 1, "type": "private"},
                                  "text": "late"}})  # fmt: skip
    _, payload = await asyncio.wait_for(poll, 1)
    assert monotonic() - started < 0.2
    assert payload["result"][0]["message"]["text"] == "late"


async def test_concurrent_get_updates_conflict(fake: FakeTelegram) -> None:
    bot = recording_bot(fake)
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(bot.get_updates(timeout=5))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await first
    second.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await second


async def test_polling_processes_updates_and_confirms_offset(bot: Bot, fake: FakeTelegram) -> None:
    dp = build_dispatcher()
    user = ChatUser(dp, bot, USER_ID)
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=1))
    try:
        first = fake.push_update(user.build_message("ping"))
        second = fake.push_update(user.build_message("/start c_XYZ"))
        sent = await fake.wait_sent(2, chat_id=USER_ID)
        assert sorted(c.text or "" for c in sent) == ["deep:c_XYZ", "ping"]
        await wait_until(lambda: fake.pending_updates == 0)
        assert fake.confirmed_offset == second["update_id"] + 1 > first["update_id"]
        offsets = [c.params.get("offset") for c in fake.calls("getUpdates")]
        assert offsets[0] is None and second["update_id"] + 1 in offsets
        allowed = fake.calls("getUpdates")[0].params["allowed_updates"]
        assert sorted(allowed) == ["callback_query", "message"]
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, 2)
