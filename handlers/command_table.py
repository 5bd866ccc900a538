"""Staff and owner commands straight to their handler: one lookup instead of the walk.

aiogram offers an update to the routers in order and, in each, tries every handler's
filters until one matches; a staff ``/purchase`` went through the filters of six routers
before the staff router's (bench/RESULTS.md). This table maps each staff and owner
command of ``handlers.menu`` (the one list of commands per role) to the handler the walk
would reach, found once in the dispatcher's routers: a handler whose only filter is a
``Command`` naming it. A message that is such a command, from a chat with no open step
(no FSM state), runs that handler's own filter and its router's middlewares (the role
gate) exactly as the walk would; anything else takes the walk.
``tests/test_command_table.py`` checks, for every command in the table and every role,
that the walk's first matching handler is the one the table names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.filters import Command
from aiogram.types import Message

Inner = Callable[[Message, dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    """One command's handler, its router, and the router's middlewares around it."""

    name: str
    router: Router
    handler: HandlerObject
    inner: Inner

    async def run(self, message: Message, data: dict[str, Any]) -> Any:
        """As ``TelegramEventObserver.trigger`` runs a matched handler; ``UNHANDLED`` if its
        filter refuses the message (a command for another bot: ``/purchase@other_bot``)."""
        kwargs = {**data, "event_router": self.router, "handler": self.handler}
        matched, kwargs = await self.handler.check(message, **kwargs)
        if not matched:
            return UNHANDLED
        return await self.inner(message, kwargs)


def command_name(message: Message) -> str | None:
    """``purchase`` of ``/purchase@bot 123 450``; None for anything not a command."""
    text = message.text
    if not text or text[0] != "/":
        return None
    words = text[1:].split(maxsplit=1)
    return words[0].split("@", 1)[0] if words else None


def walk(router: Router) -> Iterator[Router]:
    """The routers in the order aiogram offers them an update."""
    yield router
    for sub in router.sub_routers:
        yield from walk(sub)


def _only_command(handler: HandlerObject) -> Command | None:
    if len(handler.filters or ()) != 1:
        return None
    found = handler.filters[0].callback  # type: ignore[index]
    return found if isinstance(found, Command) else None


class CommandTable:
    """The table of one dispatcher, built on first use (every router included by then)."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(names)
        self._routes: dict[str, Route] | None = None

    def build(self, root: Router) -> dict[str, Route]:
        routes: dict[str, Route] = {}
        for router in walk(root):
            observer = router.message
            if observer._handler.filters:  # root filters: left to the walk
                continue
            for handler in observer.handlers:
                command = _only_command(handler)
                for name in command.commands if command else ():
                    if isinstance(name, str) and name in self.names and name not in routes:
                        inner = observer.outer_middleware.wrap_middlewares(
                            observer._resolve_middlewares(), handler.call
                        )
                        routes[name] = Route(name, router, handler, inner)
        return routes

    def route(self, message: Message, data: dict[str, Any]) -> Route | None:
        """The route of a table command from a chat with no open step; else None."""
        name = command_name(message)
        if name not in self.names or data.get("raw_state") is not None:
            return None
        if self._routes is None:
            self._routes = self.build(data["event_router"])
        return self._routes.get(name)
