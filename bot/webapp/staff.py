"""The staff page: find a customer (code, phone, name, or the card's QR scanned with
Telegram's ``showScanQrPopup``), their card, and purchase / visit / redeem.

A write goes through the chat's own table (``handlers.staff.STAFF_COMMANDS``): the same
grammar parses the fields, the same service records it under the request's key
(``pages.write_key``), the same template answers, and the customer's notice is queued
in the same transaction (a redemption waits for their confirmation in the chat). So
every rule and the exactly-once guarantee hold as in the chat.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from markupsafe import Markup

from bot.services.context import Business
from bot.services.counter import offers_at_counter
from bot.services.people import customers
from bot.services.people.audit import audit_by
from bot.services.people.roles import Role
from bot.webapp.auth import WebUser
from bot.webapp.pages import (
    BadRequest,
    Route,
    Wake,
    body,
    chat_text,
    endpoint,
    field,
    fragment,
    refused,
    write_key,
)
from handlers.commands import MAX_FIND_QUERY, CommandError
from handlers.deep_links import CARD_LINK_PREFIX
from handlers.replies import recorded
from handlers.staff import STAFF_COMMANDS

ACTIONS = ("purchase", "visit", "redeem")


def command_args(action: str, code: str, data: dict[str, Any]) -> str:
    """The form's fields as the chat's command arguments (the card code first)."""
    if not code or " " in code:
        raise BadRequest("bad customer")
    if action == "purchase":
        parts = [code, field(data, "amount"), field(data, "service")]
    elif action == "visit":
        parts = [code, field(data, "service")]
    else:
        parts = [code, field(data, "points"), field(data, "amount")]
    return " ".join(p for p in parts if p)


async def card_fragment(
    biz: Business, user: WebUser, card: customers.CustomerView, key: str | None, **extra: Any
) -> web.Response:
    await audit_by(biz, user.actor, "web:card", key, customer_id=card.customer_id)
    offers = await offers_at_counter.live_for(biz, card.customer_id)
    return fragment(
        biz, user, "staff.card", card=card, actions=ACTIONS,
        text=chat_text(biz, user, "staff.card", c=card, offers=offers), **extra,
    )  # fmt: skip


def routes(biz: Business, token: str, wake: Wake) -> dict[str, Route]:
    async def page(request: web.Request, user: WebUser) -> web.Response:
        return fragment(biz, user, "staff.page", prefix=CARD_LINK_PREFIX)

    async def find(request: web.Request, user: WebUser) -> web.Response:
        data = await body(request)
        query = field(data, "query", MAX_FIND_QUERY)
        if not query:
            raise BadRequest("empty query")
        found = await customers.search(biz, query)
        await audit_by(biz, user.actor, "web:find", None, found=len(found))
        if len(found) == 1:
            return await card_fragment(biz, user, found[0], None)
        return fragment(biz, user, "staff.found", found=found)

    async def open_card(request: web.Request, user: WebUser) -> web.Response:
        card = await customers.get_by_card_code(biz, field(await body(request), "code", 16))
        if card is None:
            raise BadRequest("no such card")
        return await card_fragment(biz, user, card, None)

    async def write(request: web.Request, user: WebUser) -> web.Response:
        data = await body(request)
        action, code = field(data, "action"), field(data, "code", 16)
        if action not in ACTIONS:
            raise BadRequest("bad action")
        key = write_key(user, data)
        spec = STAFF_COMMANDS[action]
        try:
            request_ = spec.parse(command_args(action, code, data), biz.settings)
        except CommandError as err:
            return await refused(biz, user, err)
        outcome = await spec.service(biz, user.actor, key, request_)
        if wake is not None:
            wake()  # the customer's notice leaves now, as after a chat command
        notice = Markup(
            recorded(biz, user.actor, spec.template, outcome.duplicate, r=outcome.result)
        )
        card = await customers.get_by_card_code(biz, code)
        assert card is not None  # the service just found it
        return await card_fragment(biz, user, card, key, notice=notice)

    return {
        name: endpoint(biz, token, Role.STAFF, handler)
        for name, handler in {
            "staff": page,
            "staff/find": find,
            "staff/open": open_card,
            "staff/write": write,
        }.items()
    }
