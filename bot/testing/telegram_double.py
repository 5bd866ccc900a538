"""Telegram Bot API test double.

* :class:`FakeTelegram` - in-memory Bot API behaviour (messages, errors, getUpdates).
* :class:`RecordingSession` - in-process aiogram session backed by a :class:`FakeTelegram`.
* :class:`BotAPIServer` - local aiohttp HTTP server exposing the same fake.
* :class:`ChatUser`, :func:`buttons`, :func:`find_button` - update builders for dialog tests.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import mimetypes
import zlib
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from html.parser import HTMLParser
from time import monotonic
from time import time as wall_time
from typing import TYPE_CHECKING, Any, ClassVar, Literal, cast

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import InputFile, Update
from aiohttp import web

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "BotAPIServer",
    "Call",
    "ChatUser",
    "FakeTelegram",
    "RecordingSession",
    "buttons",
    "find_button",
    "next_message_id",
    "next_update_id",
    "recording_bot",
    "wait_until",
]

Json = dict[str, Any]

_update_ids = itertools.count(1)
_message_ids = itertools.count(1)
_callback_ids = itertools.count(1)
_file_ids = itertools.count(1)


def next_update_id() -> int:
    """Return the next module-wide, monotonically increasing update id."""
    return next(_update_ids)


def next_message_id() -> int:
    """Return the next module-wide message id (shared by user and bot messages)."""
    return next(_message_ids)


def _same_chat(a: object, b: object) -> bool:
    """Compare chat ids that may arrive as int or str."""
    return a is not None and b is not None and str(a) == str(b)


async def wait_until(
    predicate: Callable[[], bool], timeout: float = 1.0, interval: float = 0.005
) -> None:
    """Poll ``predicate`` until it is true; raise AssertionError after ``timeout`` seconds."""
    deadline = monotonic() + timeout
    while not predicate():
        if monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


# --------------------------------------------------------------------------- records


@dataclass
class Call:
    """One Bot API request as seen by the fake, with the response it got."""

    method: str
    params: dict[str, Any]
    time: float = field(default_factory=monotonic)
    status: int = 0
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the call succeeded."""
        return self.status == 200 and bool(self.response.get("ok"))

    @property
    def result(self) -> Any:
        """The ``result`` of the response (None for failed calls)."""
        return self.response.get("result")

    @property
    def chat_id(self) -> Any:
        """The ``chat_id`` parameter, if any."""
        return self.params.get("chat_id")

    @property
    def text(self) -> str | None:
        """``text`` or ``caption`` as sent (raw, markup not parsed)."""
        value = self.params.get("text", self.params.get("caption"))
        return None if value is None else str(value)


@dataclass
class _Failure:
    method: str
    status: int
    description: str
    retry_after: int | None
    times: int
    chat_id: int | None

    def matches(self, method: str, params: Mapping[str, Any]) -> bool:
        if self.method.lower() != method.lower():
            return False
        return self.chat_id is None or _same_chat(params.get("chat_id"), self.chat_id)


@dataclass
class _FloodLimits:
    overall: int
    per_chat: float
    retry_after: int
    slack: float
    clock: Callable[[], float]
    refused: int = 0
    recent: list[float] = field(default_factory=list)  # accepted sends of the last second
    last_in_chat: dict[str, float] = field(default_factory=dict)

    def admit(self, chat_id: Any) -> _ApiError | None:
        now = self.clock()
        self.recent = [t for t in self.recent if t > now - 1.0 + self.slack]
        last = self.last_in_chat.get(str(chat_id))
        too_fast = last is not None and now - last < 1.0 / self.per_chat - self.slack
        if len(self.recent) >= self.overall or too_fast:
            self.refused += 1
            return _ApiError(
                429, f"Too Many Requests: retry after {self.retry_after}", self.retry_after
            )
        self.recent.append(now)
        self.last_in_chat[str(chat_id)] = now
        return None


class _ApiError(Exception):
    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> Json:
        body: Json = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


# --------------------------------------------------------------------------- params

#: Fields whose form values are always kept as strings (never JSON-decoded).
STRING_FIELDS: frozenset[str] = frozenset(
    {
        "text", "caption", "callback_query_id", "url", "data", "title", "description",
        "short_description", "name", "first_name", "last_name", "phone_number", "query",
        "emoji", "address", "question", "start_parameter", "payload", "vcard", "sticker",
        "photo", "document", "video", "audio", "voice", "animation", "video_note",
        "thumbnail", "file_id", "inline_message_id", "secret_token", "ip_address",
        "message_effect_id", "business_connection_id", "custom_emoji_id", "parse_mode",
        "action", "currency", "provider_token", "game_short_name", "result_id",
        "language_code", "performer", "foursquare_id", "google_place_id",
    }
)  # fmt: skip


