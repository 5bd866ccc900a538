"""What every Mini App endpoint shares: the JSON body, the idempotency key, fragments
rendered from ``templates/<locale>/web/``, refusals in the chat's words, and the home page
chosen by role."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from markupsafe import Markup

from bot.services.context import Business
from bot.services.errors import AUDITED_REFUSALS, ServiceError
from bot.services.idempotency import web_key
from bot.services.people.audit import AuditOutcome, audit_by
from bot.services.people.roles import Role
from bot.webapp.auth import Handler, WebUser, guarded

log = logging.getLogger(__name__)

MAX_BODY = 4096
KEY = re.compile(r"^[A-Za-z0-9-]{8,40}$")
Wake = Callable[[], None] | None
Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadRequest(Exception):
    """A body the page never sends: 400, nothing done."""


async def body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise BadRequest("too large")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise BadRequest("too large")
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("not json") from None
    if not isinstance(data, dict):
        raise BadRequest("not an object")
    return data


def field(data: dict[str, Any], name: str, maximum: int = 64) -> str:
    """A short one-line text field ("" when absent)."""
    value = data.get(name, "")
    if not isinstance(value, str) or len(value) > maximum or "\n" in value or "\r" in value:
        raise BadRequest(f"bad {name}")
    return value.strip()


def write_key(user: WebUser, data: dict[str, Any]) -> str:
    """The write's exactly-once key: made by the page once per intended write, so a
    repeated tap or a retried request is recorded once."""
    value = data.get("key")
    if not isinstance(value, str) or not KEY.match(value):
        raise BadRequest("bad key")
    return web_key(user.actor.tg_id, value)


def chat_text(biz: Business, user: WebUser, key: str, **context: Any) -> Markup:
    """One of the chat's own messages (already escaped Telegram HTML) for a page."""
    return Markup(biz.texts.render(user.actor.locale, key, **context))


def fragment(
    biz: Business, user: WebUser, key: str, status: int = 200, target: str | None = None,
    **context: Any,
) -> web.Response:
    """Block ``key`` of ``templates/<locale>/web/`` as the page's new content (of the
    element ``target``, else the whole page)."""
    html = biz.texts.render(user.actor.locale, f"web/{key}", user=user.actor, **context)
    answer = {"html": html} if target is None else {"html": html, "target": target}
    return web.json_response(answer, status=status)


async def refused(biz: Business, user: WebUser, err: Any) -> web.Response:
    """A rule said no (``ServiceError`` or the chat grammar's ``CommandError``): its chat
    text, 422, and nothing was written (the service's transaction rolled back); the
    privileged refusals the chat audits are audited here too."""
    log.info("mini app: refused %s", err.code)
    if err.code in AUDITED_REFUSALS:
        await audit_by(biz, user.actor, "web:write", None, outcome=AuditOutcome.DENIED,
                       code=err.code)  # fmt: skip
    return fragment(
        biz, user, "app.refusal", status=422, target="notice",
        text=chat_text(biz, user, f"errors.{err.code}", **err.params),
    )  # fmt: skip


def endpoint(biz: Business, token: str, level: Role | None, handler: Handler) -> Route:
    """``handler`` behind the initData check and role gate, with 400 for a body the page
    never sends and 422 for a refusal."""

    async def handle(request: web.Request, user: WebUser) -> web.StreamResponse:
        try:
            return await handler(request, user)
        except BadRequest as why:
            log.info("mini app: bad request to %s (%s)", request.path, why)
            return fragment(biz, user, "app.bad_request", status=400, target="notice")
        except ServiceError as err:
            return await refused(biz, user, err)

    return guarded(biz, token, level, handle)


def home(biz: Business, token: str) -> Route:
    """Which page opens first: the wallet for a customer, else the staff page or the
    owner's dashboard; the page then asks for it."""

    async def handle(request: web.Request, user: WebUser) -> web.Response:
        actor = user.actor
        pages = []
        if actor.customer_id is not None or actor.role == Role.STRANGER:
            pages.append("wallet")
        if actor.may(Role.STAFF):
            pages.append("staff")
        if actor.may(Role.OWNER):
            pages.append("owner")
        nav = biz.texts.render(actor.locale, "web/app.nav", pages=pages)
        return web.json_response({"pages": pages, "nav": nav})

    return guarded(biz, token, None, handle)
