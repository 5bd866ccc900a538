"""Keep aiogram's parsed response types alive for the process's life.

aiogram validates each Bot API answer as ``Response[<the method's return type>]``, a
parametrised pydantic generic. pydantic caches those classes weakly, so whenever the
garbage collector runs between two requests the class is built again (about 7 ms of CPU
each time: bench/RESULTS.md counted some ten rebuilds per 500 purchases). This request
middleware holds one strong reference per method type, made on its first call.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType


class PinResponseTypes(BaseRequestMiddleware):
    def __init__(self) -> None:
        self._pinned: dict[type[Any], Any] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        kind = type(method)
        if kind not in self._pinned:
            self._pinned[kind] = Response[method.__returning__]  # type: ignore[name-defined]
        return await make_request(bot, method)

    def pinned(self) -> int:
        """How many response types are held (tests)."""
        return len(self._pinned)