def _decode_field(key: str, value: Any) -> Any:
    """Turn a form field back into its JSON value (ints, bools, objects, arrays)."""
    if not isinstance(value, str) or key in STRING_FIELDS:
        return value
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return value if isinstance(decoded, str) else decoded


def _resolve_attachments(value: Any, uploads: Mapping[str, Json], used: set[str]) -> Any:
    """Replace ``attach://name`` references by upload descriptions, recursively."""
    if isinstance(value, str) and value.startswith("attach://"):
        name = value.removeprefix("attach://")
        if name in uploads:
            used.add(name)
            return dict(uploads[name])
        return value
    if isinstance(value, dict):
        return {k: _resolve_attachments(v, uploads, used) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_attachments(v, uploads, used) for v in value]
    return value


def normalize_params(fields: Mapping[str, Any], uploads: Mapping[str, Json]) -> dict[str, Any]:
    """Build the JSON-able params dict both transports record.

    ``uploads`` maps multipart part names to ``{"filename": ..., "size": ...}``; parts referenced
    as ``attach://name`` are inlined where referenced, others are stored under their own name.
    """
    used: set[str] = set()
    params = {
        key: _resolve_attachments(_decode_field(key, value), uploads, used)
        for key, value in fields.items()
    }
    for name, upload in uploads.items():
        if name not in used:
            params[name] = dict(upload)
    return params


# --------------------------------------------------------------------------- text checks

_HTML_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
     "tg-emoji", "code", "pre", "blockquote"}
)  # fmt: skip
_BUTTON_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay",
)  # fmt: skip
_PARSE_ERROR = "Bad Request: can't parse entities: "


