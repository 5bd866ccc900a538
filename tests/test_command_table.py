"""Staff and owner commands reach their handler in one lookup (issue 24), and every one
of them reaches the handler the routers' walk would have picked: the table changes how
fast, never what."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram import Router
from aiogram.dispatcher.event.handler import HandlerObject
from aiogram.types import Message

from handlers import menu
from handlers.command_table import CommandTable, command_name, walk
from tests.support.flows import hire, join
from tests.support.harness import App

CASHIER, CUSTOMER = 6001, 5001
TABLE_COMMANDS = menu.STAFF_ONLY_COMMANDS + menu.OWNER_ONLY_COMMANDS


async def _walk_picks(app: App, message: Message) -> tuple[Router, HandlerObject] | None:
    """The handler aiogram's walk would run for ``message`` with no open step: the first,
    in router order, whose router's and own filters all pass (nothing is run)."""
    for router in walk(app.dp):
        data: dict[str, Any] = {"bot": app.bot, "raw_state": None, "event_router": router}
        passed, data = await router.message.check_root_filters(message, **data)
        if not passed:
            continue
        for handler in router.message.handlers:
            matched, _ = await handler.check(message, **data)
            if matched:
                return router, handler
    return None


@pytest.mark.parametrize("args", ["", " 123", " ABC123 1500,50 oil #R-7", " staff 30"])
async def test_every_table_command_goes_where_the_walk_goes(app: App, args: str) -> None:
    """For each staff and owner command of handlers/menu.py, bare and with arguments."""
    table = CommandTable(TABLE_COMMANDS)
    routes = table.build(app.dp)
    assert set(routes) == set(TABLE_COMMANDS), "a menu command the table cannot route"
    for name in TABLE_COMMANDS:
        message = app.user(CASHIER, "en").build_message(f"/{name}{args}").message
        assert message is not None and command_name(message) == name
        picked = await _walk_picks(app, message)
        assert picked == (routes[name].router, routes[name].handler), name


async def test_not_routed_when_a_step_is_open_or_not_a_table_command(app: App) -> None:
    table = CommandTable(TABLE_COMMANDS)
    build = app.user(CASHIER, "en").build_message
    data = {"event_router": app.dp, "raw_state": None}
    for text in ("/card", "/start c_ABC", "purchase 1 2", "/", "/ ", "", "/Purchase 1 2"):
        message = build(text).message
        assert message is not None and table.route(message, data) is None, text
    message = build("/purchase ABC 100").message
    assert message is not None
    assert table.route(message, data) is not None
    assert table.route(message, {**data, "raw_state": "CardInput:waiting"}) is None


@pytest.fixture
def propagations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The routers a message is offered to (the walk), by name."""
    offered: list[str] = []
    original = Router.propagate_event

    async def spy(self: Router, update_type: str, event: Any, **kwargs: Any) -> Any:
        if update_type == "message":
            offered.append(self.name)
        return await original(self, update_type, event, **kwargs)

    monkeypatch.setattr(Router, "propagate_event", spy)
    return offered


async def test_a_staff_purchase_skips_the_walk(app: App, propagations: list[str]) -> None:
    """A cashier's /purchase is offered to no router; a customer's /card still walks,
    and so does what a cashier types while a card button waits for the amount."""
    customer = await join(app, app.user(CUSTOMER, "en"))
    cashier = app.user(CASHIER, "en")
    await hire(app, cashier)
    propagations.clear()
    await cashier.send(f"/purchase {customer.card_code} 100")
    assert "Purchase №1 recorded" in app.fake.last(CASHIER).text
    assert propagations == [app.dp.name]  # the dispatcher itself: its update observer
    propagations.clear()
    await app.user(CUSTOMER, "en").send("/card")
    assert len(propagations) > 2, propagations
