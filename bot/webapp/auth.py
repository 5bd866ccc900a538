"""Who is asking: Telegram's signed ``initData`` on every Mini App request.

The page sends ``Authorization: tma <initData>`` (the string Telegram gave it). It is
checked with the bot token by aiogram (``safe_parse_webapp_init_data``: the HMAC of the
sorted fields), its ``auth_date`` must be at most ``web.init_data_max_age`` seconds old
(and not from the future beyond a small clock skew), and it must name a user. Anything
else is 401 before any handler runs, so nothing is read or written for it. The user is
then mapped to a role by the chat's own rule (``people.roles.resolve_actor``).

Nothing personal is logged: a refusal logs its reason only, never the data.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiogram.utils.web_app import WebAppInitData, safe_parse_webapp_init_data
from aiohttp import web

from bot.services.context import Business
from bot.services.people.audit import AuditOutcome, audit_by
from bot.services.people.roles import Actor, Role, resolve_actor

log = logging.getLogger(__name__)

SCHEME = "tma "
MAX_INIT_DATA = 4096  # Telegram's are well under 1 KB
CLOCK_SKEW = timedelta(seconds=60)


class Unauthorized(Exception):
    """Why a request's initData was refused (logged, never shown with the data)."""


@dataclass(frozen=True)
class WebUser:
    actor: Actor
    first_name: str


def verified(token: str, header: str | None, now: datetime, max_age: int) -> WebAppInitData:
    """The initData of an ``Authorization`` header, checked; ``Unauthorized`` otherwise."""
    if not header or not header.startswith(SCHEME):
        raise Unauthorized("missing")
    raw = header[len(SCHEME) :]
    if len(raw) > MAX_INIT_DATA:
        raise Unauthorized("too long")
    try:
        data = safe_parse_webapp_init_data(token, raw)
    except ValueError:  # a bad signature, or fields that do not parse (pydantic's too)
        raise Unauthorized("bad signature") from None
    signed = data.auth_date
    if now - signed > timedelta(seconds=max_age):
        raise Unauthorized("stale")
    if signed - now > CLOCK_SKEW:
        raise Unauthorized("from the future")
    if data.user is None or data.user.is_bot:
        raise Unauthorized("no user")
    return data


async def web_user(biz: Business, token: str, request: web.Request) -> WebUser:
    data = verified(
        token,
        request.headers.get("Authorization"),
        biz.clock.now(),
        biz.settings.web.init_data_max_age,
    )
    assert data.user is not None
    actor = await resolve_actor(biz, data.user.id, data.user.language_code)
    return WebUser(actor=actor, first_name=data.user.first_name)


Handler = Callable[[web.Request, WebUser], Awaitable[web.StreamResponse]]


def guarded(
    biz: Business, token: str, level: Role | None, handler: Handler
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """``handler`` behind the initData check (401) and, with ``level``, the role gate (403,
    audited as the chat's gate does)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            user = await web_user(biz, token, request)
        except Unauthorized as why:
            log.info("mini app: refused %s (%s)", request.path, why)
            reopen = biz.texts.render(biz.texts.default_locale, "web/app.reopen")
            return web.json_response({"error": "unauthorized", "html": reopen}, status=401)
        if level is not None and not user.actor.may(level):
            log.info("mini app: %s denied to %s", request.path, user.actor.role)
            action = "web:" + request.path.rsplit("/api/", 1)[-1]
            await audit_by(biz, user.actor, action[:40], None, outcome=AuditOutcome.DENIED)
            denied = biz.texts.render(user.actor.locale, "web/app.forbidden")
            return web.json_response({"error": "forbidden", "html": denied}, status=403)
        return await handler(request, user)

    return handle