class _TelegramHTML(HTMLParser):
    """Approximates Telegram's HTML parse mode: allowed tags, nesting, plain text."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.stack: list[str] = []
        self.parts: list[str] = []
        self.error: str | None = None

    def _offset(self) -> int:
        line, col = self.getpos()
        lines = self.source.split("\n")
        index = sum(len(item) + 1 for item in lines[: line - 1]) + col
        return len(self.source[:index].encode())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.error is None:
            if tag not in _HTML_TAGS:
                self.error = f'Unsupported start tag "{tag}" at byte offset {self._offset()}'
            elif tag == "span" and ("class", "tg-spoiler") not in attrs:
                self.error = 'Tag "span" must have class "tg-spoiler"'
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if self.error is not None:
            return
        if not self.stack:
            self.error = f"Unexpected end tag at byte offset {self._offset()}"
        elif self.stack[-1] != tag:
            self.error = (
                f"Unmatched end tag at byte offset {self._offset()}, "
                f'expected "</{self.stack[-1]}>", found "</{tag}>"'
            )
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _check_markdown_v2(text: str) -> None:
    """Reject unescaped reserved characters that never start MarkdownV2 markup."""
    i, code, n = 0, False, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if text.startswith("```", i):
            code, i = not code, i + 3
            continue
        if ch == "`":
            code, i = not code, i + 1
            continue
        if not code:
            if text.startswith("](", i):
                end = i + 2
                while end < n and text[end] != ")":
                    end += 2 if text[end] == "\\" else 1
                i = end + 1
                continue
            if ch in "#+-={}.!()":
                raise _ApiError(
                    400,
                    f"{_PARSE_ERROR}Character '{ch}' is reserved and must be escaped "
                    "with the preceding '\\'",
                )
        i += 1


def plain_text(text: str, parse_mode: Any) -> str:
    """What Telegram would show of ``text`` sent with ``parse_mode``; raises as the Bot API
    refuses it (tests check messages without sending them)."""
    return _plain_text(text, parse_mode)


def _plain_text(text: str, parse_mode: Any) -> str:
    """Validate ``text`` for ``parse_mode`` and return the text Telegram would store."""
    if parse_mode == "HTML":
        parser = _TelegramHTML(text)
        parser.feed(text)
        parser.close()
        if parser.error is None and parser.stack:
            parser.error = f'Can\'t find end tag corresponding to start tag "{parser.stack[-1]}"'
        if parser.error is not None:
            raise _ApiError(400, _PARSE_ERROR + parser.error)
        return "".join(parser.parts)
    if parse_mode == "MarkdownV2":
        _check_markdown_v2(text)
    return text


def _check_markup(markup: Any) -> Json | None:
    """Validate an inline keyboard; return it only if it is inline (Message.reply_markup)."""
    if not isinstance(markup, dict) or "inline_keyboard" not in markup:
        return None
    for row in markup["inline_keyboard"]:
        for button in row:
            if not any(key in button for key in _BUTTON_ACTIONS):
                raise _ApiError(
                    400,
                    "Bad Request: can't parse inline keyboard button: "
                    "Text buttons are unallowed in the inline keyboard",
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            url = button.get("url")
            if url is not None and not str(url).startswith(("http://", "https://", "tg://")):
                raise _ApiError(400, "Bad Request: BUTTON_URL_INVALID")
    return cast(Json, markup)


# --------------------------------------------------------------------------- fake


class _Sentinel(Enum):
    SELF = "self"


class FakeTelegram:
    """In-memory Bot API: records calls, builds valid results, scripts errors, serves updates."""

    #: Methods counted by :meth:`sent`, :meth:`texts` and :meth:`last`.
    SENT_METHODS: ClassVar[frozenset[str]] = frozenset(
        {"sendMessage", "sendPhoto", "sendDocument", "editMessageText"}
    )
    #: Update types delivered when ``allowed_updates`` is empty/unset (as Telegram does).
    DEFAULT_EXCLUDED_UPDATES: ClassVar[frozenset[str]] = frozenset(
        {"chat_member", "message_reaction", "message_reaction_count"}
    )
    NOT_MODIFIED: ClassVar[str] = (
        "Bad Request: message is not modified: specified new message content and reply markup "
        "are exactly the same as a current content and reply markup of the message"
    )
    BLOCKED: ClassVar[str] = "Forbidden: bot was blocked by the user"

    def __init__(
        self,
        token: str = "123456789:TEST-token",
        username: str = "test_bot",
        first_name: str = "Test Bot",
        strict_messages: bool = False,
    ) -> None:
        """Create a fake for bot ``token``.

        With ``strict_messages`` editing/deleting unknown messages fails like Telegram
        ("message to edit not found"); by default unknown messages are accepted.
        """
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.username = username
        self.first_name = first_name
        self.strict_messages = strict_messages
        self.requests: list[Call] = []
        self.messages: dict[tuple[str, int], Json] = {}
        self.commands: dict[str, list[Json]] = {}
        self.webhook_url = ""
        self.latency = 0.0
        self.confirmed_offset = 0
        self._raw: dict[tuple[str, int], tuple[Any, Any, Any]] = {}
        self._updates: list[Json] = []
        self._allowed_updates: list[str] = []
        self._failures: list[_Failure] = []
        self._blocked: set[str] = set()
        self._limits: _FloodLimits | None = None
        self._outage: _ApiError | None = None
        self._poller: asyncio.Future[str] | None = None
        self._handlers: dict[str, tuple[str, Callable[[Json], Any]]] = {
            name.lower(): (name, fn)
            for name, fn in {
                "getMe": self._get_me,
                "sendMessage": self._send_message,
                "sendPhoto": self._send_photo,
                "sendDocument": self._send_document,
                "editMessageText": self._edit_message_text,
                "editMessageCaption": self._edit_message_caption,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "deleteMessage": self._delete_message,
                "answerCallbackQuery": self._true,
                "setMyCommands": self._set_my_commands,
                "getMyCommands": self._get_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "getUpdates": self._get_updates_now,
                "close": self._true,
                "logOut": self._true,
            }.items()
        }

    # ----------------------------------------------------------------- public helpers

    @property
    def bot_user(self) -> Json:
        """The bot's User object as it appears in ``from`` of its messages."""
        return {"id": self.bot_id, "is_bot": True, "first_name": self.first_name,
                "username": self.username}  # fmt: skip

    @property
    def pending_updates(self) -> int:
        """Number of pushed updates not yet confirmed through getUpdates ``offset``."""
        return len(self._updates)

    def sent(self, chat_id: int | None = None) -> list[Call]:
        """Successful sendMessage/sendPhoto/sendDocument/editMessageText calls, optionally
        for one chat."""
        return [
            call
            for call in self.requests
            if call.method in self.SENT_METHODS
            and call.ok
            and (chat_id is None or _same_chat(call.chat_id, chat_id))
        ]

    def texts(self, chat_id: int | None = None) -> list[str]:
        """Raw text/caption of :meth:`sent` calls."""
        return [call.text or "" for call in self.sent(chat_id)]

    def last(self, chat_id: int | None = None) -> Call:
        """The last :meth:`sent` call; AssertionError if there is none."""
        calls = self.sent(chat_id)
        if not calls:
            seen = [(c.method, c.status) for c in self.requests]
            raise AssertionError(f"nothing sent to chat {chat_id}; requests: {seen}")
        return calls[-1]

    def calls(self, method: str) -> list[Call]:
        """All recorded calls of ``method`` (including failed ones)."""
        return [call for call in self.requests if call.method.lower() == method.lower()]

    def clear(self) -> None:
        """Forget recorded requests (messages, updates and scripted failures are kept)."""
        self.requests.clear()

    async def wait_sent(
        self, count: int = 1, chat_id: int | None = None, timeout: float = 1.0
    ) -> list[Call]:
        """Wait until at least ``count`` messages were sent; return :meth:`sent`."""
        await wait_until(lambda: len(self.sent(chat_id)) >= count, timeout)
        return self.sent(chat_id)

    def fail_next(
        self,
        method: str,
        status: int,
        description: str,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """Make the next ``times`` matching calls fail with an error payload."""
        self._failures.append(_Failure(method, status, description, retry_after, times, chat_id))

    def block_chat(self, chat_id: int) -> None:
        """Every send/edit to ``chat_id`` fails with 403 "bot was blocked by the user"."""
        self._blocked.add(str(chat_id))

    def unblock_chat(self, chat_id: int) -> None:
        """Undo :meth:`block_chat`."""
        self._blocked.discard(str(chat_id))

    def enforce_limits(
        self,
        overall: int = 30,
        per_chat: float = 1.0,
        retry_after: int = 1,
        slack: float = 0.0,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        """Flood control as Telegram applies it to sends: at most ``overall`` accepted
        messages in any one second and one per ``1/per_chat`` seconds into a chat; beyond
        that 429 "Too Many Requests" with ``retry_after``. ``slack`` seconds of timing
        tolerance (a request's time here is its arrival, after the transport's jitter).
        Count the refusals with :attr:`flood_refusals`."""
        self._limits = _FloodLimits(overall, per_chat, retry_after, slack, clock)

    @property
    def flood_refusals(self) -> int:
        """How many sends :meth:`enforce_limits` answered 429."""
        return 0 if self._limits is None else self._limits.refused

    def start_outage(self, status: int = 502, description: str = "Bad Gateway") -> None:
        """Every call but getUpdates fails with ``status`` until :meth:`end_outage`."""
        self._outage = _ApiError(status, description)

    def end_outage(self) -> None:
        self._outage = None

    def set_latency(self, seconds: float) -> None:
        """Delay every HTTP response of :class:`BotAPIServer` by ``seconds``."""
        self.latency = seconds

    def push_update(self, update: Json | Update) -> Json:
        """Queue an update for getUpdates (assigning ``update_id`` if missing); wake pollers."""
        if isinstance(update, Update):
            data = update.model_dump(mode="json", exclude_none=True, by_alias=True)
        else:
            data = dict(update)
        data.setdefault("update_id", next_update_id())
        self._updates.append(data)
        if self._poller is not None and not self._poller.done():
            self._poller.set_result("update")
        return data

    def release_pollers(self) -> None:
        """Make a pending long-poll return immediately (used on server shutdown)."""
        if self._poller is not None and not self._poller.done():
            self._poller.set_result("release")

    # ----------------------------------------------------------------- entry points

    def handle(self, method: str, params: dict[str, Any]) -> tuple[int, Json]:
        """Process one call without waiting (getUpdates does not long-poll here)."""
        call = self._record(method, params)
        return self._finish(call, self._process(call))

    async def handle_async(self, method: str, params: dict[str, Any]) -> tuple[int, Json]:
        """Process one call; getUpdates long-polls up to its ``timeout`` seconds."""
        call = self._record(method, params)
        if call.method != "getUpdates":
            return self._finish(call, self._process(call))
        error = self._check_failures(call)
        if error is not None:
            return self._finish(call, error)
        try:
            updates = self._take_updates(params)
        except _ApiError as exc:
            return self._finish(call, exc)
        timeout = float(params.get("timeout") or 0)
        if not updates and timeout > 0:
            if self._poller is not None and not self._poller.done():
                self._poller.set_result("conflict")
            poller: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            self._poller = poller
            try:
                await asyncio.wait({poller}, timeout=timeout)
            finally:
                if self._poller is poller:
                    self._poller = None
                if not poller.done():
                    poller.cancel()
            if not poller.cancelled() and poller.result() == "conflict":
                return self._finish(
                    call,
                    _ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    ),
                )
            updates = self._take_updates(params)
        return self._finish(call, updates)

    # ----------------------------------------------------------------- machinery

    def _record(self, method: str, params: dict[str, Any]) -> Call:
        name = self._handlers.get(method.lower(), (method, None))[0]
        call = Call(name, dict(params))
        self.requests.append(call)
        return call

    def _finish(self, call: Call, outcome: Any) -> tuple[int, Json]:
        if isinstance(outcome, _ApiError):
            call.status, call.response = outcome.status, outcome.payload()
        else:
            call.status, call.response = 200, {"ok": True, "result": outcome}
        return call.status, call.response

    def _check_failures(self, call: Call) -> _ApiError | None:
        for failure in self._failures:
            if failure.matches(call.method, call.params):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                return _ApiError(failure.status, failure.description, failure.retry_after)
        return None

    def _process(self, call: Call) -> Any:
        error = self._check_failures(call)
        if error is not None:
            return error
        if self._outage is not None:
            return self._outage
        if (
            call.method.startswith(("send", "edit", "copy", "forward"))
            and str(call.chat_id) in self._blocked
        ):
            return _ApiError(403, self.BLOCKED)
        if self._limits is not None and call.method.startswith(("send", "copy", "forward")):
            flood = self._limits.admit(call.chat_id)
            if flood is not None:
                return flood
        entry = self._handlers.get(call.method.lower())
        try:
            return True if entry is None else entry[1](call.params)
        except _ApiError as exc:
            return exc

    def _chat(self, chat_id: Any) -> Json:
        if chat_id is None:
            raise _ApiError(400, "Bad Request: chat_id is empty")
        if isinstance(chat_id, str) and not chat_id.lstrip("-").isdigit():
            fake_id = -(1_000_000_000_000 + zlib.crc32(chat_id.encode()))
            return {"id": fake_id, "type": "channel", "username": chat_id.lstrip("@")}
        chat = int(chat_id)
        if chat > 0:
            return {"id": chat, "type": "private"}
        return {"id": chat, "type": "supergroup" if str(chat).startswith("-100") else "group"}

    def _new_message(self, params: Json, content: Json, raw: tuple[Any, Any, Any]) -> Json:
        chat = self._chat(params.get("chat_id"))
        message: Json = {
            "message_id": next_message_id(),
            "date": int(wall_time()),
            "chat": chat,
            "from": self.bot_user,
            **content,
        }
        markup = _check_markup(params.get("reply_markup"))
        if markup is not None:
            message["reply_markup"] = markup
        key = (str(params.get("chat_id")), message["message_id"])
        self.messages[key] = message
        self._raw[key] = (*raw[:2], markup)
        return message

    def _caption(self, params: Json) -> Json:
        caption = params.get("caption")
        if caption is None:
            return {}
        plain = _plain_text(str(caption), params.get("parse_mode"))
        if len(plain) > 1024:
            raise _ApiError(400, "Bad Request: message caption is too long")
        return {"caption": plain} if plain else {}

    def _upload(self, value: Any, kind: str) -> tuple[str, str, Json]:
        """Return (file_id, file_unique_id, upload-info) for an InputFile or file_id/url."""
        n = next(_file_ids)
        if isinstance(value, dict):
            return f"fake-{kind}-{n}", f"u{kind}{n}", value
        if not value:
            raise _ApiError(400, f"Bad Request: there is no {kind} in the request")
        return str(value), f"u{kind}{n}", {}

    # ----------------------------------------------------------------- methods

    def _true(self, params: Json) -> bool:
        return True

    def _get_me(self, params: Json) -> Json:
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}  # fmt: skip

    def _send_message(self, params: Json) -> Json:
        raw = str(params.get("text") or "")
        text = _plain_text(raw, params.get("parse_mode"))
        if not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        content: Json = {"text": text}
        if params.get("entities"):
            content["entities"] = params["entities"]
        return self._new_message(params, content, (raw, params.get("parse_mode"), None))

    def _send_photo(self, params: Json) -> Json:
        file_id, unique, info = self._upload(params.get("photo"), "photo")
        size: Json = {"file_id": file_id, "file_unique_id": unique, "width": 512, "height": 512}
        if "size" in info:
            size["file_size"] = info["size"]
        content = {"photo": [size], **self._caption(params)}
        raw = (params.get("caption"), params.get("parse_mode"), None)
        return self._new_message(params, content, raw)

    def _send_document(self, params: Json) -> Json:
        file_id, unique, info = self._upload(params.get("document"), "document")
        document: Json = {"file_id": file_id, "file_unique_id": unique}
        if "filename" in info:
            document["file_name"] = info["filename"]
            mime = mimetypes.guess_type(str(info["filename"]))[0]
            if mime:
                document["mime_type"] = mime
        if "size" in info:
            document["file_size"] = info["size"]
        content = {"document": document, **self._caption(params)}
        raw = (params.get("caption"), params.get("parse_mode"), None)
        return self._new_message(params, content, raw)

    def _existing(self, params: Json, action: str) -> tuple[tuple[str, int], Json]:
        key = (str(params.get("chat_id")), int(params.get("message_id") or 0))
        if key in self.messages:
            return key, self.messages[key]
        if self.strict_messages or not key[1]:
            raise _ApiError(400, f"Bad Request: message to {action} not found")
        message = {"message_id": key[1], "date": int(wall_time()),
                   "chat": self._chat(params.get("chat_id")), "from": self.bot_user}  # fmt: skip
        return key, message

    def _edit(self, params: Json, field_name: str | None) -> Json | bool:
        """Shared edit logic: ``field_name`` is "text", "caption" or None (markup only)."""
        markup = _check_markup(params.get("reply_markup"))
        if params.get("inline_message_id"):
            return True
        key, old = self._existing(params, "edit")
        old_raw = self._raw.get(key)
        new = {k: v for k, v in old.items() if k not in ("reply_markup", "edit_date")}
        raw_value, mode = (old_raw or (None, None, None))[:2]
        if field_name is not None:
            raw_value, mode = params.get(field_name), params.get("parse_mode")
            if field_name == "text":
                if key in self.messages and "text" not in old:
                    raise _ApiError(400, "Bad Request: there is no text in the message to edit")
                text = _plain_text(str(raw_value or ""), mode)
                if not text.strip():
                    raise _ApiError(400, "Bad Request: message text is empty")
                if len(text) > 4096:
                    raise _ApiError(400, "Bad Request: message is too long")
                new["text"] = text
            else:
                new.pop("caption", None)
                new.update(self._caption(params))
        if old_raw is not None and old_raw == (raw_value, mode, markup):
            raise _ApiError(400, self.NOT_MODIFIED)
        if markup is not None:
            new["reply_markup"] = markup
        new["edit_date"] = int(wall_time())
        self.messages[key] = new
        self._raw[key] = (raw_value, mode, markup)
        return new

    def _edit_message_text(self, params: Json) -> Json | bool:
        return self._edit(params, "text")

    def _edit_message_caption(self, params: Json) -> Json | bool:
        return self._edit(params, "caption")

    def _edit_message_reply_markup(self, params: Json) -> Json | bool:
        return self._edit(params, None)

    def _delete_message(self, params: Json) -> bool:
        key = (str(params.get("chat_id")), int(params.get("message_id") or 0))
        if key not in self.messages and (self.strict_messages or not key[1]):
            raise _ApiError(400, "Bad Request: message to delete not found")
        self.messages.pop(key, None)
        self._raw.pop(key, None)
        return True

    @staticmethod
    def _commands_key(params: Json) -> str:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps([scope, params.get("language_code") or ""], sort_keys=True)

    def _set_my_commands(self, params: Json) -> bool:
        commands = params.get("commands") or []
        for command in commands:
            name = str(command.get("command", ""))
            valid = 1 <= len(name) <= 32 and all(c.islower() or c.isdigit() or c == "_"
                                                 for c in name)  # fmt: skip
            if not valid or not name.isascii():
                raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(params)] = list(commands)
        return True

    def _get_my_commands(self, params: Json) -> list[Json]:
        return self.commands.get(self._commands_key(params), [])

    def _delete_my_commands(self, params: Json) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _set_webhook(self, params: Json) -> bool:
        self.webhook_url = str(params.get("url") or "")
        return True

    def _delete_webhook(self, params: Json) -> bool:
        self.webhook_url = ""
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _get_webhook_info(self, params: Json) -> Json:
        return {"url": self.webhook_url, "has_custom_certificate": False,
                "pending_update_count": self.pending_updates}  # fmt: skip

    def _get_updates_now(self, params: Json) -> list[Json]:
        return self._take_updates(params)

    def _take_updates(self, params: Json) -> list[Json]:
        """Apply offset/allowed_updates and return up to ``limit`` pending updates."""
        if self.webhook_url:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        if "allowed_updates" in params:
            self._allowed_updates = list(params["allowed_updates"] or [])
        offset = int(params.get("offset") or 0)
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            self.confirmed_offset = max(self.confirmed_offset, offset)
        elif offset < 0:
            self._updates = self._updates[offset:]
        self._updates = [u for u in self._updates if self._allowed(u)]
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        return list(self._updates[:limit])

    def _allowed(self, update: Json) -> bool:
        kind = next((key for key in update if key != "update_id"), "")
        if self._allowed_updates:
            return kind in self._allowed_updates
        return kind not in self.DEFAULT_EXCLUDED_UPDATES


# --------------------------------------------------------------------------- transports


async def _input_file_size(file: InputFile, bot: Bot) -> int:
    size = 0
    async for chunk in file.read(bot):
        size += len(chunk)
    return size


async def method_params(session: BaseSession, bot: Bot, method: TelegramMethod[Any]) -> Json:
    """Serialise ``method`` exactly like AiohttpSession.build_form_data, then normalise."""
    files: dict[str, InputFile] = {}
    fields: dict[str, Any] = {}
    for key, value in method.model_dump(warnings=False).items():
        prepared = session.prepare_value(value, bot=bot, files=files)
        if prepared:
            fields[key] = prepared
    uploads = {
        name: {"filename": file.filename or name, "size": await _input_file_size(file, bot)}
        for name, file in files.items()
    }
    return normalize_params(fields, uploads)


def _unauthorized() -> tuple[int, Json]:
    return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}


class RecordingSession(BaseSession):
    """In-process aiogram session: requests go to a :class:`FakeTelegram`, no network."""

    def __init__(self, fake: FakeTelegram | None = None, **kwargs: Any) -> None:
        """Wrap ``fake`` (a new one if omitted); kwargs go to BaseSession."""
        super().__init__(**kwargs)
        self.fake = fake if fake is not None else FakeTelegram()
        self.closed = False

    async def make_request(
        self, bot: Bot, method: TelegramMethod[TelegramType], timeout: int | None = None
    ) -> TelegramType:
        """Serialise ``method``, let the fake answer and parse like a real session."""
        self.closed = False
        if bot.token != self.fake.token:
            status, payload = _unauthorized()
        else:
            params = await method_params(self, bot, method)
            status, payload = await self.fake.handle_async(method.__api_method__, params)
        response = self.check_response(bot, method, status, self.json_dumps(payload))
        return cast(TelegramType, response.result)

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        """Downloads are not simulated: yields a single empty chunk."""
        yield b""

    async def close(self) -> None:
        """Mark the session closed."""
        self.closed = True


def recording_bot(fake: FakeTelegram, **bot_kwargs: Any) -> Bot:
    """A real :class:`Bot` for ``fake.token`` using a :class:`RecordingSession`."""
    return Bot(fake.token, session=RecordingSession(fake), **bot_kwargs)


class BotAPIServer:
    """Local HTTP Bot API (``/bot{token}/{method}``) backed by a :class:`FakeTelegram`."""

    def __init__(
        self, fake: FakeTelegram | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        """Serve ``fake`` on ``host:port`` (port 0 picks a free port)."""
        self.fake = fake if fake is not None else FakeTelegram()
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self.app = web.Application(client_max_size=50 * 1024 * 1024)
        self.app.router.add_route("*", "/bot{token}/{method}", self._handle)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:PORT``."""
        if self._runner is None:
            raise RuntimeError("BotAPIServer is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def api(self) -> TelegramAPIServer:
        """aiogram server config pointing at this double."""
        return TelegramAPIServer.from_base(self.url)

    def session(self, **kwargs: Any) -> AiohttpSession:
        """A real AiohttpSession talking to this server."""
        return AiohttpSession(api=self.api, **kwargs)

    def bot(self, **bot_kwargs: Any) -> Bot:
        """A real Bot (fake's token) using :meth:`session`."""
        return Bot(self.fake.token, session=self.session(), **bot_kwargs)

    async def start(self) -> None:
        """Start listening."""
        runner = web.AppRunner(self.app, shutdown_timeout=1.0, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Release long-polls and shut the server down."""
        self.fake.release_pollers()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotAPIServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _handle(self, request: web.Request) -> web.Response:
        if self.fake.latency:
            await asyncio.sleep(self.fake.latency)
        if request.match_info["token"] != self.fake.token:
            status, payload = _unauthorized()
            return web.json_response(payload, status=status)
        fields: dict[str, Any] = dict(request.query)
        uploads: dict[str, Json] = {}
        if request.can_read_body:
            if request.content_type == "application/json":
                fields.update(await request.json())
            else:
                form = await request.post()
                for name, value in form.items():
                    if isinstance(value, web.FileField):
                        size = len(value.file.read())
                        uploads[name] = {"filename": value.filename or name, "size": size}
                    else:
                        fields[name] = value
        params = normalize_params(fields, uploads)
        status, payload = await self.fake.handle_async(request.match_info["method"], params)
        return web.json_response(payload, status=status)


# --------------------------------------------------------------------------- builders


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class ChatUser:
    """A private-chat user that builds real Updates and feeds them to a Dispatcher."""

    def __init__(
        self,
        dp: Dispatcher,
        bot: Bot,
        user_id: int,
        first_name: str = "Test",
        language_code: str = "ru",
        username: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """``extra`` kwargs are passed to every ``dp.feed_update`` call."""
        self.dp = dp
        self.bot = bot
        self.user_id = user_id
        self.first_name = first_name
        self.language_code = language_code
        self.username = username
        self.extra: dict[str, Any] = dict(extra or {})

    @property
    def user(self) -> Json:
        """Telegram User object of this user."""
        user: Json = {"id": self.user_id, "is_bot": False, "first_name": self.first_name,
                      "language_code": self.language_code}  # fmt: skip
        if self.username:
            user["username"] = self.username
        return user

    @property
    def chat(self) -> Json:
        """The private Chat with this user."""
        chat: Json = {"id": self.user_id, "type": "private", "first_name": self.first_name}
        if self.username:
            chat["username"] = self.username
        return chat

    def _update(self, **payload: Any) -> Update:
        data = {"update_id": next_update_id(), **payload}
        return Update.model_validate(data, context={"bot": self.bot})

    def _message(self, **content: Any) -> Json:
        return {"message_id": next_message_id(), "date": int(wall_time()), "chat": self.chat,
                "from": self.user, **content}  # fmt: skip

    def build_message(self, text: str) -> Update:
        """A private text message; ``/cmd ...`` gets a bot_command entity like Telegram adds."""
        content: Json = {"text": text}
        if text.startswith("/") and len(text) > 1:
            command = text.split(maxsplit=1)[0]
            content["entities"] = [
                {"type": "bot_command", "offset": 0, "length": _utf16_len(command)}
            ]
        return self._update(message=self._message(**content))

    def build_contact(
        self,
        phone_number: str,
        contact_user_id: int | Literal[_Sentinel.SELF] | None = _Sentinel.SELF,
        first_name: str | None = None,
    ) -> Update:
        """A shared contact; by default the user's own (``user_id`` == sender)."""
        contact: Json = {"phone_number": phone_number, "first_name": first_name or self.first_name}
        user_id = self.user_id if contact_user_id is _Sentinel.SELF else contact_user_id
        if user_id is not None:
            contact["user_id"] = user_id
        return self._update(message=self._message(contact=contact))

    def _bot_message(self, message: Call | Json | None) -> Json:
        bot_user = {"id": self.bot.id, "is_bot": True, "first_name": "Bot"}
        if isinstance(message, Call):
            if isinstance(message.result, dict) and "message_id" in message.result:
                return dict(message.result)
            params = message.params
            base: Json = {"message_id": params.get("message_id") or next_message_id(),
                          "chat": {"id": params.get("chat_id", self.user_id), "type": "private"},
                          "text": message.text or ""}  # fmt: skip
        elif isinstance(message, dict):
            base = dict(message)
        else:
            base = {"message_id": next_message_id(), "text": "..."}
        base.setdefault("message_id", next_message_id())
        base.setdefault("chat", self.chat)
        base.setdefault("from", bot_user)
        if not base.get("date"):
            base["date"] = int(wall_time())
        return base

    def build_callback(self, data: str, message: Call | Json | None = None) -> Update:
        """A callback_query pressing ``data`` on ``message`` (recorded call, dict or synthetic)."""
        msg = self._bot_message(message)
        query = {"id": f"{self.user_id}-{next(_callback_ids)}", "from": self.user,
                 "chat_instance": str(msg["chat"]["id"]), "data": data,
                 "message": msg}  # fmt: skip
        return self._update(callback_query=query)

    async def feed(self, update: Update) -> Any:
        """Feed ``update`` to the dispatcher; return its result."""
        return await self.dp.feed_update(self.bot, update, **self.extra)

    async def send(self, text: str) -> Any:
        """Send a text message (or command) as this user."""
        return await self.feed(self.build_message(text))

    async def send_contact(
        self,
        phone_number: str,
        contact_user_id: int | Literal[_Sentinel.SELF] | None = _Sentinel.SELF,
        first_name: str | None = None,
    ) -> Any:
        """Share a contact as this user."""
        return await self.feed(self.build_contact(phone_number, contact_user_id, first_name))

    async def click(self, data: str, message: Call | Json | None = None) -> Any:
        """Press an inline button with callback ``data``."""
        return await self.feed(self.build_callback(data, message))


def buttons(call: Call) -> list[tuple[str, str]]:
    """(text, callback_data or url) of every inline button in ``call``'s reply_markup."""
    markup = call.params.get("reply_markup")
    if isinstance(markup, str):
        markup = json.loads(markup)
    rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
    return [
        (str(b.get("text", "")), str(b.get("callback_data") or b.get("url") or ""))
        for row in rows
        for b in row
    ]


def find_button(call: Call, text_contains: str) -> str:
    """callback_data (or url) of the first inline button whose text contains the substring."""
    for text, data in buttons(call):
        if text_contains in text:
            return data
    raise AssertionError(f"no button containing {text_contains!r}; buttons: {buttons(call)}")
